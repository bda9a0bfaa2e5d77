"""Tests for chainrule.data: bundled and generated datasets, CSV files, checks, splits, batches."""

import math
import re
import tracemalloc

import numpy as np
import pytest

from chainrule import data
from chainrule.data import Dataset
from chainrule.errors import DataError

# The UCI optdigits test set: number of images of each digit 0..9.
DIGIT_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


# --------------------------------------------------------------------------------------------
# load(): every named dataset
# --------------------------------------------------------------------------------------------

EXPECTED = {
    # name: (n_samples, n_features, task, n_outputs)
    "xor": (4, 2, "classification", 2),
    "worked-example": (1, 2, "regression", 2),
    "spirals": (400, 2, "classification", 2),
    "moons": (400, 2, "classification", 2),
    "circles": (400, 2, "classification", 2),
    "iris": (150, 4, "classification", 3),
    "digits": (1797, 64, "classification", 10),
}


def test_datasets_lists_every_name():
    assert data.DATASETS == (
        "xor", "worked-example", "spirals", "moons", "circles", "iris", "digits")
    assert set(EXPECTED) == set(data.DATASETS)


@pytest.mark.parametrize("name", data.DATASETS)
def test_every_dataset_loads_with_its_shapes(name):
    n, features, task, outputs = EXPECTED[name]
    ds = data.load(name)
    assert isinstance(ds, Dataset)
    assert ds.name == name
    assert ds.task == task
    assert ds.X.shape == (n, features)
    assert ds.X.dtype == np.float64
    assert (ds.n_samples, ds.n_features, ds.n_outputs) == (n, features, outputs)
    assert len(ds.feature_names) == features
    assert len(ds.target_names) == outputs
    if task == "classification":
        assert ds.y.shape == (n,)
        assert ds.y.dtype == np.int64
        assert ds.n_classes == outputs
        assert set(np.unique(ds.y)) == set(range(outputs))
    else:
        assert ds.y.shape == (n, outputs)
        assert ds.y.dtype == np.float64
        assert ds.n_classes is None
    assert np.isfinite(ds.X).all()


