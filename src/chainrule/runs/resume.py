"""Resuming a run from its checkpoint: which settings it continues with, and which changes are
refused.

The checkpoint stores the config it was trained with. The settings given now (a TOML file,
options) are laid over it. The epoch count is a target, so `--epochs 50` on a run saved after
20 simply trains 30 more; a traced or eager step computes the same weights. Any other
difference changes the math (the learning rate, the data, the network...) and is refused with
the keys named, unless `force`: then the new lr, momentum and weight decay apply from here on,
with the optimizer's step count and moments kept.

A checkpoint that does not load is refused; when the previous one beside it
(checkpoint.prev.safetensors, io.previous_path) does load, the message says so and gives the
command that resumes from it — it never resumes from an older state without being asked.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from chainrule import io
from chainrule.errors import ConfigError, ModelFileError
from chainrule.runs.config import TrainConfig, make_config
from chainrule.runs.run import build_optimizer


def resume_settings(path: str | os.PathLike[str], given: dict[str, Any], *,
                    force: bool = False, source: str = "options", flags: Iterable[str] = ()
                    ) -> tuple[TrainConfig, io.Checkpoint]:
    """The config to continue `path` with, and the checkpoint (its optimizer state given the
    settings' hyperparameters). Everything is checked before anything changes."""
    checkpoint = _load(path)
    saved_values = dict(checkpoint.config)
    saved_values.setdefault("network", "mlp")  # written before the field existed
    saved = make_config(saved_values, source=f"{path} (its saved settings)")
    settings = make_config(saved_values | given, source=source, flags=flags)
    differences = saved.math_differences(settings)
    if differences and not force:
        raise ConfigError(
            f"{path} was trained with other settings ({', '.join(differences)} differ); "
            "resume with the same settings, or pass --force to continue anyway")
    _use_hyperparameters(checkpoint, settings)
    return settings, checkpoint


def _use_hyperparameters(checkpoint: io.Checkpoint, settings: TrainConfig) -> None:
    """Give the checkpoint's optimizer state the hyperparameters of `settings` (lr, momentum,
    weight decay), keeping its step count and moments; the same settings change nothing."""
    hyper = build_optimizer(settings, checkpoint.model.parameters()).state_dict()["hyper"]
    saved = checkpoint.optimizer_state["hyper"]
    if hyper.keys() == saved.keys():  # another optimizer: fit names both
        saved.update({key: value for key, value in hyper.items() if key != "step_count"})


def _load(path: str | os.PathLike[str]) -> io.Checkpoint:
    """The checkpoint in `path`; if it does not load, the error names the previous one when
    that one does."""
    try:
        return io.load_checkpoint(path)
    except ModelFileError as error:
        previous = io.previous_path(path)
        if not previous.is_file() or os.path.abspath(previous) == os.path.abspath(path):
            raise
        try:
            older = io.load_checkpoint(previous)
        except ModelFileError:
            raise error from None
        raise ModelFileError(
            f"{error}. The previous checkpoint {previous} loads (epoch {older.epoch}, step "
            f"{older.step}): resume from it with chainrule train --resume {previous}") from None
