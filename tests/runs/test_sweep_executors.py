"""Where trials run: in this process, a local process pool, a Dask cluster — same results."""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from chainrule.errors import ChainruleError, ConfigError
from chainrule.runs import sweep
from chainrule.runs.config import TrainConfig

IRIS = TrainConfig(dataset="iris", hidden=[8], optimizer="sgd", epochs=6, batch_size=16)


def _trials() -> list[sweep.Trial]:
    """Small but varied: three worked-example runs would not diverge, so add iris at η = 30."""
    return sweep.grid(IRIS, lr=[0.05, 0.5, 30.0])


@pytest.fixture(scope="module")
def in_process() -> sweep.SweepResult:
    return sweep.run_sweep(_trials(), workers=1)


def test_the_in_process_reference_has_an_ok_and_a_diverged_run(in_process):
    assert [r.status for r in in_process.results] == ["ok", "ok", "diverged"]


def test_a_local_process_pool_gives_identical_results(in_process, tmp_path):
    pooled = sweep.run_sweep(_trials(), workers=2)
    assert pooled.results == in_process.results
    assert pooled.best == in_process.best
    sweep.write_outputs(in_process, tmp_path / "here")
    sweep.write_outputs(pooled, tmp_path / "pool")
    for name in ("loss.png", "loss.svg", "results.csv"):
        assert (tmp_path / "here" / name).read_bytes() == (tmp_path / "pool" / name).read_bytes()


def test_results_keep_the_trials_order_whatever_finishes_first(in_process):
    finished: list[int] = []
    with concurrent.futures.ThreadPoolExecutor(3) as executor:
        result = sweep.run_sweep(_trials(), executor,
                                 on_result=lambda index, _: finished.append(index))
    assert sorted(finished) == [0, 1, 2]
    assert result.results == in_process.results  # threads take turns: one trial at a time


