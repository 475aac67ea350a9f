"""A throwaway copy of the repository where a candidate edit is applied and tested.

Candidates are tried side by side without touching the user's files: each gets its own copy, made from the
files git lists (tracked, or untracked but not ignored) or, outside git, from a walk that skips virtualenvs and
caches. The files are real copies, not hard links: the candidate's code and its tests run in the copy, and an
in-place write there (``open(path, "w")``) would go through a hard link into the user's file. The copy lives
under the harness's own ``.sdd/`` folder and is removed afterwards.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from sdd_harness.graph.infra.checkpoints import STATE_DIR
from sdd_harness.graph.infra.repomap import iter_files
from sdd_harness.graph.infra.workspace import Workspace

MAX_FILES = 20_000


def copy_repo(root: Path, target: Path) -> int:
    """Copy the repository's files into ``target``; returns how many."""
    count = 0
    for rel in iter_files(root, limit=MAX_FILES, text_only=False):
        source = root / rel
        if source.is_file() and not source.is_symlink():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / rel)
            count += 1
    return count


def _make(workspace: Workspace) -> Workspace:
    base = workspace.root / STATE_DIR / "sandboxes"
    base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{uuid.uuid4().hex[:6]}-", dir=base))
    try:
        copy_repo(workspace.root, folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Workspace(
        folder,
        protected=workspace.protected,
        max_file_bytes=workspace.max_file_bytes,
        secret_names=workspace.secret_names,
    )


@contextmanager
def sandbox(workspace: Workspace) -> Iterator[Workspace]:
    """A workspace on a fresh copy of ``workspace``'s repository, with the same guards; removed on exit."""
    copy = _make(workspace)
    try:
        yield copy
    finally:
        shutil.rmtree(copy.root, ignore_errors=True)


@asynccontextmanager
async def asandbox(workspace: Workspace) -> AsyncIterator[Workspace]:
    """``sandbox`` for async code: the copying and the removal run off the event loop."""
    copy = await asyncio.to_thread(_make, workspace)
    try:
        yield copy
    finally:
        await asyncio.to_thread(shutil.rmtree, copy.root, True)
