"""API keys from the environment and an optional ``.env`` file — and keeping them out of every output.

Keys are only ever read from environment variables (a config file that carries one is rejected as an unknown
key). ``.env`` files are a convenience, parsed by python-dotenv (``KEY=value`` lines, ``export`` prefixes,
quotes, escapes and ``#`` comments); what is ours is where we look and that a variable already set in the
environment always wins. Nothing here logs or prints a value: a malformed line is reported by number only.

``redact`` is the last line of defence for text we store or show (call records, error messages): it masks the
values of key-like variables and anything shaped like a bearer key.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from pathlib import Path

import dotenv

HARNESS_ROOT = Path(__file__).resolve().parents[2]
_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
_KEY_SHAPE = re.compile(r"\b(sk|rk|gsk|xai)-[A-Za-z0-9_\-]{8,}")
_BEARER = re.compile(r"\b(Bearer\s+)[A-Za-z0-9_\-\.=]{8,}")
MASK = "***"


def parse_dotenv(text: str) -> dict[str, str]:
    """``KEY=value`` pairs from a .env file's text, parsed by python-dotenv.

    Values are taken literally (no ``${VAR}`` expansion: a key may contain ``$``); a name without ``=`` is
    dropped. python-dotenv logs the line number of a malformed line, never its text.
    """
    return _defined(dotenv.dotenv_values(stream=io.StringIO(text), interpolate=False))


def dotenv_values(path: str | os.PathLike[str]) -> dict[str, str]:
    """The variables in one .env file; {} when it does not exist or cannot be read."""
    try:
        return _defined(dotenv.dotenv_values(Path(path), interpolate=False, encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}


def _defined(values: Mapping[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in values.items() if value is not None}


def default_dotenv_files(extra: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """``.env`` in the working directory, then in the harness repository, then any ``extra`` folders."""
    folders = [Path.cwd(), HARNESS_ROOT, *(Path(f) for f in extra)]
    seen: list[Path] = []
    for folder in folders:
        candidate = (folder / ".env").resolve()
        if candidate not in seen:
            seen.append(candidate)
    return seen


def env_with_dotenv(
    base: Mapping[str, str] | None = None, files: Iterable[str | os.PathLike[str]] | None = None
) -> dict[str, str]:
    """``base`` (default ``os.environ``) plus .env values for variables ``base`` does not set (first file wins)."""
    merged = dict(os.environ if base is None else base)
    for path in default_dotenv_files() if files is None else [Path(f) for f in files]:
        for name, value in dotenv_values(path).items():
            if not merged.get(name):
                merged[name] = value
    return merged


class EnvWithDotenv(Mapping[str, str]):
    """``os.environ`` that falls back to .env files — read lazily, only when a variable is missing, so
    building a registry does no file I/O (``langgraph dev`` forbids blocking calls on its event loop)."""

    def __init__(self, files: Iterable[str | os.PathLike[str]] | None = None) -> None:
        self._files = None if files is None else [Path(f) for f in files]
        self._dotenv: dict[str, str] | None = None

    def _fallback(self) -> dict[str, str]:
        if self._dotenv is None:
            self._dotenv = env_with_dotenv({}, self._files)
        return self._dotenv

    def __getitem__(self, name: str) -> str:
        value = os.environ.get(name)
        if value:
            return value
        return self._fallback()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(os.environ)

    def __len__(self) -> int:
        return len(os.environ)

    def __repr__(self) -> str:  # never show values
        return "EnvWithDotenv(os.environ + .env)"


def load_dotenv(
    *folders: str | os.PathLike[str], environ: MutableMapping[str, str] | None = None, defaults: bool = True
) -> list[str]:
    """Set variables from .env files into ``environ`` (default ``os.environ``) unless already set.

    Looks in the working directory and the harness repository (``defaults``) and in ``folders``. Returns the
    names it set — never the values.
    """
    target = os.environ if environ is None else environ
    files = default_dotenv_files(folders) if defaults else [(Path(f) / ".env").resolve() for f in folders]
    added: list[str] = []
    for path in files:
        for name, value in dotenv_values(path).items():
            if not target.get(name):
                target[name] = value
                added.append(name)
    return added


def secret_values(env: Mapping[str, str] | None = None, names: Iterable[str] = ()) -> list[str]:
    """Values worth masking: key-like variables of ``env`` plus the named ones (shortest ignored)."""
    env = os.environ if env is None else env
    wanted = set(names)
    found = {v for k, v in env.items() if (k in wanted or _SECRET_NAME.search(k)) and v and len(v) >= 6}
    return sorted(found, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] = (), env: Mapping[str, str] | None = None) -> str:
    """``text`` with known key values and key-shaped tokens masked."""
    if not text:
        return text
    for value in [*secrets, *secret_values(env)]:
        if value and len(value) >= 6 and value in text:
            text = text.replace(value, MASK)
    return _BEARER.sub(rf"\g<1>{MASK}", _KEY_SHAPE.sub(rf"\g<1>-{MASK}", text))
