"""PyTorch side of bench/rl-rollout.ts: the batched RL rollout loop of src/rl/policy.ts written in Python
over Hugging Face transformers' Qwen2ForCausalLM (SDPA attention, DynamicCache), as a Python user
would write it.

Each step, for every row: token log-probabilities at temperature 1 with <bot>/<eot> excluded, a sampled
token, the start classifier's logit, the latent step (composed: RMS norm, adapter, stop logit), two
uniforms for the Bernoulli decisions; one read-back (tolist) of all of it; the per-row state machine
(open a span / continue / stop at the cap / emit a token); then one decode pass with explicit
position_ids and a 2D attention mask over every cached slot, feeding token or marker embeddings and
latent embeddings (kept per row, as the training loop keeps them).

The checkpoints and heads are those bench/rl-rollout.ts writes (RL_ROLLOUT_MODELS/<shape>/); shapes,
loop sizes and case names are kept equal to that file. RL_ROLLOUT_DEVICE selects the device.
"""

from __future__ import annotations

import math
import os
import sys

import torch
from safetensors import safe_open
from transformers import DynamicCache, Qwen2ForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, run  # noqa: E402

DEVICE = os.environ.get("RL_ROLLOUT_DEVICE", "cpu")
SHAPES = {
    "tiny": dict(vocab=512),
    "small": dict(vocab=16384),
}
LOOP = dict(prompt=16, tokens=12, latents=2)


def load(shape: str):
    root = os.environ.get("RL_ROLLOUT_MODELS")
    if not root:
        raise SystemExit("RL_ROLLOUT_MODELS is not set: run this through `npm run bench -- rl-rollout`")
    d = os.path.join(root, shape)
    model = Qwen2ForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="sdpa").to(DEVICE).eval()
    with safe_open(os.path.join(d, "heads.safetensors"), framework="pt") as f:
        heads = {k: f.get_tensor(k).to(DEVICE) for k in f.keys()}
        scale = float(f.metadata()["scale"])
    # The decoder's output before the final norm feeds the latent step: keep the norm aside.
    norm = model.model.norm
    model.model.norm = torch.nn.Identity()
    return model, norm, heads, scale


def rollout(model, norm, heads, scale, prompts, bot, eot, use_latents):
    """One batched rollout; returns per row (tokens, actions, latents)."""
    base = model.model
    eps = norm.variance_epsilon
    B, P = prompts.shape
    markers = torch.tensor([bot, eot], device=DEVICE)
    cache = DynamicCache(config=model.config)
    valid = [[True] * P for _ in range(B)]  # per row: which cache slots hold real positions
    out = base(input_ids=prompts, past_key_values=cache, use_cache=True)
    last = out.last_hidden_state[:, -1]
    rows = [dict(mode="language", in_span=0, fed=P, token_actions=0, done=False, actions=[], tokens=[], latents=[]) for _ in range(B)]
    while True:
        hidden = norm(last)
        scores = model.lm_head(hidden).float().index_fill(-1, markers, -math.inf)
        token = torch.multinomial(scores.softmax(-1), 1).squeeze(-1)
        token_logp = scores.log_softmax(-1).gather(1, token[:, None]).squeeze(1)
        start = hidden @ heads["startWeight"] + heads["startBias"]
        n = last * torch.rsqrt(last.square().mean(-1, keepdim=True) + eps) * norm.weight
        embed = n * heads["gain"] * scale + heads["bias"]
        stop = (n * heads["stopWeight"]).sum(-1) + heads["stopBias"]
        u = torch.rand(2, B, dtype=torch.float64)
        v = torch.stack([token.double(), token_logp.double(), start.double(), stop.double(), u[0].to(DEVICE), u[1].to(DEVICE)]).tolist()
        feeds = [advance(r, b, v, bot, eot, use_latents) for b, r in enumerate(rows)]
        if all(f is None for f in feeds):
            break
        ids = torch.tensor([[f if isinstance(f, int) else 0] for f in feeds], device=DEVICE)
        is_latent = torch.tensor([f == "latent" for f in feeds], device=DEVICE)
        fed = torch.tensor([f is not None for f in feeds], device=DEVICE)
        emb = base.embed_tokens(ids)
        emb = torch.where((ids == bot)[..., None], heads["markers"][0], torch.where((ids == eot)[..., None], heads["markers"][1], emb))
        x = torch.where(is_latent[:, None, None], embed[:, None], emb)
        for b, f in enumerate(feeds):
            if f == "latent":
                rows[b]["latents"].append(embed[b].clone())
        positions = torch.tensor([[r["fed"] if f is not None else 0] for r, f in zip(rows, feeds)], device=DEVICE)
        for r, f, slots in zip(rows, feeds, valid):
            slots.append(f is not None)
            if f is not None:
                r["fed"] += 1
        mask = torch.tensor(valid, device=DEVICE)
        out = base(inputs_embeds=x, past_key_values=cache, position_ids=positions, attention_mask=mask, use_cache=True)
        last = torch.where(fed[:, None], out.last_hidden_state[:, 0], last)
    return [(r["tokens"], r["actions"], torch.stack(r["latents"]) if r["latents"] else None) for r in rows]


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x)) if x >= 0 else x - math.log1p(math.exp(x))


def advance(r, b, v, bot, eot, use_latents):
    """The state machine of src/rl/policy.ts advanceRow: the decision(s) of row b; returns what to feed."""
    if r["done"]:
        return None
    position = r["fed"] - 1
    if r["mode"] == "latent":
        if r["in_span"] >= LOOP["latents"]:
            r["mode"] = "after-span"
            return eot
        logit = v[3][b]
        stop = v[5][b] < 1 / (1 + math.exp(-logit))
        r["actions"].append(("stop", position, int(stop), log_sigmoid(logit if stop else -logit)))
        if stop:
            r["mode"] = "after-span"
            return eot
        r["in_span"] += 1
        return "latent"
    if r["mode"] == "language" and use_latents:
        logit = v[2][b]
        opened = v[4][b] < 1 / (1 + math.exp(-logit))
        r["actions"].append(("start", position, int(opened), log_sigmoid(logit if opened else -logit)))
        if opened:
            r["mode"] = "latent"
            r["in_span"] = 0
            return bot
    token = int(v[0][b])
    r["actions"].append(("token", position, token, v[1][b]))
    r["token_actions"] += 1
    r["tokens"].append(token)
    if r["token_actions"] >= LOOP["tokens"]:
        r["done"] = True
        return None
    r["mode"] = "language"
    return token


def make_case(shape: str, rows: int, use_latents: bool):
    def setup():
        model, norm, heads, scale = load(shape)
        vocab = SHAPES[shape]["vocab"]
        torch.manual_seed(2)
        prompts = torch.randint(0, vocab - 2, (rows, LOOP["prompt"])).to(DEVICE)

        def iteration():
            with torch.inference_mode():
                rollout(model, norm, heads, scale, prompts, vocab - 2, vocab - 1, use_latents)

        return iteration

    per_token = LOOP["latents"] + 3 if use_latents else 1
    name = f"{shape}.B{rows}.{'latents' if use_latents else 'plain'}"
    return name, Case(f"Python rollout loop over transformers Qwen2ForCausalLM, per position", rows * LOOP["tokens"] * per_token, setup)


CASES = dict(
    make_case(shape, rows, lat)
    for shape, rows, lat in [("tiny", 8, True), ("tiny", 8, False), ("small", 8, True), ("small", 32, True), ("small", 8, False)]
)

if __name__ == "__main__":
    run(CASES)
