import pytest

from money.amounts import format_cents, to_cents


def test_to_cents():
    assert to_cents("12.34") == 1234
    assert to_cents("7") == 700
    assert to_cents("0.5") == 50


def test_to_cents_rejects_fractions_of_a_cent():
    with pytest.raises(ValueError):
        to_cents("1.234")


def test_format_cents():
    assert format_cents(1234) == "12.34"
    assert format_cents(-5) == "-0.05"
