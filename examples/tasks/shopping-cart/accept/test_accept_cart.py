import pytest

from shop.cart import Cart


def test_empty_cart_totals_zero():
    assert Cart().total() == 0


def test_total_sums_lines():
    cart = Cart()
    cart.add("TEA-001", 450, 2)
    cart.add("MUG-002", 1200)
    assert cart.total() == 2100


def test_adding_same_sku_increases_quantity_and_keeps_first_price():
    cart = Cart()
    cart.add("TEA-001", 450)
    cart.add("TEA-001", 450, 3)
    assert cart.total() == 1800
    cart.add("TEA-001", 999)
    assert cart.total() == 2250


def test_carts_are_independent():
    first, second = Cart(), Cart()
    first.add("TEA-001", 450)
    assert second.total() == 0


@pytest.mark.parametrize(("price", "quantity"), [(450, 0), (450, -1), (-1, 1)])
def test_add_rejects_bad_values(price, quantity):
    cart = Cart()
    with pytest.raises(ValueError):
        cart.add("TEA-001", price, quantity)
    assert cart.total() == 0
