"""palette: colour helpers for a theme editor. A colour is a (red, green, blue) tuple of ints 0-255."""

from palette.hexcodes import parse_hex, to_hex
from palette.mixing import blend

__all__ = ["blend", "parse_hex", "to_hex"]
