"""`chainrule demo` end to end: the explanation, the training and the sweep (in a process pool)."""

from __future__ import annotations

import csv
import json

from typer.testing import CliRunner

from chainrule.cli import app
from chainrule.runs.sweep import OUTPUT_FILES


def test_the_demo_explains_trains_and_sweeps(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["demo", "--steps", "1000"])
    assert result.exit_code == 0, result.output
    text = result.output
    # 1. the explanation of the first step: the notes' numbers
    assert "E_total = E_o1 + E_o2 = 0.274811083 + 0.0235600256 = 0.298371109" in text
    assert "∂E/∂w5 = ∂E/∂out_o1 × ∂out_o1/∂net_o1 × ∂net_o1/∂w5" in text
    assert "w5⁺ = 0.4 − 0.5 × 0.0821670406 = 0.35891648" in text
    # 2. training with η = 0.5 (a traced step: the same numbers as eager mode)
    for line in ("step      0: E_total = 0.298371109", "step      1: E_total = 0.291027774",
                 "step    100: E_total = 0.020046828", "step   1000: E_total = 0.001114349"):
        assert line in text
    assert "outputs after 1,000 steps: 0.044052885, 0.957302907" in text
    # 3. the sweep of the six learning rates, written to the default folder
    assert "η=2  ★" in text and "best: η=2" in text
    out = tmp_path / "chainrule-demo"
    assert sorted(path.name for path in out.iterdir()) == sorted(OUTPUT_FILES)
    assert all((out / name).stat().st_size > 0 for name in OUTPUT_FILES)
    rows = list(csv.DictReader((out / "results.csv").open(encoding="utf-8")))
    assert [row["lr"] for row in rows] == ["0.1", "0.2", "0.5", "0.8", "1.0", "2.0"]
    assert {row["steps"] for row in rows} == {"1000"}
    assert json.loads((out / "best.json").read_text())["best"]["label"] == "η=2"
    assert "wrote chainrule-demo/loss.png" in text  # it says where its plot and table are


def test_the_demo_without_its_sweep_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["demo", "--steps", "10", "--no-explain", "--no-sweep"])
    assert result.exit_code == 0, result.output
    assert "step     10: E_total = 0.220918592" in result.output
    assert "learning-rate sweep" not in result.output and list(tmp_path.iterdir()) == []
