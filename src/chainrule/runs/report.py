"""report.html: one self-contained page per run, per sweep and per diagnosis.

    html = run_report(result)            # a RunResult of run.py: folder.py writes it
    html = sweep_report(sweep, svg)      # a SweepResult and its loss figure (sweep.py)
    html = diagnose_report(report, svg)  # a DiagnosticReport and its figure (diagnostics.py)

A page needs no network to be read: its style is inline, its plots are inline SVG from
matplotlib (an image inside one, such as a decision boundary, is a data: URI), and it has no
scripts, fonts or links to anything. The same run gives the same bytes: the figures are
byte-stable (plots.py) and nothing on the page depends on the date, the machine, the output
folder or the software versions. Every string that came from the user — class, feature and
file names, labels, error messages — is HTML-escaped where it is written (`escape`, `cell`), so
a class named `<script>` is shown as that text.

All three pages are one skeleton (`page`) of sections (`section`) holding tables (`table`)
and figures (`figure`). A sweep and a diagnosis also show themselves in a notebook
(`_repr_html_`) as the same content in a fragment of the notebook's page (`page(...,
notebook=True)`, display.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.display import Html, cell, escape, fragment, table
from chainrule.runs.monitor import GradientNorms, report_epochs

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1d232a; background: #f6f7f9; margin: 0; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 1.6em; margin: 0.2em 0 0.3em; }
h2 { font-size: 1.2em; margin: 0 0 0.6em; }
section { background: #fff; border: 1px solid #dde1e6; border-radius: 8px;
          padding: 16px 20px; margin: 18px 0; }
.status { display: inline-block; padding: 4px 12px; border-radius: 14px; font-weight: 600; }
.finished, .ok { background: #e3f4e6; color: #1c6b2d; }
.early-stopped { background: #e3eefb; color: #1d4f91; }
.diverged, .failed { background: #fde7e7; color: #a11d1d; }
.interrupted { background: #fdf3dc; color: #8a5a00; }
.note { color: #5b6470; font-size: 0.92em; }
table { border-collapse: collapse; margin: 6px 0 4px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #dde1e6; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; }
td.num { text-align: right; }
tr.best td { font-weight: 700; background: #fff8d6; }
table.confusion td { text-align: right; min-width: 3em; }
figure { margin: 8px 0; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: #5b6470; font-size: 0.92em; }
ul.warnings li { margin: 4px 0; }
code { background: #f0f2f5; padding: 0 4px; border-radius: 3px; }
"""


def figure(svg: str, caption: str = "") -> Html:
    """An SVG document (plots.figure_svg) inlined: its XML prolog and doctype dropped."""
    start = svg.find("<svg")
    body = svg[start:] if start >= 0 else svg
    text = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return Html(f"<figure>{body.strip()}{text}</figure>")


def paragraph(*parts: Any, cls: str = "") -> Html:
    attr = f' class="{cls}"' if cls else ""
    return Html(f"<p{attr}>{''.join(cell(p) for p in parts)}</p>")


def section(heading: str, *parts: Any, anchor: str = "") -> Html:
    """A titled section of a page; `parts` are Html or text (escaped)."""
    attr = f' id="{escape(anchor)}"' if anchor else ""
    body = "\n".join(cell(p) for p in parts if p)
    return Html(f"<section{attr}>\n<h2>{escape(heading)}</h2>\n{body}\n</section>")


def page(title: str, header: Sequence[Any], sections: Iterable[str], *,
         notebook: bool = False) -> str:
    """The one skeleton of every report: a title, a header (Html or text) and sections.

    notebook: the same content as a notebook's output instead of a page, a fragment whose
    style is scoped to it (`display.fragment`)."""
    top = "\n".join(cell(p) for p in header if p)
    body = "\n".join(s for s in sections if s)
    content = f"<h1>{escape(title)}</h1>\n{top}\n{body}"
    if notebook:
        return fragment(content, "chainrule-report", STYLE)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
            f"{content}\n</main>\n</body>\n</html>\n")


def status_badge(status: str, text: str = "") -> Html:
    shown = escape(status) + (f": {escape(text)}" if text else "")
    return Html(f'<p><span class="status {escape(status)}">{shown}</span></p>')


# --- a training run ---------------------------------------------------------------------------

RUN_STATUS_TEXT = {
    "finished": "trained every epoch asked for",
    "early-stopped": "",
    "diverged": "",
    "interrupted": "",
}


