"""pagination: split lists of results into numbered pages."""

from pagination.pages import page_count, paginate

__all__ = ["page_count", "paginate"]
