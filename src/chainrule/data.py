"""Data before the first forward pass: bundled datasets, CSV files, checks, splits, minibatches.

Everything here is plain NumPy and knows nothing of tensors or layers. Conventions:

- `X` is 2-D, shape (samples, features), float64 once it is in a `Dataset`. Integer and bool
  inputs are cast to a float dtype: to float64 by `Dataset` and `load_csv`, and to the model's
  parameter dtype (float32 by default) by `fit` and `predict`; so integer pixel counts need no
  conversion, but integers above 2**24 are rounded in float32.
- Classification targets `y` are 1-D integer labels 0..k-1, shape (samples,); `one_hot` turns
  them into the (samples, k) matrix that a squared-error loss wants.
- Regression targets `y` are 2-D, shape (samples, outputs), even with one output: a 1-D target
  would broadcast against a (samples, 1) prediction into a (samples, samples) error.
- Row and column numbers in error messages about arrays are 0-based, as in `X[5, 2]`; line
  numbers in errors about CSV files count every line of the file from 1, header included, as a
  text editor does.

Every problem with the data raises `DataError` with a message that says what is wrong and where.

Example:
    >>> from chainrule import data
    >>> ds = data.load("iris")
    >>> ds.X.shape, ds.n_classes
    ((150, 4), 3)
    >>> X_tr, y_tr, X_va, y_va = data.train_val_split(ds.X, ds.y, 0.2, seed=0, stratify=True)
    >>> len(y_tr), len(y_va)
    (120, 30)
"""

import contextlib
import csv
import difflib
import gzip
import io
import math
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from chainrule.errors import DataError
from chainrule.validate import is_finite_real, is_int, is_positive_int, is_real, show_bytes

Task = Literal["classification", "regression"]

DATASETS: tuple[str, ...] = (
    "xor", "worked-example", "spirals", "moons", "circles", "iris", "digits",
)
"""Names accepted by `load`."""

GENERATED: tuple[str, ...] = ("spirals", "moons", "circles")
"""The datasets drawn from a random generator; only these take `n_samples` and `noise`."""

_DEFAULT_N_SAMPLES = 400
_DEFAULT_NOISE = {"spirals": 0.05, "moons": 0.1, "circles": 0.05}
_MAX_AUTO_CLASSES = 50  # load_csv(task="auto"): more distinct integer targets means regression


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """Samples and targets with their names.

    Attributes:
        name: where the data came from ("iris", or a CSV file's stem).
        X: float64 array of shape (n_samples, n_features).
        y: classification: int64 labels 0..k-1, shape (n_samples,);
            regression: float64 targets, shape (n_samples, n_outputs).
        task: "classification" or "regression".
        feature_names: one name per column of X.
        target_names: classification: the class names, label i is target_names[i];
            regression: one name per column of y.

    The constructor checks everything with `validate` and casts X to float64 (integer pixel
    counts become floats) and labels to int64. Equality is identity (arrays have no single
    truth value); the arrays themselves stay writable.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    task: Task
    feature_names: tuple[str, ...]
    target_names: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_task(self.task)
        target_names = tuple(str(n) for n in self.target_names)
        n_classes = len(target_names) if self.task == "classification" else None
        validate(self.X, self.y, n_classes=n_classes, task=self.task)
        X = np.asarray(self.X, dtype=np.float64)
        y_dtype = np.int64 if self.task == "classification" else np.float64
        y = np.asarray(self.y, dtype=y_dtype)
        feature_names = tuple(str(n) for n in self.feature_names)
        if len(feature_names) != X.shape[1]:
            raise DataError(
                f"feature_names has {len(feature_names)} names but X has {X.shape[1]} columns"
            )
        if self.task == "regression" and len(target_names) != y.shape[1]:
            raise DataError(
                f"target_names has {len(target_names)} names but y has {y.shape[1]} columns"
            )
        # A frozen dataclass may still set its own fields while it is being built.
        object.__setattr__(self, "name", str(self.name))
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "feature_names", feature_names)
        object.__setattr__(self, "target_names", target_names)

    @property
    def n_samples(self) -> int:
        """Number of rows of X."""
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        """Number of columns of X."""
        return int(self.X.shape[1])

    @property
    def n_classes(self) -> int | None:
        """Number of classes k, or None for regression."""
        return len(self.target_names) if self.task == "classification" else None

    @property
    def n_outputs(self) -> int:
        """Width of the network's output layer: k classes, or the number of target columns."""
        if self.task == "classification":
            return len(self.target_names)
        return int(self.y.shape[1])

    def __repr__(self) -> str:
        if self.task == "classification":
            targets = f"{self.n_classes} classes"
        else:
            targets = f"{self.n_outputs} outputs"
        samples = f"{self.n_samples} sample{'s' if self.n_samples != 1 else ''}"
        features = f"{self.n_features} feature{'s' if self.n_features != 1 else ''}"
        return f"Dataset({self.name!r}, {self.task}, {samples} × {features}, {targets})"


# --------------------------------------------------------------------------------------------
# Named datasets
# --------------------------------------------------------------------------------------------


