"""Differentiable ops: each op's forward and its vector-Jacobian product, side by side."""

import chainrule.tensor  # noqa: F401  (defines Tensor before any op module needs it)
