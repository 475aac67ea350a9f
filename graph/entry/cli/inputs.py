"""What the user typed, checked before anything runs: the request, `-m ROLE=MODEL`, and whether the config's
models can be served here at all (keys set, local models installed). Each problem is a `BadInput` naming the
argument, the value and what is allowed; nothing has been written when it is raised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sdd_harness.graph.entry.cli.app import BadInput

MAX_REQUEST_BYTES = 256 * 1024  # a change request, not a document dump
REQUEST_FILE_SUFFIXES = (".md", ".txt", ".markdown", ".rst", ".yaml", ".yml")


def read_request(argument: str) -> str:
    """The request text: the argument itself, or the UTF-8 text file it names.

    Binary input never becomes a change: NUL bytes, bytes that are not UTF-8, a folder, or a request file that
    does not exist are refused.
    """
    if "\x00" in argument:
        raise BadInput("the request contains NUL bytes (binary data?); give the request as text or a UTF-8 text file")
    path = _as_path(argument)
    if path is None:
        return argument
    if path.is_dir():
        raise BadInput(f"request {argument!r} is a folder; give the request text or a text file holding it")
    if not path.is_file():
        if path.suffix.lower() in REQUEST_FILE_SUFFIXES:
            raise BadInput(f"request file {argument} not found; give an existing file or the request text")
        return argument
    size = path.stat().st_size
    if size > MAX_REQUEST_BYTES:
        raise BadInput(
            f"request file {path}: {size:,} bytes; a request file may hold at most {MAX_REQUEST_BYTES:,} bytes"
        )
    data = path.read_bytes()
    if b"\x00" in data:
        raise BadInput(f"request file {path}: binary data (NUL bytes); give a UTF-8 text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadInput(
            f"request file {path}: not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start}); "
            "save it as UTF-8"
        ) from None
    return text.removeprefix("\ufeff")


def _as_path(argument: str) -> Path | None:
    """The argument as a path when it could name a file (one line, no surrounding spaces, a sane length)."""
    if not argument or "\n" in argument or argument != argument.strip() or len(argument) > 1024:
        return None
    path = Path(argument).expanduser()
    try:
        path.exists()
    except (OSError, ValueError):
        return None
    return path


def parse_overrides(values: list[str], config: Any) -> dict[str, str]:
    """`-m ROLE=MODEL` / `-m ROLE=PROVIDER:MODEL` for any role of ``config`` (its custom phases included)."""
    roles = list(config.roles())
    providers = sorted(config.providers)
    overrides: dict[str, str] = {}
    for item in values:
        role, sep, model = item.partition("=")
        if "\x00" in item:
            raise BadInput(f"--model {item!r}: contains NUL bytes")
        if not sep or not model.strip() or not role:
            raise BadInput(
                f"--model {item!r}: expected ROLE=MODEL or ROLE=PROVIDER:MODEL, e.g. sdd-apply=deepseek-v4-pro"
            )
        if role not in roles:
            raise BadInput(f"--model {item!r}: unknown role {role!r}; allowed: {', '.join(roles)}")
        source, colon, name = model.partition(":")
        if colon and source not in config.providers:
            raise BadInput(
                f"--model {item!r}: unknown provider {source!r}; allowed providers: {', '.join(providers)} "
                f"(a model id that contains ':' needs its provider first, e.g. ollama:qwen2.5-coder:7b)"
            )
        if colon and not name.strip():
            raise BadInput(f"--model {item!r}: no model after {source}:")
        overrides[role] = model
    return overrides


def check_ready(config: Any, overrides: dict[str, str]) -> None:
    """Every role's provider key is set and every embedded model can be served (ConfigError otherwise)."""
    from sdd_harness.graph.core.models import ModelRegistry

    ModelRegistry(config, overrides).check_ready()


def local_models_hint(config: Any, overrides: dict[str, str] | None = None) -> str | None:
    """None when the embedded models this config uses are installed; else what to install or which config to pick."""
    from sdd_harness.graph.core.config import ConfigError
    from sdd_harness.graph.core.models import ModelRegistry
    from sdd_harness.graph.core.readiness import LocalModelsMissing

    try:
        ModelRegistry(config, overrides).check_local_models()
    except LocalModelsMissing as err:
        return str(err)
    except ConfigError:
        return None
    return None
