import pytest

import units
from units.temperature import celsius_to_fahrenheit, fahrenheit_to_celsius


@pytest.mark.parametrize(("celsius", "fahrenheit"), [(0, 32), (100, 212), (-40, -40), (37, 98.6)])
def test_known_points(celsius, fahrenheit):
    assert celsius_to_fahrenheit(celsius) == pytest.approx(fahrenheit)
    assert fahrenheit_to_celsius(fahrenheit) == pytest.approx(celsius)


def test_absolute_zero_is_allowed():
    assert celsius_to_fahrenheit(-273.15) == pytest.approx(-459.67)
    assert fahrenheit_to_celsius(-459.67) == pytest.approx(-273.15)


def test_below_absolute_zero_rejected():
    with pytest.raises(ValueError):
        celsius_to_fahrenheit(-274)
    with pytest.raises(ValueError):
        fahrenheit_to_celsius(-460)


def test_reexported_from_package():
    assert units.celsius_to_fahrenheit is celsius_to_fahrenheit
    assert units.fahrenheit_to_celsius is fahrenheit_to_celsius
    assert {"celsius_to_fahrenheit", "fahrenheit_to_celsius"} <= set(units.__all__)


def test_length_exports_kept():
    assert units.miles_to_km(1) == pytest.approx(1.609344)
    assert {"km_to_miles", "miles_to_km"} <= set(units.__all__)
