"""report.html and training.gif: what a run, a sweep and a diagnosis write for a person to read."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from chainrule.cli import app
from chainrule.runs import TrainConfig, diagnostics, sweep, train
from chainrule.runs.model import probabilities
from chainrule.runs.monitor import GRADIENT_ROWS, animation_epochs, snapshot_epochs
from chainrule.train import predict

runner = CliRunner()
EXTERNAL = ('src="http', "src='http", 'href="http', "href='http", "@import", "url(http",
            "<script", "<link")


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def moons(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "moons"
    config = TrainConfig(dataset="moons", hidden=[8], epochs=6, lr=0.05)
    return train(config, out), out


def _confusion_cells(html: str) -> np.ndarray:
    block = html[html.index('<table class="confusion">'):]
    block = block[block.index("<tbody>"):block.index("</table>")]
    rows = re.findall(r"<tr><th>.*?</th>(.*?)</tr>", block)
    return np.array([[int(v.replace(",", "")) for v in re.findall(r"<td[^>]*>([\d,]+)</td>", r)]
                     for r in rows])


def _counts(result) -> np.ndarray:
    """The confusion counts computed here, from the model's own predictions."""
    prepared = result.prepared
    p = probabilities(prepared.loss, "classification", predict(result.model, prepared.X_val))
    k = len(prepared.dataset.target_names)
    counts = np.zeros((k, k), dtype=int)
    for true, guess in zip(prepared.y_val, p.argmax(axis=1), strict=True):
        counts[int(true), int(guess)] += 1
    return counts


def test_a_run_writes_a_report_with_every_section(moons):
    result, out = moons
    html = (out / "report.html").read_text(encoding="utf-8")
    assert out / "report.html" in result.written
    assert '<span class="status finished">' in html
    for key, value in (("hidden", "8"), ("lr", "0.05"), ("epochs", "6"), ("optimizer", "adam")):
        assert re.search(f"<code>{key}</code></td><td[^>]*>{re.escape(value)}</td>", html), key
    curves = html[html.index('id="curves"'):html.index('id="gradients"')]
    assert curves.count("<svg") == 1 and "accuracy per epoch" in curves  # both panels
    gradients = html[html.index('id="gradients"'):html.index('id="confusion"')]
    assert "<svg" in gradients
    for layer in ("layer 1 (2→8)", "layer 2 (8→2)"):
        assert f"<td>{layer}</td>" in gradients
    assert (_confusion_cells(html) == _counts(result)).all()
    assert _counts(result).sum() == len(result.prepared.X_val)
    boundary = html[html.index('id="boundary"'):]
    assert "<svg" in boundary and "data:image/png;base64," in boundary
    assert [b.epoch for b in result.boundaries] == [1, 3, 4, 6]
    for epoch in (1, 3, 4, 6):
        assert f"after epoch {epoch}" in boundary  # the panels' titles (SVG comments)
    assert not any(marker in html for marker in EXTERNAL)


def test_digits_has_a_ten_class_confusion_matrix_and_no_boundary(tmp_path):
    result = train(TrainConfig(dataset="digits", hidden=[16], epochs=2), tmp_path / "digits")
    html = (tmp_path / "digits" / "report.html").read_text(encoding="utf-8")
    cells = _confusion_cells(html)
    assert cells.shape == (10, 10) and (cells == _counts(result)).all()
    assert 'id="boundary"' not in html and result.boundaries == []
    assert "<td>layer 2 (16→10)</td>" in html
    assert not any(marker in html for marker in EXTERNAL)


def test_the_same_run_gives_the_same_bytes(moons, tmp_path):
    result, out = moons
    train(result.config, tmp_path / "again")  # another folder: no path is in the report
    assert (tmp_path / "again" / "report.html").read_bytes() == (out / "report.html").read_bytes()


