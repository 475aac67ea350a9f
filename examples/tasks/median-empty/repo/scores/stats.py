"""Summary statistics over a list of exam scores."""

from collections.abc import Sequence


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean of ``values``."""
    return sum(values) / len(values)


def median(values: Sequence[float]) -> float:
    """Middle value of ``values`` once sorted."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
