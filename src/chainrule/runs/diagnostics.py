"""Gradient diagnostics: per-layer gradient norms and activation statistics during training.

    report = diagnose(TrainConfig(dataset="spirals", hidden=[32] * 10, activation="sigmoid"))
    report.warnings        # ['vanishing gradients: the first layer's gradient is 1.2e-09 × ...']
    write_outputs(report, Path("runs/diagnose"))      # gradients.png/.svg, CSVs, JSON, HTML

`GradientMonitor` is a training callback: after every update (or every k-th) it records the L2
norm ‖∂E/∂W‖ of each Linear layer's weight gradient, and at the start and after every epoch it
runs a fixed sample of the training data through the network layer by layer to measure how
many sigmoid/tanh units are saturated and how many ReLU units are dead.

Note [vanishing gradients]
    The backward pass multiplies the error term by one factor per layer (the notes' chain rule):

        δ_l = (W_{l+1}ᵀ · δ_{l+1}) ⊙ f′(net_l),        ∂E/∂W_l = δ_l ⊗ out_{l−1}

    For the sigmoid f′ = out·(1 − out) ≤ 1/4, and with the usual initialization ‖W‖ does not
    make up for it, so every layer shrinks δ by a roughly constant factor (about 0.15 for width
    32): after ten layers the first layer's gradient is ~10⁻⁸ of the last one's and the first
    layers barely learn. A saturated unit (out near 0 or 1) has f′ ≈ 0 and cuts the chain
    altogether. ReLU has f′ = 1 on its active units, so δ keeps its size, unless a unit is
    dead (net ≤ 0 for every input, f′ = 0 everywhere). The diagnosis compares the first
    layer's gradient norm with the last layer's: a ratio below `VANISHING_RATIO` (the median
    over the second half of training) is reported as vanishing.

Note [exploding gradients]
    The same product can grow instead (large weights, a learning rate too large for the
    curvature). A gradient norm means nothing on its own: its size depends on the loss, the
    layer's width and the data, and a norm that jumps a thousandfold from a tiny median is
    what a network leaving a plateau looks like (a deep sigmoid stack's first layer going from
    1e-5 to 0.08 is healthy). What makes a gradient too large is what a step does with it: a
    gradient step moves W by η·‖∂E/∂W‖, and once that is more than ‖W‖ itself a single update
    replaces the layer's weights instead of adjusting them, and the next gradient is computed
    somewhere the last one said nothing about: the runaway behind divergence. So a layer is
    reported as exploding when, at some recorded update,

        η·‖∂E/∂W‖ > EXPLODING_STEP · ‖W‖        (‖W‖ just before that update)

    or when its gradient norm is not finite. For SGD that is the update itself; Adam and
    RMSprop divide the step by the gradient's running size, so for them it is a measure of the
    gradient against η and W (their actual step stays near η per weight). Also reported: a
    first/last ratio above `EXPLODING_RATIO` (the product growing towards the input). A NaN
    or an infinity in the loss or a gradient stops training (Note [divergence] in train.py)
    and is reported too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.optim import DISPLAY_NAMES
from chainrule.runs.monitor import (
    SATURATED_HIGH,
    SATURATED_LOW,
    ActivationStats,
    GradientMonitor,
    activation_stats,
)
from chainrule.train import History

__all__ = ["EXPLODING_RATIO", "EXPLODING_STEP", "OUTPUT_FILES", "SATURATED_HIGH",
           "SATURATED_LOW", "UNITS_WARNING", "VANISHING_RATIO", "ActivationStats",
           "DiagnosticReport", "GradientMonitor", "activation_stats", "check", "diagnose",
           "print_report", "write_outputs"]

VANISHING_RATIO = 1e-4
"""Warn when the first layer's gradient norm is below this fraction of the last layer's."""

EXPLODING_STEP = 1.0
"""Warn when a gradient step, η·‖∂E/∂W‖, is more than this many times ‖W‖
(Note [exploding gradients])."""

EXPLODING_RATIO = 1e4
"""Warn when the first layer's gradient norm is more than this many times the last layer's."""

UNITS_WARNING = 0.9
"""Warn when more than this fraction of a layer's units are saturated or dead after training."""

