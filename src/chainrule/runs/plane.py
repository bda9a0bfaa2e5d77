"""The input plane of two-feature data: a network evaluated on a grid of points.

What the report's decision boundaries, `train --animate` and the playground draw. A grid is laid
in the data's own units (before standardisation) over the points and a margin around them; the
network sees each grid point standardised as the training data were.

    plane = Plane.around(prepared.dataset.X)               # 50 × 50 points
    p = class_plane(model, prepared, plane)                # (50, 50, classes) probabilities
    units = unit_planes(model, prepared, plane)            # each layer's outputs over the plane
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chainrule import nn
from chainrule.autograd import no_grad
from chainrule.errors import ConfigError
from chainrule.runs.model import probabilities
from chainrule.runs.preparation import Prepared
from chainrule.tensor import Tensor


@dataclass(frozen=True)
class Plane:
    """A grid over two features: `xs` (columns) and `ys` (rows), in the data's units."""

    xs: np.ndarray
    ys: np.ndarray

    @classmethod
    def around(cls, X: np.ndarray, resolution: int = 50, margin: float = 0.1) -> Plane:
        """A square grid of `resolution`² points over X's range, widened by `margin` of it; a
        feature with one value (the worked example's single sample) gets ±1 around it."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != 2:
            raise ConfigError(f"the input plane needs data with 2 features, got shape "
                              f"{X.shape}")
        low, high = X.min(axis=0), X.max(axis=0)
        span = high - low
        pad = np.where(span > 0, span * margin, 1.0)
        low, high = low - pad, high + pad
        return cls(np.linspace(low[0], high[0], resolution),
                   np.linspace(low[1], high[1], resolution))

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(left, right, bottom, top), as matplotlib's imshow takes it."""
        return (float(self.xs[0]), float(self.xs[-1]), float(self.ys[0]), float(self.ys[-1]))

    def points(self) -> np.ndarray:
        """Every grid point, row by row from the bottom: shape (len(ys) · len(xs), 2)."""
        gx, gy = np.meshgrid(self.xs, self.ys)
        return np.column_stack([gx.ravel(), gy.ravel()])

    def grid(self, values: np.ndarray) -> np.ndarray:
        """Per-point values (points × k) back on the grid: (len(ys), len(xs), k)."""
        return values.reshape(len(self.ys), len(self.xs), -1)


def class_plane(model: nn.Module, prepared: Prepared, plane: Plane) -> np.ndarray:
    """The network over the plane: class probabilities for classifiers (…, classes), the raw
    outputs for regression (…, outputs)."""
    outputs = unit_planes(model, prepared, plane)[-1]
    flat = outputs.reshape(-1, outputs.shape[-1])
    p = probabilities(prepared.loss, prepared.dataset.task, flat)
    return plane.grid(flat if p is None else p)


def unit_planes(model: nn.Module, prepared: Prepared, plane: Plane) -> list[np.ndarray]:
    """Each layer's outputs over the plane, input side first: one (len(ys), len(xs), units)
    array per Linear layer, taken after its activation when one follows it (the last is the
    network's raw output)."""
    modules = list(model.children()) if isinstance(model, nn.Sequential) else [model]
    x = (plane.points() - prepared.mean) / prepared.std
    dtype = next(iter(model.parameters())).data.dtype
    layers: list[np.ndarray] = []
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            value = Tensor._constant(x.astype(dtype))
            for k, module in enumerate(modules):
                value = module(value)
                last = k == len(modules) - 1
                if last or isinstance(modules[k + 1], nn.Linear):
                    layers.append(plane.grid(np.asarray(value.data, dtype=np.float64)))
    finally:
        model.train(was_training)
    return layers
