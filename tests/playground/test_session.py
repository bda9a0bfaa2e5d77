"""The playground's session without a server: the run it builds, its frames, its explanations."""

import base64

import numpy as np
import pytest

from chainrule.errors import ConfigError, DataError
from chainrule.playground.session import (
    MAX_WEIGHTS,
    Session,
    Settings,
    Stopped,
    parse_settings,
)


def test_the_worked_example_reproduces_the_notes_step():
    session = Session(parse_settings({"dataset": "worked-example", "lr": 0.5}))
    assert f"{session.current['loss']:.9g}" == "0.298371109"
    assert session.network()["weights"] == [["w1", "w2", "w3", "w4"], ["w5", "w6", "w7", "w8"]]
    session.train_epoch()
    frame = session.frame()
    assert (frame["epoch"], frame["steps"]) == (1, 1)
    assert f"{frame['loss_before']:.9g}" == "0.298371109"
    assert f"{frame['loss']:.9g}" == "0.291027774"
    assert frame["weights"][1]["w"][0] == pytest.approx(0.35891648, abs=1e-9)  # w5⁺


def test_the_explanation_of_w5_is_the_notes_derivation():
    session = Session(Settings(dataset="worked-example", lr=0.5))
    result = session.explain("w5")
    assert result["grad"] == pytest.approx(0.0821670406, abs=1e-10)
    assert "∂E/∂w5 = ∂E/∂out_o1 × ∂out_o1/∂net_o1 × ∂net_o1/∂w5" in result["text"]
    assert "= 0.74136507 × 0.186815602 × 0.593269992 = 0.0821670406" in result["text"]
    assert "w5⁺ = 0.4 − 0.5 × 0.0821670406 = 0.35891648" in result["text"]
    assert "∂E/∂w1 =" not in result["text"]  # only what w5 needs
    assert (result["delta"], result["direction"]) == ("δ_o1", "down")
    assert result["notes"] == []  # full-batch SGD on one raw sample: the step shown is training's


def test_the_explanation_in_the_layer_notation():
    session = Session(Settings(dataset="worked-example", lr=0.5))
    unit, layer = session.explain("w5"), session.explain("w5", notation="layer")
    assert (layer["notation"], layer["symbol"], layer["error_symbol"]) == \
        ("layer", "w⁽²⁾₁₁", "C₀")
    assert (unit["notation"], unit["symbol"], unit["error_symbol"]) == ("unit", "w5", "E")
    assert "∂C₀/∂w⁽²⁾₁₁ = ∂z⁽²⁾₁/∂w⁽²⁾₁₁ · ∂a⁽²⁾₁/∂z⁽²⁾₁ · ∂C₀/∂a⁽²⁾₁" in layer["text"]
    assert "= 0.593269992 × 0.186815602 × 0.74136507 = 0.0821670406" in layer["text"]
    assert "w⁽²⁾₁₁⁺ = 0.4 − 0.5 × 0.0821670406 = 0.35891648" in layer["text"]
    assert layer["delta"] == "δ⁽²⁾₁"
    numbers = ("grad", "before", "after", "direction", "error", "error_after")
    assert [layer[k] for k in numbers] == [unit[k] for k in numbers]
    moons = Session(Settings(dataset="moons", hidden=[3], optimizer="adam", lr=0.01))
    notes = moons.explain("w1", notation="layer")["notes"]
    assert any(note.startswith("The update written out is the plain gradient step "
                               "w⁺ = w − η·∂C₀/∂w.") for note in notes)
    assert any(note.startswith("Training averages ∂C₀/∂w over a batch") for note in notes)
    assert any(note.startswith("a⁽⁰⁾₁, a⁽⁰⁾₂ are the sample as the network sees it")
               for note in notes)
    with pytest.raises(ConfigError) as caught:
        session.explain("w5", notation="tensor")
    assert str(caught.value) == "explain: notation must be one of unit, layer, got 'tensor'"


