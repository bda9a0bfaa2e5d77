"""Too large for memory: a network, through every command that sizes one, is refused in one
line (exit 2) with the estimate before its weights are allocated (nn's one check); so is a CSV
file that NumPy cannot allocate."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from chainrule.cli import app

runner = CliRunner()
GIB = 2**30
TAIL = ("for the weights alone (training needs about 4 times that, for the gradients and the "
        "optimizer's state), more than this machine's 16 GiB of memory; use fewer or smaller "
        "layers")


@pytest.fixture(autouse=True)
def sixteen_gib(monkeypatch):
    """The same machine everywhere: 16 GiB of memory."""
    monkeypatch.setattr("chainrule.nn.layers.physical_memory", lambda: 16 * GIB)


def _error(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    return result.output


DIGITS_1E9 = ("error: mlp: sizes [64, 1000000000, 10]: 75,000,000,010 parameters would take "
              f"279 GiB as float32 {TAIL}\n")


def test_train_hidden_option(tmp_path):
    assert _error("train", "--dataset", "digits", "--hidden", "1000000000",
                  "--out", tmp_path / "run") == DIGITS_1E9
    assert not (tmp_path / "run").exists()


def test_train_config_file(tmp_path):
    config = tmp_path / "big.toml"
    config.write_text('dataset = "digits"\nhidden = [1000000000]\ndtype = "float64"\n')
    assert _error("train", "--config", config, "--out", tmp_path / "run") == (
        "error: mlp: sizes [64, 1000000000, 10]: 75,000,000,010 parameters would take "
        f"559 GiB as float64 {TAIL}\n")


def test_diagnose_depth_is_refused_before_its_layers_are_listed(tmp_path):
    # [32] * 10**9 alone would be a list of 8 GB; the weights between the layers are checked
    # first.
    assert _error("diagnose", "--depth", "1000000000", "--out", tmp_path / "d") == (
        "error: --depth 1000000000 hidden layers of 32 units: 1,055,999,998,944 parameters "
        f"would take 3.84 TiB as float32 {TAIL}\n")
    assert _error("diagnose", "--hidden", "1000000000", "--out", tmp_path / "d") == (
        "error: mlp: sizes [2, 1000000000, 2]: 5,000,000,002 parameters would take 18.6 GiB "
        f"as float32 {TAIL}\n")


def test_a_sweep_trial_too_large_fails_alone_with_the_message(tmp_path):
    result = runner.invoke(app, ["sweep", "--dataset", "iris", "--hidden", "4,1000000000",
                                 "--epochs", "1", "--workers", "1", "--out", str(tmp_path / "s")])
    assert result.exit_code == 1, result.output  # the sweep's code for a failed trial
    results = (tmp_path / "s" / "results.csv").read_text()
    assert ("ConfigError: mlp: sizes [4, 1000000000, 3]: 8,000,000,003 parameters would take "
            f"29.8 GiB as float32 {TAIL}") in results
    assert "1 of 2 trials failed: hidden 1000000000" in result.output


def test_a_csv_too_large_for_memory_is_one_line(tmp_path, monkeypatch):
    import numpy as np

    def no_memory(*_args, **_kwargs):
        raise MemoryError  # NumPy's parser could not allocate the table

    path = tmp_path / "big.csv"
    path.write_text("a,b,y\n" + "".join(f"{i},{i % 7},{i % 2}\n" for i in range(1000)))
    monkeypatch.setattr(np, "loadtxt", no_memory)
    assert _error("train", "--csv", path, "--out", tmp_path / "run") == (
        f"error: {path} is too large to read into memory: its 7.71 KiB of text hold about "
        "23.5 KiB of float64 numbers (estimated from its first lines), and there was not "
        "enough free memory for them; read a sample of its rows, or use a machine with more "
        "memory\n")
