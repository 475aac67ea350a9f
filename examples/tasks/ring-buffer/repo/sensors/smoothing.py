"""Smoothing noisy readings."""

from collections.abc import Sequence


def moving_average(readings: Sequence[float], window: int) -> list[float]:
    """Mean of every run of ``window`` consecutive readings (empty if there are fewer readings).

    Raises ValueError if ``window < 1``.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    return [sum(readings[i : i + window]) / window for i in range(len(readings) - window + 1)]
