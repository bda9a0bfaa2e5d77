"""Loss plots (matplotlib, Agg backend, imported only when a plot is drawn).

Files are byte-for-byte reproducible for the same inputs: no timestamps or software versions
are written into their metadata.
"""

from __future__ import annotations

import io as _io
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
    return plt


def save_figure(fig: Any, path: Path) -> None:
    """Write a figure atomically as PNG or SVG (by suffix) with fixed metadata."""
    from chainrule.io import atomic_write_bytes

    buffer = _io.BytesIO()
    svg = path.suffix.lower() == ".svg"
    fig.savefig(buffer, format="svg" if svg else "png", dpi=110,
                metadata=SVG_METADATA if svg else PNG_METADATA)
    atomic_write_bytes(path, buffer.getvalue())


def plot_history(history: Any, path: Path, *, title: str = "loss per epoch") -> None:
    """Training (and validation) loss per epoch, log-scale y axis."""
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
    save_figure(fig, path)
    plt.close(fig)
