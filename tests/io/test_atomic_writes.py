"""Atomic writes: a crash, a kill -9 or a full disk during a save leaves the old file whole."""

import errno
import os
import random
import re
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from chainrule import io
from chainrule.errors import ModelFileError
from chainrule.nn import mlp

TEMP_NAME = re.compile(r"^\.model\.crm\..+\.tmp$")


def _same_weights(model, other):
    a, b = model.state_dict(), other.state_dict()
    return list(a) == list(b) and all(a[k].tobytes() == b[k].tobytes() for k in a)


def _leftovers(folder, keep=("model.crm",)):
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.fixture
def saved(tmp_path):
    """(path, model): a model already saved, which a failed save must leave intact."""
    model = mlp([3, 4, 2], "sigmoid", rng=0)
    path = tmp_path / "model.crm"
    io.save_model(model, path)
    return path, model


# --- the ordinary path ---------------------------------------------------------------------
def test_a_save_replaces_the_file_and_leaves_nothing_else(saved):
    path, _ = saved
    newer = mlp([3, 4, 2], "sigmoid", rng=1)
    io.save_model(newer, path)
    assert _same_weights(newer, io.load(path))
    assert _leftovers(path.parent) == []


def test_permissions_new_file_readable_existing_kept(saved):
    path, model = saved
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0o600
    path.chmod(0o600)
    io.save_model(model, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_symlink_is_followed(tmp_path, saved):
    path, _ = saved
    link = tmp_path / "latest.crm"
    link.symlink_to(path.name)
    newer = mlp([3, 4, 2], "sigmoid", rng=2)
    io.save_model(newer, link)
    assert link.is_symlink() and _same_weights(newer, io.load(path))


def test_atomic_write_bytes_writes_exactly_the_bytes(tmp_path):
    data = bytes(range(256)) * 1000
    io.atomic_write_bytes(tmp_path / "blob", data)
    assert (tmp_path / "blob").read_bytes() == data


# --- folders that cannot take the file -------------------------------------------------------
def test_a_missing_folder(tmp_path):
    with pytest.raises(ModelFileError, match=r"the folder .*missing does not exist; create it"):
        io.save_model(mlp([2, 2], rng=0), tmp_path / "missing" / "model.crm")


def test_a_folder_in_place_of_the_file(tmp_path):
    with pytest.raises(ModelFileError, match="it is a folder"):
        io.save_model(mlp([2, 2], rng=0), tmp_path)


def test_a_pipe_in_place_of_the_file_is_not_replaced(tmp_path):
    fifo = tmp_path / "model.crm"
    os.mkfifo(fifo)
    with pytest.raises(ModelFileError, match="not a regular file"):
        io.save_model(mlp([2, 2], rng=0), fifo)
    assert stat.S_ISFIFO(fifo.stat().st_mode)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_a_read_only_folder(saved):
    path, model = saved
    path.parent.chmod(0o555)
    try:
        with pytest.raises(ModelFileError, match="is not writable"):
            io.save_model(model, path)
    finally:
        path.parent.chmod(0o755)


def test_a_folder_the_process_may_not_write_to(saved, monkeypatch):
    path, model = saved
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    with pytest.raises(ModelFileError, match="is not writable"):
        io.save_model(model, path)


# --- failures in the middle of a write ----------------------------------------------------------
def _failing_after(limit, error):
    """An os.write that writes `limit` bytes in total, then raises `error`."""
    real_write, written = os.write, [0]

    def write(fd, data):
        if written[0] >= limit:
            raise error
        n = real_write(fd, bytes(data[: limit - written[0]]))
        written[0] += n
        return n

    return write


@pytest.mark.parametrize("error, reason", [
    (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "No space left on device"),
    (OSError(errno.EFBIG, os.strerror(errno.EFBIG)), "File too large"),
    (OSError(errno.EIO, os.strerror(errno.EIO)), "Input/output error"),
])
def test_a_full_disk_keeps_the_old_file(saved, monkeypatch, error, reason):
    path, model = saved
    monkeypatch.setattr(os, "write", _failing_after(100, error))
    with pytest.raises(ModelFileError, match=f"could not save .*model.crm: {reason}; the "
                                             "previous file, if any, is unchanged"):
        io.save_model(mlp([3, 4, 2], "sigmoid", rng=1), path)
    monkeypatch.undo()
    assert _same_weights(model, io.load(path))
    assert _leftovers(path.parent) == []


def test_a_failing_fsync_keeps_the_old_file(saved, monkeypatch):
    path, model = saved

    def fsync(fd):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(ModelFileError, match="Input/output error"):
        io.save_model(mlp([3, 4, 2], "sigmoid", rng=1), path)
    monkeypatch.undo()
    assert _same_weights(model, io.load(path)) and _leftovers(path.parent) == []


def test_ctrl_c_during_a_write_keeps_the_old_file(saved, monkeypatch):
    path, model = saved
    monkeypatch.setattr(os, "write", _failing_after(100, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        io.save_model(mlp([3, 4, 2], "sigmoid", rng=1), path)
    monkeypatch.undo()
    assert _same_weights(model, io.load(path)) and _leftovers(path.parent) == []


def test_a_real_file_size_limit_keeps_the_old_file(saved):
    """RLIMIT_FSIZE makes the kernel refuse the write (EFBIG), as a full disk would."""
    path, model = saved
    child = textwrap.dedent(f"""
        import resource, signal, sys
        import numpy as np
        from chainrule import io
        from chainrule.errors import ModelFileError
        from chainrule.nn import mlp
        big = mlp([300, 300], rng=0, dtype=np.float64)    # about 720 kB
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)      # get EFBIG instead of a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
        try:
            io.save_model(big, {str(path)!r})
        except ModelFileError as error:
            print(error)
            sys.exit(3)
    """)
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 3, result.stderr
    assert "File too large" in result.stdout
    assert _same_weights(model, io.load(path)) and _leftovers(path.parent) == []


# --- kill -9 in the middle of saving --------------------------------------------------------------
_SAVER = """
import sys
import numpy as np
from chainrule import io
from chainrule.nn import mlp
models = [mlp([700, 700, 700], rng=seed, dtype=np.float64) for seed in (1, 2)]  # 7.8 MB each
io.save_model(models[0], sys.argv[1])
print("ready", flush=True)
i = 1
while True:
    io.save_model(models[i % 2], sys.argv[1])
    i += 1
"""


def _kill_during_a_save(saver, folder, chance, timeout=5.0):
    """Wait until a new temporary file appears (a save is under way), then SIGKILL the saver."""
    before = set(_leftovers(folder))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not set(_leftovers(folder)) - before:
        time.sleep(0.0002)
    time.sleep(chance.uniform(0.0, 0.002))
    saver.kill()  # SIGKILL: no cleanup handler runs


def test_kill_9_while_saving_leaves_a_loadable_file(tmp_path):
    path = tmp_path / "model.crm"
    candidates = [mlp([700, 700, 700], rng=seed, dtype=np.float64) for seed in (1, 2)]
    chance = random.Random(0)
    for _ in range(4):
        saver = subprocess.Popen([sys.executable, "-c", _SAVER, str(path)],
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert saver.stdout.readline().strip() == "ready"
            _kill_during_a_save(saver, tmp_path, chance)
        finally:
            saver.kill()
            saver.wait()
            saver.stdout.close()
        assert saver.returncode == -9
        loaded = io.load(path)  # whole: one of the two models, bit for bit
        assert any(_same_weights(model, loaded) for model in candidates)
    stray = _leftovers(tmp_path)
    assert stray, "no kill landed inside a save; the test proved nothing"
    assert all(TEMP_NAME.match(name) for name in stray), stray  # only hidden temporaries
    assert len(stray) == 1, stray  # each saver's first save removed those killed before it
    io.save_model(candidates[0], path)  # and the next save removes the last one
    assert _same_weights(candidates[0], io.load(path))
    assert _leftovers(tmp_path) == []


# --- what killed saves leave behind is removed by the next save -----------------------------
def _dead_pid():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def _temporary(folder, target, tag, age=0.0, content=b"half a file"):
    path = folder / f".{target}.{tag}.k2j4h5g6.tmp"
    path.write_bytes(content)
    if age:
        os.utime(path, (time.time() - age, time.time() - age))
    return path


def _legacy(folder, random_part, age=0.0):
    path = folder / f".model.crm.{random_part}.tmp"
    path.write_bytes(b"x")
    os.utime(path, (time.time() - age, time.time() - age))
    return path


def test_the_next_save_removes_stale_temporaries_of_its_file_only(saved):
    path, model = saved
    folder, old = path.parent, io.STALE_SECONDS + 60
    dead = _temporary(folder, "model.crm", f"{io._HOST}-{_dead_pid()}")
    ours_but_not_now = _temporary(folder, "model.crm", f"{io._HOST}-{os.getpid()}")
    legacy_old = _legacy(folder, "abcd_123", age=old)  # chainrule 0.1's: no process id
    kept = {
        "alive": _temporary(folder, "model.crm", f"{io._HOST}-{os.getppid()}"),
        "another machine's": _temporary(folder, "model.crm", f"abcdef-{_dead_pid()}"),
        "legacy, recent": _legacy(folder, "abcd_124"),
        "another file's": _temporary(folder, "other.crm", f"{io._HOST}-{_dead_pid()}",
                                     age=old),
        "not chainrule's": _temporary(folder, "model.crm", "notes", age=old),
    }
    folder_like = folder / f".model.crm.{io._HOST}-{_dead_pid()}.aaaaaaaa.tmp"
    folder_like.mkdir()
    kept["a folder"] = folder_like
    io.save_model(model, path)
    assert not dead.exists() and not ours_but_not_now.exists() and not legacy_old.exists()
    assert {name for name, p in kept.items() if not p.exists()} == set()
    assert _same_weights(model, io.load(path))


def test_a_temporary_older_than_a_day_is_stale_whoever_wrote_it(saved):
    path, _ = saved
    alive = _temporary(path.parent, "model.crm", f"{io._HOST}-{os.getppid()}",
                       age=io.STALE_SECONDS + 60)
    elsewhere = _temporary(path.parent, "model.crm", "abcdef-12", age=io.STALE_SECONDS + 60)
    assert sorted(io.remove_stale_temporaries(path.parent, ["model.crm"])) == sorted(
        [alive, elsewhere])
    assert not alive.exists() and not elsewhere.exists() and path.exists()


def test_a_symlink_named_like_a_temporary_is_left_alone(saved, tmp_path):
    path, model = saved
    target = tmp_path / "precious"
    target.write_bytes(b"keep me")
    link = path.parent / f".model.crm.{io._HOST}-{_dead_pid()}.bbbbbbbb.tmp"
    link.symlink_to(target)
    io.save_model(model, path)
    assert link.is_symlink() and target.read_bytes() == b"keep me"
