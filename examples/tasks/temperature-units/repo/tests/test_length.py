import pytest

from units import km_to_miles, miles_to_km


def test_round_trip():
    assert miles_to_km(km_to_miles(42.195)) == pytest.approx(42.195)


def test_one_mile():
    assert miles_to_km(1) == pytest.approx(1.609344)


def test_negative_distance_rejected():
    with pytest.raises(ValueError):
        km_to_miles(-1)
