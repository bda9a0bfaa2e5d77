"""`chainrule playground` on the command line: the extra it needs, the address it prints."""

import importlib.util
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from chainrule.cli import core
from chainrule.cli import playground as command

WEB = ("starlette", "uvicorn", "websockets")


def test_without_the_extra_it_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(command.importlib.util, "find_spec",
                        lambda name: None if name in WEB else real(name))
    result = CliRunner().invoke(core.load_commands(), ["playground", "--no-browser"])
    assert result.exit_code == 1
    assert result.output.strip() == ("error: chainrule playground needs starlette, uvicorn, "
                                     "websockets: pip install 'chainrule[playground]'")


def test_the_core_and_the_commands_load_without_the_web_framework():
    code = ("import sys, chainrule, chainrule.cli.core as c; c.load_commands(); "
            "import chainrule.playground.session; "
            "print(sorted(m for m in ('starlette', 'uvicorn', 'websockets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_it_prints_its_address_and_warns_off_localhost():
    pytest.importorskip("uvicorn")
    pytest.importorskip("starlette")
    process = subprocess.Popen([sys.executable, "-m", "chainrule", "playground", "--no-browser",
                                "--host", "0.0.0.0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = process.stdout.readline()
        assert line.startswith("chainrule playground: http://0.0.0.0:"), line
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert "anyone who can reach this address can use the server and its CPU" in err
    assert "no authentication" in err
