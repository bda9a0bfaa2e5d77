"""A run's checkpoints on disk: what killed saves left in the run folder is removed."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from typer.testing import CliRunner

from chainrule import io
from chainrule.cli import app
from chainrule.runs.folder import CHECKPOINT_FILE

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_a_run_removes_what_killed_saves_left_in_its_folder(tmp_path):
    out = tmp_path / "xor"
    out.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = [out / f".{name}.{io._HOST}-{gone.pid}.a1b2c3d4.tmp"
             for name in ("model.safetensors", CHECKPOINT_FILE, "report.html")]
    old = out / f".{CHECKPOINT_FILE}.zz9_abcd.tmp"  # chainrule 0.1's, a day old
    kept = [out / f".notes.txt.{io._HOST}-{gone.pid}.a1b2c3d4.tmp",  # not the run's file
            out / f".model.safetensors.{io._HOST}-{os.getppid()}.a1b2c3d4.tmp"]  # alive
    for path in (*stale, old, *kept):
        path.write_bytes(b"half a file")
    os.utime(old, (time.time() - io.STALE_SECONDS - 60,) * 2)
    result = run("train", "--dataset", "xor", "--epochs", "1", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert [p for p in (*stale, old) if p.exists()] == []
    assert all(p.exists() for p in kept)

