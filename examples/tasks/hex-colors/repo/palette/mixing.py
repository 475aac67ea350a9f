"""Mixing two colours."""

RGB = tuple[int, int, int]


def blend(first: RGB, second: RGB, ratio: float = 0.5) -> RGB:
    """Mix two colours; ``ratio`` is the share of ``second`` (0 gives ``first``, 1 gives ``second``).

    Each component is rounded to the nearest int. Raises ValueError if ``ratio`` is outside 0-1.
    """
    if not 0 <= ratio <= 1:
        raise ValueError(f"ratio must be between 0 and 1, got {ratio}")
    red, green, blue = (round(a + (b - a) * ratio) for a, b in zip(first, second, strict=True))
    return red, green, blue
