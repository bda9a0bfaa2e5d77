"""The run folder: where one training run keeps its files, written by one writer.

    runs/digits/
      model.safetensors       the trained model (the last finite weights if the run diverged,
                              the last complete step if it was interrupted)
      checkpoint.safetensors  everything needed to resume bit for bit
      checkpoint.prev.safetensors  the checkpoint before it, kept when a newer one is saved:
                              what resume offers if the newest is damaged
      history.json            every epoch's metrics and every step's loss
      history.csv             the epochs as a table
      config.json             the settings the run was trained with
      loss.png                the loss per epoch
      report.html             one self-contained page: the configuration, loss and accuracy
                              curves, gradient norms per layer, the confusion matrix, the
                              decision boundary at a few epochs (report.py)
      training.gif            with `animate`: the decision boundary and the loss epoch by
                              epoch (animation.py)
      run.json                how the run ended: finished, early-stopped, diverged or
                              interrupted, with the error if there was one

Note [one run per folder]
    A folder that holds a run is never written over without a word: `RunFolder.open` refuses
    it unless the caller says `overwrite` (the previous run's files are then removed first,
    so old and new files never mix) or `resume` (the run continues in its own folder). Two runs
    into one folder at once are refused too: the first holds `.chainrule.lock` (its process id
    inside) until it ends; a lock whose process is gone is stale and taken over. A run that
    fails before it writes anything leaves no folder behind that it created. Opening the folder
    removes what saves killed midway left there (io.remove_stale_temporaries: only temporary
    files of the run's own files, whose process is gone).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chainrule import io
from chainrule.errors import ConfigError
from chainrule.runs.model import TrainedModel

MODEL_FILE = "model.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"
PREVIOUS_CHECKPOINT_FILE = io.previous_path(CHECKPOINT_FILE).name  # checkpoint.prev.safetensors
CHECKPOINTS = (CHECKPOINT_FILE, PREVIOUS_CHECKPOINT_FILE)
RUN_FILES = (MODEL_FILE, "history.json", "history.csv", "config.json", "loss.png", "report.html",
             "training.gif", "run.json")
"""What a run writes besides its checkpoints, in the order it writes them."""
LOCK_FILE = ".chainrule.lock"


class OutputsInterrupted(KeyboardInterrupt):
    """Ctrl-C while the outputs were written, after training had ended."""

    def __init__(self, folder: Path, written: list[str], finished: bool) -> None:
        checkpoint = folder / CHECKPOINT_FILE
        resume = (f"; {'training had finished and ' if finished else ''}{checkpoint} is "
                  f"complete: chainrule train --resume {checkpoint} writes them again"
                  if checkpoint.exists() else "")
        super().__init__(f"interrupted while writing the outputs to {folder} (written: "
                         f"{', '.join(written) or 'none'}){resume}")


class RunFolder:
    """An open run folder (see the module's docstring); made by `RunFolder.open`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT_FILE

    @classmethod
    @contextlib.contextmanager
    def open(cls, path: str | os.PathLike[str], *, overwrite: bool = False,
             resume: bool = False) -> Iterator[RunFolder]:
        """Check, create and lock the folder for a run (Note [one run per folder]).

        Everything is checked before training starts: the path is a writable folder (or can be
        made one), no folder or device blocks a file the run writes, and it holds no other run.
        """
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise ConfigError(f"output path {path} exists and is not a folder")
        created = _missing_parents(path)
        previous = holds_run(path)
        if previous and not (overwrite or resume):
            raise ConfigError(
                f"{path} holds a previous run ({', '.join(previous)}); choose another --out "
                "folder, or pass --overwrite to replace it")
        check_output_folder(path, (*RUN_FILES, *CHECKPOINTS))
        try:
            with _locked(path):
                io.remove_stale_temporaries(path, (*RUN_FILES, *CHECKPOINTS))
                if overwrite and not resume:
                    for name in previous:
                        (path / name).unlink()
                yield cls(path)
        finally:
            for folder in created:  # those this run made and left empty: a failed start
                with contextlib.suppress(OSError):
                    folder.rmdir()

    def write(self, result: Any) -> list[Path]:
        """Write RUN_FILES for `result` (a `RunResult` of run.py), in that order, each
        atomically; Ctrl-C midway raises OutputsInterrupted naming those already written. A
        model that is not whole (Ctrl-C in the middle of an update with no checkpoint to fall
        back on) is not written, nor training.gif without `animate` (or with nothing to draw).
        """
        from chainrule.runs.animation import write_animation
        from chainrule.runs.plots import plot_history
        from chainrule.runs.report import run_report

        def text(data: str) -> Any:
            return lambda path: io.atomic_write_bytes(path, data.encode())

        writers = {
            MODEL_FILE: None if result.model is None else TrainedModel.from_run(
                result.config, result.prepared, result.model).save,
            "history.json": text(json.dumps(result.history.to_dict(), indent=1)),
            "history.csv": text(history_csv(result.history)),
            "config.json": text(json.dumps(result.config.model_dump(), indent=1)),
            "loss.png": lambda path: plot_history(
                result.history, path, title=f"{result.prepared.dataset.name}: loss per epoch"),
            "report.html": lambda path: io.atomic_write_bytes(path, run_report(result).encode()),
            "training.gif": (lambda path: write_animation(result, path))
            if result.config.animate and result.boundaries else None,
            "run.json": text(json.dumps(result.summary(), indent=1)),
        }
        written: list[Path] = []
        try:
            for name in RUN_FILES:
                if writers[name] is not None:
                    writers[name](self.path / name)
                    written.append(self.path / name)
        except KeyboardInterrupt:
            raise OutputsInterrupted(self.path, [p.name for p in written],
                                     result.status != "interrupted") from None
        if self.checkpoint.exists():
            written.append(self.checkpoint)
        return written


def holds_run(path: Path) -> list[str]:
    """The files of a run that `path` holds (none for a folder that does not exist)."""
    return [name for name in (*RUN_FILES, *CHECKPOINTS) if (path / name).is_file()]


def check_output_folder(path: Path, files: tuple[str, ...] = ()) -> None:
    """Create `path` and make sure it is writable, and that none of the `files` to be written
    there is blocked by a folder or a device of that name."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"output path {path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create output folder {path}: {error.strerror}") from None
    if not os.access(path, os.W_OK):
        raise ConfigError(f"output folder {path} is not writable")
    for name in files:
        target = path / name
        if target.exists() and not target.is_file():
            raise ConfigError(f"cannot write {target}: a folder or other non-file is in the "
                              "way; remove it or choose another output folder")


def _missing_parents(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, innermost first."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    return missing


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the folder's lock file while the block runs (Note [one run per folder])."""
    lock = folder / LOCK_FILE
    owner = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode()
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = _live_holder(lock)
            if holder is not None:
                raise ConfigError(
                    f"another chainrule run (process {holder}) is writing to {folder}; wait for "
                    f"it to end or choose another --out folder (if no run is, remove "
                    f"{lock})") from None
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()  # stale: its process is gone
            continue
        with os.fdopen(fd, "wb") as file:
            file.write(owner)
        break
    else:
        raise ConfigError(f"cannot lock {folder}: {lock} keeps coming back")
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def _live_holder(lock: Path) -> int | None:
    """The process id in a lock file if that process still runs on this machine, else None
    (a stale lock). A lock from another machine (a shared folder) is taken as live."""
    try:
        owner = json.loads(lock.read_text(encoding="utf-8"))
        pid, host = int(owner["pid"]), str(owner["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable or half written: no run holds it usefully
    if host != socket.gethostname():
        return pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, another user's
    return pid


def history_csv(history: Any) -> str:
    """The epochs of a History as CSV, one column per metric, full precision."""
    columns = list(dict.fromkeys(key for row in history.epochs for key in row))
    lines = [",".join(columns)]
    lines += [",".join(repr(row.get(c, "")) for c in columns) for row in history.epochs]
    return "\n".join(lines) + "\n"
