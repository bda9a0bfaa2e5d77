"""Starting `chainrule`: `import chainrule` is cheap, and Ctrl-C while the command loads (typer,
NumPy, pydantic, the commands) exits with code 130 and one line, never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# seconds after the interpreter itself has started: a Ctrl-C before chainrule's code runs (while
# Python imports site, runpy or the console script's `re`) is Python's traceback, not ours
DELAYS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)


def test_import_chainrule_loads_neither_numpy_nor_typer():
    result = _python("import sys, chainrule, chainrule.cli; print(chainrule.__version__); "
                     "print(sorted(m for m in ('numpy', 'typer', 'pydantic', 'rich') "
                     "if m in sys.modules))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["0.1.0", "[]"]


def test_the_public_names_load_when_used():
    result = _python(
        "import chainrule as cr, chainrule.explain.render_text, chainrule.nn\n"
        "from chainrule import nn, explain, tensor, Tensor\n"
        "assert callable(cr.explain) and cr.explain is explain, cr.explain\n"
        "assert callable(cr.tensor) and cr.tensor is tensor, cr.tensor\n"
        "assert isinstance(cr.tensor([1.0]), Tensor) and nn is cr.nn\n"
        "assert set(cr.__all__) <= set(dir(cr)), set(cr.__all__) - set(dir(cr))\n"
        "assert all(getattr(cr, name) is not None for name in cr.__all__)\n"
        "import chainrule.tensor as t\n"
        "assert t is tensor\n"  # as before: the package's attribute is the function
        "try:\n    cr.nope\nexcept AttributeError as e:\n    print(e)\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "module 'chainrule' has no attribute 'nope'"


def _commands() -> list[list[str]]:
    commands = [[sys.executable, "-m", "chainrule"]]
    script = Path(sys.executable).parent / "chainrule"
    if script.is_file():  # the console script of this installation
        commands.append([str(script)])
    return commands


def _startup_time() -> float:
    """How long this Python takes to start, import what the console script does, and stop:
    the longest of three tries."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import re, runpy"], check=True, timeout=60)
        times.append(time.perf_counter() - started)
    return max(times)


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")
@pytest.mark.parametrize("command", _commands(), ids=lambda c: Path(c[-1]).name)
def test_ctrl_c_while_starting_is_one_line_and_exit_130(command):
    startup = _startup_time()
    interrupted = 0
    for delay in DELAYS:
        process = subprocess.Popen([*command, "--help"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        time.sleep(startup + delay)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        assert "Traceback" not in err, (delay, err)
        if process.returncode == 130:
            interrupted += 1
            assert err.strip() == "interrupted (Ctrl-C)", (delay, err)
        else:  # it had finished before the signal came (or was shutting down: killed by it)
            assert process.returncode in (0, -signal.SIGINT), (delay, process.returncode, err)
            assert "Usage:" in out and "-h, --help" in out and err == "", (delay, out, err)
    assert interrupted, "every run finished before its Ctrl-C; the test proved nothing"


def test_an_error_wrapping_a_ctrl_c_counts_as_the_ctrl_c():
    from chainrule.cli.core import _caused_by_ctrl_c

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as interrupt:
            raise ValueError("Error building `literal` serializer") from interrupt
    except ValueError as wrapped:
        assert _caused_by_ctrl_c(wrapped)
    assert not _caused_by_ctrl_c(ValueError("a plain error"))
