"""Sweeps in one process: grids, trials, divergence and failure, choosing the best, outputs."""

from __future__ import annotations

import csv
import json

import pytest

from chainrule.errors import ConfigError
from chainrule.runs import sweep
from chainrule.runs.config import TrainConfig

# A small network that trains at η = 0.1 and really diverges at η = 30: SGD on iris overflows
# to an infinite loss in its third epoch.
IRIS = TrainConfig(dataset="iris", hidden=[8], optimizer="sgd", epochs=10, batch_size=16)


@pytest.fixture(scope="module")
def notes_sweep() -> sweep.SweepResult:
    """The default sweep, in this process: six η, 10,000 steps each (about 3 s)."""
    return sweep.run_sweep(sweep.grid(), workers=1)


def test_default_grid_is_the_notes_learning_rates():
    trials = sweep.grid()
    assert [t.label for t in trials] == ["η=0.1", "η=0.2", "η=0.5", "η=0.8", "η=1", "η=2"]
    assert all(t.config is None and t.steps == 10_000 for t in trials)
    assert all(t.target_loss == sweep.WORKED_EXAMPLE_TARGET for t in trials)


def test_default_sweep_reproduces_the_notes(notes_sweep):
    by_label = {r.label: r for r in notes_sweep.results}
    assert all(r.status == "ok" and len(r.losses) == 10_000 for r in notes_sweep.results)
    # every run starts from the notes' weights: E_total = 0.298371109 before the first update
    assert [r.losses[0] for r in notes_sweep.results] == [pytest.approx(0.298371109, abs=1e-9)] * 6
    # the notes: after 10,000 steps at η = 0.5 the error is 0.0000351085
    # The loss of the final model, after the 10,000th update: the notes' E = 3.510187783e-05,
    # the same number the demo prints.
    assert by_label["η=0.5"].final_loss == pytest.approx(3.510187783e-05, abs=1e-14)
    finals = [r.final_loss for r in notes_sweep.results]
    assert finals == sorted(finals, reverse=True)  # larger η, lower loss after 10,000 steps
    assert notes_sweep.best is by_label["η=2"]
    assert notes_sweep.rule == "final_loss"
    steps = [r.steps_to_target for r in notes_sweep.results]
    assert steps == sorted(steps, reverse=True) and steps[-1] < 300
    # the loss at step k is the loss after k − 1 updates: the first one at or below the target
    r = by_label["η=1"]
    assert r.losses[r.steps_to_target] <= 1e-3 < r.losses[r.steps_to_target - 1]


def test_grid_over_a_config_varies_every_setting_and_keeps_the_rest():
    trials = sweep.grid(IRIS, lr=[0.01, 0.1], optimizer=["sgd", "adam"], batch_size=[8, None],
                        hidden=[4, [6, 3]])
    assert len(trials) == 16
    assert trials[0].label == "sgd, batch 8, hidden 4, η=0.01"
    assert trials[-1].label == "adam, full batch, hidden 6×3, η=0.1"
    assert trials[-1].config["hidden"] == [6, 3] and trials[-1].config["batch_size"] is None
    assert {t.config["epochs"] for t in trials} == {10}
    assert {t.config["seed"] for t in trials} == {0}  # Note [same initial weights]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lr": [0.1, 0.1]}, "listed twice"),
    ({"lr": []}, "is empty"),
    ({"lr": [-1.0]}, "positive finite"),
    ({"hidden": [8]}, "cannot vary for the notes' worked example"),
    ({"optimizer": ["lbfgs"]}, "unknown optimizer"),
    ({"steps": 0}, "steps must be a positive integer"),
    ({"target_loss": float("nan")}, "target loss"),
])
def test_bad_grids_are_refused_before_anything_runs(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        sweep.grid(**kwargs)


def test_a_bad_setting_in_a_config_grid_names_the_setting():
    with pytest.raises(ConfigError, match=r"sweep setting .*batch 0"):
        sweep.grid(IRIS, batch_size=[0])


def test_diverged_and_failed_trials_are_recorded_and_the_others_go_on(tmp_path):
    missing = TrainConfig(csv=str(tmp_path / "missing.csv"), hidden=[4])
    trials = [*sweep.grid(IRIS, lr=[0.1, 30.0]),
              sweep.Trial("missing file", {"lr": 0.01}, missing.model_dump())]
    result = sweep.run_sweep(trials, workers=1)
    ok, diverged, failed = result.results
    assert ok.status == "ok" and len(ok.losses) == 10 and ok.val_loss is not None
    assert diverged.status == "diverged" and diverged.diverged
    assert "training diverged" in diverged.error and "learning rate 30" in diverged.error
    # drawn up to the point it failed: two whole epochs, then the last finite mini-batch loss
    assert diverged.x[:2] == [1.0, 2.0] and 2 < diverged.x[-1] < 3
    assert 0 < diverged.steps < 10 * 8 and diverged.losses[-1] > 1e20
    assert failed.status == "failed" and failed.losses == []
    assert failed.error.startswith("DataError: ") and "missing.csv" in failed.error
    assert result.best is ok

    written = sweep.write_outputs(result, tmp_path / "out")
    assert all(path.is_file() for path in written)
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open(encoding="utf-8")))
    assert [row["status"] for row in rows] == ["ok", "diverged", "failed"]
    assert [row["diverged"] for row in rows] == ["no", "yes", "no"]
    assert [row["best"] for row in rows] == ["yes", "no", "no"]
    assert rows[2]["error"].startswith("DataError")
    assert float(rows[0]["final_loss"]) == ok.final_loss


