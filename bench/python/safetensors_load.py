"""Counterparts of bench/safetensors.ts: the same safetensors file read by other means.

    python safetensors_load.py --impl cat|readinto|frombuffer|safetensors <harness options>

The file is the one bench/safetensors.ts writes, named by $LT_BENCH_SAFETENSORS_FILE. Every
implementation runs two cases: ``load`` (warm page cache) and ``load_cold`` (the file's cached pages
are dropped with posix_fadvise(DONTNEED) at the start of every iteration, as ours does).

- cat: ``cat FILE > /dev/null`` in a subprocess: the read limit. cat copies each 128 KiB block into
  the same small buffer, which stays in the CPU cache: it never writes the data to memory.
- readinto: every tensor's bytes read with ``readinto`` into its place in one file-sized buffer
  allocated and touched beforehand, reused by every iteration: the floor of any loader that copies
  the bytes into memory (no allocation, no page faults).
- frombuffer: the Python path without the safetensors package: parse the header, then per tensor
  ``readinto`` a new ``bytearray`` and ``torch.frombuffer(...).reshape(shape)``.
- safetensors: ``safetensors.torch.load_file(FILE, backend="pread")``. Its default ``mmap`` backend
  reads nothing at load time (pages are read on first use), so it would not measure a load.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Case, run  # noqa: E402

FILE_VARIABLE = "LT_BENCH_SAFETENSORS_FILE"
TORCH_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


def evict(path: str) -> None:
    """Drops the file's pages from the page cache (same call as ours' evictFromPageCache)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def read_header(f) -> tuple[int, dict]:
    (length,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(length))
    header.pop("__metadata__", None)
    return 8 + length, header


def cat_setup(path: str):
    def iteration():
        subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)

    return iteration


def readinto_setup(path: str):
    with open(path, "rb") as f:
        data_start, header = read_header(f)
    data_bytes = max(e["data_offsets"][1] for e in header.values())
    buffer = bytearray(data_bytes)  # zero-filled: every page is touched before timing starts
    view = memoryview(buffer)

    def iteration():
        with open(path, "rb", buffering=0) as f:
            for entry in header.values():
                begin, end = entry["data_offsets"]
                f.seek(data_start + begin)
                if f.readinto(view[begin:end]) != end - begin:
                    raise IOError(f"{path}: short read")

    return iteration


def frombuffer_setup(path: str):
    def iteration():
        tensors = {}
        with open(path, "rb", buffering=0) as f:
            data_start, header = read_header(f)
            for name, entry in header.items():
                begin, end = entry["data_offsets"]
                f.seek(data_start + begin)
                buffer = bytearray(end - begin)
                if f.readinto(buffer) != end - begin:
                    raise IOError(f"{path}: short read of {name}")
                tensors[name] = torch.frombuffer(buffer, dtype=TORCH_DTYPES[entry["dtype"]]).reshape(entry["shape"])
        return tensors

    return iteration


def safetensors_setup(path: str):
    from safetensors.torch import load_file

    def iteration():
        return load_file(path, backend="pread")

    return iteration


IMPLEMENTATIONS = {
    "cat": ("cat FILE > /dev/null (subprocess)", cat_setup),
    "readinto": ("per tensor: f.readinto(its slice of one reused, pre-touched buffer)", readinto_setup),
    "frombuffer": ("per tensor: f.readinto(bytearray(n)); torch.frombuffer(buf, dtype).reshape(shape)", frombuffer_setup),
    "safetensors": ('safetensors.torch.load_file(FILE, backend="pread")', safetensors_setup),
}


def cold(setup):
    """The iteration of `setup`, preceded by dropping the file from the page cache."""

    def cold_setup(path: str):
        iteration = setup(path)

        def cold_iteration():
            evict(path)
            return iteration()

        return cold_iteration

    return cold_setup


def main() -> None:
    # --impl is ours; the remaining arguments are the harness protocol's.
    if "--impl" not in sys.argv or sys.argv.index("--impl") + 1 >= len(sys.argv):
        sys.exit(f"usage: {sys.argv[0]} --impl {'|'.join(IMPLEMENTATIONS)} <harness options>")
    at = sys.argv.index("--impl")
    impl = sys.argv[at + 1]
    del sys.argv[at : at + 2]
    if impl not in IMPLEMENTATIONS:
        sys.exit(f"unknown --impl {impl!r} (expected one of {', '.join(IMPLEMENTATIONS)})")
    path = os.environ.get(FILE_VARIABLE)
    if not path or not os.path.isfile(path):
        sys.exit(f"${FILE_VARIABLE} must name the safetensors file to read (bench/safetensors.ts sets it); got {path!r}")
    if impl == "safetensors":
        import safetensors  # noqa: F401  (fail early, with the import error, when the package is missing)

    description, setup = IMPLEMENTATIONS[impl]
    run({
        "load": Case(description, 1, lambda: setup(path)),
        "load_cold": Case(f"posix_fadvise(DONTNEED); {description}", 1, lambda: cold(setup)(path)),
    })


if __name__ == "__main__":
    main()