def test_xor_is_the_truth_table():
    ds = data.load("xor")
    np.testing.assert_array_equal(ds.X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(ds.y, [0, 1, 1, 0])
    np.testing.assert_array_equal(ds.y, np.logical_xor(ds.X[:, 0], ds.X[:, 1]))


def test_worked_example_is_the_notes_sample():
    ds = data.load("worked-example")
    np.testing.assert_array_equal(ds.X, [[0.05, 0.10]])
    np.testing.assert_array_equal(ds.y, [[0.01, 0.99]])
    assert ds.feature_names == ("i1", "i2")
    assert ds.target_names == ("o1", "o2")


def test_iris_is_fishers_data():
    ds = data.load("iris")
    assert ds.target_names == ("setosa", "versicolor", "virginica")
    assert ds.feature_names[0] == "sepal length (cm)"
    np.testing.assert_array_equal(np.bincount(ds.y), [50, 50, 50])
    np.testing.assert_array_equal(ds.X[0], [5.1, 3.5, 1.4, 0.2])
    np.testing.assert_array_equal(ds.X[-1], [5.9, 3.0, 5.1, 1.8])
    # Samples 35 and 38 (1-based) as in Fisher's paper, not the two wrong UCI values.
    np.testing.assert_array_equal(ds.X[34], [4.9, 3.1, 1.5, 0.2])
    np.testing.assert_array_equal(ds.X[37], [4.9, 3.6, 1.4, 0.1])
    # Column means of the iris data, well known to two decimals.
    np.testing.assert_allclose(ds.X.mean(axis=0), [5.843, 3.057, 3.758, 1.199], atol=1e-3)


def test_digits_is_the_uci_test_set():
    ds = data.load("digits")
    assert ds.X.shape == (1797, 64)
    assert ds.n_classes == 10
    assert ds.target_names == tuple("0123456789")
    np.testing.assert_array_equal(np.bincount(ds.y, minlength=10), DIGIT_COUNTS)
    assert ds.X.min() == 0 and ds.X.max() == 16
    np.testing.assert_array_equal(ds.X, np.round(ds.X))
    assert ds.feature_names[:2] == ("pixel_0_0", "pixel_0_1")
    assert ds.feature_names[-1] == "pixel_7_7"
    # The first image is a 0: its top row and its label.
    np.testing.assert_array_equal(ds.X[0, :8], [0, 0, 5, 13, 9, 1, 0, 0])
    assert ds.y[0] == 0


@pytest.mark.parametrize("name", ["spirals", "moons", "circles"])
def test_generated_sets_are_deterministic_per_seed(name):
    a = data.load(name, seed=3)
    b = data.load(name, seed=3)
    c = data.load(name, seed=4)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.allclose(a.X, c.X)


@pytest.mark.parametrize("name", ["spirals", "moons", "circles"])
def test_generated_sets_take_n_samples_and_noise(name):
    ds = data.load(name, n_samples=51, noise=0.0)
    assert ds.X.shape == (51, 2)
    np.testing.assert_array_equal(np.bincount(ds.y), [26, 25])
    noisy = data.load(name, n_samples=51, noise=0.3)
    assert not np.allclose(ds.X, noisy.X)


def test_moons_without_noise_lie_on_their_arcs():
    ds = data.load("moons", n_samples=200, noise=0.0)
    upper, lower = ds.X[ds.y == 0], ds.X[ds.y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    assert (upper[:, 1] >= 0).all()
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0)
    assert (lower[:, 1] <= 0.5).all()


def test_circles_without_noise_are_a_ring_around_a_circle():
    ds = data.load("circles", n_samples=200, noise=0.0)
    radius = np.hypot(ds.X[:, 0], ds.X[:, 1])
    np.testing.assert_allclose(radius[ds.y == 0], 1.0)
    np.testing.assert_allclose(radius[ds.y == 1], 0.5)
    angle = np.arctan2(ds.X[:, 1], ds.X[:, 0])
    assert angle.min() < -2.5 and angle.max() > 2.5  # all the way round, not an arc


def test_spirals_without_noise_are_two_arms_half_a_turn_apart():
    ds = data.load("spirals", n_samples=200, noise=0.0)
    radius = np.hypot(ds.X[:, 0], ds.X[:, 1])
    assert radius.min() >= 0.15 and radius.max() <= 1.0
    # Undo each arm's winding: angle = 3π·t + π·label with t = (r − 0.15)/0.85.
    t = (radius - 0.15) / 0.85
    expected = 3 * np.pi * t + np.pi * ds.y
    angle = np.arctan2(ds.X[:, 1], ds.X[:, 0])
    np.testing.assert_allclose(np.cos(angle - expected), 1.0, atol=1e-9)


def test_load_unknown_name_lists_the_available_ones():
    message = "unknown dataset 'mnist'; available datasets: xor, worked-example, spirals, moons"
    with pytest.raises(DataError, match=message) as error:
        data.load("mnist")
    assert "did you mean" not in str(error.value)
    with pytest.raises(DataError, match=r"did you mean 'iris'\?"):
        data.load("irs")


@pytest.mark.parametrize("kwargs", [{"n_samples": 10}, {"noise": 0.1}])
def test_load_refuses_generator_arguments_for_fixed_sets(kwargs):
    arg = next(iter(kwargs))
    with pytest.raises(DataError, match=f"{arg} applies only to the generated datasets"):
        data.load("iris", **kwargs)


@pytest.mark.parametrize("n_samples", [1, 0, -5, 2.5, True])
def test_load_rejects_bad_n_samples(n_samples):
    with pytest.raises(DataError, match="n_samples must be an integer of at least 2"):
        data.load("moons", n_samples=n_samples)


@pytest.mark.parametrize("noise", [-0.1, math.nan, math.inf])
def test_load_rejects_bad_noise(noise):
    with pytest.raises(DataError, match="noise must be a finite number ≥ 0"):
        data.load("spirals", noise=noise)


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------


def test_dataset_casts_integer_features_to_float():
    ds = Dataset("t", np.array([[1, 2], [3, 4]]), [0, 1], "classification", ["a", "b"], "xy")
    assert ds.X.dtype == np.float64
    assert ds.y.dtype == np.int64
    assert ds.feature_names == ("a", "b")
    assert ds.target_names == ("x", "y")
    assert repr(ds) == "Dataset('t', classification, 2 samples × 2 features, 2 classes)"


def test_dataset_is_frozen():
    ds = data.load("xor")
    with pytest.raises(AttributeError):
        ds.name = "other"  # type: ignore[misc]


def test_dataset_validates_its_labels_against_target_names():
    with pytest.raises(DataError, match=r"y contains label 2 but the model has 2 classes"):
        Dataset("t", np.zeros((3, 1)), [0, 1, 2], "classification", ("f",), ("a", "b"))


def test_dataset_checks_name_counts():
    with pytest.raises(DataError, match="feature_names has 1 names but X has 2 columns"):
        Dataset("t", np.zeros((2, 2)), [0, 1], "classification", ("f",), ("a", "b"))
    with pytest.raises(DataError, match="target_names has 1 names but y has 2 columns"):
        Dataset("t", np.zeros((2, 1)), np.zeros((2, 2)), "regression", ("f",), ("o",))


def test_dataset_rejects_unknown_task():
    with pytest.raises(DataError, match="task must be 'classification' or 'regression'"):
        Dataset("t", np.zeros((2, 1)), [0, 1], "clustering", ("f",), ("a", "b"))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# load_csv()
# --------------------------------------------------------------------------------------------


def write(tmp_path, text, name="table.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_csv_round_trips_iris_with_string_labels_and_target_by_name(tmp_path):
    iris = data.load("iris")
    # Put the species in the middle to check that target= picks the right column.
    lines = ["sepal_length,sepal_width,species,petal_length,petal_width"]
    for row, label in zip(iris.X, iris.y, strict=True):
        name = iris.target_names[label]
        lines.append(f"{row[0]},{row[1]},{name},{row[2]},{row[3]}")
    path = write(tmp_path, "\n".join(lines) + "\n", "flowers.csv")

    ds = data.load_csv(path, target="species")
    assert ds.name == "flowers"
    assert ds.task == "classification"
    assert ds.feature_names == ("sepal_length", "sepal_width", "petal_length", "petal_width")
    assert ds.target_names == ("setosa", "versicolor", "virginica")
    np.testing.assert_array_equal(ds.X, iris.X)
    np.testing.assert_array_equal(ds.y, iris.y)


def test_load_csv_defaults_to_the_last_column_and_remaps_integer_labels(tmp_path):
    path = write(tmp_path, "a,b,label\n1,2,9\n3,4,3\n5,6,5\n7,8,9\n")
    ds = data.load_csv(path)
    assert ds.task == "classification"
    assert ds.target_names == ("3", "5", "9")
    np.testing.assert_array_equal(ds.y, [2, 0, 1, 2])
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4], [5, 6], [7, 8]])


def test_load_csv_string_labels_are_sorted(tmp_path):
    path = write(tmp_path, "x,animal\n0.5,dog\n1.5,cat\n2.5,dog\n3.5,emu\n")
    ds = data.load_csv(path)
    assert ds.target_names == ("cat", "dog", "emu")
    np.testing.assert_array_equal(ds.y, [1, 0, 1, 2])


