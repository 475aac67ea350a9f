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


def parse_key_values(text: str) -> dict[str, str]:
    """Parse ``"key=value; key2=value2"`` into a dict of stripped strings.

    Empty segments are skipped, only the first ``=`` splits, and a repeated key keeps
    its last value. Raises ValueError for a segment without ``=`` or with an empty key.
    """
    result: dict[str, str] = {}
    for segment in text.split(";"):
        if not segment.strip():
            continue
        key, sep, value = segment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"invalid key=value pair: {segment.strip()!r}")
        result[key] = value.strip()
    return result
