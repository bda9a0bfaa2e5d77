"""Loss plots (matplotlib, Agg backend, imported only when a plot is drawn).

Files are byte-for-byte reproducible for the same inputs: no timestamps or software versions
are written into their metadata, and SVG ids come from a fixed salt. User strings drawn in a
figure (class and feature names) go through `plain`, so dollar signs are not read as mathtext.

    fig = ...                               # any figure of pyplot()
    svg = figure_svg(fig)                   # the SVG document as a string (the report inlines it)
    save_figures(fig, [path.png, path.svg]) # each written atomically, then the figure closed
"""

from __future__ import annotations

import io as _io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Fixed metadata: PNG and SVG writers otherwise record the date and matplotlib's version.
PNG_METADATA = {"Software": None}
SVG_METADATA = {"Date": None, "Creator": None}


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no window), or in a Jupyter kernel on its inline
    backend, which draws with Agg too: switching it would stop the notebook's own plots from
    showing. chainrule closes every figure it draws, so none of them shows in a notebook
    uninvited."""
    import matplotlib

    if "inline" not in os.environ.get("MPLBACKEND", ""):  # ipykernel sets it in its kernels
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "chainrule"
    return plt


def plain(text: str) -> str:
    """`text` drawn as it is: its dollar signs escaped so that matplotlib reads no mathtext."""
    return str(text).replace("$", r"\$")


def figure_bytes(fig: Any, format: str) -> bytes:
    """A figure as "png" or "svg" bytes, with fixed metadata."""
    buffer = _io.BytesIO()
    svg = format == "svg"
    fig.savefig(buffer, format=format, dpi=110, metadata=SVG_METADATA if svg else PNG_METADATA)
    return buffer.getvalue()


def figure_svg(fig: Any, *, close: bool = False) -> str:
    """A figure as an SVG document (a string), byte-stable; with `close`, then closed."""
    try:
        return figure_bytes(fig, "svg").decode("utf-8")
    finally:
        if close:
            pyplot().close(fig)


def save_figure(fig: Any, path: Path) -> None:
    """Write a figure atomically as PNG or SVG (by suffix) with fixed metadata."""
    from chainrule.io import atomic_write_bytes

    atomic_write_bytes(path, figure_bytes(fig, "svg" if path.suffix.lower() == ".svg" else "png"))


def save_figures(fig: Any, paths: Sequence[Path], written: list[Path] | None = None) -> None:
    """Write `fig` to each path (PNG or SVG by suffix; see `save_figure`), then close it, also
    when a write fails. Each path is appended to `written` as soon as it is complete."""
    try:
        for path in paths:
            save_figure(fig, Path(path))
            if written is not None:
                written.append(Path(path))
    finally:
        pyplot().close(fig)


def plot_history(history: Any, path: Path, *, title: str = "loss per epoch") -> None:
    """Training (and validation) loss per epoch, log-scale y axis."""
    save_figures(history_figure(history, title=title), [path])


def history_figure(history: Any, *, title: str = "loss per epoch") -> Any:
    """The figure of `plot_history`."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    epochs = history["epoch"]
    ax.plot(epochs, history["loss"], label="training loss", color="#1f77b4")
    if history["val_loss"]:
        ax.plot(epochs, history["val_loss"], label="validation loss", color="#d62728")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if min(history["loss"], default=1) > 0:
        ax.set_yscale("log")
    ax.set_title(plain(title))  # it may name the CSV file (runs/folder.py)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf")


def draw_plane(ax: Any, boundary: Any, prepared: Any, *, legend: bool = True,
               points: bool = True) -> None:
    """The network over the input plane (a monitor.Boundary) on `ax`, with the training points.

    A classifier's plane is shaded by its most probable class, paler where that class is less
    sure, with the decision boundary drawn in black; a regression network's first output is
    drawn on a colour scale. Points are in the data's units (before standardisation).
    """
    import numpy as np
    from matplotlib.colors import to_rgb

    plane, values = boundary.plane, np.nan_to_num(boundary.values, nan=0.0)
    ds = prepared.dataset
    classes = ds.task == "classification"
    if classes:
        colours = np.array([to_rgb(CLASS_COLOURS[k % len(CLASS_COLOURS)])
                            for k in range(values.shape[-1])])
        winner = values.argmax(axis=-1)
        confidence = values.max(axis=-1, keepdims=True)
        sure = (confidence - 1 / values.shape[-1]) / (1 - 1 / values.shape[-1])
        rgb = 1 - (1 - colours[winner]) * (0.15 + 0.45 * np.clip(sure, 0, 1))
        ax.imshow(rgb, extent=plane.extent, origin="lower", aspect="auto",
                  interpolation="bilinear")
        if values.shape[-1] == 2 and values[..., 1].min() < 0.5 < values[..., 1].max():
            ax.contour(plane.xs, plane.ys, values[..., 1], levels=[0.5], colors="black",
                       linewidths=1.0)
        elif values.shape[-1] > 2 and len(np.unique(winner)) > 1:
            ax.contour(plane.xs, plane.ys, winner,
                       levels=np.arange(values.shape[-1] - 1) + 0.5, colors="black",
                       linewidths=1.0)
    else:
        ax.imshow(values[..., 0], extent=plane.extent, origin="lower", aspect="auto",
                  cmap="viridis", interpolation="bilinear")
    if points:
        X = prepared.X_train * prepared.std + prepared.mean
        if classes:
            labels = np.asarray(prepared.y_train).reshape(len(X), -1)[:, 0].astype(np.int64)
            for k, name in enumerate(ds.target_names):
                mine = labels == k
                ax.scatter(X[mine, 0], X[mine, 1], s=10, color=CLASS_COLOURS[k % 10],
                           edgecolors="#222222", linewidths=0.35, label=plain(name))
        else:
            ax.scatter(X[:, 0], X[:, 1], s=12, color="white", edgecolors="black",
                       linewidths=0.6)
    ax.set_xlim(plane.extent[0], plane.extent[1])
    ax.set_ylim(plane.extent[2], plane.extent[3])
    ax.set_xlabel(plain(ds.feature_names[0]))
    ax.set_ylabel(plain(ds.feature_names[1]))
    if legend and points and classes:
        ax.legend(fontsize=7, loc="upper right", framealpha=0.85, markerscale=1.4,
                  title="class", title_fontsize=7)