def test_load_csv_auto_treats_real_targets_as_regression(tmp_path):
    path = write(tmp_path, "x,price\n1,10.5\n2,20.25\n3,30\n")
    ds = data.load_csv(path)
    assert ds.task == "regression"
    assert ds.target_names == ("price",)
    np.testing.assert_array_equal(ds.y, [[10.5], [20.25], [30.0]])


def test_load_csv_auto_treats_many_distinct_integers_as_regression(tmp_path):
    rows = "\n".join(f"{i},{i * 3}" for i in range(51))
    ds = data.load_csv(write(tmp_path, "x,y\n" + rows + "\n"))
    assert ds.task == "regression"
    few = "\n".join(f"{i},{i % 50}" for i in range(60))
    assert data.load_csv(write(tmp_path, "x,y\n" + few + "\n", "few.csv")).n_classes == 50


def test_load_csv_explicit_task_overrides_auto(tmp_path):
    path = write(tmp_path, "x,y\n1,0\n2,1\n3,1\n")
    ds = data.load_csv(path, task="regression")
    assert ds.task == "regression"
    np.testing.assert_array_equal(ds.y, [[0.0], [1.0], [1.0]])
    real = write(tmp_path, "x,y\n1,0.0\n2,1.0\n3,2.0\n", "real.csv")
    assert data.load_csv(real, task="classification").target_names == ("0", "1", "2")


def test_load_csv_without_header(tmp_path):
    path = write(tmp_path, "1,2,0\n3,4,1\n")
    ds = data.load_csv(path, header=False)
    assert ds.feature_names == ("x0", "x1")
    np.testing.assert_array_equal(ds.y, [0, 1])
    ds = data.load_csv(path, target="x0", header=False, task="regression")
    np.testing.assert_array_equal(ds.y, [[1.0], [3.0]])
    np.testing.assert_array_equal(ds.X, [[2, 0], [4, 1]])
    ds = data.load_csv(path, target=0, header=False, task="regression")
    np.testing.assert_array_equal(ds.y, [[1.0], [3.0]])
    assert ds.feature_names == ("x1", "x2")


def test_load_csv_auto_header_keeps_a_first_line_of_numbers(tmp_path):
    rows = "\n".join(f"{0.1 * i},{i % 2}" for i in range(1, 201))
    path = write(tmp_path, rows + "\n")
    ds = data.load_csv(path)
    assert ds.n_samples == 200
    assert ds.feature_names == ("x0",)
    np.testing.assert_array_equal(ds.X[:2], [[0.1], [0.2]])
    # nan, inf and exponents are numbers too: a first line of them is data (and then refused).
    with pytest.raises(DataError, match="line 1, column 'x0': 'nan' is not a finite number"):
        data.load_csv(write(tmp_path, "nan,1e3,0\n1,2,1\n", "nan.csv"))


def test_load_csv_auto_header_is_a_line_with_any_non_number(tmp_path):
    ds = data.load_csv(write(tmp_path, "a,2,3\n4,5,6\n"))
    assert ds.feature_names == ("a", "2") and ds.target_names == ("6",)
    # Empty fields do not count: this first line is data, with a missing value.
    with pytest.raises(DataError, match="line 1, column 'x1': the value is missing"):
        data.load_csv(write(tmp_path, "1,,3\n4,5,6\n", "gap.csv"))


def test_load_csv_header_true_is_believed_even_for_numbers(tmp_path):
    ds = data.load_csv(write(tmp_path, "1,2,3\n4,5,6\n7,8,9\n"), header=True)
    assert ds.feature_names == ("1", "2") and ds.n_samples == 2
    with pytest.raises(DataError, match="header must be True, False or 'auto', got 'yes'"):
        data.load_csv(write(tmp_path, "a,b\n1,2\n", "h.csv"), header="yes")  # type: ignore[arg-type]


def test_load_csv_header_false_reads_a_text_first_line_as_data(tmp_path):
    path = write(tmp_path, "5.1,3.5,setosa\n6.7,3.0,virginica\n")
    ds = data.load_csv(path, header=False)
    assert ds.n_samples == 2 and ds.target_names == ("setosa", "virginica")


def test_load_csv_target_index_out_of_range(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match=r"target column index 3 is out of range for .*, which "
                                        r"has 3 columns \(0-based indices 0\.\.2\)"):
        data.load_csv(path, target=3)
    with pytest.raises(DataError, match="target must be a column name or a 0-based index"):
        data.load_csv(path, target=True)  # type: ignore[arg-type]
    assert data.load_csv(path, target=1).target_names == ("2",)


def test_load_csv_tolerates_bom_spaces_quotes_and_blank_lines(tmp_path):
    path = tmp_path / "messy.csv"
    path.write_text('\ufeff a , b ,"kind"\n\n 1 , 2 ,"big, red"\n3,4, small \n\n', "utf-8")
    ds = data.load_csv(path)
    assert ds.feature_names == ("a", "b")
    assert ds.target_names == ("big, red", "small")
    np.testing.assert_array_equal(ds.X, [[1, 2], [3, 4]])


def test_load_csv_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=re.escape(f"CSV file not found: {missing}")):
        data.load_csv(missing)


def test_load_csv_directory(tmp_path):
    with pytest.raises(DataError, match="is a directory, not a CSV file"):
        data.load_csv(tmp_path)


def test_load_csv_empty_file(tmp_path):
    with pytest.raises(DataError, match="is empty: no header and no data rows"):
        data.load_csv(write(tmp_path, "\n\n"))


