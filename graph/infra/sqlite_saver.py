"""LangGraph's SqliteSaver driven from asyncio: one thread hop per checkpoint call.

``AsyncSqliteSaver`` goes through aiosqlite, which hands every cursor, execute, commit and close to its
connection thread separately: three or four event-loop round trips per checkpoint write, ~200 per nine-phase
run. Here each call (``put``, ``put_writes``, ``get_tuple`` …) runs whole on the saver's own thread: same
tables, same SQL (LangGraph's ``SqliteSaver``), same commit per call, so ``durability="sync"`` keeps the same
guarantee and stores written by either saver read the same. bench/results.md has the figures.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.sqlite import SqliteSaver

R = TypeVar("R")


class StoreOpenError(Exception):
    """The SQLite file cannot be opened as a checkpoint store (corrupt, not a database, no access)."""


PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",  # WAL + NORMAL: a killed process loses nothing committed
    "PRAGMA busy_timeout=10000",  # a second process (another run, a resume) waits instead of failing
)


class ThreadedSqliteSaver(SqliteSaver):
    """``SqliteSaver`` with its async API: every call runs on one dedicated thread, the connection's own."""

    def __init__(self, conn: sqlite3.Connection, pool: ThreadPoolExecutor) -> None:
        super().__init__(conn)
        self.pool = pool

    async def _hop(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        return await asyncio.get_running_loop().run_in_executor(self.pool, partial(fn, *args, **kwargs))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._hop(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        found = await self._hop(lambda: list(self.list(config, filter=filter, before=before, limit=limit)))
        for item in found:
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._hop(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self._hop(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self._hop(self.delete_thread, thread_id)

    async def aget_delta_channel_history(self, *, config: RunnableConfig, channels: Sequence[str]) -> Mapping[str, Any]:
        return await self._hop(self.get_delta_channel_history, config=config, channels=channels)


def _connect(path: Path, pool: ThreadPoolExecutor) -> ThreadedSqliteSaver:
    conn = sqlite3.connect(str(path), check_same_thread=False)
    try:
        for pragma in PRAGMAS:
            conn.execute(pragma)
        saver = ThreadedSqliteSaver(conn, pool)
        saver.setup()
    except BaseException:
        conn.close()
        raise
    return saver


@asynccontextmanager
async def open_sqlite_saver(path: Path) -> AsyncIterator[ThreadedSqliteSaver]:
    """A ready saver on ``path`` (created with its tables if new); closed, and its thread ended, on exit."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sdd-sqlite")
    loop = asyncio.get_running_loop()
    try:
        try:
            saver = await loop.run_in_executor(pool, _connect, path, pool)
        except sqlite3.Error as err:
            raise StoreOpenError(f"cannot open the checkpoint store {path}: {err}") from None
        try:
            yield saver
        finally:
            await loop.run_in_executor(pool, saver.conn.close)
    finally:
        pool.shutdown(wait=False)
