"""The hand-written NumPy step of benchmarks/speed_bench.py computes chainrule's training step:
after two steps its losses and weights agree with chainrule eager within the dtype's tolerance
(no timing here; speed is measured by the benchmark itself)."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "speed_bench.py"


@pytest.fixture(scope="module")
def bench():
    if not BENCH.exists():
        pytest.skip("benchmarks/ not present")
    sys.path.insert(0, str(BENCH.parent))
    try:
        spec = importlib.util.spec_from_file_location("speed_bench", BENCH)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH.parent))
    return module


@pytest.mark.parametrize("index", range(4))  # the widest row is too slow for a unit test
@pytest.mark.parametrize("rule", ["sgd", "adam"])
def test_numpy_reference_matches_chainrule(bench, index, rule):
    row = bench.ROWS[index]
    tol = 1e-9 if row[4] == "float64" else 2e-3
    assert bench.check_numpy_reference(row, rule) < tol


def test_composed_losses_match_the_fused_ones(bench):
    import numpy as np

    from chainrule import nn

    for index in (1, 2):
        row = bench.ROWS[index]
        x, y = bench.make_data(row)
        out = bench.build_model(row)(x)
        fused = float(nn.get_loss(row[5])(out, y).data)
        composed = float(bench.composed_loss(row[5])(out, y).data)
        np.testing.assert_allclose(composed, fused, rtol=1e-5)