def test_results_are_written_even_when_every_trial_fails(tmp_path):
    missing = TrainConfig(csv=str(tmp_path / "missing.csv")).model_dump()
    trials = [sweep.Trial("a", {"lr": 0.1}, missing), sweep.Trial("b", {"lr": 0.2}, missing)]
    result = sweep.run_sweep(trials, workers=1)
    assert [r.status for r in result.results] == ["failed", "failed"]
    assert result.best is None
    sweep.write_outputs(result, tmp_path)
    assert len((tmp_path / "results.csv").read_text().splitlines()) == 3
    assert json.loads((tmp_path / "best.json").read_text())["best"] is None
    assert (tmp_path / "loss.png").stat().st_size > 0


def _result(label, final, *, status="ok", best=None, val=None, steps=None):
    return sweep.TrialResult(label, {}, status, "step", "half_sse", [1.0], [final],
                             final_loss=final, best_loss=best if best is not None else final,
                             val_loss=val, steps_to_target=steps)


def test_choose_best_rules():
    results = [_result("a", 0.3, best=0.01, val=0.5, steps=100),
               _result("b", 0.1, val=0.9, steps=None),
               _result("c", 0.01, status="diverged", val=0.1, steps=1),
               _result("d", 0.2, val=0.4, steps=100)]
    assert sweep.choose_best(results).label == "b"  # final loss; diverged c never qualifies
    assert sweep.choose_best(results, "best_loss").label == "a"
    assert sweep.choose_best(results, "val_loss").label == "d"
    assert sweep.choose_best(results, "steps_to_target").label == "d"  # tie → lower final
    assert sweep.choose_best([results[2]]) is None
    with pytest.raises(ConfigError, match="unknown rule"):
        sweep.choose_best(results, "fastest")


def test_ties_go_to_the_earlier_trial():
    assert sweep.choose_best([_result("a", 0.1), _result("b", 0.1)]).label == "a"


def test_a_worked_example_sweep_over_optimizers():
    result = sweep.run_sweep(sweep.grid(optimizer=["sgd", "adam"], lr=[0.5], steps=50),
                             workers=1)
    sgd, adam = result.results
    assert (sgd.label, adam.label) == ("sgd", "adam")  # η is the same: not in the label
    assert result.title.endswith("one sample), η=0.5")  # what every run shares is in the title
    assert sweep.grid(lr=[0.5])[0].label == "η=0.5"  # a lone trial names its settings
    assert sgd.losses[0] == adam.losses[0] and sgd.losses[1] != adam.losses[1]


