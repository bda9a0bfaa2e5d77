"""`chainrule explain`: one training step of a small network, every chain-rule step shown.

With no options it explains the notes' worked example. A network of your own comes from a TOML
file (--config, see chainrule.explain.config) and/or the options below, which override the
file. Writes to the terminal, or to --out in any format (xlsx, a workbook, only to --out);
--graph writes the computational graph.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from chainrule.cli.core import command
from chainrule.cli.options import run_default, with_default
from chainrule.errors import ConfigError

Option = typer.Option


def _numbers(option: str, text: str | None, kind: type) -> list[Any] | None:
    """'0.05,0.10' as [0.05, 0.1] (or ints), or a ConfigError naming the option."""
    if text is None:
        return None
    try:
        return [kind(part) for part in text.replace(" ", "").split(",") if part != ""]
    except ValueError:
        what = "whole numbers like 2,2,2" if kind is int else "numbers like 0.05,0.10"
        raise ConfigError(f"{option}: expected comma-separated {what}, got {text!r}") from None


def _samples(option: str, text: str | None) -> list[Any] | None:
    """One sample '0.05,0.10' as [0.05, 0.1]; several, separated by ';' ('0.05,0.10;0.2,0.3'),
    as one list per sample."""
    if text is None or ";" not in text:
        return _numbers(option, text, float)
    rows = [row for row in text.split(";") if row.strip() != ""]
    try:
        return [[float(part) for part in row.replace(" ", "").split(",") if part != ""]
                for row in rows]
    except ValueError:
        raise ConfigError(f"{option}: expected comma-separated numbers for each sample, the "
                          f"samples separated by ';' (0.05,0.10;0.2,0.3), got {text!r}") from None


def write_atomic(path: Path, text: str) -> None:
    """Write `text` so that `path` holds either its old contents or all of it."""
    from chainrule.io import atomic_write_bytes

    atomic_write_bytes(path, text.encode("utf-8"))


GRAPH_SUFFIXES = {".dot": "dot", ".gv": "dot", ".svg": "svg"}  # the renderer each one means


def _check_outputs(graph: Path | None, out: Path | None) -> None:
    """Refuse a --graph file that is not DOT or SVG, or that would overwrite --out."""
    if graph is None:
        return
    if graph.suffix.lower() not in GRAPH_SUFFIXES:
        raise ConfigError(f"--graph: {graph} should end in .dot or .gv (Graphviz DOT) or .svg "
                          f"(a drawing); the graph is written in one of those formats only")
    if out is not None and out.resolve() == graph.resolve():
        raise ConfigError(f"--out {out} is also where --graph writes; give them different files")


def _write_graph(explanation: Any, path: Path) -> list[str]:
    """The step's graph as DOT or as chainrule's own SVG drawing, by the file's extension."""
    write_atomic(path, explanation.render(GRAPH_SUFFIXES[path.suffix.lower()]))
    return [f"wrote the graph to {path}"]


# the format each extension of --out means
SUFFIX_FORMATS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                  ".html": "html", ".htm": "html", ".json": "json", ".xlsx": "xlsx"}


def output_format(format: str | None, out: Path | None) -> str:
    """The format to write: --format, else the one the extension of --out names, else text.

    A --format that the extension contradicts (--out step.html --format json) is a ConfigError.
    """
    from chainrule.explain import FORMATS

    if format is not None and format not in FORMATS:
        raise ConfigError(f"--format: expected one of {', '.join(FORMATS)}, got {format!r}")
    implied = SUFFIX_FORMATS.get(out.suffix.lower()) if out is not None else None
    if format is None:
        return implied or "text"
    if implied is not None and implied != format:
        raise ConfigError(f"--format {format} contradicts --out {out}, whose extension "
                          f"{out.suffix} means {implied}; give one of them only, or make them "
                          "agree")
    return format


def _check_workbook(out: Path | None) -> None:
    """Refuse --format xlsx without --out, or without openpyxl, before any work is done."""
    import importlib.util

    from chainrule.explain.render_xlsx import INSTALL

    if out is None:
        raise ConfigError("--format xlsx writes a workbook, not text: give the file with "
                          "--out, e.g. --out step.xlsx")
    if importlib.util.find_spec("openpyxl") is None:
        raise ConfigError(f"--format xlsx needs openpyxl: {INSTALL}")


def _default(name: str, shown: str | None = None) -> str:
    from chainrule.explain.config import ExplainConfig

    return shown if shown is not None else run_default(name, ExplainConfig)


