"""PyTorch (Python API) side of bench/core.ts: the same cases, written as a Python user writes them.

Per-call cases time a loop of BATCH calls on small tensors; each result is dropped (and freed by
reference counting) at once. The loops are written out, not run through a helper taking a lambda,
so that PyTorch's column holds no extra Python function call per operator call.
Mid-size cases time one call per iteration.
"""

from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, run  # noqa: E402

BATCH = 1000  # calls per iteration of the per-call cases, as in bench/core.ts
CALLS = range(BATCH)


def small_pair():
    torch.manual_seed(0)
    return torch.randn(4), torch.randn(4)


def square8():
    torch.manual_seed(0)
    return torch.randn(8, 8)


def setup_add():
    a, b = small_pair()

    def iteration():
        for _ in CALLS:
            a + b

    return iteration


def setup_add_method():
    a, b = small_pair()

    def iteration():
        for _ in CALLS:
            a.add(b)

    return iteration


def setup_mul():
    a, b = small_pair()

    def iteration():
        for _ in CALLS:
            a * b

    return iteration


def setup_matmul_8x8():
    a, b = square8(), square8()

    def iteration():
        for _ in CALLS:
            a @ b

    return iteration


def setup_view():
    x = square8()

    def iteration():
        for _ in CALLS:
            x.view(64)

    return iteration


def setup_select():
    x = square8()

    def iteration():
        for _ in CALLS:
            x.select(0, 3)

    return iteration


def setup_index_select():
    x = square8()
    index = torch.tensor([1, 3, 6])

    def iteration():
        for _ in CALLS:
            torch.index_select(x, 0, index)

    return iteration


def setup_matmul_512():
    torch.manual_seed(0)
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    return lambda: a @ b


def setup_softmax():
    torch.manual_seed(0)
    x = torch.randn(64, 4096)
    return lambda: torch.softmax(x, -1)


CASES = {
    "add": Case("a + b", BATCH, setup_add),
    "add_method": Case("a.add(b)", BATCH, setup_add_method),
    "mul": Case("a * b", BATCH, setup_mul),
    "matmul_8x8": Case("a @ b", BATCH, setup_matmul_8x8),
    "view": Case("x.view(64)", BATCH, setup_view),
    "select": Case("x.select(0, 3)", BATCH, setup_select),
    "index_select": Case("torch.index_select(x, 0, index)", BATCH, setup_index_select),
    "matmul_512": Case("a @ b", 1, setup_matmul_512),
    "softmax_64x4096": Case("torch.softmax(x, -1)", 1, setup_softmax),
}

if __name__ == "__main__":
    run(CASES)
