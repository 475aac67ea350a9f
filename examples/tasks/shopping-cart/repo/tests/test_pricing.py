import pytest

from shop.pricing import line_total, with_vat


def test_line_total():
    assert line_total(250, 4) == 1000


def test_line_total_rejects_zero_quantity():
    with pytest.raises(ValueError):
        line_total(250, 0)


def test_with_vat():
    assert with_vat(1000) == 1200
    assert with_vat(3) == 4
