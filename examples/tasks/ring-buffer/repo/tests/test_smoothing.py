import pytest

from sensors import moving_average


def test_moving_average():
    assert moving_average([1, 2, 3, 4], 2) == [1.5, 2.5, 3.5]
    assert moving_average([5, 7], 1) == [5, 7]


def test_window_longer_than_readings():
    assert moving_average([1, 2], 3) == []


def test_window_below_one_rejected():
    with pytest.raises(ValueError):
        moving_average([1, 2], 0)
