"""The user's strings (class labels, column names, file names, paths) reach the terminal and
the figures as they are: rich markup ("[/]", "[bold]"), emoji codes (":smile:") and matplotlib
mathtext ("$x^$") are printed and drawn literally, and crash nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainrule.cli import app
from chainrule.runs.model import TrainedModel

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_and_here(tmp_path, monkeypatch):
    """Run in tmp_path (short relative paths) on a terminal wide enough that rich wraps no
    line, so that outputs compare exactly."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")


def run(*args):
    """stdout of a successful command, its lines' trailing spaces removed (rich pads a
    table's title to the table's width)."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return "\n".join(line.rstrip() for line in result.stdout.splitlines())


def title(output):
    """A table's title: the lines above the table (rich wraps it to the table's width)."""
    return " ".join(output.split("\n┏")[0].splitlines())


def _csv(name, labels, header="a,b,kind"):
    """Eight rows of two features and a target cycling through `labels`."""
    rows = [f"{i % 4},{i // 4},{labels[i % len(labels)]}" for i in range(8)]
    with open(name, "w", encoding="utf-8", newline="") as f:
        f.write("\n".join([header, *rows]) + "\n")
    return name


LABELS = ["[/]", "[bold]c0[/bold]", ":smile:"]


def test_predict_prints_class_labels_literally():
    run("train", "--csv", _csv("labels.csv", LABELS), "--epochs", "2", "--out", "m", "--quiet")
    data = _csv("new.csv", ["?"], header="a,b,id")
    output = run("predict", "m/model.safetensors", data)
    rows = TrainedModel.load("m/model.safetensors").predict_csv(data).rows
    width = max(len("prediction"), *(len(label) for _, label, _ in rows))
    lines = [f"│ {i:<3} │ {label:<{width}} │ {float(p):<11.4f} │" for i, label, p in rows]
    bar = "━" * (width + 2)
    assert output == "\n".join([
        f"┏━━━━━┳{bar}┳━━━━━━━━━━━━━┓",
        f"┃ row ┃ {'prediction':<{width}} ┃ probability ┃",
        f"┡━━━━━╇{bar}╇━━━━━━━━━━━━━┩",
        *lines,
        f"└─────┴{'─' * (width + 2)}┴─────────────┘",
    ])
    assert {label for _, label, _ in rows} <= set(LABELS)


def test_predict_prints_column_names_literally():
    # A regression model: the table's columns are named after the target columns.
    with open("prices.csv", "w", encoding="utf-8") as f:
        f.write("[b]a,b,[red]price[/red]\n" + "".join(f"{i},{i % 3},{i * 1.5}\n"
                                                       for i in range(8)))
    run("train", "--csv", "prices.csv", "--epochs", "1", "--out", "r", "--quiet")
    output = run("predict", "r/model.safetensors", "prices.csv")
    rows = TrainedModel.load("r/model.safetensors").predict_csv("prices.csv").rows
    assert output == "\n".join([
        "┏━━━━━┳━━━━━━━━━━━━━━━━━━┓",
        "┃ row ┃ [red]price[/red] ┃",
        "┡━━━━━╇━━━━━━━━━━━━━━━━━━┩",
        *(f"│ {i:<3} │ {float(value):<16.6g} │" for i, value in rows),
        "└─────┴──────────────────┘",
    ])


def test_train_prints_the_csv_name_and_an_out_path_with_markup_literally():
    _csv("[bold]m.csv", ["x", "y"])
    output = run("train", "--csv", "[bold]m.csv", "--epochs", "1", "--out", "runs/[/]x")
    assert title(output) == "chainrule train: [bold]m"
    assert output.splitlines()[-1] == ("wrote runs/[/]x/model.safetensors, runs/[/]x/history.json, "
                         "runs/[/]x/history.csv, runs/[/]x/config.json, runs/[/]x/loss.png, "
                         "runs/[/]x/report.html, runs/[/]x/run.json, "
                         "runs/[/]x/checkpoint.safetensors")


def test_a_dollar_in_the_csv_name_is_drawn_not_parsed_as_mathtext():
    # "m$x^$" as mathtext is a syntax error: the plot of the loss (its title names the file)
    # once failed after training.
    _csv("m$x^$.csv", ["0", "1"])
    output = run("train", "--csv", "m$x^$.csv", "--epochs", "1")
    assert output.splitlines()[-1].startswith("wrote runs/m$x^$/model.safetensors")
    assert Path("runs/m$x^$/loss.png").read_bytes().startswith(b"\x89PNG")


def test_diagnose_prints_and_draws_the_csv_name_literally():
    _csv("[bold]$x^$.csv", ["0", "1"])
    output = run("diagnose", "--csv", "[bold]$x^$.csv", "--epochs", "1", "--hidden", "4",
                 "--out", "d[/]")
    assert title(output) == ("chainrule diagnose: [bold]$x^$: 1 hidden relu layers (2-4-2), "
                             "Adam η=0.01")
    assert output.splitlines()[-1].startswith("wrote d[/]/gradients.png, d[/]/gradients.svg")


def test_sweep_prints_and_draws_the_csv_name_literally():
    _csv("[bold]$x^$.csv", ["0", "1"])
    output = run("sweep", "--csv", "[bold]$x^$.csv", "--epochs", "1", "--lr", "0.1,0.2",
                 "--workers", "1", "--out", "s[/]")
    assert title(output) == "chainrule sweep: [bold]$x^$, hidden 32 relu, Adam, batch 32"
    assert output.splitlines()[-1].startswith("wrote s[/]/loss.png, s[/]/loss.svg")
