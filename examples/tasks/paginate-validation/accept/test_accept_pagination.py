import pytest

from pagination.pages import page_count, paginate

ITEMS = list(range(25))


def test_existing_behaviour_kept():
    assert paginate(ITEMS, 2, per_page=10) == list(range(10, 20))
    assert paginate(ITEMS, 3) == [20, 21, 22, 23, 24]
    assert page_count(25, 10) == 3


def test_page_past_the_end_is_empty():
    assert paginate(ITEMS, 4) == []
    assert paginate([], 1) == []


@pytest.mark.parametrize("page", [0, -1, -3])
def test_paginate_rejects_page_below_one(page):
    with pytest.raises(ValueError):
        paginate(ITEMS, page)


@pytest.mark.parametrize("per_page", [0, -5])
def test_paginate_rejects_per_page_below_one(per_page):
    with pytest.raises(ValueError):
        paginate(ITEMS, 1, per_page=per_page)


def test_page_count_of_empty_list_is_one():
    assert page_count(0, 10) == 1


def test_page_count_rejects_bad_arguments():
    with pytest.raises(ValueError):
        page_count(10, 0)
    with pytest.raises(ValueError):
        page_count(-1, 10)
