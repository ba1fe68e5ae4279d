"""PyTorch side of bench/sft.ts: one phase-1 latent training step written in PyTorch, as a Python user
would write the algorithm of src/latent/forward.ts with transformers' Qwen2 layers.

The batched latent forward runs in "waves": wave 0 is every example's first language chunk (ending with
<bot>) in one pass, wave 1 its first latent span, one position per pass, and so on; every pass appends
its keys and values to one DynamicCache, at explicit rotary positions and under a boolean mask
[B, 1, T, S] (causal by position, padding slots never attended, a padding query attends to itself).
A latent's input embedding is the latent step of the previous position's pre-norm hidden state:

    n = h * rsqrt(mean(h^2) + eps) * norm_weight;   embed = scale * n * gain + bias;   stop = n . stop_weight + stop_bias

Losses: mean cross-entropy over the language targets, the start classifier's BCE (a probe on detached
hidden states, positives weighted by negatives/positives) and the end classifier's BCE. The step:
(loss + 0.1 start + 0.1 stop).backward(), clip_grad_norm_, AdamW (decay on matrices only), zero_grad.
Two-trunk mode runs latent passes on a trainable copy of the decoder layers and final norm, language
passes on the frozen original.

Model weights, latent heads and the batch's sequences come from the fixture bench/sft.ts writes
($SFT_BENCH_FIXTURE). `--check CASES --threads T` prints the first step's statistics of each case as
JSON instead of timing (bench/sft.ts compares them with its own); `--profile CASES --steps N --threads T`
prints their per-operator profiles (torch.profiler key_averages, after two warm-up steps).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import DynamicCache, Qwen2ForCausalLM
from transformers.utils import logging as hf_logging

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, profile_rows, run  # noqa: E402

IGNORE = -100
FIXTURE_ENV = "SFT_BENCH_FIXTURE"


def load_fixture():
    directory = os.environ.get(FIXTURE_ENV)
    if not directory:
        sys.exit(f"bench/python/sft.py: ${FIXTURE_ENV} is not set; run this through `node bench/run.js sft`")
    with open(os.path.join(directory, "fixture.json")) as f:
        return directory, json.load(f)


FIXTURE_DIR, FIXTURE = load_fixture()
# bench/sft.ts's SFT_BENCH_DEVICE / SFT_BENCH_DTYPE, through the fixture: every tensor the step makes lands on DEVICE.
DEVICE = torch.device(FIXTURE.get("device", "cpu"))
DTYPE = getattr(torch, FIXTURE.get("dtype", "float32"))
torch.set_default_device(DEVICE)
hf_logging.disable_progress_bar()  # from_pretrained's "Loading weights" bar would clutter the benchmark's progress


class Heads(nn.Module):
    """The latent heads of src/latent/heads.ts, holding the values bench/sft.ts wrote."""

    def __init__(self, values: dict, scale: float, hidden: int):
        super().__init__()
        shapes = {"markers": (2, hidden), "gain": (hidden,), "bias": (hidden,), "stopWeight": (hidden,), "stopBias": (),
                  "startWeight": (hidden,), "startBias": ()}
        # The affine latent input's gain and bias live in the heads' `input` module (latent/latent-input.ts).
        keys = {"gain": "input.gain", "bias": "input.bias"}
        for name, shape in shapes.items():
            value = values[keys.get(name, name)]
            self.register_parameter(name, nn.Parameter(torch.tensor(value, dtype=torch.float32).reshape(shape)))
        self.scale = scale

    def step(self, pre, norm_weight, eps):
        n = pre * torch.rsqrt(pre.square().mean(-1, keepdim=True) + eps) * norm_weight
        embed = n * self.gain * self.scale + self.bias
        stop_logit = (n * self.stopWeight).sum(-1) + self.stopBias
        return embed, stop_logit

    def apply_markers(self, embeds, ids, bot_id, eot_id):
        embeds = torch.where((ids == bot_id).unsqueeze(-1), self.markers[0], embeds)
        return torch.where((ids == eot_id).unsqueeze(-1), self.markers[1], embeds)


class Trunk:
    """Decoder layers + final norm sharing one rotary embedding (the backbone's, or a trainable copy's)."""

    def __init__(self, layers, norm, rotary):
        self.layers, self.norm, self.rotary = layers, norm, rotary

    def decode(self, x, positions, mask, cache):
        rope = self.rotary(x, positions)
        for layer in self.layers:
            x = layer(x, attention_mask=mask, position_embeddings=rope, past_key_values=cache)
        return x


@dataclass
class ForwardResult:
    loss: torch.Tensor
    start_loss: torch.Tensor
    stop_loss: torch.Tensor
    metrics: dict


def chunks_of(seq):
    """Alternating language ranges and latent spans, as src/latent/sequence.ts chunksOf."""
    chunks, start = [], 0
    for span in seq["spans"]:
        chunks.append(("language", start, span["botPosition"] + 1))
        chunks.append(("latent", span["botPosition"] + 1, span["count"]))
        start = span["botPosition"] + 1 + span["count"]
    chunks.append(("language", start, len(seq["ids"])))
    return chunks


def attention_mask(kv_pos, kv_valid, q_pos, q_valid):
    """[B, 1, Tq, S + Tq] bool: causal by position over valid keys; every query may attend to its own slot."""
    key_pos = torch.cat([kv_pos, q_pos], 1)
    key_valid = torch.cat([kv_valid, q_valid], 1)
    allowed = key_valid[:, None, :] & (key_pos[:, None, :] <= q_pos[:, :, None]) & q_valid[:, :, None]
    tq = q_pos.shape[1]
    allowed[:, :, kv_pos.shape[1]:] |= torch.eye(tq, dtype=torch.bool)
    return allowed.unsqueeze(1), key_pos, key_valid


class LatentModel:
    def __init__(self, mode: str):
        model = Qwen2ForCausalLM.from_pretrained(os.path.join(FIXTURE_DIR, "model"), attn_implementation="sdpa", dtype=torch.float32)
        model.to(DEVICE, DTYPE).train()
        base = model.model
        self.model = model
        self.heads = Heads(FIXTURE["heads"], FIXTURE["scale"], FIXTURE["shape"]["hidden"]).to(DEVICE, DTYPE)
        self.backbone = Trunk(base.layers, base.norm, base.rotary_emb)
        if mode == "two_trunk":
            self.latent = Trunk(copy.deepcopy(base.layers), copy.deepcopy(base.norm), base.rotary_emb)
            model.requires_grad_(False)
            trainable = [self.heads, self.latent.layers, self.latent.norm]
        else:
            self.latent = self.backbone
            trainable = [self.heads, model]
        self.params = [p for m in trainable for p in m.parameters() if p.requires_grad]
        self.eps = model.config.rms_norm_eps
        self.bot_id, self.eot_id = FIXTURE["botId"], FIXTURE["eotId"]

    def forward(self, seqs) -> ForwardResult:
        heads, backbone = self.heads, self.backbone
        B = len(seqs)
        chunks = [chunks_of(s) for s in seqs]
        cache = DynamicCache()
        kv_pos = torch.zeros(B, 0, dtype=torch.long)
        kv_valid = torch.zeros(B, 0, dtype=torch.bool)
        last_pre = None
        zero = torch.zeros(())
        lm_terms, start_terms, stop_terms = [], [], []
        counts = dict(lm=0, next=0, result=0, start=0, stop=0, latent=0, waves=0)
        sums = dict(lm=zero, next=zero, result=zero, latent_norm=zero, token_norm=zero, tp=zero, fp=zero, fn=zero, tn=zero)

        def run_chunk(trunk, x, q_pos, q_valid):
            nonlocal kv_pos, kv_valid
            mask, kv_pos, kv_valid = attention_mask(kv_pos, kv_valid, q_pos, q_valid)
            return trunk.decode(x, q_pos, mask, cache)

        def update_last(pre, last_index, valid):
            nonlocal last_pre
            idx = torch.tensor(last_index).clamp_min(0)
            rows = pre.gather(1, idx.view(B, 1, 1).expand(B, 1, pre.shape[2])).squeeze(1)
            last_pre = rows if last_pre is None else torch.where(torch.tensor(valid).view(B, 1), rows, last_pre)

        for w in range(max(len(c) for c in chunks)):
            wave = [c[w] if w < len(c) else None for c in chunks]
            if w % 2 == 0:
                lens = [c[2] - c[1] if c else 0 for c in wave]
                T = max(lens)
                if T == 0:
                    continue
                ids, pos, valid = [], [], []
                rows, targets, is_next, is_result, start_rows, start_targets = [], [], [], [], [], []
                for b, (c, s) in enumerate(zip(wave, seqs)):
                    n = lens[b]
                    p0 = c[1] if c else 0
                    ids.append(s["ids"][p0:p0 + n] + [0] * (T - n))
                    pos.append(list(range(p0, p0 + n)) + [0] * (T - n))
                    valid.append([True] * n + [False] * (T - n))
                    for t in range(n):
                        p = p0 + t
                        if s["targets"][p] != IGNORE:
                            rows.append(b * T + t)
                            targets.append(s["targets"][p])
                            is_next.append(s["nextStepOf"][p] >= 0)
                            is_result.append(bool(s["resultTarget"][p]))
                        if s["startTarget"][p] != -1:
                            start_rows.append(b * T + t)
                            start_targets.append(float(s["startTarget"][p]))
                ids_t = torch.tensor(ids)
                embeds = heads.apply_markers(self.model.model.embed_tokens(ids_t), ids_t, self.bot_id, self.eot_id)
                sums["token_norm"] = sums["token_norm"] + embeds.detach().norm(dim=-1).mean()
                counts["waves"] += 1
                pre = run_chunk(backbone, embeds, torch.tensor(pos), torch.tensor(valid))
                flat = backbone.norm(pre).reshape(B * T, -1)
                if rows:
                    logits = self.model.lm_head(flat[torch.tensor(rows)])
                    ce = F.cross_entropy(logits, torch.tensor(targets), reduction="none")
                    lm_terms.append(ce.sum())
                    ce = ce.detach()
                    next_mask, result_mask = torch.tensor(is_next), torch.tensor(is_result)
                    sums["lm"] = sums["lm"] + ce.sum()
                    sums["next"] = sums["next"] + ce[next_mask].sum()
                    sums["result"] = sums["result"] + ce[result_mask].sum()
                    counts["lm"] += len(rows)
                    counts["next"] += sum(is_next)
                    counts["result"] += sum(is_result)
                if start_rows:
                    h = flat[torch.tensor(start_rows)].detach()
                    logits = h @ heads.startWeight + heads.startBias
                    tgt = torch.tensor(start_targets)
                    positives = sum(start_targets)
                    pos_weight = (len(start_targets) - positives) / positives if positives > 0 else 1.0
                    start_terms.append(F.binary_cross_entropy_with_logits(logits, tgt, pos_weight=torch.tensor([pos_weight]), reduction="sum"))
                    counts["start"] += len(start_targets)
                    decided, truth = logits.detach() > 0, tgt > 0.5
                    for key, d, t in (("tp", True, True), ("fp", True, False), ("fn", False, True), ("tn", False, False)):
                        sums[key] = sums[key] + ((decided == d) & (truth == t)).sum()
                update_last(pre, [n - 1 for n in lens], [n > 0 for n in lens])
            else:
                spans = [c if c and c[0] == "latent" else None for c in wave]
                K = max(c[2] if c else -1 for c in spans)
                if K < 0 or last_pre is None:
                    continue
                for j in range(K + 1):
                    embed, stop_logit = heads.step(last_pre, self.latent.norm.weight, self.eps)
                    stop_rows = [b for b, c in enumerate(spans) if c and j <= c[2]]
                    if stop_rows:
                        tgt = torch.tensor([1.0 if j == spans[b][2] else 0.0 for b in stop_rows])
                        stop_terms.append(F.binary_cross_entropy_with_logits(stop_logit[torch.tensor(stop_rows)], tgt, reduction="sum"))
                        counts["stop"] += len(stop_rows)
                    if j == K:
                        break
                    valid = [bool(c) and j < c[2] for c in spans]
                    valid_t = torch.tensor(valid)
                    sums["latent_norm"] = sums["latent_norm"] + embed.detach().norm(dim=-1)[valid_t].sum()
                    counts["latent"] += sum(valid)
                    q_pos = torch.tensor([[c[1] + j if v else 0] for c, v in zip(spans, valid)])
                    pre = run_chunk(self.latent, embed.unsqueeze(1), q_pos, valid_t.unsqueeze(1))
                    update_last(pre, [0] * B, valid)

        def total(terms):
            return torch.stack(terms).sum() if terms else torch.zeros(())

        loss = total(lm_terms) / max(1, counts["lm"])
        start_loss = total(start_terms) / max(1, counts["start"])
        stop_loss = total(stop_terms) / max(1, counts["stop"])
        keys = list(sums)
        values = dict(zip(keys, torch.stack([sums[k] for k in keys]).tolist()))  # one readback per forward
        metrics = dict(
            lmSum=values["lm"], lmCount=counts["lm"], nextStepSum=values["next"], nextStepCount=counts["next"],
            resultSum=values["result"], resultCount=counts["result"],
            latentNorm=values["latent_norm"] / counts["latent"] if counts["latent"] else 0.0,
            tokenNorm=values["token_norm"] / counts["waves"] if counts["waves"] else 0.0,
            startConfusion={k: int(values[k]) for k in ("tp", "fp", "fn", "tn")},
        )
        return ForwardResult(loss, start_loss, stop_loss, metrics)


class Trainer:
    """The trainer's step (src/train/sft.ts) without its schedule and logging."""

    def __init__(self, mode: str, k: int):
        self.lm = LatentModel(mode)
        self.seqs = FIXTURE["sequences"][f"k{k}"]
        cfg = FIXTURE["train"]
        self.cfg = cfg
        decay = [p for p in self.lm.params if p.dim() >= 2]
        no_decay = [p for p in self.lm.params if p.dim() < 2]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg["weightDecay"]}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg["lr"],
        )

    def step(self) -> dict:
        cfg = self.cfg
        r = self.lm.forward(self.seqs)
        total = r.loss + cfg["startLossWeight"] * r.start_loss + cfg["stopLossWeight"] * r.stop_loss
        total.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.lm.params, cfg["gradClip"]).item()
        m = r.metrics
        stats = dict(
            loss=r.loss.item(),
            nextStepLoss=m["nextStepSum"] / m["nextStepCount"] if m["nextStepCount"] else None,
            resultLoss=m["resultSum"] / m["resultCount"] if m["resultCount"] else None,
            startLoss=r.start_loss.item(),
            stopLoss=r.stop_loss.item(),
            gradNorm=grad_norm,
            latentNorm=m["latentNorm"],
            tokenNorm=m["tokenNorm"],
        )
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return stats


