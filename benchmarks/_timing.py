"""Shared helpers for the benchmarks: interleaved rounds and median per-call time, and runs in
fresh processes."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable


def measure(fns: dict[str, Callable[[], object]], *, rounds: int = 7,
            min_seconds: float = 0.05) -> dict[str, float]:
    """Median seconds per call of each function; the contenders take turns in every round.

    Taking turns in one process means that a noisy neighbour slows all contenders alike, so
    the ratios stay meaningful even when the absolute times do not.
    """
    counts = {}
    for name, fn in fns.items():
        fn()  # warm up (first-call allocations, lazy imports)
        n, start = 1, time.perf_counter()
        fn()
        once = max(time.perf_counter() - start, 1e-7)
        n = max(1, int(min_seconds / once))
        counts[name] = n
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            n = counts[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(times) for name, times in samples.items()}


def print_table(title: str, rows: list[tuple[str, dict[str, float]]], baseline: str) -> None:
    """One line per case: each contender's time as a ratio to the baseline's."""
    names = list(rows[0][1])
    print(f"\n{title}  (ratio = time / {baseline}; lower is faster)")
    header = f"{'case':<40}" + "".join(f"{n:>14}" for n in names) + f"{baseline + ' µs':>16}"
    print(header)
    print("-" * len(header))
    for case, times in rows:
        base = times[baseline]
        cells = "".join(f"{times[n] / base:>14.2f}" for n in names)
        print(f"{case:<40}{cells}{base * 1e6:>16.1f}")


def fresh_runs(script: str, args: list[str], times: int) -> list[list[str]]:
    """Run `python script *args` `times` times, each in a fresh process, and return the words
    each printed (a child measures itself and prints its figures)."""
    return [subprocess.run([sys.executable, script, *args], check=True, capture_output=True,
                           text=True).stdout.split() for _ in range(times)]