def test_load_csv_header_without_rows(tmp_path):
    with pytest.raises(DataError, match="has a header but no data rows"):
        data.load_csv(write(tmp_path, "a,b,c\n"))


def test_load_csv_unknown_target_lists_the_columns(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,3\n")
    with pytest.raises(
        DataError, match=r"target column 'd' not found in .*; the columns are: a, b, c"
    ):
        data.load_csv(path, target="d")


def test_load_csv_non_numeric_feature_names_line_and_column(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,0\n3,oops,1\n")
    with pytest.raises(DataError, match=r"line 3, column 'b': 'oops' is not a number"):
        data.load_csv(path)


def test_load_csv_wrong_number_of_columns_names_the_line(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,0\n\n3,4\n")
    with pytest.raises(
        DataError, match=r"line 4: expected 3 values \(one per column\) but found 2"
    ):
        data.load_csv(path)


@pytest.mark.parametrize("bad", ["nan", "inf", "-Infinity", "NaN"])
def test_load_csv_refuses_nan_and_inf_features(tmp_path, bad):
    path = write(tmp_path, f"a,b,c\n1,2,0\n3,{bad},1\n")
    with pytest.raises(DataError, match=f"line 3, column 'b': '{bad}' is not a finite number"):
        data.load_csv(path)


def test_load_csv_refuses_nan_targets(tmp_path):
    path = write(tmp_path, "a,y\n1,0\n2,nan\n")
    with pytest.raises(DataError, match="line 3, column 'y': target 'nan' is not a finite number"):
        data.load_csv(path)


def test_load_csv_refuses_empty_cells(tmp_path):
    with pytest.raises(DataError, match=r"line 2, column 'a': the value is missing \(empty cell\)"):
        data.load_csv(write(tmp_path, "a,b,c\n,2,0\n"))
    with pytest.raises(DataError, match="line 2, column 'c': the target is missing"):
        data.load_csv(write(tmp_path, "a,b,c\n1,2,\n", "t.csv"))


def test_load_csv_needs_two_columns(tmp_path):
    with pytest.raises(DataError, match="has only one column \\('a'\\)"):
        data.load_csv(write(tmp_path, "a\n1\n2\n"))


def test_load_csv_refuses_duplicate_column_names(tmp_path):
    with pytest.raises(DataError, match="column name 'a' appears twice"):
        data.load_csv(write(tmp_path, "a,b,a\n1,2,3\n"))


def test_load_csv_regression_needs_numeric_targets(tmp_path):
    path = write(tmp_path, "a,y\n1,2.5\n2,high\n")
    with pytest.raises(DataError, match="line 3, column 'y': target 'high' is not a number"):
        data.load_csv(path, task="regression")


def test_load_csv_classification_needs_integer_labels(tmp_path):
    path = write(tmp_path, "a,y\n1,1\n2,1.5\n")
    with pytest.raises(
        DataError, match=r"line 3, column 'y': class label '1\.5' is not an integer"
    ):
        data.load_csv(path, task="classification")


def test_load_csv_rejects_unknown_task(tmp_path):
    with pytest.raises(DataError, match="task must be 'auto', 'classification' or 'regression'"):
        data.load_csv(write(tmp_path, "a,b\n1,2\n"), task="ranking")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# load_features(): the columns a trained model predicts from
# --------------------------------------------------------------------------------------------


def test_load_features_picks_columns_by_name_in_the_models_order(tmp_path):
    path = write(tmp_path, "id,b,a,label\n7,2.5,1,x\n8,-1,0,y\n")
    X = data.load_features(path, ["a", "b"])
    assert X.dtype == np.float64
    np.testing.assert_array_equal(X, [[1.0, 2.5], [0.0, -1.0]])


def test_read_features_says_how_columns_were_matched(tmp_path):
    path = write(tmp_path, "id,b,a,label\n7,2.5,1,x\n8,-1,0,y\n")
    features = data.read_features(path, ["a", "b"])
    assert features.matched == "name"
    assert features.ignored == ("id", "label")
    assert features.n_rows == 2
    np.testing.assert_array_equal(features.X, [[1.0, 2.5], [0.0, -1.0]])


def test_load_features_never_reads_a_file_with_other_names_by_position(tmp_path):
    path = write(tmp_path, "a,b,label\n1,2,3\n")
    with pytest.raises(DataError, match=r"does not have the model's 3 features: missing column c; "
                                        r"unexpected column label$"):
        data.load_features(path, ["a", "b", "c"])
    same_width = write(tmp_path, "p,q\n1,2\n", "pq.csv")
    with pytest.raises(DataError, match="missing columns a, b; unexpected columns p, q"):
        data.load_features(same_width, ["a", "b"])
    with pytest.raises(DataError, match=r"missing column c$"):
        data.load_features(write(tmp_path, "a,b\n1,2\n", "ab.csv"), ["a", "b", "c"])


def test_read_features_matches_a_headerless_file_by_position(tmp_path):
    rows = "\n".join(f"{0.5 * i},{i}" for i in range(1, 201))
    path = write(tmp_path, rows + "\n")
    features = data.read_features(path, ["a", "b"])
    assert features.matched == "position" and features.ignored == ()
    assert features.n_rows == 200  # the first row is data, not a header
    np.testing.assert_array_equal(features.X[0], [0.5, 1.0])
    declared = data.read_features(write(tmp_path, "3,4\n1,2\n", "34.csv"), ["a", "b"],
                                  header=False)
    assert declared.matched == "position" and declared.n_rows == 2
    with pytest.raises(DataError, match="line 1, column 'x0': 'a' is not a number"):
        data.load_features(write(tmp_path, "a,b\n1,2\n", "ab.csv"), ["p", "q"], header=False)


def test_load_features_refuses_a_headerless_file_of_another_width(tmp_path):
    path = write(tmp_path, "1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match=r"has no header line \(its first line is all numbers\) "
                                        r"and 3 columns, but the model expects 2 features"):
        data.load_features(path, ["a", "b"])
    with pytest.raises(DataError, match=r"\(header=False\) and 3 columns, but the model expects "
                                        r"4 features"):
        data.load_features(path, ["a", "b", "c", "d"], header=False)


def test_load_features_header_true_is_believed(tmp_path):
    path = write(tmp_path, "1,2\n3,4\n")
    np.testing.assert_array_equal(data.load_features(path, ["1", "2"], header=True), [[3, 4]])


@pytest.mark.parametrize(("content", "message"), [
    (b"a,b\n1,2\n3,\xff\n", "is not a UTF-8 text file"),
    (b"a,b\n1,2\n\n3,nan\n", r"table.csv, line 4, column 'b': 'nan' is not a finite number"),
    (b"a,b\n1,2\n3\n", r"table.csv, line 3: expected 2 values \(one per column\) but found 1"),
    (b"a,b\n", "has a header but no data rows"),
    (b"a,a,b\n1,2,3\n", "column name 'a' appears twice"),
])
def test_load_features_reports_the_file_and_line_as_load_csv_does(tmp_path, content, message):
    path = tmp_path / "table.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        data.load_features(path, ["a", "b"])


# --------------------------------------------------------------------------------------------
# The fast reader and the careful one agree; check_standardizable()
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "a,b,y\r\n1,2,0\r\n3,4,1\r\n",             # Windows line ends
    "a,b,y\n1,2,0\n   \n3,4,1\n",                # a line of spaces is blank
    "a,b,y\n1_0,2,0\n3,4,1\n",                   # float() reads 1_0; NumPy does not
    'a,b,y\n"1",\t2 ,0\n3,4,"1"\n',                # quotes and tabs
    "a,b,y\n1,2,0\n,,\n3,4,1\n",                  # a row of empty cells is blank
    "\ufeffa,b,y\n1,2,0\n3,4,1",                    # BOM, no final newline
])
def test_load_csv_reads_unusual_files_like_the_plain_one(tmp_path, text):
    ds = data.load_csv(write(tmp_path, text))
    assert ds.feature_names == ("a", "b") and ds.target_names == ("0", "1")
    np.testing.assert_array_equal(ds.X, [[1 if "1_0" not in text else 10, 2], [3, 4]])
    np.testing.assert_array_equal(ds.y, [0, 1])


def test_a_plain_file_is_read_without_the_cell_by_cell_reader(tmp_path, monkeypatch):
    def careful(*_args):
        raise AssertionError("the careful reader ran")

    monkeypatch.setattr(data, "_read_csv_rows", careful)
    ds = data.load_csv(write(tmp_path, "id,a,b,kind\n1,0.5,2,cat\n2,1.5,3,dog\n"))
    np.testing.assert_array_equal(ds.X, [[1, 0.5, 2], [2, 1.5, 3]])
    assert ds.target_names == ("cat", "dog")
    features = data.read_features(write(tmp_path, "id,a,b,kind\n1,0.5,2,cat\n", "f.csv"),
                                  ["b", "a"])
    np.testing.assert_array_equal(features.X, [[2, 0.5]])
    assert data.load_features(write(tmp_path, "1,2\n3,4\n", "n.csv"), ["a", "b"]).shape == (2, 2)


def test_load_csv_refuses_rows_wider_than_the_header(tmp_path):
    with pytest.raises(DataError, match=r"line 3: expected 3 values \(one per column\) but "
                                        r"found 4"):
        data.load_csv(write(tmp_path, "a,b,c\n1,2,3\n4,5,6,7\n"))
    with pytest.raises(DataError, match=r"line 2: expected 2 values \(one per column\) but "
                                        r"found 3"):
        data.load_csv(write(tmp_path, "a,b\n1,2,3\n4,5,6\n", "wide.csv"))


def test_load_csv_with_the_target_first_and_many_rows(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 3))
    labels = rng.choice(["cat", "dog", "emu"], size=500)
    lines = ["kind,a,b,c"] + [",".join([str(k), *(repr(float(v)) for v in row)])
                              for k, row in zip(labels, X, strict=True)]
    ds = data.load_csv(write(tmp_path, "\n".join(lines)), target="kind")
    np.testing.assert_array_equal(ds.X, X)  # full precision
    assert ds.target_names == ("cat", "dog", "emu")
    np.testing.assert_array_equal(np.array(ds.target_names)[ds.y], labels)


