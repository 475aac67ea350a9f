"""scores: summary statistics for exam results."""

from scores.stats import EmptyDataError, mean, median

__all__ = ["EmptyDataError", "mean", "median"]