def test_worked_example_trials_replay_a_traced_step_with_eager_results(monkeypatch):
    """Traced steps (trace.py) for speed, but every loss equal, bit for bit, to eager mode's."""
    from chainrule import train
    from chainrule.examples import INPUTS, TARGETS, worked_example_model
    from chainrule.runs.config import TrainConfig
    from chainrule.runs.run import build_optimizer

    traced = []

    class CountedTrace(train.TracedStep):
        def __init__(self, *args, **kwargs):
            traced.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(train, "TracedStep", CountedTrace)
    for trial in sweep.grid(optimizer=["sgd", "adam", "rmsprop"], lr=[0.5, 2.0], steps=1000):
        model = worked_example_model()
        settings = TrainConfig(dataset="worked-example", optimizer=trial.params["optimizer"],
                               lr=trial.params["lr"])
        eager = train.fit(model, "half_sse", build_optimizer(settings, model.parameters()),
                          INPUTS, TARGETS, epochs=trial.steps, progress=False, trace=False)
        assert sweep.run_trial(trial).losses == eager.step_losses, trial.label
    assert len(traced) == 6  # one trace per trial: the sweep did replay traced steps


def test_plots_are_byte_for_byte_reproducible(tmp_path):
    first = sweep.run_sweep(sweep.grid(steps=1000), workers=1)
    second = sweep.run_sweep(sweep.grid(steps=1000), workers=1)
    assert first.results == second.results
    sweep.write_outputs(first, tmp_path / "a")
    sweep.write_outputs(second, tmp_path / "b")
    for name in ("loss.png", "loss.svg", "results.csv", "best.json"):  # sweep.json has times
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    sweep.write_outputs(first, tmp_path / "linear", log_scale=False)
    assert (tmp_path / "linear" / "loss.png").read_bytes() != \
        (tmp_path / "a" / "loss.png").read_bytes()


def test_the_default_plot_labels_every_curve_and_marks_the_best(notes_sweep, tmp_path):
    sweep.write_outputs(notes_sweep, tmp_path)
    svg = (tmp_path / "loss.svg").read_text()
    for label in ("η=0.1", "η=0.2", "η=0.5", "η=0.8", "η=1", "η=2"):
        assert f"{label}: final" in svg  # one labelled curve per setting
    assert "η=2: final 9.65e-07  (best)" in svg and "best: η=2" in svg
    assert "target loss 0.001" in svg


def test_sweep_json_holds_every_curve(notes_sweep, tmp_path):
    sweep.write_outputs(notes_sweep, tmp_path)
    saved = json.loads((tmp_path / "sweep.json").read_text())
    assert saved["best"] == "η=2" and saved["rule"] == "final_loss"
    assert [len(t["losses"]) for t in saved["trials"]] == [10_000] * 6
    assert saved["trials"][2]["losses"] == notes_sweep.results[2].losses


