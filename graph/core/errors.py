"""Errors the core raises for the person who wrote the config."""

from __future__ import annotations

from typing import Any


class ConfigError(Exception):
    """A config problem, phrased for the person who wrote the file."""

    def __init__(self, file: str, key: str, value: Any, allowed: str) -> None:
        self.file, self.key, self.value, self.allowed = file, key, value, allowed
        super().__init__(f"{file}: {key}: got {value!r}; {allowed}")
