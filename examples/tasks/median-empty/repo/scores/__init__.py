"""scores: summary statistics for exam results."""

from scores.stats import mean, median

__all__ = ["mean", "median"]