def test_matplotlib_is_imported_only_when_plotting():
    import subprocess
    import sys

    code = ("import sys; from chainrule.runs import sweep; "
            "r = sweep.run_sweep(sweep.grid(lr=[0.5], steps=5), workers=1); "
            "sweep.results_csv(r); print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_worked_example_sweep_for_the_demo(tmp_path):
    from rich.console import Console

    console = Console(record=True, width=120)
    result = sweep.worked_example_sweep(tmp_path, workers=1, steps=200, console=console)
    assert len(result.results) == 6 and result.best.label == "η=2"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(sweep.OUTPUT_FILES)
    text = console.export_text()
    assert "η=2  ★" in text and "best: η=2" in text and str(tmp_path / "loss.png") in text


def test_print_table_shows_every_run_and_the_rule(tmp_path):
    from rich.console import Console

    missing = TrainConfig(csv=str(tmp_path / "nope.csv")).model_dump()
    trials = [*sweep.grid(IRIS, lr=[0.1, 30.0]), sweep.Trial("broken", {"lr": 1.0}, missing)]
    result = sweep.run_sweep(trials, workers=1)
    console = Console(record=True, width=120)
    sweep.print_table(result, console)
    text = console.export_text()
    assert "η=0.1  ★" in text and "η=30" in text and "yes" in text and "failed" in text
    # the default rule, auto, is the validation loss: every run that finished has one
    assert "best: η=0.1 — lowest final validation loss" in text
    assert "(auto: every run has validation data)" in " ".join(text.split())
    assert "broken failed: DataError" in text


def test_print_table_shows_error_text_literally():
    from rich.console import Console

    failed = sweep.TrialResult("η=[1]", {"lr": 1.0}, "failed", "step", "half_sse",
                               error='ConfigError: pip install "chainrule[dask]"')
    console = Console(record=True, width=120)
    sweep.print_table(sweep.SweepResult([failed], "final_loss", None, "t"), console)
    text = console.export_text()
    assert 'η=[1] failed: ConfigError: pip install "chainrule[dask]"' in text
    assert "no best setting" in text


def test_auto_chooses_by_validation_loss_when_every_run_has_it():
    overfit = _result("overfit", 0.0, val=10.3)  # training loss 0, validation loss high
    general = _result("general", 0.002, val=0.097)
    assert sweep.choose_best([general, overfit]).label == "overfit"  # final_loss, as asked
    assert sweep.resolve_rule("auto", [general, overfit]) == "val_loss"
    assert sweep.choose_best([general, overfit], "auto").label == "general"
    no_val = _result("no val", 0.001)
    assert sweep.resolve_rule("auto", [general, no_val]) == "final_loss"
    # a run that did not finish does not decide it
    failed = sweep.TrialResult("failed", {}, "failed", "epoch", "")
    assert sweep.resolve_rule("auto", [general, overfit, failed]) == "val_loss"


def _figure_of(result, monkeypatch, tmp_path):
    """The matplotlib axes plot_sweep draws for `result`."""
    from chainrule.runs import plots

    drawn = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: drawn.append(fig))
    sweep.plot_sweep(result, [tmp_path / "loss.png"])
    return drawn[0].axes[0]


def test_a_loss_of_zero_is_drawn_on_the_log_axis_and_the_best_is_marked(monkeypatch, tmp_path):
    zero = sweep.TrialResult("η=0.1", {}, "ok", "epoch", "cross_entropy", [1.0, 2.0, 3.0],
                             [2.0, 0.1, 0.0], final_loss=0.0, best_loss=0.0)
    other = sweep.TrialResult("η=0.001", {}, "ok", "epoch", "cross_entropy", [1.0, 2.0, 3.0],
                              [2.0, 0.5, 0.002], final_loss=0.002, best_loss=0.002)
    result = sweep.SweepResult([zero, other], "final_loss", zero, "t")
    ax = _figure_of(result, monkeypatch, tmp_path)
    low, high = ax.get_ylim()
    assert ax.get_yscale() == "log"
    curve = next(line for line in ax.get_lines() if line.get_label().startswith("η=0.1"))
    assert len(curve.get_ydata()) == 3 and low < min(curve.get_ydata())  # the 0 is drawn
    stars = [line for line in ax.get_lines() if line.get_marker() == "*"]
    assert len(stars) == 1 and low <= stars[0].get_ydata()[0] <= high
    assert any("loss 0, drawn at" in line.get_label() for line in ax.get_lines())


def test_the_sweep_command_chooses_by_validation_loss_by_default(tmp_path):
    from typer.testing import CliRunner

    from chainrule.cli import app

    result = CliRunner().invoke(app, ["sweep", "--dataset", "digits", "--hidden", "64", "--lr",
                                      "0.001,0.1", "--epochs", "60", "--workers", "1",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "results.csv").open(encoding="utf-8")))
    assert float(rows[1]["final_loss"]) < float(rows[0]["final_loss"])  # η=0.1 overfits
    assert float(rows[1]["val_loss"]) > float(rows[0]["val_loss"])
    best = json.loads((tmp_path / "best.json").read_text())
    assert (best["best"]["label"], best["rule"], best["auto"]) == ("η=0.001", "val_loss", True)
    assert "lowest final validation loss" in result.output
    assert "(auto: every run has validation data)" in " ".join(result.output.split())
