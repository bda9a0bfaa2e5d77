"""Reading a CSV file: `load_csv` and `load_features` against plain `np.loadtxt`.

    python benchmarks/csv_bench.py [--rows 100000] [--cols 20]

Writes a rows × cols file of random floats with a header line (f0, f1, ...) to a temporary
folder, then reads it with each contender in a fresh child process, several times, and prints
the median wall time and the peak memory, both also as ratios to np.loadtxt. The time is one
read; the peak is that of a second read under tracemalloc (which NumPy reports its buffers to),
so it counts what the read allocates, the returned arrays included.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

CONTENDERS = ("np.loadtxt", "load_csv", "load_features")


def _child(name: str, path: Path, cols: int) -> None:
    from chainrule import data

    def read() -> object:
        if name == "np.loadtxt":
            return np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
        if name == "load_csv":
            return data.load_csv(path)
        return data.load_features(path, [f"f{j}" for j in range(cols)])

    start = time.perf_counter()
    read()
    seconds = time.perf_counter() - start
    tracemalloc.start()
    read()
    peak = tracemalloc.get_traced_memory()[1]
    print(f"{seconds} {peak}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]), args.cols)
        return

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.csv"
        table = np.random.default_rng(0).standard_normal((args.rows, args.cols))
        header = ",".join(f"f{j}" for j in range(args.cols))
        np.savetxt(path, table, delimiter=",", header=header, comments="", fmt="%.17g")
        size_mb = path.stat().st_size / 1e6
        print(f"{args.rows} × {args.cols} CSV, {size_mb:.1f} MB; median of {args.repeats} runs")
        results = {}
        for name in CONTENDERS:
            runs = []
            for _ in range(args.repeats):
                out = subprocess.run(
                    [sys.executable, __file__, "--cols", str(args.cols), "--child", name,
                     str(path)], check=True, capture_output=True, text=True).stdout.split()
                runs.append((float(out[0]), int(out[1])))
            results[name] = (statistics.median(r[0] for r in runs),
                             statistics.median(r[1] for r in runs))
    base_s, base_bytes = results["np.loadtxt"]
    print(f"{'reader':<16}{'seconds':>10}{'× time':>9}{'peak MiB':>11}{'× memory':>10}")
    for name, (seconds, peak) in results.items():
        print(f"{name:<16}{seconds:>10.3f}{seconds / base_s:>9.2f}{peak / 2**20:>11.1f}"
              f"{peak / base_bytes:>10.2f}")


if __name__ == "__main__":
    main()
