import pytest

import scores
from scores.stats import EmptyDataError, mean, median


@pytest.mark.parametrize(("values", "expected"), [([4, 1, 3, 2], 2.5), ([10, 20], 15), ([9, 5, 6, 5], 5.5)])
def test_median_of_even_count_is_mean_of_middle_pair(values, expected):
    assert median(values) == expected


@pytest.mark.parametrize(("values", "expected"), [([3, 1, 2], 2), ([7], 7), ([9, 1, 5, 3, 7], 5)])
def test_median_of_odd_count_unchanged(values, expected):
    assert median(values) == expected


def test_mean_unchanged():
    assert mean([70, 80, 90]) == 80


@pytest.mark.parametrize("statistic", [mean, median], ids=["mean", "median"])
def test_no_values_raise_empty_data_error(statistic):
    with pytest.raises(EmptyDataError):
        statistic([])


def test_empty_data_error_is_a_value_error():
    assert issubclass(EmptyDataError, ValueError)
    with pytest.raises(ValueError):
        median([])


def test_reexported_from_package():
    assert scores.EmptyDataError is EmptyDataError
    assert {"EmptyDataError", "mean", "median"} <= set(scores.__all__)
