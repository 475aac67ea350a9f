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


def split_cents(cents: int, parts: int) -> list[int]:
    """Split ``cents`` into ``parts`` shares differing by at most one cent.

    The shares add up to ``cents``; leftover cents go to the first shares.
    Raises ValueError if ``parts < 1`` or ``cents`` is negative.
    """
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    if cents < 0:
        raise ValueError(f"cents must be >= 0, got {cents}")
    share, extra = divmod(cents, parts)
    return [share + 1 if i < extra else share for i in range(parts)]
