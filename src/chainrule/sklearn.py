"""chainrule as scikit-learn estimators: `MLPClassifier` and `MLPRegressor` (extra [sklearn]).

They train through `chainrule.runs.train`, the function behind `chainrule train`, so a
parameter means what the option of the same name means there (docs/sklearn.md):

    from sklearn.model_selection import GridSearchCV
    from chainrule.sklearn import MLPClassifier

    search = GridSearchCV(MLPClassifier(hidden=(64,), epochs=40), {"lr": [1e-3, 3e-3, 1e-2]})
    search.fit(X, y)
    best = search.best_estimator_
    best.predict_proba(X[:3]), best.loss_curve_[-1]
    best.save("digits.safetensors")        # a chainrule model file: chainrule predict reads it
    small = MLPClassifier(hidden=(3,)).fit(X[:, :4], y)
    print(small.explain(X[0, :4], y[0]).render("text"))   # one step, as the chain rule

What fit does: the data are checked as scikit-learn checks them (`validate_data`), classes
become labels 0..k-1, and the run is prepared and trained as `chainrule train` would train a
CSV of the same numbers: features standardised with the training data's mean and standard
deviation (`standardize`), a validation split only when `val_split` > 0 (0 by default: every
sample trains, as in scikit-learn; early stopping needs one). The fitted network, its
standardisation and names are `model_` (a `chainrule.runs.TrainedModel`, the reader of model
files, so prediction is the same code as `chainrule predict`).

partial_fit trains one epoch on the data it is given, continuing the weights, the optimizer's
state and the history (through train's `resume`); the first call fixes the standardisation and,
for a classifier, needs `classes`. Pickling an estimator is scikit-learn's contract and the
user's choice; the files chainrule writes (`save`) hold no pickle.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError:  # pragma: no cover - exercised by the missing-extra test
    raise ImportError("chainrule.sklearn needs scikit-learn: pip install 'chainrule[sklearn]'"
                      ) from None

from chainrule import data as datasets
from chainrule import io
from chainrule.runs import TrainConfig, TrainedModel, make_config, prepare, train
from chainrule.runs.preparation import BINARY_LOSSES
from chainrule.runs.run import RunInterrupted

__all__ = ["MLPClassifier", "MLPRegressor"]

SHAPING = ("hidden", "activation", "loss", "optimizer", "dtype", "standardize")
"""The parameters that shape the fitted network: partial_fit refuses a change to them."""


class _MLP(BaseEstimator):
    """What the classifier and the regressor share; see the module's docstring."""

    _task = ""

    def __init__(self, hidden: int | tuple[int, ...] = (32,), activation: str = "relu",
                 loss: str = "auto", optimizer: str = "adam", lr: float = 0.01,
                 momentum: float = 0.0, weight_decay: float = 0.0, epochs: int = 20,
                 batch_size: int | None = 32, val_split: float = 0.0,
                 early_stopping: int | None = None, seed: int = 0, dtype: str = "float32",
                 standardize: bool = True, trace: bool = False) -> None:
        self.hidden = hidden
        self.activation = activation
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.val_split = val_split
        self.early_stopping = early_stopping
        self.seed = seed
        self.dtype = dtype
        self.standardize = standardize
        self.trace = trace

    # --- training ------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> Any:
        """Train a new network on (X, y) for `epochs` epochs (fewer if early stopping stops it).

        A run that diverges keeps its last finite weights and warns (ConvergenceWarning). A fit
        that fails (bad parameters or data) leaves the estimator as it was.
        """
        with self._all_or_nothing():
            config = self._config()
            X, y = self._validate(X, y, reset=True)
            dataset = self._dataset(X, self._targets(y, first=True, classes=None))
            self._train(config, prepare(config, dataset))
        return self

    def _partial_fit(self, X: Any, y: Any, classes: Any) -> Any:
        """partial_fit: one more epoch on (X, y), continuing from where fit or partial_fit
        left off."""
        first = not hasattr(self, "model_")
        with self._all_or_nothing():
            done = 0 if first else self.n_iter_
            config = self._config(epochs=done + 1, val_split=0.0, early_stopping=None)
            if not first:
                self._check_unchanged(config)
            X, y = self._validate(X, y, reset=first)
            dataset = self._dataset(X, self._targets(y, first, classes))
            scales = None if first else (self.model_.mean, self.model_.std)
            prepared = prepare(config, dataset, scales=scales)
            self._train(config, prepared, None if first else self._continuation(config))
        return self

    @contextlib.contextmanager
    def _all_or_nothing(self) -> Iterator[None]:
        """On any failure the estimator gets back every attribute it had (fit sets
        n_features_in_ and classes_ before training can fail)."""
        before = dict(self.__dict__)
        try:
            yield
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _validate(self, X: Any, y: Any, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        regression = self._task == "regression"
        return validate_data(self, X, y, reset=reset, dtype=np.float64, y_numeric=regression,
                             multi_output=regression)

    def _targets(self, y: np.ndarray, first: bool, classes: Any) -> np.ndarray:
        """y as the run's labels or target columns. On the first fit this sets what the
        targets say about the model: its classes (`classes`, or those of y), its outputs."""
        raise NotImplementedError

    def _dataset(self, X: np.ndarray, y: np.ndarray) -> datasets.Dataset:
        names = getattr(self, "feature_names_in_", None)
        features = [f"x{i}" for i in range(X.shape[1])] if names is None else list(names)
        return datasets.Dataset(f"{type(self).__name__}.fit", X, y, self._task, tuple(features),
                                self._target_names())

    def _target_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    def _config(self, **overrides: Any) -> TrainConfig:
        """The parameters as a chainrule TrainConfig, validated (every problem at once)."""
        values = {key: _plain(value) for key, value in self.get_params().items()}
        hidden = values["hidden"]
        values["hidden"] = [hidden] if isinstance(hidden, int) else list(hidden)
        return make_config(values | overrides, type(self).__name__, arrays=True)

    def _check_unchanged(self, config: TrainConfig) -> None:
        """partial_fit continues the fitted network, so what shapes it must not change."""
        fitted = self._fitted_config
        for key in SHAPING:
            if getattr(config, key) != getattr(fitted, key):
                raise ValueError(
                    f"{type(self).__name__}.partial_fit: {key} changed from "
                    f"{getattr(fitted, key)!r} to {getattr(config, key)!r} since the model was "
                    "fitted; partial_fit continues that network, so call fit to start over")

    def _train(self, config: TrainConfig, prepared: Any,
               resume: io.Checkpoint | None = None) -> None:
        """Train through chainrule's one run function and keep what the model needs. Ctrl-C
        stops at once, as KeyboardInterrupt: a grid search would take train's own exception
        for one failed fit and go on to the next."""
        try:
            result = train(config, prepared=prepared, resume=resume)
        except RunInterrupted:
            raise KeyboardInterrupt(f"{type(self).__name__}: training interrupted") from None
        if result.status == "diverged":
            warnings.warn(f"{type(self).__name__}: {result.error}; the model keeps the last "
                          "finite weights", ConvergenceWarning, stacklevel=4)
        self.model_ = TrainedModel.from_run(config, result.prepared, result.model)
        self.history_ = result.history
        self.loss_curve_ = result.history["loss"]
        self.n_iter_ = result.epochs
        self.status_ = result.status
        self._fitted_config = config
        self._steps = result.steps
        self._optimizer_state = result.optimizer.state_dict()

    def _continuation(self, config: TrainConfig) -> io.Checkpoint:
        """Where the last fit left off, as train's `resume` takes it: the weights, the
        optimizer's state with today's lr, momentum and weight decay, the history (an early
        stop forgotten), and a shuffling generator of its own for this epoch."""
        state = copy.deepcopy(self._optimizer_state)
        for key in ("lr", "momentum", "weight_decay"):
            if key in state["hyper"]:
                state["hyper"][key] = getattr(config, key)
        history = self.history_.to_dict() | {"stop_reason": None, "restored_epoch": None}
        shuffle = np.random.default_rng([self.seed, self.n_iter_]).bit_generator.state
        return io.Checkpoint(model=self.model_.network, optimizer_state=state,
                             epoch=self.n_iter_, step=self._steps, config=config.model_dump(),
                             rng_state=shuffle, scheduler_state=None, history=history,
                             metadata={})

    # --- using the fitted model ----------------------------------------------------------

    def _outputs(self, X: Any, network: Any = None) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.model_.outputs(X, network).astype(np.float64)

    def save(self, path: Any) -> None:
        """Write the fitted model as a chainrule model file (`chainrule predict` reads it)."""
        check_is_fitted(self, "model_")
        self.model_.save(path)

    def explain(self, x: Any, target: Any, **options: Any) -> Any:
        """One training step of the fitted network on the sample (x, target), written out as
        the chain rule (`chainrule.explain`; options go to it, e.g. max_weights, lr).

        x is one row of raw features, standardised here as the model standardises it, so the
        numbers are the network's own.
        """
        from chainrule.explain import explain

        check_is_fitted(self, "model_")
        row = np.asarray(x, dtype=np.float64)
        if row.ndim > 2 or (row.ndim == 2 and row.shape[0] != 1):
            raise ValueError(f"explain takes one sample, got an array of shape {row.shape}")
        row = row.reshape(-1)
        if row.shape[0] != self.n_features_in_:
            raise ValueError(f"x has {row.shape[0]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input")
        loss = self.model_.loss
        if loss == "bce_logits":
            raise ValueError("explain writes out bce on the sigmoid's output, not bce_logits; "
                             "fit with loss='bce' to explain the same network")
        options.setdefault("lr", self.lr)
        return explain(self.model_.network, self.model_.standardized(row[None])[0],
                       self._explain_target(target), loss, **options)

    def _explain_target(self, target: Any) -> Any:
        raise NotImplementedError


class MLPClassifier(ClassifierMixin, _MLP):
    """A multi-layer perceptron classifier trained by chainrule (cross-entropy by default;
    bce or bce_logits for two classes). Parameters: `chainrule train`'s options."""

    _task = "classification"

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """Train one more epoch on (X, y), continuing the weights, the optimizer and the
        history of the last fit or partial_fit; the first call needs `classes` (all of them).

        No validation data and no early stopping: each call is one pass over what it gets.
        The first call fixes the standardisation from its data.
        """
        if not hasattr(self, "model_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit (every "
                             "class the model will see, as np.unique(y) of all the data)")
        return self._partial_fit(X, y, classes)

    def _targets(self, y: np.ndarray, first: bool, classes: Any) -> np.ndarray:
        check_classification_targets(y)
        if first:
            self.classes_ = np.unique(y if classes is None else np.asarray(classes))
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes {np.unique(classes).tolist()} differ from the classes "
                             f"of the first call, {self.classes_.tolist()}")
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"y holds classes {unknown.tolist()[:5]} that are not among "
                             f"`classes` {self.classes_.tolist()[:10]}")
        return np.searchsorted(self.classes_, y)

    def _target_names(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.classes_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Each class's probability, one column per class in the order of `classes_`."""
        outputs = self._outputs(X)  # first: it checks that the model is fitted
        return self.model_.probabilities(outputs)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row (ties: the first in `classes_`)."""
        best = np.argmax(self.predict_proba(X), axis=1)
        return self.classes_[best]

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores that rank as the probabilities do: for two classes one column, the log-odds
        of the second class; otherwise the network's outputs (the logits of the softmax)."""
        if getattr(self, "model_", None) is not None and self.model_.loss == "bce":
            return self._outputs(X, self.model_.network[:-1])[:, 0]  # before the sigmoid
        outputs = self._outputs(X)
        if outputs.shape[1] == 1:  # bce_logits: the logit of the second class
            return outputs[:, 0]
        return outputs[:, 1] - outputs[:, 0] if outputs.shape[1] == 2 else outputs

    def _explain_target(self, target: Any) -> Any:
        index = np.flatnonzero(self.classes_ == target)
        if index.size == 0:
            raise ValueError(f"target {target!r} is not one of the classes "
                             f"{self.classes_.tolist()[:10]}")
        return [float(index[0])] if self.model_.loss in BINARY_LOSSES else int(index[0])


class MLPRegressor(RegressorMixin, _MLP):
    """A multi-layer perceptron regressor trained by chainrule (the notes' ½ Σ (t − y)² by
    default), with one output per target column. Parameters: `chainrule train`'s options."""

    _task = "regression"

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train one more epoch on (X, y), continuing the weights, the optimizer and the
        history of the last fit or partial_fit.

        No validation data and no early stopping: each call is one pass over what it gets.
        The first call fixes the standardisation from its data.
        """
        return self._partial_fit(X, y, None)

    def _targets(self, y: np.ndarray, first: bool, classes: Any) -> np.ndarray:
        columns = y.reshape(-1, 1) if y.ndim == 1 else y
        if first:
            self.n_outputs_ = columns.shape[1]
            self._one_column = y.ndim == 1  # predict returns what fit was given: 1-D or 2-D
        elif columns.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {columns.shape[1]} target columns but the model was "
                             f"fitted to {self.n_outputs_}")
        return columns

    def _target_names(self) -> tuple[str, ...]:
        return tuple(f"y{k}" for k in range(self.n_outputs_))

    def predict(self, X: Any) -> np.ndarray:
        outputs = self._outputs(X)
        return outputs[:, 0] if self._one_column else outputs

    def _explain_target(self, target: Any) -> Any:
        return np.atleast_1d(np.asarray(target, dtype=np.float64))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _plain(value: Any) -> Any:
    """NumPy scalars (as a parameter grid hands them over) as the Python numbers the
    configuration's strict types take."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value