def test_user_strings_are_escaped(tmp_path):
    rows = ["<b>x</b>,y&z,label"]
    rng = np.random.default_rng(0)
    for i in range(40):
        label = "<script>alert(1)</script>" if i % 2 else "[/]"
        rows.append(f"{rng.normal() + 3 * (i % 2):.3f},{rng.normal():.3f},{label}")
    data = tmp_path / "a<b>.csv"
    data.write_text("\n".join(rows) + "\n")
    train(TrainConfig(csv=str(data), hidden=[4], epochs=2), tmp_path / "hostile")
    html = (tmp_path / "hostile" / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "[/]" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "y&amp;z" in html
    assert "chainrule train: a&lt;b&gt;" in html
    assert "<script" not in html and "<b>" not in html


def test_a_diverged_run_reports_that_it_diverged(tmp_path):
    config = TrainConfig(dataset="moons", hidden=[8], epochs=3, optimizer="sgd", lr=1e30)
    result = train(config, tmp_path / "boom")
    assert result.status == "diverged"
    html = (tmp_path / "boom" / "report.html").read_text(encoding="utf-8")
    assert '<span class="status diverged">diverged: ' in html


def test_the_light_monitor_keeps_a_few_hundred_rows():
    result = train(TrainConfig(dataset="xor", hidden=[4], epochs=1000, batch_size=1))
    norms = result.gradient_norms
    assert result.steps == 4000 and norms.every == 14
    assert len(norms.steps) <= GRADIENT_ROWS and norms.steps[0] == 14
    assert norms.layers == ["layer 1 (2→4)", "layer 2 (4→2)"]


def test_a_sweep_report_compares_the_trials(tmp_path):
    base = TrainConfig(dataset="moons", hidden=[4], epochs=2)
    result = sweep.run_sweep(sweep.grid(base, lr=[0.001, 0.05]), workers=1)
    written = sweep.write_outputs(result, tmp_path)
    assert tmp_path / "report.html" in written
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    best = re.findall(r'<tr class="best"><td>(.*?)</td>', html)
    assert best == [f"{result.best.label} ★"]
    assert "η=0.001" in html and "η=0.05" in html and "<svg" in html
    assert not any(marker in html for marker in EXTERNAL)


def test_a_diagnosis_report_shows_the_gradients_and_the_warnings(tmp_path):
    config = TrainConfig(dataset="spirals", hidden=[8] * 6, activation="sigmoid", epochs=2)
    report = diagnostics.diagnose(config)
    written = diagnostics.write_outputs(report, tmp_path)
    assert tmp_path / "report.html" in written
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<svg" in html and "<td>layer 1 (2→8)</td>" in html
    assert report.warnings and all(f"<li>{w.split(':')[0]}" in html for w in report.warnings)


def test_animation_frames_are_capped():
    assert animation_epochs(1, 5) == [1, 2, 3, 4, 5]
    frames = animation_epochs(1, 500)
    assert len(frames) == 60 and frames[0] == 1 and frames[-1] == 500
    assert snapshot_epochs(11, 20, 4) == [11, 14, 17, 20]  # a resumed run: its own epochs


def test_animate_writes_a_gif_the_same_twice_and_from_the_toml(moons, tmp_path):
    common = ("--dataset", "moons", "--hidden", "8", "--epochs", "5", "--quiet")
    first = cli("train", *common, "--animate", "--out", tmp_path / "a")
    assert first.exit_code == 0, first.output
    toml = tmp_path / "run.toml"
    toml.write_text("animate = true\n")
    second = cli("train", "--config", toml, *common, "--out", tmp_path / "b")
    assert second.exit_code == 0, second.output
    gif = tmp_path / "a" / "training.gif"
    with Image.open(gif) as image:
        assert image.format == "GIF" and image.n_frames == 5
    assert gif.read_bytes() == (tmp_path / "b" / "training.gif").read_bytes()
    assert not list(tmp_path.glob("*/.*tmp*"))  # no temporary file left behind
    assert not (moons[1] / "training.gif").exists()  # only with animate


def test_animate_needs_two_features_and_says_so_before_training(tmp_path):
    out = tmp_path / "digits"
    result = cli("train", "--dataset", "digits", "--animate", "--out", out)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: --animate draws the decision boundary over the plane of two input features, "
        "but 'digits' has 64 features; train without --animate (animate = false)")
    assert not out.exists()
