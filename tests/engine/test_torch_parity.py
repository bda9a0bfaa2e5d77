"""Gradients of random compositions of ops against PyTorch (skipped when torch is absent)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.functional as F

torch = pytest.importorskip("torch")

# Each entry: (chainrule op, the same op in torch) on one tensor, defined everywhere.
UNARY = [
    (lambda x: x.sigmoid(), lambda x: x.sigmoid()),
    (lambda x: x.tanh(), lambda x: x.tanh()),
    (lambda x: F.softplus(x), lambda x: torch.nn.functional.softplus(x)),
    (lambda x: x * x + 1.0, lambda x: x * x + 1.0),
    (lambda x: F.softmax(x, axis=-1), lambda x: torch.softmax(x, dim=-1)),
    (lambda x: F.log_softmax(x, axis=-1), lambda x: torch.log_softmax(x, dim=-1)),
    (lambda x: x.exp() / (1.0 + x.exp()), lambda x: x.exp() / (1.0 + x.exp())),
    (lambda x: x.T @ x, lambda x: x.T @ x),
    (lambda x: x - x.mean(axis=0), lambda x: x - x.mean(dim=0)),
    (lambda x: x.max(axis=1, keepdims=True) * x, lambda x: x.amax(dim=1, keepdim=True) * x),
]


@pytest.mark.parametrize("seed", range(20))
def test_random_compositions_match_torch(seed):
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(UNARY), size=4)
    x0 = rng.standard_normal((3, 3))
    ours = cr.tensor(x0, requires_grad=True)
    theirs = torch.tensor(x0, requires_grad=True)
    a, b = ours, theirs
    for k in picks:
        a, b = UNARY[k][0](a), UNARY[k][1](b)
    weights = rng.standard_normal(a.shape)
    (a * weights).sum().backward()
    (b * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_mlp_with_cross_entropy_matches_torch():
    rng = np.random.default_rng(1)
    x, labels = rng.standard_normal((5, 4)), np.array([0, 2, 1, 2, 0])
    w1, b1, w2 = rng.standard_normal((6, 4)), rng.standard_normal(6), rng.standard_normal((3, 6))
    ours = [cr.tensor(v, requires_grad=True) for v in (w1, b1, w2)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (w1, b1, w2)]
    F.cross_entropy(F.linear(F.linear(x, ours[0], ours[1]).relu(), ours[2]), labels).backward()
    tx = torch.tensor(x)
    logits = torch.nn.functional.linear(torch.relu(torch.nn.functional.linear(tx, theirs[0],
                                                                             theirs[1])), theirs[2])
    torch.nn.functional.cross_entropy(logits, torch.tensor(labels)).backward()
    for o, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(o.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)
