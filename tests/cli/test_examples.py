"""examples/train.toml is a valid `chainrule train --config`, and the README points to it."""

from __future__ import annotations

from pathlib import Path

from chainrule.runs.config import load_toml, make_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "train.toml"


def test_the_example_train_config_is_valid():
    settings = make_config(load_toml(EXAMPLE), source=str(EXAMPLE))
    assert (settings.dataset, settings.hidden, settings.activation, settings.optimizer) == \
        ("digits", [64], "relu", "adam")
    assert (settings.lr, settings.epochs, settings.batch_size) == (0.003, 40, 32)


def test_the_readme_runs_the_example_config():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "chainrule train --config examples/train.toml" in readme
    assert "chainrule train --config train.toml" not in readme
