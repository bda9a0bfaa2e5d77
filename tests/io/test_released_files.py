"""Files written by released versions of chainrule still load, with the same meaning.

tests/io/files/ holds files chainrule 0.1.0 wrote (format 2), before io.py read and wrote the
container with the safetensors library: a model and a checkpoint of
`chainrule train --dataset iris --epochs 4 --optimizer adam --hidden 3 --val-split 0.2
--early-stopping 5 --batch-size 32`, a model of every kind of layer (named, nested, frozen)
and a `save_state` file. The format-1 files are those two run files as format 1 stored them:
the same metadata with format_version 1 and the SHA-256 of the data buffer as checksum.
expected.json records what the networks computed then, and each file's SHA-256 (so a fixture
rewritten by accident is caught).
"""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from chainrule import io, optim, runs
from chainrule.errors import ModelFileError

FILES = Path(__file__).parent / "files"
EXPECTED = json.loads((FILES / "expected.json").read_text())
MODELS = ["model-v1", "model-v2", "checkpoint-v1", "checkpoint-v2", "model-layers-v2"]


@pytest.mark.parametrize("name", [*MODELS, "state-v2"])
def test_the_fixture_is_the_released_file(name):
    data = (FILES / f"{name}.safetensors").read_bytes()
    assert hashlib.sha256(data).hexdigest() == EXPECTED[name]["sha256"]


@pytest.mark.parametrize("name", MODELS)
def test_a_released_model_computes_what_it_computed(name):
    expected = EXPECTED[name]
    inputs = np.array(expected.get("inputs", EXPECTED["inputs"]), dtype=np.float32)
    model = io.load(FILES / f"{name}.safetensors")
    assert model(inputs).data.tolist() == expected["outputs"]
    version = int(name.rpartition("-v")[2])
    assert io.load_metadata(FILES / f"{name}.safetensors")["format_version"] == version


def test_a_released_model_keeps_its_names_settings_and_frozen_parameters():
    model = io.load(FILES / "model-layers-v2.safetensors")
    assert [name for name, _ in model.named_parameters()] == [
        "0.weight", "2.hidden.weight", "2.hidden.bias", "3.weight", "3.bias"]
    assert [p.requires_grad for p in model.parameters()] == [True, True, True, True, False]
    assert model[1].negative_slope == 0.2 and model[4].axis == 0
    assert io.load_metadata(FILES / "model-layers-v2.safetensors")["user"] == {
        "note": "ünïcode ✓", "n": [1, 2.5, None]}


@pytest.mark.parametrize("name", ["checkpoint-v1", "checkpoint-v2"])
def test_a_released_checkpoint_loads_whole(name):
    checkpoint = io.load_checkpoint(FILES / f"{name}.safetensors")
    assert (checkpoint.epoch, checkpoint.step) == (EXPECTED[name]["epoch"],
                                                   EXPECTED[name]["step"])
    assert checkpoint.config["dataset"] == "iris" and checkpoint.config["optimizer"] == "adam"
    assert set(checkpoint.callbacks) == {"EarlyStopping"}
    assert set(checkpoint.callbacks["EarlyStopping"]["best_weights"]) == {
        "0.weight", "0.bias", "2.weight", "2.bias"}
    optimizer = optim.Adam(checkpoint.model.parameters(), lr=0.01)
    optimizer.load_state_dict(checkpoint.optimizer_state)
    assert optimizer.step_count == checkpoint.step


@pytest.mark.parametrize("name", ["checkpoint-v1", "checkpoint-v2"])
def test_a_released_checkpoint_resumes(tmp_path, name):
    shutil.copy(FILES / f"{name}.safetensors", tmp_path / "checkpoint.safetensors")
    settings, checkpoint = runs.resume_settings(tmp_path / "checkpoint.safetensors",
                                                {"epochs": 6})
    result = runs.train(settings, tmp_path, resume=checkpoint)
    assert result.epochs == 6 and result.history.epochs[0]["epoch"] == 1


def test_a_released_state_file_loads():
    tensors, metadata = io.load_state(FILES / "state-v2.safetensors")
    assert metadata["note"] == "custom" and "checksum" in metadata
    assert tensors["w"].dtype == np.float16 and tensors["w"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert tensors["count"].dtype == np.int64 and tensors["count"] == 7
    assert tensors["mask"].tolist() == [True, False]


@pytest.mark.parametrize("name", [*MODELS, "state-v2"])
def test_a_released_file_with_a_flipped_bit_is_refused(tmp_path, name):
    data = bytearray((FILES / f"{name}.safetensors").read_bytes())
    data[-1] ^= 0x01
    (tmp_path / "f.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        io.load_state(tmp_path / "f.safetensors")
