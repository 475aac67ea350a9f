"""String helpers: whitespace normalisation and truncation."""

import re

_WHITESPACE = re.compile(r"\s+")


def normalize_whitespace(text: str) -> str:
    """Collapse every run of whitespace into one space and strip both ends.

    >>> normalize_whitespace("  hello \\n  world ")
    'hello world'
    """
    return _WHITESPACE.sub(" ", text).strip()


def truncate(text: str, width: int, suffix: str = "...") -> str:
    """Shorten ``text`` to at most ``width`` characters, ending with ``suffix``.

    Text that already fits is returned unchanged.
    Raises ValueError if ``width`` is shorter than ``suffix``.
    """
    if width < len(suffix):
        raise ValueError(f"width must be at least {len(suffix)}, got {width}")
    if len(text) <= width:
        return text
    return text[: width - len(suffix)] + suffix
