"""PyTorch (Python API) side of bench/latent-step.ts: the latent step composed from primitive operators,
written as a Python user writes it, in the same order as latentStepReference
(src/torch/kernels/latent-step.ts):

    n = h * rsqrt(mean(h^2, -1) + eps) * w;  embed = n * g * scale + b;  stop = (n * sw).sum(-1) + sb

Cases are named <mode>.B<rows>.D<dim>.composed with mode fwd (forward with inputs requiring grad) or
fwd_bwd (forward, then torch.autograd.grad with given output gradients). LATENT_STEP_DEVICE and
LATENT_STEP_DTYPE select the device and dtype, as for the TypeScript side.
"""

from __future__ import annotations

import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, run  # noqa: E402

DEVICE = os.environ.get("LATENT_STEP_DEVICE", "cpu")
DTYPE = getattr(torch, os.environ.get("LATENT_STEP_DTYPE", "float32"))
BATCHES = (1, 8, 64)
DIMS = (896, 4096)
SCALE = 0.37
EPS = 1e-6


def synchronize():
    if DEVICE.startswith("cuda"):
        torch.cuda.synchronize()


def composed(h, w, g, b, scale, sw, sb, eps=EPS):
    n = h * torch.rsqrt(h.square().mean(-1, keepdim=True) + eps) * w
    embed = n * g * scale + b
    stop = (n * sw).sum(-1) + sb.reshape(())
    return embed, stop


def make_inputs(rows, dim):
    """The same values as bench/latent-step.ts (seeded float32 CPU draws, then converted)."""
    torch.manual_seed(0)

    def leaf(t):
        return t.to(DTYPE).to(DEVICE).requires_grad_()

    leaves = [
        leaf(torch.randn(rows, dim) * 2),
        leaf(torch.randn(dim) * 0.2 + 1),
        leaf(torch.randn(dim) * 0.2 + 1),
        leaf(torch.randn(dim) * 0.1),
        leaf(torch.randn(dim) * (1 / math.sqrt(dim))),
        leaf(torch.randn(())),
    ]
    grads = (torch.randn(rows, dim).to(DTYPE).to(DEVICE), torch.randn(rows).to(DTYPE).to(DEVICE))
    return leaves, grads


def setup_forward(rows, dim):
    def setup():
        (h, w, g, b, sw, sb), _ = make_inputs(rows, dim)

        def iteration():
            composed(h, w, g, b, SCALE, sw, sb)
            synchronize()

        return iteration

    return setup


def setup_forward_backward(rows, dim):
    def setup():
        leaves, grad_outputs = make_inputs(rows, dim)
        h, w, g, b, sw, sb = leaves

        def iteration():
            embed, stop = composed(h, w, g, b, SCALE, sw, sb)
            torch.autograd.grad((embed, stop), leaves, grad_outputs)
            synchronize()

        return iteration

    return setup


CASES = {}
for rows in BATCHES:
    for dim in DIMS:
        CASES[f"fwd.B{rows}.D{dim}.composed"] = Case("composed(h, w, g, b, scale, sw, sb)", 1, setup_forward(rows, dim))
        CASES[f"fwd_bwd.B{rows}.D{dim}.composed"] = Case(
            "torch.autograd.grad(composed(...), inputs, grad_outputs)", 1, setup_forward_backward(rows, dim)
        )

if __name__ == "__main__":
    run(CASES)