def test_load_csv_errors_from_a_large_file_name_the_line(tmp_path):
    rows = [f"{i},{i % 3}" for i in range(5000)]
    rows[4321] = "1e999,0"
    with pytest.raises(DataError, match=r"line 4323, column 'x': '1e999' is not a finite"):
        data.load_csv(write(tmp_path, "x,y\n" + "\n".join(rows)))
    rows[4321] = "4321,"
    with pytest.raises(DataError, match="line 4323, column 'y': the target is missing"):
        data.load_csv(write(tmp_path, "x,y\n" + "\n".join(rows), "t.csv"))


def test_check_standardizable_names_the_value_row_and_column(tmp_path):
    X = np.array([[1.0, 2.0], [2.0, -1e308], [3.0, 1e308], [4.0, 1.5e308]])
    with pytest.raises(DataError, match=re.escape(
            "t.csv: value 1.5e+308 in data row 4 (X[3, 1]), column 'b' is too large to "
            "standardise (its column's mean/std overflow); rescale that column")):
        data.check_standardizable(X, ["a", "b"], path="t.csv")
    with pytest.raises(DataError, match=re.escape("value 1e+200 in data row 1 (X[0, 0]), "
                                                  "column 0 is too large")):
        data.check_standardizable([[1e200], [1.0]])  # its square overflows in the std
    data.check_standardizable(X[:, :1], ["a"])
    data.check_standardizable(np.array([[1e150, 1], [-1e150, 2]]), ["a", "b"])
    data.check_standardizable(np.array([[2**62, 1]], dtype=np.int64), ["a", "b"])


