"""chainrule.sklearn: scikit-learn's own estimator checks, pipelines and grid searches, and
that the estimators train through chainrule's one run function."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule import runs  # noqa: E402
from chainrule.errors import ConfigError, DataError  # noqa: E402
from chainrule.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


def _float32_rounding(estimator) -> dict[str, str]:
    """The one check a float32 network may fail by rounding alone: BLAS sums a row's dot
    products in an order that depends on the batch's shape, so a row predicted alone can
    differ from the same row in a batch by an ulp of float32 (4.8e-7 at 1.9 seen), above the
    check's 1e-7. In float64 the same estimators pass it (the float64 cases below)."""
    if estimator.dtype == "float64":
        return {}
    return {"check_methods_subset_invariance": "float32 rounding depends on the batch's shape"}


@parametrize_with_checks([MLPClassifier(), MLPRegressor(), MLPClassifier(dtype="float64"),
                          MLPRegressor(dtype="float64")],
                         expected_failed_checks=_float32_rounding)
def test_scikit_learn_estimator_checks(estimator, check):
    """Every check of the installed scikit-learn passes, in float64 and float32; in float32
    the subset-invariance check may fail by one float32 ulp (_float32_rounding)."""
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    return cr.data.load("iris")


def test_the_parameters_are_chainrule_trains_options_with_its_defaults():
    defaults = MLPClassifier().get_params()
    assert set(defaults) == set(MLPRegressor().get_params())
    assert set(defaults) <= set(runs.TrainConfig.model_fields)
    config = runs.TrainConfig(dataset="iris")
    for key in defaults:
        expected = {"hidden": tuple(config.hidden), "val_split": 0.0}.get(key, getattr(config, key))
        assert defaults[key] == expected, key


