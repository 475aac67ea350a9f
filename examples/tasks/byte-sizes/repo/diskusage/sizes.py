"""Human-readable byte counts."""

_DECIMAL_UNITS = ("B", "KB", "MB", "GB", "TB")


def format_size(num_bytes: int) -> str:
    """Format a byte count with one decimal, e.g. 1500 -> ``"1.5 KB"``; TB is the largest unit."""
    size = float(num_bytes)
    for unit in _DECIMAL_UNITS[:-1]:
        if size < 1000:
            return f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} {_DECIMAL_UNITS[-1]}"
