"""Errors the core raises for the person who wrote the config."""

from __future__ import annotations

from typing import Any

MAX_SHOWN_VALUE_CHARS = 200  # an alias-expanded or pasted value must not turn the one-line error into megabytes


class ConfigError(Exception):
    """A config problem, phrased for the person who wrote the file; ``str()`` is the one line the CLI prints."""

    def __init__(self, file: str, key: str, value: Any, allowed: str) -> None:
        self.file, self.key, self.value, self.allowed = file, key, value, allowed
        try:
            shown = repr(value)
        except RecursionError:  # a value built in Python (the script API) can be nested past repr's limit
            shown = f"<a {type(value).__name__} nested too deeply to show>"
        if len(shown) > MAX_SHOWN_VALUE_CHARS:
            shown = f"{shown[:MAX_SHOWN_VALUE_CHARS]}… ({len(shown):,} characters)"
        super().__init__(f"{file}: {key}: got {shown}; {allowed}")
