"""Stand-ins for `sweep.run_trial` that pool workers can import (they start with "spawn", so a
monkeypatch in the test process does not reach them; this folder is on their sys.path)."""

from __future__ import annotations

import os
import signal

from chainrule.runs import sweep

_run_trial = sweep.run_trial  # the real one, even once a test puts this module's in its place


def run_trial_or_die(trial: sweep.Trial) -> sweep.TrialResult:
    """run_trial, except that a trial with params["die"] kills its own worker process."""
    if trial.params.get("die"):
        os.kill(os.getpid(), signal.SIGKILL)
    return _run_trial(trial)
