"""One softmax on arrays: `chainrule.ops.activation.softmax_array` (and its log)."""

from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.ops.activation import log_softmax_array, softmax_array

SRC = Path(cr.__file__).parent


def test_softmax_array_is_a_distribution_along_its_axis_even_for_huge_inputs():
    z = np.array([[1000.0, 1001.0, 999.0], [-5.0, 0.0, 5.0]])
    p = softmax_array(z)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0)
    np.testing.assert_allclose(p[0], np.exp([0.0, 1.0, -1.0]) / np.exp([0.0, 1.0, -1.0]).sum())
    np.testing.assert_allclose(softmax_array(z, axis=0).sum(axis=0), 1.0)
    np.testing.assert_allclose(np.exp(log_softmax_array(z)), p)
    assert np.all(np.isfinite(log_softmax_array(np.array([0.0, -2000.0]))))


def test_the_softmax_op_and_the_cross_entropy_agree_with_softmax_array():
    z = np.array([[0.3, -1.2, 2.0]])
    np.testing.assert_array_equal(cr.functional.softmax(cr.tensor(z)).data, softmax_array(z))
    loss = cr.functional.cross_entropy(cr.tensor(z), np.array([2]))
    np.testing.assert_allclose(loss.item(), -np.log(softmax_array(z)[0, 2]))


def test_no_other_module_writes_its_own_max_shifted_softmax():
    allowed = {SRC / "ops" / "activation.py"}
    own = [f"{path.relative_to(SRC)}:{n}" for path in SRC.rglob("*.py") if path not in allowed
           for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
           if "exp(" in line and ".max(" in line]
    assert own == []
