"""The shared argument checks: predicates and ConfigError-raising checks."""

import math
import re

import numpy as np
import pytest

from chainrule import validate as v
from chainrule.errors import ConfigError


@pytest.mark.parametrize("value, expected", [
    (3, True), (np.int64(3), True), (0, True), (True, False), (3.0, False), ("3", False),
])
def test_is_int_takes_python_and_numpy_integers_but_not_bool(value, expected):
    assert v.is_int(value) is expected


@pytest.mark.parametrize("value, expected", [(1, True), (np.int32(2), True), (0, False),
                                             (-1, False), (False, False), (1.0, False)])
def test_is_positive_int(value, expected):
    assert v.is_positive_int(value) is expected


@pytest.mark.parametrize("value, real, finite", [
    (1, True, True), (0.5, True, True), (np.float32(0.5), True, True), (True, False, False),
    (math.inf, True, False), (math.nan, True, False), ("1", False, False), (None, False, False),
])
def test_is_real_and_is_finite_real(value, real, finite):
    assert v.is_real(value) is real
    assert v.is_finite_real(value) is finite


@pytest.mark.parametrize("check, good, bad, words", [
    (v.positive_finite, 0.1, 0, "a positive finite number"),
    (v.nonnegative_finite, 0, -1e-9, "a non-negative finite number"),
    (v.unit_interval, 0, 1, "a number in [0, 1)"),
    (v.open_unit_interval, 0.5, 0, "a number in (0, 1)"),
    (v.positive_int, 1, 0, "a positive integer"),
    (v.nonnegative_int, 0, -1, "a non-negative integer"),
    (v.boolean, np.bool_(True), 1, "True or False"),
])
def test_checks_convert_good_values_and_name_owner_and_argument_for_bad_ones(check, good,
                                                                             bad, words):
    assert check("Owner", "arg", good) == good
    with pytest.raises(ConfigError, match="^Owner: arg must be " + re.escape(words) + ", got "):
        check("Owner", "arg", bad)


def test_show_quotes_numpy_scalars_as_python_numbers():
    assert v.show(np.float32(0.5)) == "0.5"
    assert v.show("x") == "'x'"


@pytest.mark.parametrize("n, text", [(0, "0 bytes"), (1023, "1023 bytes"), (1024, "1 KiB"),
                                     (1536, "1.5 KiB"), (300 * 2**30, "300 GiB"),
                                     (75_000_000_010 * 4, "279 GiB"), (2**52, "4 PiB")])
def test_show_bytes_in_binary_units(n, text):
    assert v.show_bytes(n) == text


def test_physical_memory_is_the_machines_or_none():
    memory = v.physical_memory()
    assert memory is None or memory > 2**26  # no machine that runs these tests has < 64 MiB
