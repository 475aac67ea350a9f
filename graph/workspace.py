"""The target repository as the only place the harness may write, plus real command execution.

Every path a model names goes through ``Workspace.resolve``: absolute paths, ``..`` escapes, symlinks that
lead outside and the ``.git`` folder are refused before anything is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

_FENCE = re.compile(r"^\s*```[\w+-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)
OUTPUT_TAIL_CHARS = 4000


class WorkspaceError(Exception):
    """An edit the harness refuses to make; the message says which path and why."""


class Edit(BaseModel):
    """One file operation. Small models do best with these three shapes only."""

    op: Literal["create", "replace_file", "search_replace"] = Field(
        description="create: new file; replace_file: whole new content; search_replace: exact text swap"
    )
    path: str = Field(description="File path relative to the repository root.")
    content: str = Field("", description="Full file content for create/replace_file.")
    search: str = Field("", description="Exact existing text to replace (search_replace only).")
    replace: str = Field("", description="Replacement text (search_replace only).")

    @field_validator("content", "search", "replace")
    @classmethod
    def _strip_fences(cls, value: str) -> str:
        match = _FENCE.match(value)
        return match.group(1) if match else value

    @field_validator("path")
    @classmethod
    def _clean_path(cls, value: str) -> str:
        return value.strip().strip("`").strip()


class CommandResult(BaseModel):
    """What a real subprocess did; the tail of its output is kept, not the whole log."""

    command: str
    exit_code: int | None
    output: str = ""
    seconds: float = 0.0
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class Workspace:
    """A repository root with guarded file access."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise WorkspaceError(f"repository {self.root} does not exist or is not a folder")

    def resolve(self, rel: str) -> Path:
        if not rel or rel.strip() in (".", ""):
            raise WorkspaceError("empty path")
        candidate = Path(rel)
        if candidate.is_absolute():
            raise WorkspaceError(f"refused {rel!r}: absolute paths are not allowed, use a path inside the repo")
        target = (self.root / candidate).resolve()
        if not target.is_relative_to(self.root):
            raise WorkspaceError(f"refused {rel!r}: it points outside the repository {self.root}")
        if ".git" in target.relative_to(self.root).parts:
            raise WorkspaceError(f"refused {rel!r}: the .git folder is off limits")
        return target

    def rel(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    def exists(self, rel: str) -> bool:
        try:
            return self.resolve(rel).is_file()
        except WorkspaceError:
            return False

    def read(self, rel: str) -> str:
        return self.resolve(rel).read_text(encoding="utf-8", errors="replace")

    def write(self, rel: str, text: str) -> Path:
        target = self.resolve(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.sdd-tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
        return target

    def check_edit(self, edit: Edit) -> str | None:
        """Why an edit cannot be applied, or None when it can."""
        try:
            target = self.resolve(edit.path)
        except WorkspaceError as err:
            return str(err)
        if edit.op == "search_replace":
            if not target.is_file():
                return f"{edit.path}: search_replace on a file that does not exist"
            if not edit.search:
                return f"{edit.path}: search_replace needs a non-empty search text"
            count = target.read_text(encoding="utf-8", errors="replace").count(edit.search)
            if count != 1:
                return f"{edit.path}: search text found {count} times, it must match exactly once"
        return None

    def apply(self, edits: list[Edit]) -> list[str]:
        """Apply all edits or none; returns the changed paths."""
        problems = [p for e in edits if (p := self.check_edit(e))]
        if problems:
            raise WorkspaceError("; ".join(problems))
        changed: list[str] = []
        for edit in edits:
            if edit.op == "search_replace":
                text = self.read(edit.path).replace(edit.search, edit.replace, 1)
            else:
                text = edit.content if edit.content.endswith("\n") or not edit.content else edit.content + "\n"
            self.write(edit.path, text)
            changed.append(self.rel(self.resolve(edit.path)))
        return changed

    async def run(self, command: str, timeout_s: float) -> CommandResult:
        """Run a shell-free command in the repo with a timeout; the process group is killed on timeout."""
        argv = shlex.split(command)
        if argv and argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "NO_COLOR": "1"}
        start = time.perf_counter()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=self.root,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except OSError as err:
            return CommandResult(command=command, exit_code=None, output=f"could not start: {err}")
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
            timed_out = False
        except TimeoutError:
            _kill_group(proc.pid)
            out, _ = await proc.communicate()
            timed_out = True
        text = (out or b"").decode("utf-8", errors="replace")
        return CommandResult(
            command=command,
            exit_code=None if timed_out else proc.returncode,
            output=text[-OUTPUT_TAIL_CHARS:],
            seconds=round(time.perf_counter() - start, 3),
            timed_out=timed_out,
        )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
