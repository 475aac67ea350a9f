"""palette: colour helpers for a theme editor. A colour is a (red, green, blue) tuple of ints 0-255."""

from palette.mixing import blend

__all__ = ["blend"]