def test_explaining_a_bias_and_a_sample_of_a_classifier():
    session = Session(Settings(dataset="moons", hidden=[3], optimizer="adam", lr=0.01))
    result = session.explain("b_h2", sample=5)
    x = session.prepared.X_train[5]
    assert f"i1 = {x[0]:.9g}" in result["text"]
    assert result["sample"] == 5 and "∂E/∂b_h2" in result["text"]
    assert any("Adam, whose own step differs" in note for note in result["notes"])
    assert any("standardised" in note for note in result["notes"])


def test_the_biggest_network_can_be_explained():
    session = Session(Settings(dataset="spirals", hidden=[8, 8, 8, 8]))
    assert session.naming.weight_count() == MAX_WEIGHTS
    assert "∂E/∂w224" in session.explain("w224")["text"]


def test_training_moons_lowers_the_loss():
    session = Session(Settings(dataset="moons", hidden=[6], lr=0.1))
    first = session.current["loss"]
    for _ in range(15):
        session.train_epoch()
    assert session.current["loss"] < 0.5 * first
    assert session.current["val_loss"] < first
    assert session.current["accuracy"] > 0.8


def test_reset_brings_back_the_initial_weights():
    session = Session(Settings(dataset="xor", hidden=[4]))
    before = session.frame()["weights"]
    session.train_epoch()
    assert session.frame()["weights"] != before
    session.reset()
    assert session.frame()["weights"] == before and session.epoch == 0


def test_a_frame_holds_the_boundary_and_every_unit_square():
    session = Session(Settings(dataset="circles", hidden=[5, 3], loss="bce"))
    frame = session.frame()
    boundary = np.frombuffer(base64.b64decode(frame["boundary"]["data"]), np.uint8)
    assert frame["boundary"]["kind"] == "probability" and boundary.size == 50 * 50
    assert [len(layer) for layer in frame["units"]] == [5, 3, 1]
    square = base64.b64decode(frame["units"][0][0]["data"])
    assert len(square) == frame["unit_size"] ** 2 == 25 * 25
    assert [len(layer["w"]) for layer in frame["weights"]] == [10, 15, 3]


def test_a_cancelled_session_stops_after_the_step_in_progress():
    import threading

    session = Session(Settings(dataset="spirals", batch_size=1))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Stopped):
        session.train_epoch(cancel)
    assert session.epoch == 0


@pytest.mark.parametrize("values, message", [
    ({"hidden": [0]}, "settings: hidden: each hidden layer needs 1 to 8 units, got [0]"),
    ({"lr": "abc"}, "settings: lr: Input should be a valid number"),
    ({"lr": 0}, "settings: lr: must be a number above 0 and at most 10, got 0.0"),
    ({"hidden": [4, 4, 4, 4, 4]}, "settings: hidden: at most 4 hidden layers, got 5"),
    ({"colour": "red"}, "settings: colour: unknown key"),
    ({"dataset": "iris"}, "settings: dataset: Input should be 'xor', 'moons', 'spirals', "
                          "'circles', 'worked-example' or 'csv'"),
])
def test_bad_settings_say_exactly_what_is_wrong(values, message):
    with pytest.raises(ConfigError) as error:
        parse_settings(values)
    assert str(error.value) == message


def test_a_loss_that_does_not_fit_the_data():
    with pytest.raises(ConfigError, match="loss 'half_sse' does not fit the classification"):
        Session(Settings(dataset="moons", loss="half_sse"))
    with pytest.raises(ConfigError, match="csv needs a file: upload one first"):
        Session(Settings(dataset="csv", upload="nope"))


def test_a_csv_with_three_features_is_refused(tmp_path):
    path = tmp_path / "three.csv"
    path.write_text("a,b,c,label\n" + "".join(f"{i},{i * 2},{i % 3},{i % 2}\n" for i in range(20)))
    with pytest.raises(DataError, match="has 3 feature columns; the playground draws the input"):
        Session(Settings(dataset="csv", upload="k"), {"k": path})


def test_explain_refuses_an_unknown_parameter_or_sample():
    session = Session(Settings(dataset="xor", hidden=[2]))
    with pytest.raises(ConfigError, match="no parameter 'w99' in this network; it has w1, w2"):
        session.explain("w99")
    with pytest.raises(ConfigError, match="sample must be a training sample number from 0 to 3"):
        session.explain("w1", sample=4)
