"""Parsing and formatting of durations like ``"2h"``, ``"45s"`` or ``"1h30m"``."""

import re

UNIT_SECONDS: dict[str, int] = {"h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([hms])")
_FULL = re.compile(r"(?:\d+[hms])+")


def parse_duration(text: str) -> int:
    """Return the number of seconds in ``text``, e.g. ``"1h30m"`` -> 5400.

    Units are ``h``, ``m`` and ``s``; parts may be combined in any order.
    Raises ValueError for empty or malformed input.
    """
    if not _FULL.fullmatch(text):
        raise ValueError(f"invalid duration: {text!r}")
    return sum(int(amount) * UNIT_SECONDS[unit] for amount, unit in _PART.findall(text))


def format_duration(seconds: int) -> str:
    """Format ``seconds`` as the shortest ``XhYmZs`` string, e.g. 5400 -> ``"1h30m"``.

    Zero is formatted as ``"0s"``. Raises ValueError for negative input.
    """
    if seconds < 0:
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    parts = []
    for unit, size in UNIT_SECONDS.items():
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"