OUTPUT_FILES = ("gradients.png", "gradients.svg", "gradients.csv", "activations.csv",
                "diagnostics.json", "report.html")


# --- the diagnosis ---------------------------------------------------------------------------

@dataclass
class DiagnosticReport:
    """What `diagnose` found: the recorded norms and statistics, and the warnings they raise.

    ratio: the median, over the second half of the recorded steps, of ‖∂E/∂W_first‖ /
    ‖∂E/∂W_last‖ (None if it cannot be computed).  diverged: the DivergenceError's message
    if training stopped on a NaN or infinity.
    """

    title: str
    layers: list[str]
    shapes: dict[str, tuple[int, int]]
    steps: list[int]
    norms: dict[str, list[float]]
    activations: list[tuple[int, list[ActivationStats]]]
    history: History
    ratio: float | None = None
    warnings: list[str] = field(default_factory=list)
    diverged: str | None = None

    def label(self, name: str) -> str:
        """ "layer 3 (32→32)": Linear layers counted from the input, with their sizes."""
        n_in, n_out = self.shapes[name]
        return f"layer {self.layers.index(name) + 1} ({n_in}→{n_out})"

    @property
    def vanishing(self) -> bool:
        return any(w.startswith("vanishing") for w in self.warnings)

    @property
    def exploding(self) -> bool:
        return any(w.startswith(("exploding", "diverged")) for w in self.warnings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title, "layers": [self.label(n) for n in self.layers],
            "steps": self.steps,
            "grad_norms": {self.label(n): [_finite_or_none(v) for v in self.norms[n]]
                           for n in self.layers},
            "first_to_last_ratio": self.ratio, "warnings": self.warnings,
            "diverged": self.diverged,
            "activations": [{"epoch": epoch, "layers": [s.to_dict() for s in stats]}
                            for epoch, stats in self.activations],
            "history": self.history.to_dict(),
        }

    def _repr_html_(self) -> str:
        """In a notebook: the warnings, the figure and the tables of report.html."""
        from chainrule.runs.plots import figure_svg
        from chainrule.runs.report import diagnose_report

        return diagnose_report(self, figure_svg(diagnostics_figure(self), close=True),
                               notebook=True)


