"""PyTorch (Python API) side of bench/train-step.ts: the same training steps written with torch.nn and
torch.optim.AdamW, as a Python user writes them.

Models, sizes, seeds and construction order match bench/train-step.ts, so both sides train the same
weights on the same batch. Cases per model: the whole step, forward + backward alone, and the AdamW
update alone (over gradients left in place by one backward).

TRAIN_STEP_FUSED_ADAMW=1 builds torch.optim.AdamW(..., fused=True) instead of its default (the
for-loop implementation on CPU): the counterpart "PyTorch fused AdamW" of bench/train-step.ts.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, run  # noqa: E402

# Kept equal to bench/train-step.ts.
MLP = dict(layers=4, width=1024, batch=64)
BLOCK = dict(hidden=256, heads=4, intermediate=1024, seq=128, batch=8, eps=1e-6)
ADAMW = dict(lr=1e-4, weight_decay=0.01)
if os.environ.get("TRAIN_STEP_FUSED_ADAMW") == "1":
    ADAMW["fused"] = True


class Mlp(nn.Module):
    def __init__(self, layers: int, width: int):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(width, width) for _ in range(layers)])

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class Block(nn.Module):
    """A pre-norm decoder block in the layout of Qwen2's (q/k/v with bias, o without, SwiGLU MLP)."""

    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float):
        super().__init__()
        self.heads = heads
        self.input_norm = nn.RMSNorm(hidden, eps=eps)
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.o = nn.Linear(hidden, hidden, bias=False)
        self.post_norm = nn.RMSNorm(hidden, eps=eps)
        self.gate = nn.Linear(hidden, intermediate, bias=False)
        self.up = nn.Linear(hidden, intermediate, bias=False)
        self.down = nn.Linear(intermediate, hidden, bias=False)

    def forward(self, x):
        b, s, h = x.shape
        head_dim = h // self.heads

        def split(t):
            return t.view(b, s, self.heads, head_dim).transpose(1, 2)

        y = self.input_norm(x)
        attn = F.scaled_dot_product_attention(split(self.q(y)), split(self.k(y)), split(self.v(y)), is_causal=True)
        x = x + self.o(attn.transpose(1, 2).reshape(b, s, h))
        z = self.post_norm(x)
        return x + self.down(F.silu(self.gate(z)) * self.up(z))


def mlp_setup():
    torch.manual_seed(0)
    model = Mlp(MLP["layers"], MLP["width"])
    x = torch.randn(MLP["batch"], MLP["width"])
    labels = torch.randint(0, MLP["width"], (MLP["batch"],))
    return model, torch.optim.AdamW(model.parameters(), **ADAMW), lambda: F.cross_entropy(model(x), labels)


def block_setup():
    torch.manual_seed(0)
    model = Block(BLOCK["hidden"], BLOCK["heads"], BLOCK["intermediate"], BLOCK["eps"])
    x = torch.randn(BLOCK["batch"], BLOCK["seq"], BLOCK["hidden"])
    target = torch.randn(BLOCK["batch"], BLOCK["seq"], BLOCK["hidden"])
    return model, torch.optim.AdamW(model.parameters(), **ADAMW), lambda: F.mse_loss(model(x), target)


# The parts of PART_DESCRIPTIONS in bench/train-step.ts, in Python's spelling.
PART_DESCRIPTIONS = {
    "step": "loss = loss_fn(model(x)); loss.backward(); opt.step(); opt.zero_grad()",
    "fwd_bwd": "loss = loss_fn(model(x)); loss.backward(); model.zero_grad()",
    "adamw": "opt.step() over gradients left in place by one backward",
}


def part_case(build, part):
    """One part of a training step as a case (partCase in bench/train-step.ts)."""

    def setup():
        model, opt, loss_fn = build()
        if part == "step":

            def iteration():
                loss_fn().backward()
                opt.step()
                opt.zero_grad(set_to_none=True)

        elif part == "fwd_bwd":

            def iteration():
                loss_fn().backward()
                model.zero_grad(set_to_none=True)

        else:
            loss_fn().backward()
            iteration = opt.step
        return iteration

    return Case(PART_DESCRIPTIONS[part], 1, setup)


CASES = {
    f"{prefix}_{part}": part_case(build, part)
    for prefix, build in (("mlp", mlp_setup), ("block", block_setup))
    for part in PART_DESCRIPTIONS
}

if __name__ == "__main__":
    run(CASES)
