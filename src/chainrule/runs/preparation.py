"""The data of a run: loaded, its loss chosen, validation data split off, features standardised.

Everything here is checked before a run touches its folder or trains a step, so a mistake in
the data (one class, a value too large to standardise, a loss that does not fit) is reported
at once and leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chainrule import data as datasets
from chainrule.errors import ConfigError, DataError
from chainrule.runs.config import TrainConfig

BINARY_LOSSES = ("bce", "bce_logits")  # one output unit: the probability of the second class


@dataclass
class Prepared:
    """The data of a run, split and (optionally) standardized, with what predict needs."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray | None
    y_val: np.ndarray | None
    dataset: datasets.Dataset
    loss: str
    mean: np.ndarray
    std: np.ndarray

    @property
    def n_outputs(self) -> int:
        """The network's output units: 1 for two classes under bce or bce_logits."""
        if self.loss in BINARY_LOSSES and self.dataset.task == "classification":
            return 1
        return self.dataset.n_outputs


def load_dataset(config: TrainConfig) -> datasets.Dataset:
    if config.dataset is not None:
        return datasets.load(config.dataset, seed=config.seed)
    return datasets.load_csv(config.csv, target=config.target,  # type: ignore[arg-type]
                             header="auto" if config.header is None else config.header)  # type: ignore[arg-type]


def choose_loss(name: str, ds: datasets.Dataset) -> str:
    """The loss for `ds`: "auto" is cross_entropy for classes and half_sse otherwise.

    bce and bce_logits fit two classes (one output unit for the probability of the second
    class; bce puts a sigmoid after it) or regression targets between 0 and 1.
    """
    classification = ds.task == "classification"
    if name == "auto":
        return "cross_entropy" if classification else "half_sse"
    if classification and name in BINARY_LOSSES and ds.n_classes != 2:
        raise ConfigError(f"loss {name!r} fits two classes (one output unit) but {ds.name!r} "
                          f"has {ds.n_classes}; use cross_entropy")
    if classification and name not in (*BINARY_LOSSES, "cross_entropy"):
        raise ConfigError(f"loss {name!r} does not fit the classification data of "
                          f"{ds.name!r}; use cross_entropy (or bce_logits for two classes)")
    if not classification and name == "cross_entropy":
        raise ConfigError(f"loss 'cross_entropy' does not fit the regression data of "
                          f"{ds.name!r}; use half_sse or mse")
    if not classification and name in BINARY_LOSSES and not np.all((ds.y >= 0) & (ds.y <= 1)):
        raise ConfigError(f"loss {name!r} needs targets between 0 and 1, but those of "
                          f"{ds.name!r} range from {ds.y.min():g} to {ds.y.max():g}; use "
                          "half_sse or mse")
    return name


def _check_classes_can_split(ds: datasets.Dataset) -> None:
    """A validation split keeps the class mix, so every class needs two samples."""
    labels, counts = np.unique(ds.y, return_counts=True)
    if counts.min() < 2:
        name = ds.target_names[int(labels[counts.argmin()])]
        raise ConfigError(
            f"{ds.name!r} has only one sample of class {name!r}, too few to hold out "
            "validation data with the same mix of classes (each class needs 2); use more "
            "data, or train without validation: --val-split 0 (val_split = 0)"
        )


def prepare(config: TrainConfig, data: datasets.Dataset | None = None, *,
            scales: tuple[np.ndarray, np.ndarray] | None = None) -> Prepared:
    """Load the data, pick the loss, split off validation data and standardize the features.

    data: the data themselves, for a config made with `arrays=True` (the scikit-learn
    estimators: make_config in config.py); by default the config's dataset or CSV file.
    scales: the (mean, std) to standardise with instead of the data's own, to continue a run
    on new data (an estimator's partial_fit).
    Under bce or bce_logits two classes become one float column of 0s and 1s.
    """
    ds = load_dataset(config) if data is None else data
    loss = choose_loss(config.loss, ds)
    classification = ds.task == "classification"
    if classification:
        _check_several_classes(ds)
    X, y = ds.X, ds.y
    if config.val_split > 0 and ds.n_samples >= 5:
        if classification:
            _check_classes_can_split(ds)
        X, y, X_val, y_val = datasets.train_val_split(
            X, y, config.val_split, seed=config.seed, stratify=classification)
    else:
        X_val = y_val = None
    if loss in BINARY_LOSSES and classification:  # labels 0, 1 → a float column
        y = y.reshape(-1, 1).astype(np.float64)
        if y_val is not None:
            y_val = y_val.reshape(-1, 1).astype(np.float64)
    mean, std = np.zeros(X.shape[1]), np.ones(X.shape[1])
    if scales is not None:
        mean, std = scales
    elif config.standardize and len(X) > 1:
        mean, std = _column_scales(X, ds, config)
    standardize = (lambda A: (A - mean) / std)  # noqa: E731
    return Prepared(standardize(X), y, None if X_val is None else standardize(X_val), y_val,
                    ds, loss, mean, std)


def _check_several_classes(ds: datasets.Dataset) -> None:
    """A classifier needs two classes. They are counted among the data's class names, not its
    labels, so that a batch of one class may continue a run (partial_fit): a CSV's and a
    bundled dataset's names are the labels found."""
    if len(ds.target_names) < 2:
        names = ", ".join(repr(name) for name in ds.target_names)
        raise DataError(f"{ds.name!r}: the training labels hold {len(ds.target_names)} class "
                        f"({names}); a classifier needs at least 2 to learn anything")


def _column_scales(X: np.ndarray, ds: datasets.Dataset, config: TrainConfig
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's mean and standard deviation (1 for a constant feature). A value so large
    that they overflow is reported with its row and column in the file."""
    datasets.check_standardizable(ds.X, ds.feature_names, config.csv)
    mean, std = X.mean(axis=0), X.std(axis=0)
    std[std == 0] = 1.0
    return mean, std