def check(monitor: GradientMonitor, *, vanishing_ratio: float = VANISHING_RATIO,
          exploding_step: float = EXPLODING_STEP,
          exploding_ratio: float = EXPLODING_RATIO) -> tuple[float | None, list[str]]:
    """The first/last gradient ratio and the warnings for what a monitor recorded.

    vanishing: the median first/last ratio over the second half of training is below
    `vanishing_ratio` (Note [vanishing gradients]).  exploding (Note [exploding gradients]): a
    gradient step η·‖∂E/∂W‖ above `exploding_step` × ‖W‖, a norm that is not finite, or a
    first/last ratio above `exploding_ratio`.  Saturated or dead units: more than
    `UNITS_WARNING` of a layer's at the last measurement.  Nothing recorded (training made
    fewer updates than `every`) is a warning too: there was nothing to check.
    """
    warnings: list[str] = []
    layers = monitor.layers
    label = _labeller(monitor)
    ratio = None
    if not monitor.steps:
        warnings.append(
            f"nothing recorded: training made {monitor.updates} update"
            f"{'' if monitor.updates == 1 else 's'} and the gradient norms are recorded every "
            f"{monitor.every} updates, so they were never measured and vanishing or exploding "
            "gradients cannot be judged; record more often (--every)"
        )
    if len(layers) >= 2 and monitor.steps:
        first = np.asarray(monitor.norms[layers[0]])[len(monitor.steps) // 2:]
        last = np.asarray(monitor.norms[layers[-1]])[len(monitor.steps) // 2:]
        usable = np.isfinite(first) & np.isfinite(last) & (last > 0)
        if usable.any():
            ratio = float(np.median(first[usable] / last[usable]))
            if ratio < vanishing_ratio:
                warnings.append(
                    f"vanishing gradients: the first layer's gradient is {ratio:.2g} × the last "
                    f"layer's (median over the second half of training; warning below "
                    f"{vanishing_ratio:g}), so the layers near the input barely learn. Each "
                    "layer multiplies the error term by f′(net), at most 1/4 for the sigmoid: "
                    "use relu, or fewer layers"
                )
            elif ratio > exploding_ratio:
                warnings.append(
                    f"exploding gradients: the first layer's gradient is {ratio:.3g} × the last "
                    f"layer's (median over the second half of training; warning above "
                    f"{exploding_ratio:g}); use smaller initial weights or a smaller learning "
                    "rate"
                )
    exploding = [found for name in layers if (found := _explosion(monitor, name, exploding_step))]
    if exploding:
        others = len(exploding) - 1
        also = f" (and {others} more layer{'s' if others > 1 else ''})" if others else ""
        warnings.append(f"exploding gradients: {exploding[0]}{also}; lower the learning rate "
                        "or clip the gradients (--grad-clip, grad_clip=)")
    if monitor.activations:
        warnings += _unit_warnings(monitor.activations[-1], label)
    return ratio, warnings


def _explosion(monitor: GradientMonitor, name: str, limit: float) -> str:
    """What exploded in one layer ("" if nothing): the first recorded update whose gradient
    norm is not finite, or whose gradient step η·‖∂E/∂W‖ exceeds `limit` × ‖W‖."""
    norms = np.asarray(monitor.norms[name])
    weights = np.asarray(monitor.weight_norms[name])
    steps = np.asarray(monitor.lrs) * norms
    too_big = ~np.isfinite(norms) | ((weights > 0) & (steps > limit * weights))
    if not too_big.any():
        return ""
    i = int(np.argmax(too_big))
    where = f"at step {monitor.steps[i]} the gradient of {_labeller(monitor)(name)} has norm"
    if not math.isfinite(norms[i]):
        return f"{where} {norms[i]}"
    return (f"{where} {norms[i]:.3g}: one gradient step, η·‖∂E/∂W‖ = {steps[i]:.3g}, is larger "
            f"than the layer's weights, ‖W‖ = {weights[i]:.3g} (warning above {limit:g} × ‖W‖)")


def _unit_warnings(record: tuple[int, list[ActivationStats]], label: Any) -> list[str]:
    epoch, stats = record
    when = "with the initial weights" if epoch == 0 else f"after epoch {epoch}"
    warnings = []
    for s in stats:
        where = f"the {s.kind} after {label(s.follows)}" if s.follows else f"module {s.layer}"
        if s.saturated is not None and s.saturated > UNITS_WARNING:
            warnings.append(
                f"saturated units: {s.saturated:.0%} of the outputs of {where} are in its flat "
                f"parts (f′ ≈ 0) {when}, so little gradient passes it"
            )
        if s.dead is not None and s.dead > UNITS_WARNING:
            warnings.append(
                f"dead ReLUs: {s.dead:.0%} of the {s.units} units of {where} output 0 for "
                f"every sample {when}; they pass no gradient"
            )
    return warnings


def _labeller(monitor: GradientMonitor) -> Any:
    def label(name: str) -> str:
        n_in, n_out = monitor.shapes[name]
        return f"layer {monitor.layers.index(name) + 1} ({n_in}→{n_out})"

    return label


def diagnose(config: Any, *, every: int = 1, sample_size: int = 256,
             progress: bool | str = False) -> DiagnosticReport:
    """Train `config` (a TrainConfig, as `chainrule train` would) with a GradientMonitor.

    Returns the report with its warnings; a run that diverges is not an error here: it is
    reported in `report.diverged` and as a warning, with the norms recorded up to it.
    sample_size: rows of the training data used for the activation statistics.
    """
    from chainrule.runs.run import prepare, train

    prepared = prepare(config)
    monitor = GradientMonitor(prepared.X_train[:sample_size], every=every)
    run = train(config, prepared=prepared, callbacks=[monitor], progress=progress)
    history = run.history
    diverged = run.error if run.status == "diverged" else None
    ratio, warnings = check(monitor)
    if diverged is not None:
        warnings.insert(0, f"diverged: {diverged}")
    sizes = "-".join(str(n) for n in [prepared.dataset.n_features, *config.hidden,
                                      prepared.n_outputs])
    title = (f"{prepared.dataset.name}: {len(config.hidden)} hidden {config.activation} layers "
             f"({sizes}), {DISPLAY_NAMES[config.optimizer]} η={config.lr:g}")
    return DiagnosticReport(title, monitor.layers, monitor.shapes, monitor.steps, monitor.norms,
                            monitor.activations, history, ratio, warnings, diverged)


# --- outputs ---------------------------------------------------------------------------------

def gradients_csv(report: DiagnosticReport) -> str:
    lines = [",".join(["step", *(report.label(n).replace(",", ";") for n in report.layers)])]
    for i, step in enumerate(report.steps):
        lines.append(",".join([str(step), *(repr(report.norms[n][i]) for n in report.layers)]))
    return "\n".join(lines) + "\n"


def activations_csv(report: DiagnosticReport) -> str:
    lines = ["epoch,module,activation,units,saturated,dead"]
    for epoch, stats in report.activations:
        for s in stats:
            lines.append(",".join([str(epoch), s.layer, s.kind, str(s.units),
                                   "" if s.saturated is None else repr(s.saturated),
                                   "" if s.dead is None else repr(s.dead)]))
    return "\n".join(lines) + "\n"


def write_outputs(report: DiagnosticReport, out_dir: Path) -> list[Path]:
    """Write gradients.png/.svg (the plot), gradients.csv, activations.csv, diagnostics.json
    and report.html (all of it on one self-contained page: report.py)."""
    from chainrule.io import atomic_write_bytes

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_dir / "gradients.csv", gradients_csv(report).encode())
    atomic_write_bytes(out_dir / "activations.csv", activations_csv(report).encode())
    atomic_write_bytes(out_dir / "diagnostics.json",
                       (json.dumps(report.to_dict(), indent=1, default=_json_default)
                        + "\n").encode())
    from chainrule.runs.report import diagnose_report

    plot_diagnostics(report, [out_dir / "gradients.png", out_dir / "gradients.svg"])
    svg = (out_dir / "gradients.svg").read_text(encoding="utf-8")
    atomic_write_bytes(out_dir / "report.html", diagnose_report(report, svg).encode())
    return [out_dir / name for name in OUTPUT_FILES]


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def plot_diagnostics(report: DiagnosticReport, paths: Sequence[Path]) -> None:
    """Left: each layer's gradient norm over training (log scale). Right: saturated or dead
    units per activation layer, before and after training. PNG or SVG by suffix."""
    from chainrule.runs.plots import save_figures

    save_figures(diagnostics_figure(report), paths)


def diagnostics_figure(report: DiagnosticReport) -> Any:
    """The figure of `plot_diagnostics` (open; the caller saves and closes it)."""
    from chainrule.runs.plots import plain, pyplot

    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 5.6),
                                      gridspec_kw={"width_ratios": [1.6, 1.0]})
    colours = plt.get_cmap("viridis")
    n = len(report.layers)
    picks = _thin_indices(len(report.steps), 2000)
    steps = [report.steps[i] for i in picks]
    for k, name in enumerate(report.layers):
        values = [report.norms[name][i] for i in picks]
        left.plot(steps, values, color=colours(k / max(n - 1, 1) * 0.9), linewidth=1.3,
                  label=report.label(name))
    if any(v > 0 for name in report.layers for v in report.norms[name]):
        left.set_yscale("log", nonpositive="mask")
    left.set_xlabel("update step")
    left.set_ylabel("‖∂E/∂W‖₂ of the layer's weights (log scale)")
    left.grid(True, alpha=0.3)
    left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13),
                ncol=min(n, 4), frameon=False)
    if report.ratio is not None:
        verdict = "vanishing" if report.vanishing else "ok"
        left.set_title(f"gradient norm per layer — first/last = {report.ratio:.2g} ({verdict})",
                       fontsize=10)
    else:
        left.set_title("gradient norm per layer", fontsize=10)
    _plot_units(right, report)
    warning = "; ".join(w.split(":")[0] for w in report.warnings) or "no warnings"
    fig.suptitle(plain(f"{report.title}\n{warning}"), fontsize=10)
    fig.tight_layout()
    return fig