@dataclass(frozen=True)
class Confusion:
    """Counts of (true class, predicted class) of the final model on `on` ("validation" or
    "training") data: counts[i, j] samples of class labels[i] predicted as labels[j]."""

    labels: tuple[str, ...]
    counts: np.ndarray
    on: str


def confusion(result: Any) -> Confusion | None:
    """The final model's confusion matrix on the validation data (the training data when there
    is none); None for regression or when there is no whole model."""
    from chainrule.runs.model import probabilities
    from chainrule.train import predict

    prepared = result.prepared
    ds = prepared.dataset
    if result.model is None or ds.task != "classification":
        return None
    on = "validation" if prepared.X_val is not None else "training"
    X, y = (prepared.X_val, prepared.y_val) if on == "validation" else \
        (prepared.X_train, prepared.y_train)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p = probabilities(prepared.loss, ds.task, predict(result.model, X))
    if p is None:
        return None
    k = len(ds.target_names)
    predicted = np.argmax(np.nan_to_num(p, nan=-1.0), axis=1)
    true = np.asarray(y).reshape(len(X), -1)[:, 0].astype(np.int64)
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (true, predicted), 1)
    return Confusion(tuple(ds.target_names), counts, on)


def run_report(result: Any) -> str:
    """The page of one training run (a `RunResult`): how it ended, its configuration and data,
    loss and accuracy curves, per-layer gradient norms, the confusion matrix (classifiers) and
    the decision boundary after a few epochs (two-feature data)."""
    prepared, history = result.prepared, result.history
    name = prepared.dataset.name
    why = {"early-stopped": history.stop_reason or "", "diverged": result.error or "",
           "interrupted": result.error or ""}.get(result.status, RUN_STATUS_TEXT["finished"])
    header = [status_badge(result.status, why),
              paragraph(f"{result.epochs:,} epochs, {result.steps:,} updates", cls="note")]
    sections = [
        section("Result", _final_table(result)),
        section("Configuration", _config_table(result.config)),
        section("Data", _data_table(result)),
        section("Loss and accuracy", *_curves(result), anchor="curves"),
        section("Gradient norms per layer", *_gradients(result.gradient_norms),
                anchor="gradients"),
        _confusion_section(result),
        _boundary_section(result),
    ]
    return page(f"chainrule train: {name}", header, sections)


def _final_table(result: Any) -> Html:
    history = result.history
    rows = []
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        column = [v for v in history[key] if math.isfinite(v)]
        if key not in result.final and not column:
            continue
        best = (min(column) if key.endswith("loss") else max(column)) if column else None
        rows.append([key, _float(result.final.get(key)), _float(best)])
    if not rows:
        return paragraph("no metrics: training ended before its first epoch.", cls="note")
    note = ""
    if history.restored_epoch is not None:
        note = paragraph(f"the final model has the weights of epoch {history.restored_epoch} "
                         "(early stopping restored its best epoch).", cls="note")
    return Html(table(["metric", "final model", "best epoch"], rows) + note)


def _float(value: float | None) -> Any:
    return "—" if value is None else float(value)


def _config_table(config: Any, columns: int = 3) -> Html:
    """Every setting of the run, `columns` setting-value pairs a row."""
    pairs = []
    for key, value in config.model_dump().items():
        if isinstance(value, list):
            shown = ", ".join(str(v) for v in value) or "none"
        elif value is None:
            shown = "—"
        elif isinstance(value, bool | str):
            shown = str(value).lower() if isinstance(value, bool) else value
        else:
            shown = json.dumps(value)
        pairs.append([Html(f"<code>{escape(key)}</code>"), shown])
    per = math.ceil(len(pairs) / columns)
    rows = []
    for i in range(per):
        row: list[Any] = []
        for c in range(columns):
            row += pairs[c * per + i] if c * per + i < len(pairs) else ["", ""]
        rows.append(row)
    return table(["setting", "value"] * columns, rows)


def _names(names: Sequence[str], most: int = 12) -> str:
    shown = ", ".join(names[:most])
    return shown + (f", … and {len(names) - most} more" if len(names) > most else "")


