"""Human-readable byte counts."""

_DECIMAL_UNITS = ("B", "KB", "MB", "GB", "TB")
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_size(num_bytes: int, binary: bool = False) -> str:
    """Format a byte count, e.g. 1500 -> ``"1.5 KB"``, 999 -> ``"999 B"``; TB (TiB) is the largest unit.

    ``binary=True`` steps by 1024 and uses KiB, MiB, ... Raises ValueError for a negative size.
    """
    if num_bytes < 0:
        raise ValueError(f"size must be >= 0, got {num_bytes}")
    step = 1024 if binary else 1000
    units = _BINARY_UNITS if binary else _DECIMAL_UNITS
    if num_bytes < step:
        return f"{num_bytes} B"
    size = num_bytes / step
    for unit in units[1:-1]:
        if size < step:
            return f"{size:.1f} {unit}"
        size /= step
    return f"{size:.1f} {units[-1]}"