def load(
    name: str,
    *,
    seed: int = 0,
    n_samples: int | None = None,
    noise: float | None = None,
) -> Dataset:
    """Load one of the named datasets in `DATASETS`.

    - "xor": the 4 points of {0,1}², label x1 XOR x2 (2 classes). Not linearly separable.
    - "worked-example": the backprop notes' single sample, X = [[0.05, 0.10]], regression
      targets y = [[0.01, 0.99]] (inputs i1, i2; outputs o1, o2).
    - "spirals": two interleaved spirals, 2 classes (default 400 samples, noise 0.05).
    - "moons": two interleaved half-moons, 2 classes (default 400 samples, noise 0.1).
    - "circles": a disc inside a ring, 2 classes (default 400 samples, noise 0.05).
    - "iris": Fisher's 150 irises, 4 measurements in cm, 3 species.
    - "digits": UCI optical handwritten digits (test set), 1,797 8×8 images, 64 pixel counts
      0..16 read row by row, 10 classes.

    `seed`, `n_samples` and `noise` shape the generated sets only: the same seed gives the same
    points. `noise` is the standard deviation of Gaussian jitter added to each coordinate.
    Passing `n_samples` or `noise` for a fixed dataset raises DataError.

    Example:
        >>> load("spirals", seed=1, n_samples=100).X.shape
        (100, 2)
    """
    if name not in DATASETS:
        close = difflib.get_close_matches(str(name), DATASETS, n=1, cutoff=0.7)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DataError(
            f"unknown dataset {name!r}; available datasets: {', '.join(DATASETS)}{hint}"
        )
    if name in GENERATED:
        n = _DEFAULT_N_SAMPLES if n_samples is None else _check_n_samples(n_samples)
        sigma = _DEFAULT_NOISE[name] if noise is None else _check_noise(noise)
        rng = np.random.default_rng(seed)
        X, y = _GENERATORS[name](n, sigma, rng)
        return Dataset(name, X, y, "classification", ("x1", "x2"), ("0", "1"))

    for arg, value in (("n_samples", n_samples), ("noise", noise)):
        if value is not None:
            raise DataError(
                f"{arg} applies only to the generated datasets ({', '.join(GENERATED)}); "
                f"{name!r} is fixed"
            )
    if name == "xor":
        X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
        y = np.array([0, 1, 1, 0], dtype=np.int64)
        return Dataset("xor", X, y, "classification", ("x1", "x2"), ("0", "1"))
    if name == "worked-example":
        X = np.array([[0.05, 0.10]])
        y = np.array([[0.01, 0.99]])
        return Dataset("worked-example", X, y, "regression", ("i1", "i2"), ("o1", "o2"))
    if name == "iris":
        return _load_iris()
    return _load_digits()


def _check_n_samples(n_samples: int) -> int:
    if not is_int(n_samples) or n_samples < 2:
        raise DataError(
            f"n_samples must be an integer of at least 2 (one sample per class), got {n_samples!r}"
        )
    return int(n_samples)


def _check_noise(noise: object) -> float:
    if not is_finite_real(noise) or noise < 0:
        raise DataError(f"noise must be a finite number ≥ 0, got {noise!r}")
    return float(noise)


