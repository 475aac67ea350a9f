"""Page arithmetic for lists of results. Pages are numbered from 1."""

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def page_count(total: int, per_page: int) -> int:
    """Return how many pages are needed to show ``total`` items."""
    return -(-total // per_page)


def paginate(items: Sequence[T], page: int, per_page: int = 10) -> list[T]:
    """Return the items shown on ``page`` (1-based) with ``per_page`` items per page."""
    start = (page - 1) * per_page
    return list(items[start : start + per_page])