def _plot_units(ax: Any, report: DiagnosticReport) -> None:
    """Bars: the saturated (sigmoid/tanh) or dead (ReLU) fraction per layer, first and last."""
    if not report.activations or not report.activations[-1][1]:
        ax.text(0.5, 0.5, "no sigmoid, tanh or ReLU layers to measure", ha="center",
                va="center", transform=ax.transAxes, fontsize=9)
        ax.set_axis_off()
        return
    first_epoch, first = report.activations[0]
    last_epoch, last = report.activations[-1]
    positions = np.arange(len(last))
    width = 0.4

    def fraction(s: ActivationStats) -> float:
        return s.saturated if s.saturated is not None else (s.dead or 0.0)

    ax.bar(positions - width / 2, [fraction(s) for s in first], width, color="#9ecae1",
           label=f"epoch {first_epoch}" + (" (initial weights)" if first_epoch == 0 else ""))
    bars = ax.bar(positions + width / 2, [fraction(s) for s in last], width, color="#08519c",
                  label=f"epoch {last_epoch}")
    ax.bar_label(bars, labels=[f"{fraction(s):.0%}" for s in last], fontsize=7, padding=2)
    ax.set_xticks(positions, [f"{i + 1}" for i in range(len(last))])
    kinds = sorted({s.kind for s in last})
    ax.set_xlabel(f"hidden activation layer ({', '.join(kinds)})")
    descriptions = {"sigmoid": "saturated sigmoid outputs (< 0.01 or > 0.99)",
                    "tanh": "saturated tanh outputs (|out| > 0.99)",
                    "relu": "dead ReLU units (0 for every sample)"}
    what = [descriptions[kind] for kind in kinds]
    ax.set_ylabel("fraction")
    ax.set_ylim(0, 1.08)
    ax.set_title("\n".join(what), fontsize=9)
    ax.axhline(UNITS_WARNING, color="#aa3333", linestyle=":", linewidth=1.0,
               label=f"warning above {UNITS_WARNING:.0%}")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")


