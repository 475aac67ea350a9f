from pagination import page_count, paginate


def test_page_count():
    assert page_count(25, 10) == 3
    assert page_count(20, 10) == 2


def test_paginate_first_and_last_page():
    items = list(range(25))
    assert paginate(items, 1) == list(range(10))
    assert paginate(items, 3) == [20, 21, 22, 23, 24]