def _data_table(result: Any) -> Html:
    prepared = result.prepared
    ds = prepared.dataset
    rows: list[list[Any]] = [
        ["name", ds.name], ["task", ds.task], ["samples", f"{ds.n_samples:,}"],
        ["features", f"{ds.n_features}: {_names(list(ds.feature_names))}"],
    ]
    if ds.task == "classification":
        rows.append(["classes", f"{len(ds.target_names)}: {_names(list(ds.target_names))}"])
    else:
        rows.append(["targets", _names(list(ds.target_names))])
    rows += [["training samples", f"{len(prepared.X_train):,}"],
             ["validation samples", f"{0 if prepared.X_val is None else len(prepared.X_val):,}"],
             ["loss", prepared.loss]]
    return table(None, rows)


def _curves(result: Any) -> list[Any]:
    from chainrule.runs.plots import figure_svg, pyplot

    history = result.history
    if not history.epochs:
        return [paragraph("no epoch finished, so there is no curve.", cls="note")]
    accuracy = bool(history["accuracy"])
    plt = pyplot()
    fig, axes = plt.subplots(1, 2 if accuracy else 1, figsize=(10.0 if accuracy else 6.4, 3.8),
                             squeeze=False)
    epochs = history["epoch"]
    loss_ax = axes[0][0]
    train_loss, val_loss = _finite(history["loss"]), _finite(history["val_loss"])
    loss_ax.plot(epochs, train_loss, color="#1f77b4", label="training")
    if history["val_loss"]:
        loss_ax.plot(epochs, val_loss, color="#d62728", label="validation")
    positive = [v for v in (*train_loss, *val_loss) if v == v]
    if positive and min(positive) > 0:
        loss_ax.set_yscale("log")
    loss_ax.set(xlabel="epoch", ylabel=f"loss ({result.prepared.loss})", title="loss per epoch")
    if accuracy:
        ax = axes[0][1]
        ax.plot(epochs, _finite(history["accuracy"]), color="#1f77b4", label="training")
        if history["val_accuracy"]:
            ax.plot(epochs, _finite(history["val_accuracy"]), color="#d62728",
                    label="validation")
        ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy per epoch", ylim=(-0.02, 1.02))
    for ax in axes[0]:
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=9)
        _integer_epochs(ax)
    fig.tight_layout()
    caption = ("the training curve is the mean over each epoch's updates; the validation curve "
               "is measured after the epoch")
    return [figure(figure_svg(fig, close=True), caption)]


def _integer_epochs(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _finite(values: Sequence[float]) -> list[float]:
    return [v if math.isfinite(v) else math.nan for v in values]


def gradient_figure(norms: GradientNorms) -> str:
    """Each layer's ‖∂E/∂W‖ over the recorded updates, log scale, as an SVG document."""
    from chainrule.runs.plots import figure_svg, pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.0, 4.0))
    colours = plt.get_cmap("viridis")
    n = len(norms.layers)
    for k, layer in enumerate(norms.layers):
        values = [v if math.isfinite(v) and v > 0 else math.nan for v in norms.norms[layer]]
        ax.plot(norms.steps, values, color=colours(k / max(n - 1, 1) * 0.9), linewidth=1.3,
                label=layer)
    if any(v > 0 and math.isfinite(v) for layer in norms.layers for v in norms.norms[layer]):
        ax.set_yscale("log")
    ax.set(xlabel="update step", ylabel="‖∂E/∂W‖₂ (log scale)",
           title="gradient norm of each Linear layer's weights")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False,
              ncol=min(n, 4))
    fig.tight_layout()
    return figure_svg(fig, close=True)


