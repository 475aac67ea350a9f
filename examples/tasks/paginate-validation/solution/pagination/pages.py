"""Page arithmetic for lists of results. Pages are numbered from 1."""

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def page_count(total: int, per_page: int) -> int:
    """Return how many pages are needed to show ``total`` items (at least 1).

    Raises ValueError if ``per_page < 1`` or ``total < 0``.
    """
    if per_page < 1:
        raise ValueError(f"per_page must be >= 1, got {per_page}")
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    return max(1, -(-total // per_page))


def paginate(items: Sequence[T], page: int, per_page: int = 10) -> list[T]:
    """Return the items shown on ``page`` (1-based) with ``per_page`` items per page.

    Pages past the end are empty. Raises ValueError if ``page < 1`` or ``per_page < 1``.
    """
    if page < 1:
        raise ValueError(f"page must be >= 1, got {page}")
    if per_page < 1:
        raise ValueError(f"per_page must be >= 1, got {per_page}")
    start = (page - 1) * per_page
    return list(items[start : start + per_page])
