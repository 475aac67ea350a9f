"""Parsers for setting values given as strings."""

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_bool(text: str) -> bool:
    """Parse ``"yes"``/``"no"``, ``"true"``/``"false"``, ``"on"``/``"off"``, ``"1"``/``"0"``.

    Case and surrounding whitespace are ignored. Raises ValueError for anything else.
    """
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"not a boolean: {text!r}")