def _openblas_threads() -> tuple[str | None, int | None]:
    """This process's OPENBLAS_NUM_THREADS and, where it can be asked, OpenBLAS's own count."""
    import numpy as np

    np.ones((2, 2)) @ np.ones((2, 2))
    count = None
    with open("/proc/self/maps", encoding="utf-8") as maps:
        libraries = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    for path in libraries:
        library = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                       "openblas_get_num_threads"):
            if hasattr(library, symbol):
                count = getattr(library, symbol)()
                break
    return os.environ.get("OPENBLAS_NUM_THREADS"), count


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_pool_workers_share_the_cores_among_their_blas_threads():
    before = os.environ.get("OPENBLAS_NUM_THREADS")
    workers = 2
    expected = max(1, sweep.available_cores() // workers)
    with sweep.local_pool(workers) as pool:
        answers = [pool.submit(_openblas_threads).result() for _ in range(workers)]
    for variable, count in answers:
        assert variable == str(expected)
        assert count in (None, expected)  # the BLAS really runs that many threads
    assert os.environ.get("OPENBLAS_NUM_THREADS") == before  # restored afterwards


def test_workers_must_be_positive():
    with pytest.raises(ConfigError, match="workers must be a positive integer"), \
            sweep.local_pool(0):
        pass


# --- a worker that dies ----------------------------------------------------------------------

def _with_a_killer() -> list[sweep.Trial]:
    """Four worked-example runs of about a second; the second kills its worker as it starts."""
    trials = sweep.grid(lr=[0.5, 1.0, 2.0], steps=20_000)
    return [trials[0], sweep.Trial("dies", {"lr": 0.8, "die": True}, None, 20_000), *trials[1:]]


def test_a_worker_that_dies_fails_only_its_own_trial(monkeypatch):
    import sweep_hooks

    alone = sweep.run_sweep([t for t in _with_a_killer() if t.label != "dies"], workers=1)
    monkeypatch.setattr(sweep, "run_trial", sweep_hooks.run_trial_or_die)
    finished: list[int] = []
    result = sweep.run_sweep(_with_a_killer(), workers=2,
                             on_result=lambda index, _: finished.append(index))
    statuses = [(r.label, r.status) for r in result.results]
    assert statuses == [("η=0.5", "ok"), ("dies", "failed"), ("η=1", "ok"), ("η=2", "ok")]
    dead = result.results[1]
    assert dead.error == ("BrokenProcessPool: the worker process running this trial died "
                          "(killed by SIGKILL)")
    assert sorted(finished) == [0, 1, 2, 3]  # each reported once
    assert [r for r in result.results if r.label != "dies"] == alone.results
    assert result.best.label == "η=2"


def test_the_sweep_command_exits_1_naming_the_failed_trial(monkeypatch, tmp_path):
    import sweep_hooks
    from typer.testing import CliRunner

    from chainrule.cli import app

    monkeypatch.setattr(sweep, "run_trial", sweep_hooks.run_trial_or_die)
    trials = _with_a_killer()
    monkeypatch.setattr(sweep, "grid", lambda **_: trials)
    result = CliRunner().invoke(app, ["sweep", "--workers", "2", "--out", str(tmp_path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"1 of 4 trials failed: dies (their errors are in {tmp_path / 'results.csv'})")
    rows = (tmp_path / "results.csv").read_text().splitlines()[1:]
    assert [row.split(",")[2] for row in rows] == ["ok", "failed", "ok", "ok"]
    assert all((tmp_path / name).is_file() for name in sweep.OUTPUT_FILES)
    assert "best: η=2" in result.stdout


def test_when_the_dead_worker_is_not_known_a_trial_that_breaks_two_pools_fails(
        monkeypatch):
    """If the dead worker cannot be told apart (here every worker seems to exit by the pool's
    own SIGTERM), the trials that were running run again, each alone; one that breaks its own
    pool as well is the one that failed."""
    import types

    import sweep_hooks

    monkeypatch.setattr(sweep, "run_trial", sweep_hooks.run_trial_or_die)
    real_round = sweep._pool_round
    rounds = []

    def round_hiding_exit_codes(pool, folder, trials, todo, record):
        rounds.append(list(todo))
        processes = real_round(pool, folder, trials, todo, record)
        return None if processes is None else {
            pid: types.SimpleNamespace(exitcode=-signal.SIGTERM) for pid in processes}

    monkeypatch.setattr(sweep, "_pool_round", round_hiding_exit_codes)
    result = sweep.run_sweep(_with_a_killer(), workers=2)
    assert [r.status for r in result.results] == ["ok", "failed", "ok", "ok"]
    assert result.results[1].error.endswith("twice (the second time alone in its pool)")
    assert [1] in rounds and len(rounds) <= 4


# --- Ctrl-C ----------------------------------------------------------------------------------

def test_ctrl_c_during_a_trial_stops_the_sweep_and_keeps_what_finished():
    """A real SIGINT to this process while the first trial trains in it (workers=1)."""
    trials = sweep.grid(lr=[0.5, 1.0, 2.0], steps=100_000)  # seconds each: it is stopped
    ctrl_c = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    ctrl_c.start()
    started = time.perf_counter()
    try:
        with pytest.raises(sweep.SweepInterrupted) as stop:
            sweep.run_sweep(trials, workers=1)
    finally:
        ctrl_c.cancel()
    assert time.perf_counter() - started < 10
    assert str(stop.value) == "sweep interrupted (Ctrl-C): 0 of 3 trials finished"
    running, *never = stop.value.result.results
    assert running.status == "interrupted" and running.error.startswith("training interrupted")
    assert 0 < running.steps == len(running.losses)  # its curve up to the Ctrl-C
    assert [(r.status, r.steps) for r in never] == [("interrupted", 0)] * 2
    assert stop.value.result.best is None


def test_ctrl_c_between_trials_keeps_the_finished_ones():
    def ctrl_c_after_the_first(index: int, result: sweep.TrialResult) -> None:
        raise KeyboardInterrupt

    with pytest.raises(sweep.SweepInterrupted) as stop:
        sweep.run_sweep(sweep.grid(lr=[0.5, 2.0], steps=50), workers=1,
                        on_result=ctrl_c_after_the_first)
    done, interrupted = stop.value.result.results
    assert done.status == "ok" and len(done.losses) == 50
    assert interrupted.status == "interrupted" and interrupted.losses == []
    assert stop.value.result.best is done  # the best of what finished
    assert "1 of 2 trials finished" in str(stop.value)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_the_sweep_command_at_once(workers, tmp_path):
    """SIGINT to the process group, as a terminal's Ctrl-C: exit 130, partial results written,
    no traceback from the pool's workers."""
    chainrule = os.path.join(os.path.dirname(sys.executable), "chainrule")
    process = subprocess.Popen(
        [chainrule, "sweep", "--steps", "10000000", "--workers", workers, "--out",
         str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        assert process.stderr.readline().startswith("running 6 trials")
        time.sleep(1.0)  # the trials are running
        os.killpg(process.pid, signal.SIGINT)
        started = time.perf_counter()
        _, errors = process.communicate(timeout=30)
        assert time.perf_counter() - started < 10
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, errors
    assert "Traceback" not in errors
    lines = errors.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "sweep interrupted (Ctrl-C): 0 of 6 trials finished, 6 interrupted (η=0.1, η=0.2, η=0.5, "
        f"η=0.8, η=1, η=2); wrote {tmp_path / 'loss.png'}")
    rows = (tmp_path / "results.csv").read_text().splitlines()[1:]
    assert len(rows) == 6 and all(",interrupted," in row for row in rows)


def test_ctrl_c_in_the_sweep_command_names_what_it_kept_and_plots_it(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from chainrule.cli import app

    real = sweep.run_sweep

    def ctrl_c_after_two(trials, *args, **kwargs):
        def on_result(index, result):
            if index == 1:
                raise KeyboardInterrupt

        return real(trials, *args, **{**kwargs, "on_result": on_result})

    monkeypatch.setattr(sweep, "run_sweep", ctrl_c_after_two)
    result = CliRunner().invoke(app, ["sweep", "--steps", "200", "--workers", "1", "--out",
                                      str(tmp_path)])
    assert result.exit_code == 130
    written = ", ".join(str(tmp_path / name) for name in sweep.OUTPUT_FILES)
    assert result.stderr.strip().splitlines()[-1] == (
        "sweep interrupted (Ctrl-C): 2 of 6 trials finished (η=0.1, η=0.2; best η=0.2), "
        f"4 interrupted (η=0.5, η=0.8, η=1, η=2); wrote {written}")
    svg = (tmp_path / "loss.svg").read_text()
    assert "η=0.1: final" in svg and "η=0.2: final" in svg and "η=0.5: interrupted" in svg
    assert "sweep interrupted (Ctrl-C): 2 of 6 trials finished" in svg
    rows = (tmp_path / "results.csv").read_text().splitlines()[1:]
    assert [row.split(",")[2] for row in rows] == ["ok"] * 2 + ["interrupted"] * 4
    assert json.loads((tmp_path / "best.json").read_text())["best"]["label"] == "η=0.2"


def test_ctrl_c_while_the_outputs_are_written_names_those_written(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from chainrule.cli import app

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "plot_sweep", ctrl_c)
    result = CliRunner().invoke(app, ["sweep", "--steps", "20", "--workers", "1", "--quiet",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 130
    assert result.stderr.strip().splitlines()[-1] == (
        "interrupted (Ctrl-C); while writing the outputs: wrote only "
        f"{tmp_path / 'results.csv'}, {tmp_path / 'best.json'}, {tmp_path / 'sweep.json'}")


def test_one_place_to_run_at_a_time():
    with pytest.raises(ConfigError, match="at most one of"):
        sweep.run_sweep(_trials(), workers=2, scheduler="tcp://127.0.0.1:8786")


# --- Dask ------------------------------------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _silent_server(seconds: float = 30.0) -> Iterator[str]:
    """A loopback server that accepts every connection and never answers (as a server that
    is not Dask would, waiting for a request it understands); it closes within `seconds`."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    done = threading.Event()

    def serve() -> None:
        accepted = []
        deadline = time.monotonic() + seconds
        while not done.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                accepted.append(server.accept()[0])
        for connection in accepted:
            connection.close()
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        done.set()
        thread.join(5)


def test_a_sweep_on_a_dask_local_cluster_gives_identical_results(in_process, tmp_path):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tcp://",
                      host="127.0.0.1", dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        on_dask = sweep.run_sweep(_trials(), scheduler=address)
        with sweep.dask_executor(address) as executor:  # any Executor: the same again
            through_executor = sweep.run_sweep(_trials(), executor)
        worker = next(iter(cluster.scheduler_info["workers"]))
        with pytest.raises(sweep.SchedulerError, match="a Dask Worker answered there, not the "
                                                       "scheduler"), \
                sweep.dask_executor(worker):
            pass
    assert on_dask.results == in_process.results
    assert through_executor.results == in_process.results
    sweep.write_outputs(in_process, tmp_path / "here")
    sweep.write_outputs(on_dask, tmp_path / "dask")
    for name in ("loss.png", "loss.svg", "results.csv"):
        assert (tmp_path / "here" / name).read_bytes() == (tmp_path / "dask" / name).read_bytes()


def test_an_unreachable_scheduler_is_named_within_seconds():
    pytest.importorskip("distributed")
    address = f"tcp://127.0.0.1:{_closed_port()}"
    started = time.perf_counter()
    with pytest.raises(sweep.SchedulerError, match=f"cannot reach the Dask scheduler at "
                                                   f"{address}"), \
            sweep.dask_executor(address, timeout=2):
        pass
    assert time.perf_counter() - started < 8


def test_a_server_that_never_answers_is_not_taken_for_a_scheduler():
    """The port accepts the connection: only Dask's handshake can tell, and it never comes."""
    pytest.importorskip("distributed")
    outcome: dict[str, BaseException] = {}

    def connect(address: str) -> None:
        try:
            with sweep.dask_executor(address, timeout=1):
                pass
        except BaseException as error:
            outcome["error"] = error

    with _silent_server() as address:
        attempt = threading.Thread(target=connect, args=(address,), daemon=True)
        started = time.perf_counter()
        attempt.start()
        attempt.join(15)  # (it used to wait for the handshake forever)
        assert not attempt.is_alive()
        assert time.perf_counter() - started < 5
    error = outcome["error"]
    assert isinstance(error, sweep.SchedulerError)
    assert str(error).startswith(f"cannot reach the Dask scheduler at {address} (nothing there "
                                 "answered as a Dask scheduler within 1 s)")


def test_a_malformed_scheduler_address_is_refused():
    pytest.importorskip("distributed")
    with pytest.raises(sweep.SchedulerError, match="is not a Dask scheduler address"), \
            sweep.dask_executor("no-port-here"):
        pass


def test_without_the_dask_extra_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    with pytest.raises(ChainruleError, match=r"chainrule\[dask\]"), \
            sweep.dask_executor("tcp://127.0.0.1:8786"):
        pass


def test_the_cli_reads_the_dask_address_variable_and_fails_clearly(monkeypatch, tmp_path):
    pytest.importorskip("distributed")
    from typer.testing import CliRunner

    from chainrule.cli import app

    address = f"tcp://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["sweep", "--steps", "10", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert f"error: cannot reach the Dask scheduler at {address}" in result.output
    assert time.perf_counter() - started < 12
    assert not (tmp_path / "results.csv").exists()  # nothing ran


def test_an_address_of_another_scheme_fails_at_once_and_cleanly(tmp_path):
    """No half-made Client left behind, whose cleanup would block and print a traceback."""
    pytest.importorskip("distributed")
    chainrule = os.path.join(os.path.dirname(sys.executable), "chainrule")
    started = time.perf_counter()
    done = subprocess.run([chainrule, "sweep", "--scheduler", "http://127.0.0.1:8786", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert time.perf_counter() - started < 8  # (it used to block 10 s on exit)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()  # no traceback, no "Exception ignored in ..."
    assert len(lines) == 1 and lines[0].startswith(
        "error: 'http://127.0.0.1:8786' is not a Dask scheduler address (unknown address scheme")
