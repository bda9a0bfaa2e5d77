"""What a click/typer user expects of `chainrule`: --version, -h, `python -m chainrule`, shell
completion, flags shown as flags, and help text and a default for every option."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys

import pytest
from typer.main import get_command
from typer.testing import CliRunner

import chainrule
from chainrule.cli import app
from chainrule.cli.options import run_default
from chainrule.runs.config import TrainConfig

runner = CliRunner()
GROUP = get_command(app)
COMMANDS = sorted(GROUP.commands)
# options that have no default by nature: a file to read or write only when given
NO_DEFAULT = {"config", "csv", "resume", "graph", "force", "overwrite", "quiet", "help", "version",
              "install_completion", "show_completion"}
NO_DEFAULT_IN = {("train", "dataset")}  # train needs --dataset or --csv


def _context(name: str | None):
    group_ctx = GROUP.make_context("chainrule", [], resilient_parsing=True)
    if name is None:
        return GROUP, group_ctx
    command = GROUP.commands[name]
    return command, command.make_context(name, [], parent=group_ctx, resilient_parsing=True)


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"chainrule {chainrule.__version__}\n"
    assert chainrule.__version__ == importlib.metadata.version("chainrule") == "0.1.0"


@pytest.mark.parametrize("name", [None, *COMMANDS])
def test_dash_h_is_help(name):
    args = [] if name is None else [name]
    long, short = runner.invoke(app, [*args, "--help"]), runner.invoke(app, [*args, "-h"])
    assert long.exit_code == short.exit_code == 0
    assert short.output == long.output and "Usage:" in long.output


def test_python_dash_m_chainrule():
    result = subprocess.run([sys.executable, "-m", "chainrule", "--version"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "chainrule 0.1.0\n", "")
    result = subprocess.run([sys.executable, "-m", "chainrule", "train", "-h"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and "--epochs" in result.stdout


def test_shell_completion():
    assert {"--install-completion", "--show-completion"} <= set(runner.invoke(
        app, ["--help"]).output.split())
    result = runner.invoke(app, ["--show-completion", "bash"], prog_name="chainrule")
    assert result.exit_code == 0
    assert "_CHAINRULE_COMPLETE=complete_bash" in result.output


@pytest.mark.parametrize("name", [None, *COMMANDS])
def test_every_option_has_help_and_flags_show_no_type(name):
    command, ctx = _context(name)
    for param in command.get_params(ctx):
        assert param.help, f"{name} {param.name}: no help text"
        record = param.get_help_record(ctx)
        assert record is not None
        if getattr(param, "is_flag", False):  # --quiet, --trace / --eager: no <bool>, no value
            assert "<" not in record[0], record
    output = runner.invoke(app, [*([name] if name else []), "--help"]).output
    assert not re.search(r"<bool(ean)?>|BOOLEAN", output, flags=re.I), output
    assert re.search(r"^\s+-h, --help\s+Show this message and exit\.$", output, flags=re.M)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_shows_its_default(name):
    command, ctx = _context(name)
    for param in command.get_params(ctx):
        if (param.param_type_name != "option" or param.name in NO_DEFAULT
                or (name, param.name) in NO_DEFAULT_IN):
            continue
        help_text = param.get_help_record(ctx)[1]
        assert "[default: " in " ".join(help_text.split()), f"{name} --{param.name}: {help_text}"


@pytest.mark.parametrize("name", ["train", "diagnose", "sweep"])
def test_run_options_show_the_run_configurations_default(name):
    command, ctx = _context(name)
    checked = 0
    for param in command.get_params(ctx):
        field = TrainConfig.model_fields.get(param.name)
        if field is None:
            continue
        if name == "sweep" and param.name in ("lr", "optimizer", "batch_size", "hidden"):
            continue  # what sweep varies
        if field.get_default(call_default_factory=True) is None:
            continue
        help_text = " ".join(param.get_help_record(ctx)[1].split())
        expected = "eager" if param.name == "trace" else run_default(param.name)
        assert f"[default: {expected}]" in help_text, (param.name, help_text)
        checked += 1
    assert checked >= 8
    assert run_default("lr") == str(TrainConfig.model_fields["lr"].default) == "0.01"
    assert run_default("hidden") == "32"
