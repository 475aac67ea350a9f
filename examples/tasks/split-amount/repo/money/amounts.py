"""Amounts of money are plain ints counting cents."""


def to_cents(amount: str) -> int:
    """Parse a decimal string like ``"12.34"`` or ``"7"`` into cents.

    Raises ValueError for more than two decimal places.
    """
    whole, _, frac = amount.strip().partition(".")
    if len(frac) > 2:
        raise ValueError(f"too many decimal places: {amount!r}")
    return int(whole or "0") * 100 + int(frac.ljust(2, "0"))


def format_cents(cents: int) -> str:
    """Format cents as a decimal string with two places, e.g. 1234 -> ``"12.34"``."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"
