"""Where trials run: in this process, a local process pool, a Dask cluster — same results."""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import socket
import sys
import time

import pytest

from chainrule import sweep
from chainrule.config import TrainConfig
from chainrule.errors import ChainruleError, ConfigError

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


def test_one_place_to_run_at_a_time():
    with pytest.raises(ConfigError, match="at most one of"):
        sweep.run_sweep(_trials(), workers=2, scheduler="tcp://127.0.0.1:8786")


# --- Dask ------------------------------------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
