import pytest

from money.amounts import split_cents


def test_remainder_goes_to_first_shares():
    assert split_cents(1000, 3) == [334, 333, 333]
    assert split_cents(5, 4) == [2, 1, 1, 1]


def test_even_split_and_zero():
    assert split_cents(900, 3) == [300, 300, 300]
    assert split_cents(0, 2) == [0, 0]


def test_single_part_and_more_parts_than_cents():
    assert split_cents(42, 1) == [42]
    assert split_cents(2, 3) == [1, 1, 0]


@pytest.mark.parametrize(("cents", "parts"), [(1000, 0), (1000, -2), (-1, 3)])
def test_invalid_arguments(cents, parts):
    with pytest.raises(ValueError):
        split_cents(cents, parts)


def test_shares_always_add_up():
    for cents in range(0, 50):
        for parts in range(1, 7):
            shares = split_cents(cents, parts)
            assert len(shares) == parts
            assert sum(shares) == cents
            assert max(shares) - min(shares) <= 1
