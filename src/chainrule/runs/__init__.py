"""A training run end to end: its configuration (config.py), the one function that trains it
(run.py), its folder (folder.py), what its model file means and predicting with it
(model.py), resuming it (resume.py); sweeps and diagnostics on top of that function."""

from chainrule.runs.config import TrainConfig, load_toml, make_config
from chainrule.runs.model import Predictions, TrainedModel
from chainrule.runs.resume import resume_settings
from chainrule.runs.run import RunInterrupted, RunResult, prepare, train

__all__ = ["Predictions", "RunInterrupted", "RunResult", "TrainConfig", "TrainedModel",
           "load_toml", "make_config", "prepare", "resume_settings", "train"]
