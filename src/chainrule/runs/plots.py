"""Loss plots (matplotlib, Agg backend, imported only when a plot is drawn).

Files are byte-for-byte reproducible for the same inputs: no timestamps or software versions
are written into their metadata, and SVG ids come from a fixed salt. Text is never read as
mathtext (`text.parse_math` off), so a class label with dollar signs is drawn as it is.

    fig = ...                               # any figure of pyplot()
    svg = figure_svg(fig)                   # the SVG document as a string (the report inlines it)
    save_figures(fig, [path.png, path.svg]) # each written atomically, then the figure closed
"""

from __future__ import annotations

import io as _io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Fixed metadata: PNG and SVG writers otherwise record the date and matplotlib's version.
PNG_METADATA = {"Software": None}
SVG_METADATA = {"Date": None, "Creator": None}


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "chainrule"
    plt.rcParams["text.parse_math"] = False
    return plt


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
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
