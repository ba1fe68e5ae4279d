"""Counterpart side of the benchmark protocol (see bench/lib/counterparts.ts).

A benchmark script defines its cases and calls ``run(cases)``; it is started by the TypeScript harness as

    python core.py --cases a,b --threads T --warmup-ms W --sample-ms S --repeats R --clock wall|cpu

and prints progress to stderr and one JSON report as the last line of stdout. The measurement loop
is the one of bench/lib/timing.ts: warm up for at least W ms (and at least twice and 1 ms), calibrate
the iterations per sample to about S ms, then take R samples, each reported in nanoseconds per unit.
The clock is wall time or the CPU time of the process (all threads).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict

import torch


@dataclass(frozen=True)
class Case:
    """description: the code timed; units: operator calls per iteration; setup: makes the inputs and
    returns the iteration to time."""

    description: str
    units: int
    setup: Callable[[], Callable[[], None]]


MIN_CALIBRATION_NS = 1e6  # as in bench/lib/timing.ts
CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.process_time_ns}


def measure(iteration: Callable[[], None], units: int, warmup_ms: float, sample_ms: float, repeats: int, clock_kind: str = "wall") -> dict:
    clock = CLOCKS[clock_kind]
    warmup_ns = warmup_ms * 1e6
    runs = 0
    start = clock()
    elapsed = 0
    while runs < 2 or elapsed < warmup_ns or elapsed < MIN_CALIBRATION_NS:
        iteration()
        runs += 1
        elapsed = clock() - start
    iterations = max(1, math.ceil(sample_ms * 1e6 / max(elapsed / runs, 1)))
    samples = []
    for _ in range(repeats):
        t0 = clock()
        for _ in range(iterations):
            iteration()
        samples.append((clock() - t0) / (iterations * units))
    return {"samples_ns": samples, "iterations_per_sample": iterations, "units_per_iteration": units}


def profile_rows(iteration: Callable[[], None], steps: int, warmup: int = 2) -> list:
    """Per-operator totals of `steps` iterations after `warmup` unprofiled ones, as bench/lib/op-profile.ts
    reads them: torch.profiler's key_averages(), times in microseconds."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(warmup):
        iteration()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            iteration()
    return [dict(name=e.key, count=e.count, selfCpuTimeTotal=e.self_cpu_time_total, cpuTimeTotal=e.cpu_time_total)
            for e in prof.key_averages()]


def _median(values):
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def _duration(ns: float) -> str:
    """Same units as bench/lib/report.ts formatDuration: "712 ns", "53.6 µs", "1.29 ms"."""
    if ns < 1e4:
        return f"{ns:.0f} ns"
    v, unit = (ns / 1e3, "µs") if ns < 1e7 else (ns / 1e6, "ms") if ns < 1e10 else (ns / 1e9, "s")
    return f"{v:.0f} {unit}" if v >= 100 else f"{v:.1f} {unit}" if v >= 10 else f"{v:.2f} {unit}"


def run(cases: Dict[str, Case]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", required=True, help="comma-separated case names")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--warmup-ms", type=float, required=True)
    parser.add_argument("--sample-ms", type=float, required=True)
    parser.add_argument("--repeats", type=int, required=True)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    args = parser.parse_args()
    if args.threads < 1 or args.repeats < 1 or args.sample_ms <= 0 or args.warmup_ms < 0:
        parser.error("--threads and --repeats must be >= 1, --sample-ms > 0 and --warmup-ms >= 0")

    torch.set_num_threads(args.threads)
    requested = [n for n in args.cases.split(",") if n]
    results = {}
    unknown = []
    for name in requested:
        case = cases.get(name)
        if case is None:
            unknown.append(name)
            continue
        iteration = case.setup()
        r = measure(iteration, case.units, args.warmup_ms, args.sample_ms, args.repeats, args.clock)
        del iteration
        r["description"] = case.description
        results[name] = r
        print(f"  {name:<24} {_duration(_median(r['samples_ns'])):>9}", file=sys.stderr, flush=True)
    report = {
        "implementation": f"PyTorch {torch.__version__}, Python {platform.python_version()}",
        "threads": torch.get_num_threads(),
        "unknown_cases": unknown,
        "results": results,
    }
    sys.stdout.write(json.dumps(report) + "\n")
