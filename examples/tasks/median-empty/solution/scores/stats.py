"""Summary statistics over a list of exam scores."""

from collections.abc import Sequence


class EmptyDataError(ValueError):
    """A statistic was asked of no values at all."""


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean of ``values``. Raises EmptyDataError for no values."""
    if not values:
        raise EmptyDataError("mean of no values")
    return sum(values) / len(values)


def median(values: Sequence[float]) -> float:
    """Middle value of ``values`` once sorted; the mean of the two middle values for an even count.

    Raises EmptyDataError for no values.
    """
    if not values:
        raise EmptyDataError("median of no values")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