def _spirals(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two arms of an Archimedean spiral, half a turn apart, 1.5 turns each.

    Sample i has label i % 2 (so the classes differ in size by at most one). Its position
    along the arm is t ~ U(0, 1): radius r = 0.15 + 0.85·t, angle φ = 3π·t + π·label, and the
    point is r·(cos φ, sin φ) plus N(0, noise²) in each coordinate. Starting at r = 0.15 keeps
    the two arms apart at the centre.
    """
    labels = np.arange(n) % 2
    t = rng.uniform(0.0, 1.0, size=n)
    radius = 0.15 + 0.85 * t
    angle = 3.0 * np.pi * t + np.pi * labels
    X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    X += noise * rng.standard_normal((n, 2))
    return X, labels.astype(np.int64)


def _moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interlocking half circles of radius 1.

    Sample i has label i % 2 and angle θ ~ U(0, π). Label 0 lies on the upper arc
    (cos θ, sin θ); label 1 on the lower arc (1 − cos θ, 0.5 − sin θ), shifted so that each
    moon reaches into the other's hollow. Then N(0, noise²) is added to each coordinate.
    """
    labels = np.arange(n) % 2
    theta = rng.uniform(0.0, np.pi, size=n)
    upper = np.column_stack([np.cos(theta), np.sin(theta)])
    lower = np.column_stack([1.0 - np.cos(theta), 0.5 - np.sin(theta)])
    X = np.where(labels[:, None] == 0, upper, lower)
    X += noise * rng.standard_normal((n, 2))
    return X, labels.astype(np.int64)


def _circles(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A ring of radius 1 (label 0) around a circle of radius 0.5 (label 1), one centre.

    Sample i has label i % 2 and angle φ ~ U(0, 2π); it lies at r·(cos φ, sin φ) with r = 1
    or 0.5, plus N(0, noise²) in each coordinate. No straight line separates the classes,
    but a single hidden layer of three units can draw a closed boundary between them.
    """
    labels = np.arange(n) % 2
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    radius = np.where(labels == 0, 1.0, 0.5)
    X = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    X += noise * rng.standard_normal((n, 2))
    return X, labels.astype(np.int64)


_GENERATORS = {"spirals": _spirals, "moons": _moons, "circles": _circles}


def _bundled_text(filename: str) -> str:
    """The text of a file shipped in chainrule/datasets/ (gunzipped when it ends in .gz)."""
    raw = resources.files("chainrule").joinpath("datasets").joinpath(filename).read_bytes()
    if filename.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("ascii")


def _load_iris() -> Dataset:
    # First line: "150,4,setosa,versicolor,virginica"; then 4 measurements and a label 0..2.
    text = _bundled_text("iris.csv")
    first_line, _, body = text.partition("\n")
    n_rows, n_features, *class_names = first_line.strip().split(",")
    table = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2)
    _check_bundled("iris.csv", table, (int(n_rows), int(n_features) + 1))
    feature_names = (
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    )
    y = table[:, -1].astype(np.int64)
    return Dataset("iris", table[:, :-1], y, "classification", feature_names, tuple(class_names))


def _load_digits() -> Dataset:
    # 1,797 lines of 65 integers: 64 pixel counts (8×8, row by row), then the digit.
    text = _bundled_text("digits.csv.gz")
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    _check_bundled("digits.csv.gz", table, (1797, 65))
    feature_names = tuple(f"pixel_{row}_{col}" for row in range(8) for col in range(8))
    class_names = tuple(str(d) for d in range(10))
    return Dataset(
        "digits", table[:, :-1], table[:, -1], "classification", feature_names, class_names
    )


def _check_bundled(filename: str, table: np.ndarray, shape: tuple[int, int]) -> None:
    if table.shape != shape:
        raise DataError(
            f"the bundled file chainrule/datasets/{filename} is damaged: expected a table of "
            f"shape {shape} but read {table.shape}; reinstall chainrule"
        )


# --------------------------------------------------------------------------------------------
# CSV files
# --------------------------------------------------------------------------------------------


Header = bool | Literal["auto"]
"""How a CSV file's first line is read: True (column names), False (data), or "auto"."""


@dataclass(frozen=True, eq=False)
class Features:
    """What `read_features` read: the model's feature columns and how they were found.

    Attributes:
        X: float64 array of shape (n_rows, len(feature_names)), columns in the model's order.
        matched: "name" when the file has a header and each feature was picked by its name;
            "position" when the file has no header and its columns were taken in order.
        ignored: the names of the file's columns that are not features of the model (a
            target, an id), in file order; empty when matched by position.
    """

    X: np.ndarray
    matched: Literal["name", "position"]
    ignored: tuple[str, ...]

    @property
    def n_rows(self) -> int:
        """Number of data rows read (rows of X)."""
        return int(self.X.shape[0])


def load_csv(
    path: str | os.PathLike[str],
    target: str | int | None = None,
    *,
    task: Literal["auto", "classification", "regression"] = "auto",
    header: Header = "auto",
) -> Dataset:
    """Read a comma-separated file into a Dataset: one target column, every other a feature.

    Args:
        path: the CSV file (UTF-8; blank lines are skipped; cells are stripped of spaces;
            fields may be quoted with ").
        target: the target column, by name or by 0-based index; by default the last column.
            A file without a header has columns named "x0", "x1", ...
        task: "classification", "regression", or "auto": a target whose values are all
            integers (1, 2.0, ...) with at most 50 distinct values is classification; any
            other numeric target is regression; a target with any non-numeric value (e.g.
            "setosa") is classification.
        header: True: the first non-blank line holds the column names (believed even when
            they look like numbers). False: there is no header; every line is data. "auto":
            the first non-blank line is a header if and only if at least one of its non-empty
            fields is not a number as Python's float() reads it ("1", " -2.5e3", "nan" are
            numbers; "x1" is not; empty fields are not counted). So a line of numbers is data
            and never dropped. A headerless file whose first row holds text, such as a class
            name, needs header=False.

    Class labels become 0..k-1 in sorted order (numeric labels sorted as numbers, otherwise as
    strings), and target_names keeps the original labels: label i means target_names[i].
    Every feature value must be a finite number; empty cells, NaN and inf are refused with the
    file's line number (counting every line from 1, header and blank lines included) and the
    column's name. Values too large to standardise are not refused here; see
    `check_standardizable`. Reading holds little more memory than the float64 arrays it
    returns; a file too large for memory even so raises DataError (naming its size and the
    memory its values need as float64), not MemoryError.

    Example (a file with header "a,b,species"):
        ds = load_csv("flowers.csv", target="species")
    """
    if task not in ("auto", "classification", "regression"):
        raise DataError(f"task must be 'auto', 'classification' or 'regression', got {task!r}")
    _check_header_arg(header)
    path = Path(path)
    first = _first_record(path)
    has_header = _is_header(first.cells) if header == "auto" else bool(header)
    names = first.cells if has_header else _default_names(len(first.cells))
    _check_header(path, names)
    target_col = _target_column(path, names, target)
    feature_cols = [j for j in range(len(names)) if j != target_col]
    skip = first.end_line if has_header else first.end_line - first.n_lines
    with _memory_errors_named(path, len(names)):
        try:
            first_row = first.second if has_header else first.cells
            return _load_csv_fast(path, names, skip, feature_cols, target_col, task, first_row)
        except _Fallback:
            pass
        X, (labels, codes, lines) = _read_carefully(path, names, has_header, feature_cols,
                                                    target_col)
        y, resolved_task, target_names = _parse_target(labels, codes, lines, path,
                                                       names[target_col], task)
    feature_names = tuple(names[j] for j in feature_cols)
    return Dataset(path.stem, X, y, resolved_task, feature_names, target_names)


def read_features(
    path: str | os.PathLike[str],
    feature_names: Sequence[str],
    *,
    header: Header = "auto",
) -> Features:
    """The model's feature columns of a CSV file, and how they were matched.

    This is what a trained model predicts from (`chainrule predict`).

    - A file with a header (see `load_csv` for `header`, and for "auto"'s rule): columns are
      found by name, in the order of `feature_names`; the file's other columns (a target, an
      id) are ignored and listed in `Features.ignored`. If any feature is missing, DataError
      names the missing and the unexpected columns, e.g. "table.csv does not have the model's
      3 features: missing column c; unexpected column label". Columns are never taken by
      position from a file with a header.
    - A file without a header: its columns are the features in order (`matched="position"`);
      it must have exactly len(feature_names) columns, else DataError names both widths.

    The rules of `load_csv` apply: UTF-8, blank lines skipped, cells stripped, every value a
    finite number, and errors name the file, line and column.
    """
    _check_header_arg(header)
    path = Path(path)
    names = [str(name) for name in feature_names]
    first = _first_record(path)
    has_header = _is_header(first.cells) if header == "auto" else bool(header)
    if has_header:
        file_names = first.cells
        _check_unique_names(path, file_names)
        missing = [name for name in names if name not in file_names]
        if missing:
            unexpected = [name for name in file_names if name not in names]
            raise DataError(_mismatch_message(path, len(names), missing, unexpected))
        columns = [file_names.index(name) for name in names]
        ignored = tuple(name for name in file_names if name not in names)
        matched: Literal["name", "position"] = "name"
        skip = first.end_line
    else:
        width = len(first.cells)
        if width != len(names):
            why = "its first line is all numbers" if header == "auto" else "header=False"
            raise DataError(
                f"{path} has no header line ({why}) and {width} column"
                f"{'s' if width != 1 else ''}, but the model expects {len(names)} features; "
                f"without a header, columns are matched by position, so the counts must agree "
                f"(or add a header line naming the columns: {_preview(names)})"
            )
        file_names = _default_names(width)
        columns = list(range(width))
        ignored = ()
        matched = "position"
        skip = first.end_line - first.n_lines
    with _memory_errors_named(path, len(file_names)):
        try:
            X = _features_fast(path, len(file_names), skip, columns)
        except _Fallback:
            X, _ = _read_carefully(path, file_names, has_header, columns)
    return Features(X, matched, ignored)


def load_features(
    path: str | os.PathLike[str],
    feature_names: Sequence[str],
    *,
    header: Header = "auto",
) -> np.ndarray:
    """`read_features(path, feature_names, header=header).X`: float64, (samples, features)."""
    return read_features(path, feature_names, header=header).X


def check_standardizable(
    X: ArrayLike,
    feature_names: Sequence[str] | None = None,
    path: str | os.PathLike[str] | None = None,
) -> None:
    """Raise DataError if standardising X column by column, (X - mean) / std, would overflow.

    Finite values near the float64 limit (about ±1.8e308; for the std, beyond about 1e154,
    whose squares overflow) make a column's mean or std infinite, and the standardised column
    becomes NaN or 0. The error names the value of largest magnitude in the first such
    column: "table.csv: value 1e+308 in data row 3 (X[2, 1]), column 'b' is too large to
    standardise (its column's mean/std overflow); rescale that column". Data rows count from 1
    in file order, not counting the header line or blank lines; X[i, j] is 0-based. Without
    `feature_names` the column is named by its index. X must be finite (see `validate`).
    """
    X_arr = numeric_array(X, "X")
    if X_arr.ndim != 2:
        raise DataError(_not_2d_message(X_arr))
    if X_arr.dtype.kind != "f" or X_arr.shape[0] == 0:
        return  # bools and int64 stay far below the float64 limit
    with np.errstate(over="ignore", invalid="ignore"):
        mean = X_arr.mean(axis=0)
        std = X_arr.std(axis=0)
        spread = np.maximum(X_arr.max(axis=0) - mean, mean - X_arr.min(axis=0))
    bad = ~(np.isfinite(mean) & np.isfinite(std) & np.isfinite(spread))
    if not bad.any():
        return
    j = int(np.flatnonzero(bad)[0])
    column = X_arr[:, j]
    i = int(np.argmax(np.abs(column)))
    name = repr(str(feature_names[j])) if feature_names is not None else str(j)
    where = f"{path}: " if path is not None else ""
    raise DataError(
        f"{where}value {float(column[i]):g} in data row {i + 1} (X[{i}, {j}]), column {name} "
        f"is too large to standardise (its column's mean/std overflow); rescale that column"
    )


# How the CSV reader works. The fast path hands the file to np.loadtxt (NumPy's C parser,
# which streams the file and fills one float64 array) after the first record has been read and
# the header decided here. Anything it does not accept, or anything to refuse (a wrong width,
# an empty cell, NaN, a bad target), raises _Fallback, and the careful reader reads the file
# again cell by cell with the csv module: it returns the same values where the fast path
# merely did not understand a cell (e.g. "1_000", a line of spaces), and otherwise raises the
# precise error, with the line and the column. Both keep numbers, never text, so either holds
# about the float64 array it returns; a file too large for memory even so is a DataError
# (_memory_errors_named), not a MemoryError.


@contextlib.contextmanager
def _memory_errors_named(path: Path, n_columns: int) -> Iterator[None]:
    """Turn a MemoryError while reading `path` into a DataError that says how large it is."""
    try:
        yield
    except MemoryError:
        raise DataError(_too_large_message(path, n_columns)) from None


def _too_large_message(path: Path, n_columns: int) -> str:
    size = path.stat().st_size
    with path.open("rb") as f:
        sample = f.read(1 << 16)  # the rows' mean length, from the first 64 KiB
    n_rows = size * max(sample.count(b"\n"), 1) / max(len(sample), 1)
    return (
        f"{path} is too large to read into memory: its {show_bytes(size)} of text hold about "
        f"{show_bytes(n_rows * n_columns * 8)} of float64 numbers (estimated from its first "
        f"lines), and there was not enough free memory for them; read a sample of its rows, "
        f"or use a machine with more memory"
    )


class _Fallback(Exception):
    """The fast path cannot read the file, or found something to refuse; read it carefully."""


@dataclass(frozen=True)
class _FirstRecord:
    cells: list[str]  # stripped
    end_line: int  # the line (from 1) on which the record ends
    n_lines: int  # how many lines it spans (more than 1 if a quoted cell holds a newline)
    second: list[str] | None  # the next non-blank record, stripped, if there is one


def _first_record(path: Path) -> _FirstRecord:
    """The first two non-blank records of a CSV file; DataError if there is none."""
    _check_file(path)
    found: list[tuple[list[str], int, int]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            before = 0
            for cells in reader:
                stripped = [cell.strip() for cell in cells]
                if any(stripped):
                    found.append((stripped, reader.line_num, reader.line_num - before))
                    if len(found) == 2:
                        break
                before = reader.line_num
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not a UTF-8 text file ({exc})") from exc
    except csv.Error as exc:
        raise DataError(f"{path} is not valid CSV: {exc}") from exc
    if not found:
        raise DataError(f"{path} is empty: no header and no data rows")
    cells, end_line, n_lines = found[0]
    return _FirstRecord(cells, end_line, n_lines, found[1][0] if len(found) == 2 else None)


def _check_header_arg(header: object) -> None:
    if header is not True and header is not False and header != "auto":
        raise DataError(f"header must be True, False or 'auto', got {header!r}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_header(cells: list[str]) -> bool:
    """header="auto": a header iff some non-empty field is not a number."""
    return any(cell != "" and not _is_number(cell) for cell in cells)


def _default_names(n: int) -> list[str]:
    return [f"x{j}" for j in range(n)]


def _preview(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" … ({len(names)} in all)" if len(names) > limit else "")


def _mismatch_message(path: Path, n: int, missing: list[str], unexpected: list[str]) -> str:
    parts = [f"missing column{'s' if len(missing) > 1 else ''} {_preview(missing)}"]
    if unexpected:
        parts.append(f"unexpected column{'s' if len(unexpected) > 1 else ''} "
                     f"{_preview(unexpected)}")
    return f"{path} does not have the model's {n} features: {'; '.join(parts)}"


def _target_column(path: Path, names: list[str], target: str | int | None) -> int:
    if target is None:
        return len(names) - 1
    if isinstance(target, str):
        if target in names:
            return names.index(target)
        raise DataError(
            f"target column {target!r} not found in {path}; the columns are: {', '.join(names)}"
        )
    if is_int(target):
        if 0 <= target < len(names):
            return int(target)
        raise DataError(
            f"target column index {target} is out of range for {path}, which has "
            f"{len(names)} columns (0-based indices 0..{len(names) - 1})"
        )
    raise DataError(f"target must be a column name or a 0-based index, got {target!r}")


def _loadtxt(path: Path, skip: int, n_columns: int,
             converters: dict[int, Callable[[str], float]] | None = None) -> np.ndarray:
    """The data rows after the first `skip` lines as float64 (rows, n_columns), or _Fallback."""
    try:
        with path.open(encoding="utf-8-sig") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": checked below
            table = np.loadtxt(f, dtype=np.float64, delimiter=",", comments=None,
                               quotechar='"', skiprows=skip, ndmin=2, converters=converters)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise _Fallback from exc
    if table.shape[0] == 0 or table.shape[1] != n_columns:
        raise _Fallback
    return table


def _finite_columns(table: np.ndarray, columns: list[int]) -> np.ndarray:
    """table[:, columns], a view when they are consecutive; _Fallback if any is not finite."""
    n = len(columns)
    if n and columns == list(range(columns[0], columns[0] + n)):
        X = table[:, columns[0] : columns[0] + n]
    else:
        X = table[:, columns]
    if not np.isfinite(X).all():
        raise _Fallback
    return X


def _features_fast(path: Path, n_columns: int, skip: int, columns: list[int]) -> np.ndarray:
    # Columns the model does not use may hold anything, text included: read them as 0.
    unused = {j: _zero for j in range(n_columns) if j not in set(columns)}
    return _finite_columns(_loadtxt(path, skip, n_columns, unused or None), columns)


def _zero(_text: str) -> float:
    return 0.0


def _load_csv_fast(path: Path, names: list[str], skip: int, feature_cols: list[int],
                   target_col: int, task: Literal["auto", "classification", "regression"],
                   first_row: list[str] | None) -> Dataset:
    column = names[target_col]
    if first_row is not None and _is_number(first_row[target_col]):
        # A numeric target (judging by the first row): all of the table is numbers.
        table = _loadtxt(path, skip, len(names))
        y, resolved_task, target_names = _numeric_target(table[:, target_col], column, task)
    else:
        # Read the target column as codes: the index of each cell's stripped text among the
        # distinct texts, in order of first appearance.
        code_of: dict[str, int] = {}

        def code(text: str) -> float:
            return code_of.setdefault(text.strip(), len(code_of))

        table = _loadtxt(path, skip, len(names), {target_col: code})
        codes = table[:, target_col].astype(np.int64)
        y, resolved_task, target_names = _parse_target(list(code_of), codes, None, path,
                                                       column, task)
    # y is a copy: the features take the table's memory, the columns after the target moved
    # one to the left (rather than a copy of them all, which would double the peak).
    for j in range(target_col, len(names) - 1):
        table[:, j] = table[:, j + 1]
    X = _finite_columns(table, list(range(len(names) - 1)))
    feature_names = tuple(names[j] for j in feature_cols)
    return Dataset(path.stem, X, y, resolved_task, feature_names, target_names)


def _numeric_target(values: np.ndarray, column: str,
                    task: Literal["auto", "classification", "regression"]
                    ) -> tuple[np.ndarray, Task, tuple[str, ...]]:
    """`_parse_target` for a target column that NumPy read as numbers, decided the same way."""
    if not np.isfinite(values).all():
        raise _Fallback
    if task != "regression":
        integral = bool((values == np.round(values)).all())
        classes = np.unique(values)
        if integral and (task == "classification" or len(classes) <= _MAX_AUTO_CLASSES):
            y = np.searchsorted(classes, values).astype(np.int64)
            return y, "classification", tuple(str(int(c)) for c in classes)
        if task == "classification":
            raise _Fallback  # a label that is not an integer: the careful reader names it
    return values.reshape(-1, 1).copy(), "regression", (column,)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"CSV file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a CSV file")


def _read_carefully(
    path: Path, names: list[str], has_header: bool, columns: list[int],
    target_col: int | None = None,
) -> tuple[np.ndarray, tuple[list[str], np.ndarray, list[int]]]:
    """The careful reader, in one pass: every row checked to have one cell per column and
    every cell of `columns` to be a finite number, so that the first error names its line and
    column. Returns the float64 matrix of `columns` and the target column as (its distinct
    texts in order of first appearance, each row's index among them, the line on which each
    text first appears). Each row is stored as numbers as soon as it is read, never as text,
    into arrays sized by the file's line breaks (an upper bound on its rows: the pages of
    rows never written are never touched), so it holds about what it returns."""
    capacity = _count_line_breaks(path) + 1
    X = np.empty((capacity, len(columns)), dtype=np.float64)
    codes = np.empty(capacity, dtype=np.int64)
    code_of: dict[str, int] = {}
    first_lines: list[int] = []
    rows = _read_csv_rows(path)
    if has_header:
        next(rows)
    n_rows = 0
    for i, (line, cells) in enumerate(rows):
        if len(cells) != len(names):
            raise DataError(
                f"{path}, line {line}: expected {len(names)} values (one per column) "
                f"but found {len(cells)}"
            )
        X[i] = [_parse_number(cells[j], path, line, names[j]) for j in columns]
        if target_col is not None:
            codes[i] = code_of.setdefault(cells[target_col], len(code_of))
            if codes[i] == len(first_lines):
                first_lines.append(line)
        n_rows = i + 1
    if n_rows == 0:
        raise DataError(f"{path} has a header but no data rows")
    return X[:n_rows], (list(code_of), codes[:n_rows], first_lines)


def _count_line_breaks(path: Path) -> int:
    """How many \\n and \\r bytes the file holds (a \\r\\n pair counts twice)."""
    count = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 16):
            count += chunk.count(b"\n") + chunk.count(b"\r")
    return count


def _read_csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """The non-blank rows of a CSV file as (line number, stripped cells), one at a time."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            for cells in reader:
                stripped = [cell.strip() for cell in cells]
                if any(stripped):
                    yield reader.line_num, stripped
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not a UTF-8 text file ({exc})") from exc
    except csv.Error as exc:
        raise DataError(f"{path} is not valid CSV: {exc}") from exc


def _check_header(path: Path, header: list[str]) -> None:
    if len(header) < 2:
        raise DataError(
            f"{path} has only one column ({header[0]!r}); it needs at least one feature "
            f"column and one target column, separated by commas"
        )
    _check_unique_names(path, header)


def _check_unique_names(path: Path, header: list[str]) -> None:
    seen: dict[str, int] = {}
    for j, name in enumerate(header):
        if name in seen:
            raise DataError(
                f"{path}: column name {name!r} appears twice (columns {seen[name]} and {j}, "
                f"0-based); rename one"
            )
        seen[name] = j


def _parse_number(text: str, path: Path, line: int, column: str) -> float:
    where = f"{path}, line {line}, column {column!r}"
    if text == "":
        raise DataError(f"{where}: the value is missing (empty cell)")
    try:
        value = float(text)
    except ValueError:
        raise DataError(
            f"{where}: {text!r} is not a number (encode text features as numbers, "
            f"or drop the column)"
        ) from None
    if not math.isfinite(value):
        raise DataError(f"{where}: {text!r} is not a finite number (NaN and inf are refused)")
    return value


def _parse_target(
    labels: list[str],
    codes: np.ndarray,
    lines: list[int] | None,
    path: Path,
    column: str,
    task: Literal["auto", "classification", "regression"],
) -> tuple[np.ndarray, Task, tuple[str, ...]]:
    """Targets from their text: (y, the task it resolved to, target_names).

    `labels` are the distinct texts of the target column in order of first appearance and
    `codes` index them, one per row, so the first bad label is the first bad cell. `lines` are
    the labels' first lines; without them (the fast path) an error raises _Fallback instead.
    """

    def fail(k: int, problem: str) -> DataError:
        if lines is None:
            raise _Fallback
        return DataError(f"{path}, line {lines[k]}, column {column!r}: {problem}")

    values: list[float | None] = []
    for k, text in enumerate(labels):
        if text == "":
            raise fail(k, "the target is missing (empty cell)")
        try:
            value = float(text)
        except ValueError:
            values.append(None)
            continue
        if not math.isfinite(value):
            raise fail(k, f"target {text!r} is not a finite number")
        values.append(value)

    numeric = all(v is not None for v in values)
    if task == "regression":
        if not numeric:
            k = values.index(None)
            raise fail(k, f"target {labels[k]!r} is not a number (task='regression' needs "
                          f"numeric targets)")
        y = np.array(values, dtype=np.float64)[codes].reshape(-1, 1)
        return y, "regression", (column,)

    numbers_only = [v for v in values if v is not None]
    integral = numeric and all(v.is_integer() for v in numbers_only)
    if task == "auto" and numeric:
        few = len(set(numbers_only)) <= _MAX_AUTO_CLASSES
        if not (integral and few):
            y = np.array(numbers_only, dtype=np.float64)[codes].reshape(-1, 1)
            return y, "regression", (column,)

    if numeric:
        if not integral:
            k = next(k for k, v in enumerate(numbers_only) if not v.is_integer())
            raise fail(k, f"class label {labels[k]!r} is not an integer; use task='regression' "
                          f"for continuous targets")
        int_labels = [int(v) for v in numbers_only]
        classes = sorted(set(int_labels))
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[c] for c in int_labels], dtype=np.int64)[codes]
        return y, "classification", tuple(str(c) for c in classes)

    names = sorted(labels)
    index_of = {name: i for i, name in enumerate(names)}
    y = np.array([index_of[t] for t in labels], dtype=np.int64)[codes]
    return y, "classification", tuple(names)


# --------------------------------------------------------------------------------------------
# Checks before training
# --------------------------------------------------------------------------------------------


def validate(
    X: ArrayLike,
    y: ArrayLike | None = None,
    *,
    n_features: int | None = None,
    n_classes: int | None = None,
    task: Task | None = None,
) -> None:
    """Raise DataError if X (and y) cannot be used for training or prediction; else return None.

    Checks, in order: X is a rectangular numeric array (bool, integer or float; integer X is
    fine, training casts it to float), is 2-D, is not empty, has `n_features` columns when
    given, and holds no NaN or inf. Then y: numeric, one entry per row of X, finite, and

    - classification (`task="classification"`, or `n_classes` given without a task): 1-D
      integer-valued labels (an integer dtype, or floats such as 2.0), none negative, all below
      `n_classes` when given;
    - regression: 2-D, shape (samples, outputs).

    Messages give the first bad location, 0-based: "X contains NaN at row 5, column 2".

    Example:
        >>> validate([[0.0, 1.0], [1.0, 0.0]], [0, 1], n_classes=2)
    """
    if task is not None:
        _check_task(task)
    X_arr = numeric_array(X, "X")
    if X_arr.ndim != 2:
        raise DataError(_not_2d_message(X_arr))
    if X_arr.shape[0] == 0:
        raise DataError(f"X is empty: it has no rows (shape {X_arr.shape})")
    if X_arr.shape[1] == 0:
        raise DataError(f"X has no columns (shape {X_arr.shape}): each sample needs a feature")
    if n_features is not None and X_arr.shape[1] != n_features:
        raise DataError(
            f"X has {X_arr.shape[1]} columns but the model expects {n_features} features"
        )
    _check_finite(X_arr, "X")
    if y is None:
        return

    y_arr = numeric_array(y, "y")
    if y_arr.ndim == 0:
        raise DataError("y is a single number; it needs one target per row of X")
    if y_arr.shape[0] != X_arr.shape[0]:
        raise DataError(f"X has {X_arr.shape[0]} rows but y has {y_arr.shape[0]}")
    _check_finite(y_arr, "y")
    if task == "classification" or (task is None and n_classes is not None):
        _check_labels(y_arr, n_classes)
    elif task == "regression" and y_arr.ndim != 2:
        hint = " (use y.reshape(-1, 1) for a single output)" if y_arr.ndim == 1 else ""
        raise DataError(
            f"regression targets y must be 2-D (samples, outputs) but y has shape "
            f"{y_arr.shape}{hint}"
        )
    elif y_arr.ndim > 2:
        raise DataError(f"y must be 1-D labels or 2-D targets but has shape {y_arr.shape}")


def _check_task(task: object) -> None:
    if task not in ("classification", "regression"):
        raise DataError(f"task must be 'classification' or 'regression', got {task!r}")


def numeric_array(value: ArrayLike, name: str) -> np.ndarray:
    """`value` as an array of bools, integers or floats, or a DataError saying why not."""
    try:
        arr = np.asarray(value)
    except ValueError:  # nested lists of different lengths
        raise DataError(_ragged_message(value, name)) from None
    kind = arr.dtype.kind
    if kind in "biuf":
        return arr
    if kind in "US":
        fix = (
            "encode class labels as integers 0..k-1 (load_csv does this)"
            if name == "y"
            else "convert them to numbers"
        )
        raise DataError(f"{name} contains strings (dtype {arr.dtype}); {fix}")
    if kind == "c":
        raise DataError(f"{name} is complex (dtype {arr.dtype}); only real numbers can be used")
    if kind == "O":
        raise DataError(
            f"{name} has dtype object (mixed types, or None for missing values?); "
            f"convert it with np.asarray({name}, dtype=float) after fixing the bad entries"
        )
    raise DataError(f"{name} has dtype {arr.dtype}; it must hold numbers")


def _ragged_message(value: object, name: str) -> str:
    """Which rows of a nested list differ in length, e.g. "row 0 has 2 values but row 3 has 1"."""
    rows = list(value) if isinstance(value, Sequence) else []
    lengths = [len(row) if isinstance(row, Sequence) and not isinstance(row, str) else None
               for row in rows]
    first = next((i for i, n in enumerate(lengths) if n != lengths[0]), None)
    if first is None or lengths[0] is None or lengths[first] is None:
        return f"{name} is not a rectangular array: its rows have different lengths or shapes"
    return (f"{name} is not a rectangular array: its rows have different lengths (row 0 has "
            f"{lengths[0]} values but row {first} has {lengths[first]})")


def _not_2d_message(X: np.ndarray) -> str:
    if X.ndim == 0:
        return "X is a single number; it must be 2-D (samples, features), e.g. [[x]]"
    if X.ndim == 1:
        n = X.shape[0]
        return (
            f"X must be 2-D (samples, features) but has shape {X.shape}; use X.reshape(-1, 1) "
            f"if it holds {n} samples of one feature, or X.reshape(1, -1) if it is one sample "
            f"of {n} features"
        )
    return (
        f"X must be 2-D (samples, features) but has shape {X.shape}; flatten each sample "
        f"with X.reshape(len(X), -1)"
    )


def _check_finite(arr: np.ndarray, name: str) -> None:
    if arr.dtype.kind != "f":
        return  # bools and integers cannot be NaN or inf
    bad = ~np.isfinite(arr)
    if not bad.any():
        return
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    value = arr[first]
    what = "NaN" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    count = int(bad.sum())
    also = f" ({count} non-finite values in all)" if count > 1 else ""
    raise DataError(f"{name} contains {what} at {_location(first, name)}{also}")


def _location(index: tuple[int, ...], name: str) -> str:
    subscript = f"{name}[{', '.join(str(i) for i in index)}]"
    if len(index) == 1:
        return f"index {index[0]} ({subscript})"
    if len(index) == 2:
        return f"row {index[0]}, column {index[1]} ({subscript})"
    return subscript


def _label_range(n_classes: int | None) -> str:
    if n_classes is None:
        return "0..k-1"
    return "0" if n_classes == 1 else f"0..{n_classes - 1}"


def _check_labels(y: np.ndarray, n_classes: int | None) -> None:
    """Class labels: 1-D, integer-valued, in 0..n_classes-1. y is numeric and finite."""
    if n_classes is not None and not is_positive_int(n_classes):
        raise DataError(f"n_classes must be a positive integer, got {n_classes!r}")
    if y.ndim != 1:
        if y.ndim == 2 and y.shape[1] == 1:
            hint = "; use y.ravel()"
        elif y.ndim == 2:
            hint = "; if y is one-hot, use y.argmax(axis=1)"
        else:
            hint = ""
        raise DataError(
            f"class labels y must be 1-D (one integer label per sample) but y has shape "
            f"{y.shape}{hint}"
        )
    labels_must_be = f"labels must be {_label_range(n_classes)}"
    if y.dtype.kind == "f":
        fractional = np.flatnonzero(y != np.round(y))
        if fractional.size:
            i = int(fractional[0])
            raise DataError(
                f"y contains non-integer label {float(y[i])} at index {i}; class labels must be "
                f"integers ({labels_must_be})"
            )
    negative = np.flatnonzero(y < 0)
    if negative.size:
        i = int(negative[0])
        raise DataError(f"y contains negative label {int(y[i])} at index {i} ({labels_must_be})")
    if n_classes is not None:
        too_big = np.flatnonzero(y >= n_classes)
        if too_big.size:
            i = int(too_big[0])
            raise DataError(
                f"y contains label {int(y[i])} but the model has {n_classes} classes "
                f"({labels_must_be}); first at index {i}"
            )


# --------------------------------------------------------------------------------------------
# Splits, minibatches, one-hot targets
# --------------------------------------------------------------------------------------------


def train_val_split(
    X: ArrayLike,
    y: ArrayLike,
    val_fraction: float = 0.2,
    *,
    seed: int = 0,
    stratify: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle rows with a seeded generator and hold out a fraction for validation.

    The validation part has round(val_fraction · n) rows. With `stratify=True` (1-D class
    labels only), each class is split in the same proportion, so the class mix of both parts
    matches the whole; per-class counts are rounded by largest remainder to keep the total.
    The same seed always gives the same split.

    Returns:
        (X_train, y_train, X_val, y_val), rows in shuffled order.

    Example:
        >>> X_tr, y_tr, X_va, y_va = train_val_split(np.zeros((10, 2)), np.arange(10), 0.3)
        >>> X_tr.shape, X_va.shape
        ((7, 2), (3, 2))
    """
    X_arr, y_arr = _paired(X, y)
    if not is_real(val_fraction) or not 0 < val_fraction < 1:
        raise DataError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction!r}")
    n = X_arr.shape[0]
    n_val = round(val_fraction * n)
    if n_val == 0 or n_val == n:
        empty = "validation" if n_val == 0 else "training"
        raise DataError(
            f"val_fraction={val_fraction} of {n} samples leaves the {empty} set empty; "
            f"use more data or a different val_fraction"
        )
    rng = np.random.default_rng(seed)
    if stratify:
        val_idx, train_idx = _stratified_indices(y_arr, n_val, float(val_fraction), rng)
    else:
        order = rng.permutation(n)
        val_idx, train_idx = order[:n_val], order[n_val:]
    return X_arr[train_idx], y_arr[train_idx], X_arr[val_idx], y_arr[val_idx]


def _stratified_indices(
    y: np.ndarray, n_val: int, val_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Validation and training row indices that keep each class's share."""
    if y.ndim != 1:
        raise DataError(f"stratify=True needs 1-D class labels y, but y has shape {y.shape}")
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        lonely = classes[np.argmin(counts)].item()
        raise DataError(
            f"stratify=True needs at least 2 samples of every class, but class {lonely!r} has 1"
        )
    # Largest remainder: every class gets floor(share), then the classes with the largest
    # fractional parts get one more each until the counts add up to n_val.
    shares = val_fraction * counts
    per_class = np.floor(shares).astype(np.int64)
    leftover = n_val - int(per_class.sum())
    by_remainder = np.argsort(-(shares - per_class), kind="stable")
    per_class[by_remainder[:leftover]] += 1

    val_parts, train_parts = [], []
    for c, k in zip(classes, per_class, strict=True):
        members = rng.permutation(np.flatnonzero(y == c))
        val_parts.append(members[:k])
        train_parts.append(members[k:])
    val_idx = rng.permutation(np.concatenate(val_parts))
    train_idx = rng.permutation(np.concatenate(train_parts))
    return val_idx, train_idx


def batches(
    X: ArrayLike,
    y: ArrayLike,
    batch_size: int,
    *,
    shuffle: bool = True,
    rng: np.random.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Minibatches (X_batch, y_batch) covering every row once: one epoch.

    With `shuffle`, rows are visited in the order `rng.permutation(n)`; pass the same
    Generator across epochs for a fresh order each epoch, and a Generator seeded the same way
    for the same orders on every run (the default, None, draws an unseeded one). Without
    `shuffle`, rows come in order. The last batch holds the n % batch_size leftover rows,
    unless `drop_last` drops it. A batch_size larger than n gives one batch of all n rows,
    even with drop_last (dropping it would leave an epoch with no batches at all).

    Errors (batch_size < 1, X and y of different lengths, no rows) are raised here, at the
    call, not at the first `next()`.

    Example:
        >>> [len(xb) for xb, _ in batches(np.zeros((5, 2)), np.zeros(5), 2, shuffle=False)]
        [2, 2, 1]
    """
    X_arr, y_arr = _paired(X, y)
    if not is_positive_int(batch_size):
        raise DataError(f"batch_size must be a positive integer, got {batch_size!r}")
    n = X_arr.shape[0]
    size = min(int(batch_size), n)
    if shuffle:
        order = (rng if rng is not None else np.random.default_rng()).permutation(n)
    else:
        order = None
    stop = n - n % size if drop_last else n
    return _iterate_batches(X_arr, y_arr, order, size, stop)


def _iterate_batches(
    X: np.ndarray, y: np.ndarray, order: np.ndarray | None, size: int, stop: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, stop, size):
        if order is None:
            rows: slice | np.ndarray = slice(start, start + size)
        else:
            rows = order[start : start + size]
        yield X[rows], y[rows]


def _paired(X: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """X and y as arrays with the same, non-zero number of rows."""
    X_arr, y_arr = np.asarray(X), np.asarray(y)
    if X_arr.ndim == 0 or y_arr.ndim == 0:
        raise DataError(
            f"X and y must be arrays with one row per sample, got shapes {X_arr.shape} "
            f"and {y_arr.shape}"
        )
    if X_arr.shape[0] != y_arr.shape[0]:
        raise DataError(f"X has {X_arr.shape[0]} rows but y has {y_arr.shape[0]}")
    if X_arr.shape[0] == 0:
        raise DataError("X is empty: it has no rows")
    return X_arr, y_arr


def one_hot(y: ArrayLike, n_classes: int) -> np.ndarray:
    """Class labels as rows of the identity: out[i, y[i]] = 1, everything else 0.

    Shapes: y (n,) integer labels 0..n_classes-1 → float64 (n, n_classes).

    Example:
        >>> one_hot([2, 0], 3)
        array([[0., 0., 1.],
               [1., 0., 0.]])
    """
    if not is_positive_int(n_classes):
        raise DataError(f"n_classes must be a positive integer, got {n_classes!r}")
    y_arr = numeric_array(y, "y")
    _check_finite(y_arr, "y")
    _check_labels(y_arr, n_classes)
    out = np.zeros((y_arr.shape[0], n_classes), dtype=np.float64)
    out[np.arange(y_arr.shape[0]), y_arr.astype(np.int64)] = 1.0
    return out