def test_load_csv_reads_huge_values_which_check_standardizable_then_refuses(tmp_path):
    ds = data.load_csv(write(tmp_path, "a,b,y\n1,1e308,0\n2,-1e308,1\n3,1e308,0\n"))
    with pytest.raises(DataError, match=r"value 1e\+308 in data row 1 \(X\[0, 1\]\), "
                                        r"column 'b'"):
        data.check_standardizable(ds.X, ds.feature_names)


# --------------------------------------------------------------------------------------------
# validate()
# --------------------------------------------------------------------------------------------


def test_validate_accepts_good_data():
    data.validate(np.ones((3, 2)), np.array([0, 1, 2]), n_features=2, n_classes=3)
    data.validate(np.ones((3, 2), dtype=np.int64))  # integer X is fine
    data.validate([[True, False]], [[0.5]], task="regression")
    data.validate(np.ones((2, 1)), np.array([1.0, 0.0]), task="classification")


def test_validate_empty():
    with pytest.raises(DataError, match=r"X is empty: it has no rows \(shape \(0, 3\)\)"):
        data.validate(np.zeros((0, 3)))
    with pytest.raises(DataError, match=r"X has no columns \(shape \(4, 0\)\)"):
        data.validate(np.zeros((4, 0)))


def test_validate_1d_x_suggests_reshape():
    message = (
        r"X must be 2-D \(samples, features\) but has shape \(5,\); use X.reshape\(-1, 1\) "
        r"if it holds 5 samples of one feature, or X.reshape\(1, -1\) if it is one sample"
    )
    with pytest.raises(DataError, match=message):
        data.validate(np.arange(5.0))


def test_validate_3d_x_suggests_flatten():
    with pytest.raises(DataError, match=r"shape \(3, 8, 8\); flatten each sample"):
        data.validate(np.zeros((3, 8, 8)))
    with pytest.raises(DataError, match="X is a single number"):
        data.validate(np.float64(3.0))


def test_validate_wrong_number_of_features():
    with pytest.raises(DataError, match="X has 3 columns but the model expects 4 features"):
        data.validate(np.zeros((2, 3)), n_features=4)


@pytest.mark.parametrize(("value", "word"), [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "-inf")])
def test_validate_reports_first_non_finite_x(value, word):
    X = np.zeros((7, 3))
    X[5, 2] = value
    X[6, 0] = value
    with pytest.raises(
        DataError, match=rf"X contains {word} at row 5, column 2 \(X\[5, 2\]\) \(2 non-finite"
    ):
        data.validate(X)


def test_validate_reports_non_finite_y():
    with pytest.raises(DataError, match=r"y contains NaN at index 1 \(y\[1\]\)"):
        data.validate(np.zeros((3, 1)), np.array([0.0, np.nan, 1.0]))
    with pytest.raises(DataError, match="y contains inf at row 2, column 1"):
        data.validate(np.zeros((3, 1)), np.array([[0, 0], [0, 0], [0, np.inf]]))


def test_validate_length_mismatch():
    with pytest.raises(DataError, match="X has 3 rows but y has 4"):
        data.validate(np.zeros((3, 2)), np.zeros(4, dtype=int))


def test_validate_labels_must_be_integers():
    with pytest.raises(DataError, match=r"y contains non-integer label 0\.5 at index 2"):
        data.validate(np.zeros((3, 1)), np.array([0.0, 1.0, 0.5]), n_classes=2)


def test_validate_labels_must_not_be_negative():
    with pytest.raises(DataError, match=r"y contains negative label -1 at index 1 \(labels must"):
        data.validate(np.zeros((2, 1)), np.array([0, -1]), task="classification")


def test_validate_labels_must_be_below_n_classes():
    message = r"y contains label 7 but the model has 3 classes \(labels must be 0..2\)"
    with pytest.raises(DataError, match=message):
        data.validate(np.zeros((4, 2)), np.array([0, 1, 7, 2]), n_classes=3)


def test_validate_labels_must_be_1d():
    with pytest.raises(DataError, match=r"y has shape \(3, 1\); use y.ravel\(\)"):
        data.validate(np.zeros((3, 1)), np.zeros((3, 1), dtype=int), n_classes=2)
    with pytest.raises(DataError, match=r"if y is one-hot, use y.argmax\(axis=1\)"):
        data.validate(np.zeros((3, 1)), np.eye(3), task="classification")


def test_validate_regression_targets_must_be_2d():
    with pytest.raises(DataError, match=r"use y.reshape\(-1, 1\) for a single output"):
        data.validate(np.zeros((3, 1)), np.zeros(3), task="regression")


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.array([["a", "b"]]), r"X contains strings \(dtype <U1\); convert them to numbers"),
        (np.ones((2, 2), dtype=complex), "X is complex"),
        (np.array([[1.0, None]], dtype=object), "X has dtype object"),
        ([[1.0, 2.0], [3.0]],
         r"X is not a rectangular array: its rows have different lengths \(row 0 has 2 values "
         r"but row 1 has 1\)"),
        ([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0, 7.0]], r"\(row 0 has 2 values but row 2 has 3\)"),
        ([[1.0, 2.0], 3.0], "X is not a rectangular array: its rows have different lengths"),
    ],
)
def test_validate_rejects_non_numeric_x(X, message):
    with pytest.raises(DataError, match=message):
        data.validate(X)