def test_fit_trains_the_same_network_as_chainrule_train(iris):
    """The estimator is `runs.train` on the same numbers: bit-identical weights."""
    settings = {"hidden": [6], "epochs": 4, "batch_size": 16, "seed": 3, "val_split": 0.0}
    run = runs.train(runs.TrainConfig(dataset="iris", **settings))
    estimator = MLPClassifier(**settings | {"hidden": (6,)}).fit(iris.X, iris.y)
    for a, b in zip(run.model.parameters(), estimator.model_.network.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    assert estimator.loss_curve_ == run.history["loss"]
    assert estimator.n_iter_ == 4 and estimator.status_ == "finished"


def test_classes_of_any_kind_come_back_as_given(iris):
    names = np.array(["setosa", "versicolor", "virginica"])[iris.y]
    estimator = MLPClassifier(epochs=30).fit(iris.X, names)
    assert estimator.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    assert estimator.score(iris.X, names) > 0.9
    proba = estimator.predict_proba(iris.X[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert estimator.predict(iris.X[:5]).tolist() == ["setosa"] * 5


@pytest.mark.parametrize("loss", ["cross_entropy", "bce", "bce_logits"])
def test_two_classes_decision_function_ranks_as_the_probabilities(loss):
    moons = cr.data.load("moons")
    estimator = MLPClassifier(loss=loss, epochs=10).fit(moons.X, moons.y)
    scores = estimator.decision_function(moons.X)
    proba = estimator.predict_proba(moons.X)[:, 1]
    assert scores.shape == (len(moons.X),)
    order = np.argsort(scores, kind="stable")
    assert np.all(np.diff(proba[order]) >= -1e-6)
    assert ((scores > 0) == (estimator.predict(moons.X) == 1)).mean() > 0.99
    assert np.isfinite(scores).all()  # bce: before the sigmoid, never ±inf


def test_a_grid_search_over_learning_rates_in_a_pipeline(iris):
    search = GridSearchCV(make_pipeline(StandardScaler(), MLPClassifier(hidden=(8,), epochs=15)),
                          {"mlpclassifier__lr": [1e-4, 3e-2]}, cv=3)
    search.fit(iris.X, iris.y)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and scores[1] > scores[0] + 0.1  # the rate matters
    assert search.best_params_ == {"mlpclassifier__lr": 3e-2}
    assert search.best_estimator_.score(iris.X, iris.y) > 0.9


def test_numpy_numbers_from_a_parameter_grid_are_taken(iris):
    estimator = MLPClassifier(hidden=(np.int64(4),), epochs=np.int64(2), lr=np.float32(0.01))
    assert estimator.fit(iris.X, iris.y).n_iter_ == 2


def test_a_clone_is_unfitted_and_a_pickle_predicts_the_same(iris):
    estimator = MLPClassifier(epochs=3).fit(iris.X, iris.y)
    assert not hasattr(clone(estimator), "model_")
    again = pickle.loads(pickle.dumps(estimator))
    np.testing.assert_array_equal(again.predict_proba(iris.X), estimator.predict_proba(iris.X))


def test_bad_parameters_are_all_reported_at_fit_naming_the_estimator(iris):
    estimator = MLPClassifier(lr=-1.0, epochs=0, activation="swish")
    with pytest.raises(ConfigError) as error:
        estimator.fit(iris.X, iris.y)
    message = str(error.value)
    assert message.startswith("MLPClassifier: 3 problems: ")
    assert "lr: must be a positive finite number, got -1.0" in message
    assert "epochs: Input should be greater than or equal to 1" in message
    assert "activation: Input should be" in message
    with pytest.raises(ConfigError, match="early_stopping watches the validation loss, but "
                                          "val_split is 0"):
        MLPClassifier(early_stopping=3).fit(iris.X, iris.y)


def test_a_fit_that_fails_leaves_the_estimator_as_it_was(iris):
    estimator = MLPClassifier(epochs=2).fit(iris.X, iris.y)
    before = estimator.predict_proba(iris.X)
    with pytest.raises(ConfigError):
        estimator.set_params(lr=-1.0).fit(iris.X[:, :2], np.array(["a", "b"] * 75))
    assert estimator.classes_.tolist() == [0, 1, 2] and estimator.n_features_in_ == 4
    np.testing.assert_array_equal(estimator.set_params(lr=0.01).predict_proba(iris.X), before)
    fresh = MLPClassifier(loss="bce")
    with pytest.raises(ConfigError):
        fresh.fit(iris.X, iris.y)  # three classes
    assert not [key for key in vars(fresh) if key.endswith("_")]
    with pytest.raises(sklearn.exceptions.NotFittedError):
        fresh.predict(iris.X)


def test_one_class_and_a_loss_that_does_not_fit_are_refused(iris):
    with pytest.raises(DataError, match=r"'MLPClassifier.fit': the training labels hold 1 "
                                        r"class \('0'\)"):
        MLPClassifier().fit(iris.X[:10], iris.y[:10])
    with pytest.raises(ConfigError, match="loss 'bce' fits two classes"):
        MLPClassifier(loss="bce").fit(iris.X, iris.y)


def test_early_stopping_holds_out_val_split(iris):
    estimator = MLPClassifier(epochs=200, val_split=0.3, early_stopping=2, lr=0.05)
    estimator.fit(iris.X, iris.y)
    assert estimator.status_ == "early-stopped" and estimator.n_iter_ < 200
    assert "val_loss" in estimator.history_.final


def test_a_diverging_run_warns_and_keeps_the_last_finite_weights(iris):
    estimator = MLPRegressor(optimizer="sgd", lr=1e6, epochs=5, hidden=(4,))
    with pytest.warns(ConvergenceWarning, match=r"MLPRegressor: .*the model keeps the last "
                                                r"finite weights"):
        estimator.fit(iris.X, iris.X[:, 0] * 100)
    assert estimator.status_ == "diverged"
    assert all(np.isfinite(p.data).all() for p in estimator.model_.network.parameters())


def test_partial_fit_continues_weights_optimizer_and_history(iris):
    estimator = MLPClassifier(epochs=3, seed=1).fit(iris.X, iris.y)
    first = list(estimator.loss_curve_)
    assert estimator._optimizer_state["hyper"]["step_count"] == 3 * 5  # 150 samples, 32 a batch
    estimator.partial_fit(iris.X, iris.y)
    assert estimator.n_iter_ == 4 and estimator.loss_curve_[:3] == first
    assert estimator._optimizer_state["hyper"]["step_count"] == 4 * 5  # Adam's state went on
    fresh = MLPClassifier(epochs=1, seed=1).partial_fit(iris.X, iris.y, classes=[0, 1, 2])
    assert estimator.loss_curve_[3] < fresh.loss_curve_[0]


def test_partial_fit_takes_a_new_learning_rate_but_refuses_a_new_network(iris):
    estimator = MLPClassifier(epochs=2, optimizer="sgd", lr=0.1, hidden=(32,))
    estimator.fit(iris.X, iris.y)
    weights = [p.data.copy() for p in estimator.model_.network.parameters()]
    estimator.set_params(lr=1e-12).partial_fit(iris.X, iris.y)
    for old, new in zip(weights, estimator.model_.network.parameters(), strict=True):
        np.testing.assert_allclose(new.data, old, atol=1e-9)  # η = 1e-12 barely moves them
    assert estimator._optimizer_state["hyper"]["lr"] == 1e-12
    for change, shown in (({"hidden": (5,)}, "hidden changed from [32] to [5]"),
                          ({"activation": "tanh"}, "activation changed from 'relu' to 'tanh'"),
                          ({"optimizer": "adam"}, "optimizer changed from 'sgd' to 'adam'")):
        with pytest.raises(ValueError, match=re.escape(f"MLPClassifier.partial_fit: {shown} "
                                                       "since the model was fitted")):
            clone(estimator).fit(iris.X, iris.y).set_params(**change).partial_fit(iris.X, iris.y)
    with pytest.raises(TypeError):
        estimator.partial_fit(iris.X, iris.y, clases=[0, 1, 2])  # a typo is not ignored


def test_partial_fit_batches_of_one_class_and_its_refusals(iris):
    estimator = MLPClassifier(seed=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        estimator.partial_fit(iris.X, iris.y)
    estimator.partial_fit(iris.X[:50], iris.y[:50], classes=[0, 1, 2])  # only setosa
    assert estimator.classes_.tolist() == [0, 1, 2]
    mean = estimator.model_.mean.copy()
    for _ in range(20):
        estimator.partial_fit(iris.X, iris.y)
    np.testing.assert_array_equal(estimator.model_.mean, mean)  # the first call's scales
    assert estimator.n_iter_ == 21 and estimator.score(iris.X, iris.y) > 0.8
    with pytest.raises(ValueError, match=r"y holds classes \[7\] that are not among"):
        estimator.partial_fit(iris.X[:2], [0, 7])
    with pytest.raises(ValueError, match="differ from the classes of the first call"):
        estimator.partial_fit(iris.X[:2], [0, 1], classes=[0, 1])


def test_regression_returns_the_shape_it_was_fitted_to(iris):
    one = MLPRegressor(epochs=5).fit(iris.X[:, :3], iris.X[:, 3])
    assert one.predict(iris.X[:4, :3]).shape == (4,) and one.n_outputs_ == 1
    two = MLPRegressor(epochs=5).fit(iris.X[:, :2], iris.X[:, 2:])
    assert two.predict(iris.X[:4, :2]).shape == (4, 2) and two.n_outputs_ == 2
    assert two.score(iris.X[:, :2], iris.X[:, 2:]) > 0.5
    with pytest.raises(ValueError, match="y has 1 target columns but the model was fitted to 2"):
        two.partial_fit(iris.X[:, :2], iris.X[:, 2])


def test_feature_names_go_into_the_model_file_and_chainrule_predict_agrees(iris, tmp_path):
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(iris.X, columns=list(iris.feature_names))
    estimator = MLPClassifier(epochs=10).fit(frame, iris.y)
    assert estimator.feature_names_in_.tolist() == list(iris.feature_names)
    path = tmp_path / "iris.safetensors"
    estimator.save(path)
    trained = runs.TrainedModel.load(path)
    assert trained.feature_names == list(iris.feature_names)
    assert trained.target_names == ["0", "1", "2"]
    predictions = trained.predict(iris.X)
    assert [row[1] for row in predictions.rows] == [str(c) for c in estimator.predict(frame)]
    probabilities = [row[2] for row in predictions.rows]
    np.testing.assert_allclose(probabilities, estimator.predict_proba(frame).max(axis=1),
                               rtol=1e-6)


def test_a_fitted_estimator_is_explained_on_its_standardised_inputs(iris):
    estimator = MLPClassifier(hidden=(3,), epochs=5, lr=0.05).fit(iris.X, iris.y)
    ex = estimator.explain(iris.X[60], 1, max_weights=100)
    p = estimator.predict_proba(iris.X[60:61])[0, 1]
    assert ex.error == pytest.approx(-np.log(p), rel=1e-5)  # E = −ln p of the target class
    assert "η = 0.05" in ex.render("text")
    with pytest.raises(ValueError, match="target 9 is not one of the classes"):
        estimator.explain(iris.X[0], 9, max_weights=100)
    with pytest.raises(ValueError, match=r"explain takes one sample, got an array of shape "
                                         r"\(2, 4\)"):
        estimator.explain(iris.X[:2], 0, max_weights=100)
    moons = cr.data.load("moons")
    logits = MLPClassifier(loss="bce_logits", hidden=(2,), epochs=1).fit(moons.X, moons.y)
    with pytest.raises(ValueError, match="fit with loss='bce' to explain the same network"):
        logits.explain(moons.X[0], moons.y[0])
    regressor = MLPRegressor(hidden=(2,), epochs=2).fit(iris.X[:, :2], iris.X[:, 2])
    ex = regressor.explain(iris.X[0, :2], iris.X[0, 2])
    t, y = iris.X[0, 2], regressor.predict(iris.X[:1, :2])[0]
    assert ex.error == pytest.approx(0.5 * (t - y) ** 2, rel=1e-4)


def test_ctrl_c_stops_a_grid_search_instead_of_failing_one_fit(iris, monkeypatch):
    from chainrule import train as loop

    def pressed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_train_step", pressed)
    with pytest.raises(KeyboardInterrupt, match="MLPClassifier: training interrupted"):
        GridSearchCV(MLPClassifier(epochs=2), {"lr": [0.01, 0.1]}, cv=2).fit(iris.X, iris.y)


def test_without_scikit_learn_the_import_says_what_to_install():
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "try:\n    import chainrule.sklearn\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "chainrule.sklearn needs scikit-learn: pip install 'chainrule[sklearn]'"


def test_warnings_stay_quiet_on_a_healthy_fit(iris):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MLPClassifier(epochs=2).fit(iris.X, iris.y).predict(iris.X)