def _thin_indices(n: int, limit: int) -> list[int]:
    if n <= limit:
        return list(range(n))
    return sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})


def print_report(report: DiagnosticReport, console: Any = None) -> None:
    """A rich table per layer (gradient norms, activation statistics), then the warnings."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Text, not str, for what holds the user's strings (the title names the CSV file): printed
    # as it is, never read as rich markup or emoji codes.
    console = console or Console()
    table = Table(title=Text(f"chainrule diagnose: {report.title}"), title_justify="left")
    table.add_column("Linear layer", no_wrap=True)
    table.add_column("‖∂E/∂W‖ first", justify="right")
    table.add_column("median", justify="right")
    table.add_column("max", justify="right")
    table.add_column("then", no_wrap=True)
    table.add_column("units", justify="right", no_wrap=True)
    last = report.activations[-1][1] if report.activations else []
    after = {stats.follows: stats for stats in last}
    for name in report.layers:
        norms = np.asarray(report.norms[name])
        finite = norms[np.isfinite(norms)]
        half = norms[len(norms) // 2:]
        half = half[np.isfinite(half)]
        stats = after.get(name)
        if stats is None:
            unit = ""
        elif stats.saturated is not None:
            unit = f"{stats.saturated:.0%} saturated"
        else:
            unit = f"{stats.dead:.0%} dead"
        table.add_row(report.label(name), _cell(finite[0] if finite.size else None),
                      _cell(float(np.median(half)) if half.size else None),
                      _cell(float(finite.max()) if finite.size else None),
                      stats.kind if stats is not None else "", unit)
    console.print(table)
    final = report.history.final
    if final:
        metrics = ", ".join(f"{key} {final[key]:.4g}" for key in
                            ("loss", "accuracy", "val_loss", "val_accuracy") if key in final)
        console.print(f"after {len(report.history.epochs)} epochs: {metrics}")
    if report.ratio is not None:
        console.print(f"first/last layer gradient ratio: {report.ratio:.3g} (median over the "
                      f"second half; vanishing below {VANISHING_RATIO:g})")
    for warning in report.warnings:
        console.print(Text.assemble(("warning:", "yellow"), " ", warning))
    if not report.warnings:
        console.print("[green]no warnings[/green]: gradients reach the first layer and none "
                      "explode")


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"