def test_validate_rejects_string_labels():
    with pytest.raises(DataError, match=r"y contains strings .*encode class labels as integers"):
        data.validate(np.zeros((2, 1)), np.array(["cat", "dog"]))


def test_validate_rejects_bad_arguments():
    with pytest.raises(DataError, match="task must be 'classification' or 'regression'"):
        data.validate(np.zeros((2, 1)), task="ranking")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="n_classes must be a positive integer, got 0"):
        data.validate(np.zeros((2, 1)), np.array([0, 0]), n_classes=0)


# --------------------------------------------------------------------------------------------
# train_val_split()
# --------------------------------------------------------------------------------------------


def row_ids(n):
    """X whose first column is the row number, so every row can be traced."""
    return np.column_stack([np.arange(n), np.zeros(n)])


def test_split_sizes_and_partition():
    X, y = row_ids(10), np.arange(10) * 10
    X_tr, y_tr, X_va, y_va = data.train_val_split(X, y, 0.3, seed=1)
    assert X_tr.shape == (7, 2) and X_va.shape == (3, 2)
    ids = np.concatenate([X_tr[:, 0], X_va[:, 0]])
    np.testing.assert_array_equal(np.sort(ids), np.arange(10))
    np.testing.assert_array_equal(y_tr, X_tr[:, 0] * 10)  # rows stay paired with targets
    np.testing.assert_array_equal(y_va, X_va[:, 0] * 10)


def test_split_is_seeded():
    X, y = row_ids(50), np.zeros(50)
    a = data.train_val_split(X, y, seed=5)
    b = data.train_val_split(X, y, seed=5)
    c = data.train_val_split(X, y, seed=6)
    for part_a, part_b in zip(a, b, strict=True):
        np.testing.assert_array_equal(part_a, part_b)
    assert not np.array_equal(a[2], c[2])
    assert not np.array_equal(a[2][:, 0], np.arange(40, 50))  # shuffled, not the tail


def test_stratified_split_keeps_class_shares():
    iris = data.load("iris")
    X_tr, y_tr, X_va, y_va = data.train_val_split(iris.X, iris.y, 0.2, stratify=True)
    np.testing.assert_array_equal(np.bincount(y_va), [10, 10, 10])
    np.testing.assert_array_equal(np.bincount(y_tr), [40, 40, 40])
    assert len(X_tr) == 120 and len(X_va) == 30


def test_stratified_split_rounds_to_the_requested_total():
    # Classes of 7, 7 and 6: 30 % shares are 2.1, 2.1, 1.8; round(0.3·20) = 6 in validation.
    y = np.array([0] * 7 + [1] * 7 + [2] * 6)
    _, y_tr, _, y_va = data.train_val_split(row_ids(20), y, 0.3, stratify=True)
    assert len(y_va) == 6 and len(y_tr) == 14
    np.testing.assert_array_equal(np.bincount(y_va), [2, 2, 2])


def test_stratified_split_differs_from_plain_split():
    # 90 % of class 0: a plain split can miss class 1, a stratified one cannot.
    y = np.array([0] * 18 + [1] * 2)
    for seed in range(20):
        _, y_tr, _, y_va = data.train_val_split(row_ids(20), y, 0.5, seed=seed, stratify=True)
        assert np.bincount(y_va).tolist() == [9, 1]
        assert np.bincount(y_tr).tolist() == [9, 1]


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, True, "0.2", math.nan])
def test_split_rejects_bad_fraction(fraction):
    with pytest.raises(DataError, match="val_fraction must be between 0 and 1 \\(exclusive\\)"):
        data.train_val_split(row_ids(10), np.zeros(10), fraction)


def test_split_refuses_an_empty_part():
    with pytest.raises(DataError, match="of 10 samples leaves the validation set empty"):
        data.train_val_split(row_ids(10), np.zeros(10), 0.01)
    with pytest.raises(DataError, match="of 10 samples leaves the training set empty"):
        data.train_val_split(row_ids(10), np.zeros(10), 0.99)


def test_split_checks_lengths_and_stratify_labels():
    with pytest.raises(DataError, match="X has 10 rows but y has 9"):
        data.train_val_split(row_ids(10), np.zeros(9))
    with pytest.raises(DataError, match=r"stratify=True needs 1-D class labels y"):
        data.train_val_split(row_ids(10), np.zeros((10, 2)), stratify=True)
    with pytest.raises(DataError, match="at least 2 samples of every class, but class 3 has 1"):
        data.train_val_split(row_ids(10), np.array([0] * 9 + [3]), stratify=True)


# --------------------------------------------------------------------------------------------
# batches()
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize(("n", "size"), [(10, 3), (10, 5), (7, 1), (4, 100)])
def test_batches_cover_every_row_exactly_once(shuffle, n, size):
    X, y = row_ids(n), np.arange(n) + 100
    seen = []
    for X_batch, y_batch in data.batches(X, y, size, shuffle=shuffle, rng=np.random.default_rng(0)):
        assert len(X_batch) <= size
        np.testing.assert_array_equal(y_batch, X_batch[:, 0] + 100)
        seen.extend(X_batch[:, 0].astype(int))
    assert sorted(seen) == list(range(n))
    if not shuffle:
        assert seen == list(range(n))


