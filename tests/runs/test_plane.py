"""The input plane: a grid in the data's units, evaluated as the network sees it."""

import numpy as np
import pytest

from chainrule.errors import ConfigError
from chainrule.ops.activation import softmax_array
from chainrule.runs import TrainConfig, train
from chainrule.runs.plane import Plane, class_plane, unit_planes
from chainrule.train import predict


@pytest.fixture(scope="module")
def moons():
    return train(TrainConfig(dataset="moons", hidden=[5, 3], epochs=3, optimizer="adam",
                             lr=0.01, dtype="float64"))


def test_the_grid_covers_the_points_and_a_margin():
    plane = Plane.around(np.array([[0.0, -1.0], [2.0, 1.0]]), resolution=5, margin=0.25)
    assert plane.extent == (-0.5, 2.5, -1.5, 1.5)
    points = plane.points()
    assert points.shape == (25, 2)
    assert points[1].tolist() == [0.25, -1.5]      # row by row from the bottom
    assert points[5].tolist() == [-0.5, -0.75]


def test_a_single_point_gets_a_unit_margin():
    plane = Plane.around(np.array([[0.05, 0.10]]), resolution=3)
    assert plane.extent == (-0.95, 1.05, -0.9, 1.1)


def test_the_plane_needs_two_features():
    with pytest.raises(ConfigError, match=r"2 features, got shape \(3, 4\)"):
        Plane.around(np.zeros((3, 4)))


def test_class_plane_is_the_networks_prediction_of_each_standardised_point(moons):
    prepared = moons.prepared
    plane = Plane.around(prepared.dataset.X, resolution=7)
    expected = softmax_array(predict(moons.model, (plane.points() - prepared.mean)
                                     / prepared.std), axis=1)
    got = class_plane(moons.model, prepared, plane)
    assert got.shape == (7, 7, 2)
    np.testing.assert_allclose(got.reshape(-1, 2), expected, rtol=0, atol=1e-15)


def test_unit_planes_are_each_layers_outputs_after_its_activation(moons):
    prepared = moons.prepared
    plane = Plane.around(prepared.dataset.X, resolution=4)
    layers = unit_planes(moons.model, prepared, plane)
    assert [layer.shape for layer in layers] == [(4, 4, 5), (4, 4, 3), (4, 4, 2)]
    assert layers[0].min() >= 0 and layers[1].min() >= 0      # after relu
    np.testing.assert_allclose(
        layers[-1].reshape(-1, 2),
        predict(moons.model, (plane.points() - prepared.mean) / prepared.std), atol=1e-15)
