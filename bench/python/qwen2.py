"""PyTorch side of bench/qwen2.ts: Hugging Face transformers' Qwen2ForCausalLM (SDPA attention) in the
Qwen2-0.5B shape cut to 4 layers, timed as a Python user runs it.

Shape, seeds, weight initialisation order and token draws match bench/qwen2.ts, so both sides hold the
same weights and see the same tokens.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.nn.functional as F
from transformers import DynamicCache, Qwen2Config, Qwen2ForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, run  # noqa: E402

# Kept equal to bench/qwen2.ts (QWEN2_BENCH_SHAPE, QWEN2_BENCH_DEVICE, QWEN2_BENCH_DTYPE).
SHAPES = {
    "default": dict(layers=4, hidden=896, heads=14, kv_heads=2, intermediate=4864, vocab=32000, rope_theta=1e6,
                    batch=4, seq=256, prompt=16, new_tokens=64),
    "qwen2-0.5b": dict(layers=24, hidden=896, heads=14, kv_heads=2, intermediate=4864, vocab=151936, rope_theta=1e6,
                       batch=4, seq=256, prompt=16, new_tokens=64),
    "tiny": dict(layers=2, hidden=64, heads=4, kv_heads=2, intermediate=128, vocab=512, rope_theta=1e6,
                 batch=2, seq=16, prompt=4, new_tokens=8),
}
SHAPE = SHAPES[os.environ.get("QWEN2_BENCH_SHAPE", "default")]
DEVICE = torch.device(os.environ.get("QWEN2_BENCH_DEVICE", "cpu"))
DTYPE = getattr(torch, os.environ.get("QWEN2_BENCH_DTYPE", "float32"))


def synchronize():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def build_model() -> Qwen2ForCausalLM:
    config = Qwen2Config(
        vocab_size=SHAPE["vocab"],
        hidden_size=SHAPE["hidden"],
        intermediate_size=SHAPE["intermediate"],
        num_hidden_layers=SHAPE["layers"],
        num_attention_heads=SHAPE["heads"],
        num_key_value_heads=SHAPE["kv_heads"],
        rope_parameters={"rope_type": "default", "rope_theta": SHAPE["rope_theta"]},
        tie_word_embeddings=True,
        attn_implementation="sdpa",
    )
    with torch.device(DEVICE):
        model = Qwen2ForCausalLM(config).to(DTYPE)
    # The initialisation of bench/qwen2.ts (initQwen2Weights, scheme 'hf'), in the same parameter order.
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1)
            elif name.endswith(".bias"):
                p.zero_()
            else:
                p.normal_(0, 0.02)
    return model


def tokens(rows: int, cols: int) -> torch.Tensor:
    return torch.randint(0, SHAPE["vocab"], (rows, cols)).to(DEVICE)


def forward_setup():
    model = build_model().eval()
    ids = tokens(SHAPE["batch"], SHAPE["seq"])

    def iteration():
        with torch.no_grad():
            model(ids).logits
        synchronize()

    return iteration


def train_step_setup():
    model = build_model().train()
    ids = tokens(SHAPE["batch"], SHAPE["seq"])
    n = SHAPE["seq"] - 1

    def iteration():
        logits = model(ids).logits
        loss = F.cross_entropy(logits[:, :n].reshape(-1, SHAPE["vocab"]), ids[:, 1:].reshape(-1))
        loss.backward()
        model.zero_grad(set_to_none=True)
        synchronize()

    return iteration


def decode_setup():
    model = build_model().eval()
    prompt = tokens(1, SHAPE["prompt"])

    def iteration():
        with torch.inference_mode():
            out = model(prompt, past_key_values=DynamicCache(config=model.config), use_cache=True, logits_to_keep=1)
            generated = []
            for step in range(SHAPE["new_tokens"]):
                next_token = out.logits[:, -1].argmax(-1, keepdim=True)
                generated.append(next_token.item())
                if step == SHAPE["new_tokens"] - 1:
                    break
                out = model(next_token, past_key_values=out.past_key_values, use_cache=True, logits_to_keep=1)

    return iteration


CASES = {
    "forward": Case("with torch.no_grad(): model(ids).logits", 1, forward_setup),
    "train_step": Case("F.cross_entropy(model(ids).logits[:, :-1], ids[:, 1:]).backward(); model.zero_grad()", 1,
                       train_step_setup),
    "decode_token": Case("greedy loop: model(next, past_key_values=DynamicCache) + argmax, per decoded token",
                         SHAPE["new_tokens"], decode_setup),
}

if __name__ == "__main__":
    run(CASES)