def test_batch_sizes_and_drop_last():
    X, y = row_ids(10), np.zeros(10)
    sizes = [len(xb) for xb, _ in data.batches(X, y, 4, shuffle=False)]
    assert sizes == [4, 4, 2]
    sizes = [len(xb) for xb, _ in data.batches(X, y, 4, shuffle=False, drop_last=True)]
    assert sizes == [4, 4]
    sizes = [len(xb) for xb, _ in data.batches(X, y, 5, drop_last=True)]
    assert sizes == [5, 5]


def test_batch_size_larger_than_n_gives_one_batch():
    X, y = row_ids(6), np.zeros(6)
    for drop_last in (False, True):
        out = list(data.batches(X, y, 50, drop_last=drop_last))
        assert len(out) == 1 and len(out[0][0]) == 6


def test_batches_are_reproducible_from_the_generator_state():
    X, y = row_ids(20), np.zeros(20)

    def order(rng):
        return np.concatenate([xb[:, 0] for xb, _ in data.batches(X, y, 6, rng=rng)])

    rng_a, rng_b = np.random.default_rng(42), np.random.default_rng(42)
    first_a, first_b = order(rng_a), order(rng_b)
    np.testing.assert_array_equal(first_a, first_b)
    assert not np.array_equal(first_a, np.arange(20))  # actually shuffled
    second_a = order(rng_a)  # the next epoch continues the generator: a new order
    assert not np.array_equal(first_a, second_a)
    np.testing.assert_array_equal(second_a, order(rng_b))


@pytest.mark.parametrize("size", [0, -1, 2.5, True, None])
def test_batches_reject_bad_batch_size_at_the_call(size):
    with pytest.raises(DataError, match=f"batch_size must be a positive integer, got {size!r}"):
        data.batches(row_ids(4), np.zeros(4), size)  # no next(): raised eagerly


def test_batches_check_lengths():
    with pytest.raises(DataError, match="X has 4 rows but y has 3"):
        data.batches(row_ids(4), np.zeros(3), 2)
    with pytest.raises(DataError, match="X is empty"):
        data.batches(np.zeros((0, 2)), np.zeros(0), 2)


# --------------------------------------------------------------------------------------------
# one_hot()
# --------------------------------------------------------------------------------------------


def test_one_hot():
    out = data.one_hot(np.array([2, 0, 1, 2]), 4)
    expected = [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.argmax(axis=1), [2, 0, 1, 2])


def test_one_hot_errors():
    with pytest.raises(DataError, match=r"y contains label 3 but the model has 3 classes"):
        data.one_hot([0, 3], 3)
    with pytest.raises(DataError, match="y contains negative label -2"):
        data.one_hot([0, -2], 3)
    with pytest.raises(DataError, match="n_classes must be a positive integer, got 0"):
        data.one_hot([0], 0)
    with pytest.raises(DataError, match="class labels y must be 1-D"):
        data.one_hot([[0, 1]], 2)


# --------------------------------------------------------------------------------------------
# Memory: both readers hold about what they return; a file too large is a DataError
# --------------------------------------------------------------------------------------------


def _table_file(tmp_path, extra_line=""):
    """20,000 rows of a,b,kind,c,d: random floats around a class label 0..2 in the middle."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 4))
    kind = rng.integers(0, 3, 20_000)
    a, b, c, d = (list(map(repr, column.tolist())) for column in X.T)
    lines = ["a,b,kind,c,d", *map(",".join, zip(a, b, map(str, kind), c, d, strict=True))]
    if extra_line:
        lines.insert(1000, extra_line)
    return write(tmp_path, "\n".join(lines) + "\n"), X, kind


def _peak_ratio(read):
    """Peak memory that `read()` allocates, over the bytes of the X and y it returns; a first
    read before measuring, so that lazy imports and caches are not counted."""
    read()
    tracemalloc.start()
    try:
        ds = read()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return ds, peak / (ds.X.nbytes + ds.y.nbytes)


@pytest.mark.parametrize("extra_line", ["", "   "], ids=["fast path", "careful reader"])
def test_load_csv_holds_about_the_arrays_it_returns(tmp_path, extra_line):
    # A line of spaces sends the file to the careful reader, which once held every cell's
    # text (about 15 times the arrays); a target in the middle once cost a copy of X.
    path, X, kind = _table_file(tmp_path, extra_line)
    ds, ratio = _peak_ratio(lambda: data.load_csv(path, target="kind"))
    np.testing.assert_array_equal(ds.X, X)
    np.testing.assert_array_equal(ds.y, kind)
    assert ratio < 2, ratio  # the bound; about 1.4 here (small-file buffers)


def test_a_file_too_large_for_memory_is_a_data_error(tmp_path, monkeypatch):
    path, _, _ = _table_file(tmp_path)
    size_mib = path.stat().st_size / 2**20
    message = (rf"{re.escape(str(path))} is too large to read into memory: its "
               rf"{size_mib:.3g} MiB of text hold about 7[6-9]\d KiB of float64 numbers "
               rf"\(estimated from its first lines\), and there was not enough free memory for "
               rf"them; read a sample of its rows, or use a machine with more memory")

    def no_memory(*_args, **_kwargs):
        raise MemoryError

    with monkeypatch.context() as patch:
        patch.setattr(np, "loadtxt", no_memory)  # NumPy's parser cannot allocate the table
        with pytest.raises(DataError, match=message):
            data.load_csv(path)
        with pytest.raises(DataError, match=message):
            data.load_features(path, ["a", "b"])
    # The careful reader's arrays, sized by the file's line breaks: NumPy itself refuses to
    # allocate 10**15 rows (a real ArrayMemoryError, no memory used).
    monkeypatch.setattr(data, "_count_line_breaks", lambda _path: 10**15)
    spaces, _, _ = _table_file(tmp_path, "   ")
    with pytest.raises(DataError, match="is too large to read into memory"):
        data.load_csv(spaces)
