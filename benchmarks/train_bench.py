"""Kept so that `python benchmarks/train_bench.py` still works: the training-step benchmark is
benchmarks/speed_bench.py (same arguments)."""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).with_name("speed_bench.py")), run_name="__main__")