MODES = ("full", "two_trunk")
CASE_NAMES = [f"{mode}.{k}" for mode in MODES for k in FIXTURE["sequences"]]  # e.g. full.k4


def parse_case(name: str):
    mode, sep, k = name.partition(".k")
    if not sep or mode not in MODES or f"k{k}" not in FIXTURE["sequences"]:
        sys.exit(f"bench/python/sft.py: no case named {name!r}; cases: {', '.join(CASE_NAMES)}")
    return mode, int(k)


def step_case(name: str) -> Case:
    mode, k = parse_case(name)

    def setup():
        return Trainer(mode, k).step

    return Case(f"{mode}, k={k}: latent forward, backward, clip_grad_norm_, AdamW.step, zero_grad", 1, setup)


CASES = {name: step_case(name) for name in CASE_NAMES}


def check(names: list[str], threads: int) -> None:
    torch.set_num_threads(threads)
    out = {}
    for name in names:
        mode, k = parse_case(name)
        out[name] = Trainer(mode, k).step()
    sys.stdout.write(json.dumps(out) + "\n")


def profile(names: list[str], threads: int, steps: int) -> None:
    torch.set_num_threads(threads)
    out = {name: profile_rows(Trainer(*parse_case(name)).step, steps) for name in names}
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("--check", "--profile"):
        parser = argparse.ArgumentParser()
        parser.add_argument("--check", help="comma-separated case names: print their first steps' statistics")
        parser.add_argument("--profile", help="comma-separated case names: print their operator profiles")
        parser.add_argument("--steps", type=int, default=10, help="profiled steps per case (--profile)")
        parser.add_argument("--threads", type=int, required=True)
        args = parser.parse_args()
        if args.check:
            check([n for n in args.check.split(",") if n], args.threads)
        else:
            profile([n for n in args.profile.split(",") if n], args.threads, args.steps)
    else:
        run(CASES)
