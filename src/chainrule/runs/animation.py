"""training.gif: the decision boundary and the loss curve, epoch by epoch (`train --animate`).

One frame per epoch that `train()` recorded the input plane at (monitor.BoundarySnapshots with
`animation_epochs`: at most ANIMATION_FRAMES, evenly spaced, the first and the last among them,
and the last epoch trained if training stopped early). Left: the network over the plane with
the training points (plots.draw_plane); right: the loss per epoch, drawn up to the frame's
epoch. Drawn by matplotlib's animation writer for Pillow (one draw per frame), into a temporary
folder, and then written atomically to the run folder: an interrupted render leaves no
half-written GIF. The same run gives the same bytes.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

FPS = 6
DPI = 72


def render(result: Any) -> tuple[Any, Any]:
    """The figure of a RunResult's animation and `frame(i)`, which draws its i-th frame (one
    per recorded boundary)."""
    from chainrule.runs.plots import draw_plane, plain, pyplot

    boundaries = result.boundaries
    history = result.history
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 4.0),
                                      gridspec_kw={"width_ratios": [1.0, 1.15]})
    epochs = history["epoch"]
    losses = [v if math.isfinite(v) else math.nan for v in history["loss"]]
    val = [v if math.isfinite(v) else math.nan for v in history["val_loss"]]
    right.plot(epochs, losses, color="#1f77b4", alpha=0.2, linewidth=1.0)
    train_line, = right.plot([], [], color="#1f77b4", linewidth=1.8, label="training loss")
    val_line = None
    if val:
        right.plot(epochs, val, color="#d62728", alpha=0.2, linewidth=1.0)
        val_line, = right.plot([], [], color="#d62728", linewidth=1.8, label="validation loss")
    marker, = right.plot([], [], "o", color="#1f77b4", markersize=6)
    finite = [v for v in (*losses, *val) if v == v]
    if finite and min(finite) > 0:
        right.set_yscale("log")
    right.set(xlabel="epoch", ylabel=f"loss ({result.prepared.loss})")
    right.grid(True, alpha=0.3)
    right.legend(loc="upper right", fontsize=8)
    title = fig.suptitle("", fontsize=11)
    total = len(history.epochs)
    name = plain(result.prepared.dataset.name)

    def frame(i: int) -> None:
        boundary = boundaries[i]
        left.clear()
        draw_plane(left, boundary, result.prepared, legend=True)
        n = boundary.epoch
        train_line.set_data(epochs[:n], losses[:n])
        if val_line is not None:
            val_line.set_data(epochs[:n], val[:n])
        marker.set_data(epochs[n - 1:n], losses[n - 1:n])
        title.set_text(f"{name}: epoch {n} of {total}")

    frame(0)  # laid out with the axes' labels and ticks in place
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig, frame


def animation_bytes(result: Any) -> bytes:
    """The GIF of `render`, as bytes (drawn in a temporary folder that is then removed)."""
    from matplotlib.animation import PillowWriter

    from chainrule.runs.plots import pyplot

    fig, frame = render(result)
    try:
        with tempfile.TemporaryDirectory(prefix="chainrule-gif-") as folder:
            path = Path(folder) / "training.gif"
            writer = PillowWriter(fps=FPS)
            with writer.saving(fig, str(path), DPI):
                for i in range(len(result.boundaries)):
                    frame(i)
                    writer.grab_frame()
            return path.read_bytes()
    finally:
        pyplot().close(fig)


def write_animation(result: Any, path: Path) -> None:
    """Write training.gif for `result` atomically (see the module's docstring)."""
    from chainrule.io import atomic_write_bytes

    atomic_write_bytes(path, animation_bytes(result))