def _gradients(norms: GradientNorms | None) -> list[Any]:
    if norms is None or not norms.steps:
        return [paragraph("no gradient norms were recorded (training made no update).",
                          cls="note")]
    rows = []
    for layer in norms.layers:
        values = np.asarray(norms.norms[layer], dtype=np.float64)
        finite = values[np.isfinite(values)]
        half = values[len(values) // 2:]
        half = half[np.isfinite(half)]
        rows.append([layer, _float(finite[0] if finite.size else None),
                     _float(float(np.median(half)) if half.size else None),
                     _float(finite[-1] if finite.size else None)])
    first, last = norms.layers[0], norms.layers[-1]
    ratio = ""
    if len(norms.layers) > 1:
        a = np.asarray(norms.norms[first])[len(norms.steps) // 2:]
        b = np.asarray(norms.norms[last])[len(norms.steps) // 2:]
        ok = np.isfinite(a) & np.isfinite(b) & (b > 0)
        if ok.any():
            ratio = (f" Over the second half of training the first layer's gradient is "
                     f"{float(np.median(a[ok] / b[ok])):.3g} × the last layer's: a ratio far "
                     "below 1 is the vanishing-gradient picture (")
    every = "every update" if norms.every == 1 else f"every {norms.every}th update"
    note = [f"recorded after {every} ({len(norms.steps):,} of {norms.updates:,} updates)."
            + ratio]
    if ratio:
        note += [Html("<code>chainrule diagnose</code>"), " looks closer)."]
    return [figure(gradient_figure(norms)),
            table(["layer", "first", "median, second half", "last"], rows),
            paragraph(*note, cls="note")]


def _confusion_section(result: Any) -> str:
    if result.prepared.dataset.task != "classification":
        return ""
    found = confusion(result)
    if found is None:
        return section("Confusion matrix", paragraph(
            "no whole model to evaluate (interrupted in the middle of an update).", cls="note"))
    counts = found.counts
    top = max(int(counts.max()), 1)
    head = "".join(f"<th>{escape(label)}</th>" for label in found.labels)
    rows = []
    for i, label in enumerate(found.labels):
        cells = []
        for j in range(len(found.labels)):
            value = int(counts[i, j])
            alpha = 0.08 + 0.72 * value / top if value else 0.0
            colour = "31, 119, 180" if i == j else "214, 39, 40"
            style = f' style="background: rgba({colour}, {alpha:.2f})"' if value else ""
            cells.append(f"<td{style}>{value:,}</td>")
        rows.append(f"<tr><th>{escape(label)}</th>{''.join(cells)}</tr>")
    total, right = int(counts.sum()), int(np.trace(counts))
    matrix = Html(f'<table class="confusion"><thead><tr><th>true \\ predicted</th>{head}</tr>'
                  f"</thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>")
    return section("Confusion matrix", matrix, paragraph(
        f"the final model on the {found.on} data: {right:,} of {total:,} correct "
        f"({right / max(total, 1):.1%}); rows are the true classes, columns the predicted "
        "ones.", cls="note"), anchor="confusion")


def boundary_figure(result: Any, epochs: Sequence[int]) -> str:
    """The network over the input plane after each of `epochs` (recorded in
    result.boundaries), with the training points, as an SVG document."""
    from chainrule.runs.plots import draw_plane, figure_svg, pyplot

    chosen = [b for b in result.boundaries if b.epoch in set(epochs)]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(chosen), figsize=(3.0 * len(chosen) + 0.6, 3.6),
                             squeeze=False)
    for k, (ax, boundary) in enumerate(zip(axes[0], chosen, strict=True)):
        draw_plane(ax, boundary, result.prepared, legend=k == 0)
        ax.set_title(f"after epoch {boundary.epoch}", fontsize=10)
        if k:
            ax.set_ylabel("")
    fig.tight_layout()
    return figure_svg(fig, close=True)


def _boundary_section(result: Any) -> str:
    if not result.boundaries:
        return ""
    epochs = report_epochs(b.epoch for b in result.boundaries)
    classes = result.prepared.dataset.task == "classification"
    what = ("the shade is the predicted class (paler where the network is less sure), the "
            "black line the decision boundary" if classes else
            "the colour is the network's first output")
    return section("Decision boundary" if classes else "The network over the input plane",
                   figure(boundary_figure(result, epochs)),
                   paragraph(f"{what}; the points are the training data.", cls="note"),
                   anchor="boundary")


# --- a sweep ----------------------------------------------------------------------------------

def sweep_report(result: Any, loss_svg: str, *, notebook: bool = False) -> str:
    """The page of a sweep (a `SweepResult` of sweep.py): the trials in a table, the best one
    marked, and every trial's loss curve (`loss_svg`, the figure of loss.svg); with
    `notebook`, as a notebook's output (`page`)."""
    results = result.results
    keys = [key for key in ("optimizer", "batch_size", "hidden", "lr")
            if any(key in r.params for r in results)]
    has_val = any(r.val_loss is not None for r in results)
    target = next((r.target_loss for r in results if r.target_loss is not None), None)
    header = ["trial", *keys, "status", "final loss", "best loss"]
    header += ["val loss"] if has_val else []
    header += [f"updates to {target:g}"] if target is not None else []
    header += ["updates", "error"]
    rows, classes = [], []
    for r in results:
        best = r is result.best
        row: list[Any] = [Html(escape(r.label) + (" ★" if best else ""))]
        row += [_param(key, r.params.get(key)) for key in keys]
        row += [Html(f'<span class="status {escape(r.status)}">{escape(r.status)}</span>'),
                _float(r.final_loss), _float(r.best_loss)]
        row += [_float(r.val_loss)] if has_val else []
        row += ["—" if r.steps_to_target is None else r.steps_to_target] \
            if target is not None else []
        row += [r.steps, r.error]
        rows.append(row)
        classes.append("best" if best else "")
    best = ("no run qualified as best" if result.best is None
            else f"best: {result.best.label} ★ — {result.rule_text}")
    stopped = sum(r.status == "interrupted" for r in results)
    top: list[Any] = [paragraph(best)]
    if stopped:
        top.insert(0, status_badge("interrupted", f"{len(results) - stopped} of "
                                                  f"{len(results)} trials finished"))
    return page(f"chainrule sweep: {result.title}", top, [
        section("Trials", table(header, rows, row_classes=classes)),
        section("Loss curves", figure(loss_svg, "every trial's training loss; ★ the best, ✕ "
                                                "where a run diverged"), anchor="curves"),
    ], notebook=notebook)


def _param(key: str, value: Any) -> Any:
    if key == "batch_size":
        return "full" if value is None else value
    if key == "hidden" and isinstance(value, list | tuple):
        return "×".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else value


# --- a diagnosis ------------------------------------------------------------------------------

def diagnose_report(report: Any, svg: str, *, notebook: bool = False) -> str:
    """The page of `chainrule diagnose` (a `DiagnosticReport` of diagnostics.py): the
    warnings, the gradient norms and unit statistics (`svg`, the figure of gradients.svg),
    and tables of both; with `notebook`, as a notebook's output (`page`)."""
    if report.warnings:
        warnings = Html('<ul class="warnings">' + "".join(
            f"<li>{escape(w)}</li>" for w in report.warnings) + "</ul>")
    else:
        warnings = paragraph("no warnings: gradients reach the first layer and none explode.")
    header: list[Any] = [status_badge("diverged", report.diverged) if report.diverged else
                         status_badge("finished", f"{len(report.history.epochs):,} epochs")]
    if report.ratio is not None:
        header.append(paragraph(f"first/last layer gradient ratio: {report.ratio:.3g} (median "
                                "over the second half of training)", cls="note"))
    rows = []
    last = report.activations[-1][1] if report.activations else []
    after = {stats.follows: stats for stats in last}
    for name in report.layers:
        norms = np.asarray(report.norms[name], dtype=np.float64)
        finite = norms[np.isfinite(norms)]
        half = norms[len(norms) // 2:]
        half = half[np.isfinite(half)]
        stats = after.get(name)
        units = "" if stats is None else (f"{stats.saturated:.0%} saturated"
                                          if stats.saturated is not None
                                          else f"{stats.dead:.0%} dead")
        rows.append([report.label(name), _float(finite[0] if finite.size else None),
                     _float(float(np.median(half)) if half.size else None),
                     _float(float(finite.max()) if finite.size else None),
                     "" if stats is None else stats.kind, units])
    activation_rows = []
    for epoch, stats in report.activations[:1] + report.activations[-1:] \
            if len(report.activations) > 1 else report.activations:
        for s in stats:
            activation_rows.append([epoch, s.layer, s.kind, s.units,
                                    "—" if s.saturated is None else f"{s.saturated:.1%}",
                                    "—" if s.dead is None else f"{s.dead:.1%}"])
    activations = (table(["epoch", "module", "activation", "units", "saturated", "dead"],
                         activation_rows) if activation_rows else
                   paragraph("no sigmoid, tanh or ReLU layers to measure.", cls="note"))
    return page(f"chainrule diagnose: {report.title}", header, [
        section("Warnings", warnings),
        section("Gradient norms and units", figure(svg), anchor="gradients"),
        section("Per layer", table(["Linear layer", "‖∂E/∂W‖ first", "median", "max", "then",
                                    "units"], rows)),
        section("Activation statistics", activations,
                paragraph("epoch 0 is the initial weights; the first and the last measurement.",
                          cls="note")),
    ], notebook=notebook)
