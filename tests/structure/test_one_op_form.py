"""Every op is one Function (ops/base.py); no op class shares a name with an nn layer."""

from __future__ import annotations

import inspect
import pkgutil

import chainrule.nn as nn
import chainrule.ops as ops
from chainrule.ops.base import Function


def op_modules():
    return [__import__(f"chainrule.ops.{m.name}", fromlist=["_"])
            for m in pkgutil.iter_modules(ops.__path__)]


def test_every_op_class_is_a_function_named_op_and_no_nn_layer_shares_its_name():
    layers = {name for name, value in vars(nn).items() if inspect.isclass(value)}
    found = []
    for module in op_modules():
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, Function) and value is not Function \
                    and value.__module__ == module.__name__:
                found.append(name)
                assert name.endswith("Op"), name
                assert name not in layers, name
                assert value.name, name
    assert {"SigmoidOp", "LinearOp", "HalfSquaredErrorOp", "AddOp", "MatmulOp"} <= set(found)


def test_no_op_is_a_closure_every_result_records_its_function():
    import numpy as np

    import chainrule as cr
    import chainrule.functional as F

    x = cr.tensor(np.array([[0.5, -1.0]]), requires_grad=True)
    results = [x + 1, x * x, x / 2, x**2, -x, x.exp(), x.abs(), x.sum(), x.mean(), x.max(),
               x.reshape(-1), x.T, x[0], F.softmax(x), F.log_softmax(x), F.logsumexp(x),
               cr.where(x > 0, x, 0.0), cr.concatenate([x, x]), cr.stack([x, x]), x @ x.T,
               x.clip(0, 1), x.astype("float32"), F.tanh(x), x.min(), x.prod(), x.var(),
               x.std(), x.norm(), x.norm(1), x.norm(np.inf), x.cumsum(axis=-1),
               F.half_squared_error(x, x.detach()), F.mse(x, x.detach()),
               F.binary_cross_entropy(x.sigmoid(), x.detach().clip(0, 1)),
               F.cross_entropy(x, np.array([1]))]
    for r in results:
        assert issubclass(r._fn, Function) and r._outputs is not None, r.op
        assert len(r._outputs) == 1 + len(r._fn.keeps), r.op  # every kept array is named
