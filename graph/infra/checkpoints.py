"""Where run state is checkpointed: SQLite beside the repo by default, Postgres when asked.

    async with open_checkpointer(repo) as saver:                      # <repo>/.sdd/checkpoints.sqlite
        ...
    async with open_checkpointer(repo, "postgresql://u:p@host/db") as saver:   # or env SDD_CHECKPOINT_URL
        ...

Both are durable per phase when the graph is streamed with ``durability="sync"``: a checkpoint is on disk
(SQLite WAL, ``synchronous=NORMAL``: survives a killed process; only an OS crash may lose the last commit)
or committed in Postgres before the next phase starts, so a crash costs at most the phase that was running.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ENV_URL = "SDD_CHECKPOINT_URL"
STATE_DIR = ".sdd"
SQLITE_FILE = "checkpoints.sqlite"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class CheckpointError(Exception):
    """A checkpoint store that cannot be opened as asked (bad URL, missing extra, server down)."""


def state_dir(repo: str | Path) -> Path:
    """``<repo>/.sdd`` (created, git-ignored): run index and the default SQLite checkpoints."""
    path = Path(repo) / STATE_DIR
    path.mkdir(parents=True, exist_ok=True)
    gitignore = path / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("*\n", encoding="utf-8")
    return path


def checkpoint_url(url: str | None = None) -> str | None:
    """The URL to use: the argument, else ``SDD_CHECKPOINT_URL``, else None (SQLite in the repo)."""
    return url or os.environ.get(ENV_URL) or None


def is_postgres(url: str | None) -> bool:
    return bool(url) and url.startswith(POSTGRES_SCHEMES)


def redact(url: str) -> str:
    """The URL without its password (safe to log or store in the run index)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def describe(repo: str | Path, url: str | None = None) -> str:
    """Where checkpoints of ``repo`` go, for humans and the run index (no secrets)."""
    url = checkpoint_url(url)
    if is_postgres(url):
        return redact(url)
    if url and url.startswith("sqlite:///"):
        return f"sqlite:///{Path(url.removeprefix('sqlite:///')).resolve()}"
    if url:
        return redact(url)  # not a store we can open; open_checkpointer says so
    return f"sqlite:///{Path(repo).resolve() / STATE_DIR / SQLITE_FILE}"


def sqlite_path(repo: str | Path, url: str | None) -> Path:
    if not url:
        return state_dir(repo) / SQLITE_FILE
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    raise CheckpointError(
        f"checkpoint URL {redact(url)!r} not understood; use postgresql://user:pass@host:port/db, "
        "sqlite:///path/to/file.sqlite, or leave it unset for <repo>/.sdd/checkpoints.sqlite"
    )


@asynccontextmanager
async def open_checkpointer(repo: str | Path, url: str | None = None) -> AsyncIterator[Any]:
    """An async checkpointer for ``repo``: Postgres for ``postgresql://`` URLs (argument or ``SDD_CHECKPOINT_URL``),
    otherwise SQLite (WAL, ``synchronous=NORMAL``) at ``<repo>/.sdd/checkpoints.sqlite``."""
    url = checkpoint_url(url)
    if is_postgres(url):
        async with _postgres(url) as saver:
            yield saver
        return
    path = sqlite_path(repo, url)
    path.parent.mkdir(parents=True, exist_ok=True)
    from sdd_harness.graph.infra.sqlite_saver import StoreOpenError, open_sqlite_saver  # ~0.1 s: only when used

    async with AsyncExitStack() as stack:
        try:
            saver = await stack.enter_async_context(open_sqlite_saver(path))
        except StoreOpenError as err:
            raise CheckpointError(str(err)) from None
        yield saver


@asynccontextmanager
async def _postgres(url: str) -> AsyncIterator[Any]:
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    except ImportError as err:
        raise CheckpointError(
            f"checkpoint URL {redact(url)} needs the postgres extra: pip install 'sdd-harness[postgres]' ({err})"
        ) from None
    import psycopg

    async with AsyncExitStack() as stack:
        try:
            saver = await stack.enter_async_context(AsyncPostgresSaver.from_conn_string(url))
        except psycopg.OperationalError as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(f"cannot connect to {redact(url)}: {reason}") from None
        await saver.setup()  # idempotent migrations
        yield saver


__all__ = [
    "ENV_URL",
    "CheckpointError",
    "checkpoint_url",
    "describe",
    "is_postgres",
    "open_checkpointer",
    "redact",
    "state_dir",
]
