"""Git safety for whole runs: start on the run's own branch, commit what a run leaves, undo a run.

The script API calls ``start`` before the graph runs, ``resume`` before a stopped run continues and
``finish`` after every leg (done, failed, paused or interrupted); ``undo_run`` is ``sdd undo``. The git work
itself is in ``graph.infra.git``; this module turns its errors into ``RunError`` lines and keeps the index.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sdd_harness.graph.core.config import HarnessConfig
from sdd_harness.graph.entry.runindex import ACTIVE, UNDONE, RunError, RunIndex, _alive
from sdd_harness.graph.infra import git
from sdd_harness.graph.infra.git import GitError, GitRecord, UndoReport

Emit = Callable[[str], None]


def change_id_for(request: str, repo: Path, cfg: HarnessConfig) -> str:
    """The change id sdd-init would pick, computed before the graph starts so the branch and the OpenSpec
    folder share it (it goes into the run's input as ``change_id``)."""
    from sdd_harness.nodes.init import change_slug

    return change_slug(request, repo / cfg.run.openspec_root / "openspec")


def start(
    repo: Path,
    run_id: str,
    change_id: str,
    cfg: HarnessConfig,
    index: RunIndex,
    *,
    branch: bool | None,
    allow_dirty: bool,
) -> tuple[GitRecord | None, list[str]]:
    """Record the repo's git state and switch to ``sdd/<change-id>``; (record, warnings) for the run."""
    use_branch = cfg.run.git_branch if branch is None else branch
    try:
        if use_branch and git.work_tree(repo) is not None:
            _refuse_if_busy(repo, index, run_id)
        return git.begin_run(repo, run_id, change_id, branch=use_branch, allow_dirty=allow_dirty)
    except GitError as err:
        raise RunError(f"git: {err}; nothing was changed (pass --no-branch to run without a branch)") from None


def refuse_undone(run_id: str, meta: Mapping[str, Any]) -> None:
    if meta.get("status") == UNDONE:
        raise RunError(f"run {run_id} was undone (its branch is deleted); start the change again")


def _refuse_if_busy(repo: Path, index: RunIndex, run_id: str) -> None:
    """One run at a time per git working tree: a second one would switch the branch under the first."""
    busy = sorted(rid for rid, meta in index.listing().items() if meta.get("status") == ACTIVE and rid != run_id)
    if busy:
        raise RunError(
            f"run {busy[0]} is still running in {repo}; two runs in one working tree mix their edits and "
            "branches — wait for it, or give this run its own clone"
        )


def resume(repo: Path, run_id: str, meta: Mapping[str, Any], index: RunIndex) -> tuple[GitRecord | None, list[str]]:
    """Make sure a resumed run writes on its own branch again: switch back to it if the user left it."""
    record = GitRecord.of(meta.get("git"))
    if record is None or record.branch is None:
        return record, []
    _refuse_if_busy(repo, index, run_id)
    try:
        current = git.current_branch(repo)
        if current == record.branch:
            return record, []
        if not git.branch_exists(repo, record.branch):
            raise RunError(f"run {run_id}'s branch {record.branch} no longer exists; start the change again")
        git.run_git(repo, "switch", "--quiet", record.branch)
    except GitError as err:
        raise RunError(f"git: {err}; the run works on {record.branch} — switch to it, then resume") from None
    return record, [f"switched from {current or 'a detached HEAD'} back to the run's branch {record.branch}"]


async def finish(repo: Path, record: GitRecord | None, cfg: HarnessConfig) -> list[str]:
    """Commit what the run leaves on its branch: OpenSpec artifacts first, then any other file it changed
    that no task commit took (a failed task's edits), so switching branches loses nothing. Never raises: a
    git failure here is a warning, and the run stays resumable."""
    if record is None or record.branch is None:
        return []
    openspec = Path(cfg.run.openspec_root, "openspec").as_posix()
    try:
        await asyncio.to_thread(
            git.commit_changes, repo, f"sdd({record.change_id}): OpenSpec artifacts", record, openspec
        )
        rest = f"sdd({record.change_id}): files no task commit took (tests the spec rewrote, unfinished work)"
        await asyncio.to_thread(git.commit_changes, repo, rest, record)
    except GitError as err:
        return [f"git: the run's work could not be committed on {record.branch}: {err}"]
    return []


def undo_run(run_id: str, repo: str | Path, *, discard: bool = False) -> UndoReport:
    """Roll a finished, failed or stopped run back: its branch deleted, the original branch checked out, the
    files it created gone, the user's own changes untouched. ``RunError`` (nothing changed) when it cannot."""
    root = Path(repo).resolve()
    index = RunIndex(root)
    runs = index.listing()
    meta = runs.get(run_id)
    if meta is None:
        raise RunError(f"unknown run id {run_id!r} in {root}; known runs: {', '.join(sorted(runs)) or 'none'}")
    if meta.get("status") == ACTIVE and _alive(meta) is not False:
        raise RunError(f"run {run_id} is still running (process {meta.get('pid')}); stop it before undoing it")
    if meta.get("status") == UNDONE:
        raise RunError(f"run {run_id} was already undone")
    record = GitRecord.of(meta.get("git"))
    if record is None:
        raise RunError(f"run {run_id} ran without git (not a git repository): nothing can be undone")
    try:
        report = git.undo_run(root, record, discard=discard)
    except GitError as err:
        raise RunError(f"cannot undo run {run_id}: {err}") from None
    index.save(run_id, status=UNDONE, reason=f"undone: back on {report.restored}, {report.branch} deleted")
    return report


def describe(report: UndoReport) -> str:
    """One line for the terminal."""
    parts = [f"back on {report.restored}", f"deleted {report.branch} ({report.commits} commit(s))"]
    if report.removed:
        parts.append(f"removed {len(report.removed)} file(s) the run created")
    if report.discarded:
        parts.append(f"discarded uncommitted changes in {len(report.discarded)} file(s)")
    if report.kept:
        parts.append(f"your {len(report.kept)} changed file(s) untouched")
    return "undone: " + ", ".join(parts)
