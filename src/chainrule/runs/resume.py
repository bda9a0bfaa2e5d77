"""Resuming a run from its checkpoint: which settings it continues with, and which changes are
refused.

The checkpoint stores the config it was trained with. The settings given now (a TOML file,
options) are laid over it. The epoch count is a target, so `--epochs 50` on a run saved after
20 simply trains 30 more; a traced or eager step computes the same weights. Any other
difference changes the math (the learning rate, the data, the network...) and is refused with
the keys named, unless `force`: then the new lr, momentum and weight decay apply from here on,
with the optimizer's step count and moments kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from chainrule import io
from chainrule.errors import ConfigError
from chainrule.runs.config import TrainConfig, make_config
from chainrule.runs.run import build_optimizer


def resume_settings(path: str | os.PathLike[str], given: dict[str, Any], *,
                    force: bool = False, source: str = "options", flags: Iterable[str] = ()
                    ) -> tuple[TrainConfig, io.Checkpoint]:
    """The config to continue `path` with, and the checkpoint (its optimizer state given the
    settings' hyperparameters). Everything is checked before anything changes."""
    checkpoint = io.load_checkpoint(path)
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
