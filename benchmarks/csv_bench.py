"""Reading a CSV file: `load_csv` and `load_features` against plain `np.loadtxt`.

    python benchmarks/csv_bench.py [--rows 100000] [--cols 20]
    python benchmarks/csv_bench.py --mb 200        # a file of about 200 MB instead

Writes a rows × cols file of random floats with a header line (f0, f1, ...) to a temporary
folder, then reads it with each contender in a fresh child process, several times, and prints
the median wall time as a ratio to np.loadtxt's, and the peak memory as a ratio to the float64
arrays the reader returns (for load_csv, X and y). The time is one read; the peak is that of a
second read under tracemalloc (which NumPy reports its buffers to), so it counts what the read
allocates, the returned arrays included. The targets: time within 1.5× of np.loadtxt on
100,000 × 20, peak within 2× of the arrays on about 200 MB.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from _timing import fresh_runs

CONTENDERS = ("np.loadtxt", "load_csv", "load_features")


def _child(name: str, path: Path, cols: int) -> None:
    from chainrule import data

    def read() -> list[np.ndarray]:
        if name == "np.loadtxt":
            return [np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)]
        if name == "load_csv":
            ds = data.load_csv(path)
            return [ds.X, ds.y]
        return [data.load_features(path, [f"f{j}" for j in range(cols)])]

    start = time.perf_counter()
    read()
    seconds = time.perf_counter() - start
    tracemalloc.start()
    arrays = read()
    peak = tracemalloc.get_traced_memory()[1]
    print(f"{seconds} {peak} {sum(a.nbytes for a in arrays)}")


def _write(path: Path, rows: int, cols: int, mb: float | None) -> int:
    """Write the file; with `mb`, as many rows as make about that many megabytes."""
    rng = np.random.default_rng(0)
    header = ",".join(f"f{j}" for j in range(cols))
    if mb is not None:
        sample = path.with_suffix(".sample")
        np.savetxt(sample, rng.standard_normal((1000, cols)), delimiter=",", fmt="%.17g")
        rows = round(mb * 1e6 / (sample.stat().st_size / 1000))
        sample.unlink()
    with path.open("w") as f:
        f.write(header + "\n")
        for start in range(0, rows, 100_000):  # in blocks: the table never in memory at once
            block = rng.standard_normal((min(100_000, rows - start), cols))
            np.savetxt(f, block, delimiter=",", fmt="%.17g")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--mb", type=float, help="write a file of about this many MB instead "
                        "of --rows rows (200 for the memory target)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]), args.cols)
        return

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.csv"
        rows = _write(path, args.rows, args.cols, args.mb)
        size_mb = path.stat().st_size / 1e6
        print(f"{rows} × {args.cols} CSV, {size_mb:.1f} MB; median of {args.repeats} runs")
        results = {}
        for name in CONTENDERS:
            runs = [(float(out[0]), int(out[1]), int(out[2])) for out in fresh_runs(
                __file__, ["--cols", str(args.cols), "--child", name, str(path)], args.repeats)]
            results[name] = (statistics.median(r[0] for r in runs),
                             statistics.median(r[1] for r in runs), runs[0][2])
    base_s = results["np.loadtxt"][0]
    print(f"{'reader':<16}{'seconds':>10}{'× loadtxt':>11}{'peak MiB':>11}{'arrays MiB':>12}"
          f"{'× arrays':>10}")
    for name, (seconds, peak, nbytes) in results.items():
        print(f"{name:<16}{seconds:>10.3f}{seconds / base_s:>11.2f}{peak / 2**20:>11.1f}"
              f"{nbytes / 2**20:>12.1f}{peak / nbytes:>10.2f}")


if __name__ == "__main__":
    main()