@command("explain")
def explain_command(
    config: Annotated[Path | None, Option(
        "--config", help="TOML file describing the network (see docs/explain.md); the options "
                         "below override it.")] = None,
    format: Annotated[str | None, Option(
        "--format", "-f", help=with_default(
            "text, markdown, html (self-contained), json, or xlsx (a workbook of live "
            "formulas; needs --out and the [xlsx] extra).",
            "the one the extension of --out names (.txt, .md, .html, .json, .xlsx), else "
            "text"))]
    = None,
    out: Annotated[Path | None, Option("--out", "-o", help=with_default(
        "Write to this file.", "the terminal"))] = None,
    steps: Annotated[int | None, Option(help=with_default(
        "Run this many steps; more than one adds a table of the error and the weights.",
        _default("steps")))] = None,
    update_biases: Annotated[bool | None, Option(
        "--update-biases/--fixed-biases",
        help=with_default("Update the biases too (the notes keep them fixed).",
                          "fixed-biases"))] = None,
    sequential: Annotated[bool | None, Option(
        "--sequential/--simultaneous",
        help=with_default("Update the output layer first, as an earlier script of the widely "
                          "copied write-up did (gives 0.291027924 instead of 0.291027774).",
                          "simultaneous"))] = None,
    graph: Annotated[Path | None, Option(
        help="Write the step's computational graph to a .svg file (a drawing) or to a .dot "
             "or .gv file (Graphviz DOT).")] = None,
    seed: Annotated[int | None, Option(help=with_default(
        "Draw the weights, inputs and targets not given from this seed.",
        "the worked example's numbers where they fit, the rest drawn from seed 0"))] = None,
    sizes: Annotated[str | None, Option(help=with_default(
        "Layer sizes, inputs first, e.g. 2,2,2.", _default("sizes")))] = None,
    activation: Annotated[str | None, Option(help=with_default(
        "Hidden activation: sigmoid, tanh, relu, leaky_relu, softplus, identity.",
        _default("activation")))] = None,
    output_activation: Annotated[str | None, Option(help=with_default(
        "Output activation.", "softmax for cross_entropy, sigmoid for bce, else the hidden "
                              "one"))] = None,
    loss: Annotated[str | None, Option(help=with_default(
        "half_sse (the notes'), mse, bce or cross_entropy.", _default("loss")))] = None,
    lr: Annotated[float | None, Option(help=with_default(
        "Learning rate η.", _default("lr")))] = None,
    inputs: Annotated[str | None, Option(help=with_default(
        "The sample, e.g. 0.05,0.10; several separated by ';', e.g. '0.05,0.10;0.2,0.3'.",
        "the worked example's for 2 inputs, else drawn from --seed"))] = None,
    targets: Annotated[str | None, Option(help=with_default(
        "Its targets, e.g. 0.01,0.99 (cross_entropy: the class, e.g. 1); several samples' "
        "separated by ';', e.g. '0.01,0.99;0.5,0.5'.",
        "the worked example's for 2 outputs, else drawn from --seed"))] = None,
    sample: Annotated[int | None, Option(help=with_default(
        "With several samples, the one written out in full (0 is the first); the others are "
        "tables.", _default("sample")))] = None,
    max_weights: Annotated[int | None, Option(help=with_default(
        "Explain networks with up to this many weights.", _default("max_weights")))] = None,
    max_chains: Annotated[int | None, Option(help=with_default(
        "Write out the chain-rule products of this many weights; the rest as a table.",
        _default("max_chains")))] = None,
    max_samples: Annotated[int | None, Option(help=with_default(
        "List this many samples of a batch in the tables (every sum runs over all).",
        _default("max_samples")))] = None,
    focus: Annotated[str | None, Option(help=with_default(
        "Only this parameter's derivation, e.g. w5 or b_h1: the values it reads, the δ's it "
        "reuses, its chain-rule product, check and update.", "every parameter"))] = None,
    notation: Annotated[str | None, Option(help=with_default(
        "unit (net_h1, out_o1, w5: the worked example's) or layer (z⁽ᴸ⁾, a⁽ᴸ⁾, w⁽ᴸ⁾ⱼₖ, C₀: "
        "indexed by layer); --focus still takes the unit names.", _default("notation")))]
    = None,
) -> None:
    """Explain one training step: forward pass, every chain-rule product, check and update.

    The output format follows the extension of --out (.txt, .md, .html, .json or .xlsx)
    unless --format is given.
    """
    from chainrule.explain import explain
    from chainrule.explain.config import build_network, load_config

    format = output_format(format, out)
    if focus is not None and format in ("json", "xlsx"):
        raise ConfigError(f"--focus: the {format} format holds every parameter; choose text, "
                          "markdown or html")
    if format == "xlsx":
        _check_workbook(out)
    _check_outputs(graph, out)
    options = {} if focus is None else {"focus": focus}
    overrides = {
        "steps": steps, "update_biases": update_biases, "sequential": sequential,
        "seed": seed, "sizes": _numbers("--sizes", sizes, int), "activation": activation,
        "output_activation": output_activation, "loss": loss, "lr": lr,
        "inputs": _samples("--inputs", inputs), "targets": _samples("--targets", targets),
        "sample": sample, "max_weights": max_weights, "max_chains": max_chains,
        "max_samples": max_samples, "notation": notation,
    }
    spec = load_config(config, overrides)
    model, x, target = build_network(spec)
    result = explain(model, x, target, spec.loss, spec.lr, update_biases=spec.update_biases,
                     sequential=spec.sequential, steps=spec.steps, sample=spec.sample,
                     max_weights=spec.max_weights, max_chains=spec.max_chains,
                     max_samples=spec.max_samples, notation=spec.notation)

    messages = _write_graph(result, graph) if graph is not None else []
    if out is not None:
        result.render(format, out, **options)
        messages.insert(0, f"wrote the explanation ({format}) to {out}")
    elif format == "text":
        from chainrule.explain.render_text import print_text

        print_text(result, focus=focus)
    else:
        sys.stdout.write(result.render(format, **options))
    for message in messages:
        print(message, file=sys.stderr if out is None else sys.stdout)
