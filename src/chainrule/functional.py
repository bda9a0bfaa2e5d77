"""The public stateless API: every differentiable op, by name, and gradients as functions.

>>> import chainrule.functional as F
>>> F.sigmoid(F.linear(x, w, b))
>>> cr.grad(lambda w: F.sigmoid(x @ w).sum())(w)     # ∂/∂w as an array; no .grad touched
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule import autograd
from chainrule.autograd import enable_grad
from chainrule.errors import GraphError
from chainrule.ops.activation import leaky_relu, log_softmax, relu, sigmoid, softmax, softplus, tanh
from chainrule.ops.elementwise import (
    abs,
    add,
    astype,
    ceil,
    clip,
    cos,
    div,
    dropout,
    exp,
    expm1,
    floor,
    log,
    log1p,
    log2,
    log10,
    logaddexp,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    round,
    sign,
    sin,
    sqrt,
    square,
    sub,
    tan,
    where,
)
from chainrule.ops.linalg import (
    diagonal,
    dot,
    einsum,
    linear,
    matmul,
    outer,
    tensordot,
    tril,
    triu,
)
from chainrule.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    half_squared_error,
    mse,
)
from chainrule.ops.normalization import batch_norm
from chainrule.ops.reduce import cumsum, logsumexp, max, mean, min, norm, prod, std, sum, var
from chainrule.ops.shape import (
    concatenate,
    expand_dims,
    flatten,
    flip,
    getitem,
    moveaxis,
    pad,
    repeat,
    reshape,
    roll,
    split,
    squeeze,
    stack,
    swapaxes,
    tile,
    transpose,
)
from chainrule.ops.sort import argmax, argmin, argsort, sort
from chainrule.tensor import Tensor

__all__ = [
    "abs",
    "add",
    "argmax",
    "argmin",
    "argsort",
    "astype",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "ceil",
    "clip",
    "concatenate",
    "cos",
    "cross_entropy",
    "cumsum",
    "diagonal",
    "div",
    "dot",
    "dropout",
    "einsum",
    "exp",
    "expand_dims",
    "expm1",
    "flatten",
    "flip",
    "floor",
    "getitem",
    "grad",
    "half_squared_error",
    "leaky_relu",
    "linear",
    "log",
    "log1p",
    "log2",
    "log10",
    "log_softmax",
    "logaddexp",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "moveaxis",
    "mse",
    "mul",
    "neg",
    "norm",
    "outer",
    "pad",
    "pow",
    "prod",
    "relu",
    "repeat",
    "reshape",
    "roll",
    "round",
    "sigmoid",
    "sign",
    "sin",
    "softmax",
    "softplus",
    "sort",
    "split",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "std",
    "sub",
    "sum",
    "swapaxes",
    "tan",
    "tanh",
    "tensordot",
    "tile",
    "transpose",
    "tril",
    "triu",
    "value_and_grad",
    "var",
    "where",
]

def value_and_grad(fn: Callable[..., Tensor],
                   argnums: int | Sequence[int] = 0) -> Callable[..., tuple[Tensor, Any]]:
    """fn's value and its gradient with respect to the arguments at `argnums`, as a function.

        f = lambda w, x: ((x @ w).tanh() ** 2).sum()
        E, dE_dw = cr.value_and_grad(f)(w, x)       # dE_dw: a NumPy array of w's shape

    fn must return a tensor of one value. Each chosen argument (a Tensor, an array or a
    number) enters fn as a fresh leaf, so no `.grad` anywhere is read or changed, neither the
    arguments' nor those of tensors fn uses from outside (model parameters): this is
    `torch.autograd.grad` / `jax.value_and_grad`, not backward(). Returns (the value, detached,
    and the gradient), or a tuple of gradients when argnums is a sequence; an argument fn does
    not use gets zeros.
    """
    single = isinstance(argnums, int)
    chosen = (argnums,) if single else tuple(argnums)

    def both(*args: Any, **kwargs: Any) -> tuple[Tensor, Any]:
        args_list = list(args)
        leaves = []
        for k in chosen:
            if not -len(args) <= k < len(args):
                raise GraphError(f"grad: argnums names argument {k}, but fn was called with "
                                 f"{len(args)} positional argument{'s' * (len(args) != 1)}")
            value = args[k]
            data = value.data if isinstance(value, Tensor) else value
            leaf = Tensor(data)
            if leaf.data.dtype.kind != "f":
                raise GraphError(f"grad: argument {k} is {leaf.data.dtype}; gradients are "
                                 "defined for floating arguments only")
            leaf.requires_grad = True
            args_list[k] = leaf
            leaves.append(leaf)
        with enable_grad():
            out = fn(*args_list, **kwargs)
        if not isinstance(out, Tensor) or out.data.size != 1:
            what = (f"a tensor of shape {out.data.shape}" if isinstance(out, Tensor)
                    else type(out).__name__)
            raise GraphError(f"grad: fn must return a tensor of one value (reduce it with "
                             f".sum() or .mean()), got {what}")
        found: dict[int, np.ndarray] = {}
        if out.requires_grad:
            nodes, grads = autograd.gradients(out)
            found = {id(t): g for t, g in zip(nodes, grads, strict=True) if g is not None}
        result = tuple(np.array(found[id(leaf)]) if id(leaf) in found
                       else np.zeros_like(leaf.data) for leaf in leaves)
        return out.detach(), result[0] if single else result

    return both


def grad(fn: Callable[..., Tensor], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The gradient of fn with respect to the arguments at `argnums`, as a function (see
    `value_and_grad`): `cr.grad(f)(w, x)` is ∂f/∂w as a NumPy array, and no `.grad` changes."""
    both = value_and_grad(fn, argnums)

    def gradient(*args: Any, **kwargs: Any) -> Any:
        return both(*args, **kwargs)[1]

    return gradient

