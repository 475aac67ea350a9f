"""CSS-style hex colour codes such as ``#ff8800`` and its short form ``#f80``."""

import string

from palette.mixing import RGB

_HEX_DIGITS = frozenset(string.hexdigits)


def parse_hex(code: str) -> RGB:
    """Parse ``"#rrggbb"`` or ``"#rgb"`` (``#`` optional, any case) into an RGB tuple.

    Raises ValueError for any other number of digits or a character that is not a hex digit.
    """
    digits = code[1:] if code.startswith("#") else code
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    if len(digits) != 6 or not set(digits) <= _HEX_DIGITS:
        raise ValueError(f"not a hex colour code: {code!r}")
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def to_hex(rgb: RGB) -> str:
    """Format an RGB tuple as lower-case ``"#rrggbb"``. Raises ValueError for a component outside 0-255."""
    for component in rgb:
        if not 0 <= component <= 255:
            raise ValueError(f"colour components must be 0-255, got {component}")
    red, green, blue = rgb
    return f"#{red:02x}{green:02x}{blue:02x}"
