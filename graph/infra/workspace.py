"""The target repository as the only place the harness may write, plus real command execution.

Every path a model names goes through ``Workspace.resolve``: absolute paths, ``..`` escapes, symlinks that
lead outside and the ``.git`` folder are refused before anything is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import os
import re
import shlex
import signal
import sys
import time
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

_FENCE = re.compile(r"^\s*```[\w+-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)
OUTPUT_TAIL_CHARS = 4000


class WorkspaceError(Exception):
    """An edit the harness refuses to make; the message says which path and why."""


class Edit(BaseModel):
    """One file operation. Small models do best with these three shapes only."""

    op: Literal["append", "search_replace", "create", "replace_file"] = Field(
        description="append: add code at the end; search_replace: exact text swap; create: new file; "
        "replace_file: whole new content"
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


@lru_cache(maxsize=512)
def resolved(path: str) -> Path:
    """A repo root's real path. Every node builds a Workspace and resolving a deep path costs one lstat per
    component (~0.3 ms), so roots are resolved once per process; file paths inside are still resolved per use.
    """
    return Path(path).resolve()


class Workspace:
    """A repository root with guarded file access."""

    def __init__(self, root: str | os.PathLike[str], protected: Iterable[str] = ()) -> None:
        self.root = resolved(os.fspath(root))
        self.protected = frozenset(protected)  # the user's uncommitted files (git.protected_paths): never written
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

    def writable(self, rel: str) -> Path:
        """``resolve``, and refuse a file the user had uncommitted changes in when the run started."""
        target = self.resolve(rel)
        if self.protected and self.rel(target) in self.protected:
            raise WorkspaceError(
                f"refused {rel!r}: it has uncommitted changes; commit or stash them, or pass --allow-dirty"
            )
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
        target = self.writable(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.sdd-tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
        return target

    def check_edit(self, edit: Edit) -> str | None:
        """Why an edit cannot be applied to the current files, or None when it can."""
        try:
            target = self.writable(edit.path)
        except WorkspaceError as err:
            return str(err)
        current = target.read_text(encoding="utf-8", errors="replace") if target.is_file() else None
        return _edited(edit, current)[1]

    def apply(self, edits: list[Edit]) -> list[str]:
        """Apply all edits or none: each edit is checked against the text the earlier ones produce."""
        pending: dict[Path, str] = {}
        problems: list[str] = []
        for edit in edits:
            try:
                target = self.writable(edit.path)
            except WorkspaceError as err:
                problems.append(str(err))
                continue
            current = pending.get(target)
            if current is None and target.is_file():
                current = target.read_text(encoding="utf-8", errors="replace")
            text, problem = _edited(edit, current)
            if problem:
                problems.append(problem)
            else:
                pending[target] = text
        for target, text in pending.items():
            rel = self.rel(target)
            if (problem := _syntax_problem(rel, text)) and (repaired := repaired_syntax(rel, text)) != text:
                pending[target], problem = repaired, _syntax_problem(rel, repaired)
            problems += [problem] if problem else []
        if problems:
            raise WorkspaceError("; ".join(problems))
        for target, text in pending.items():
            self.write(self.rel(target), text)
        return [self.rel(target) for target in pending]

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
        chunks: list[bytes] = []
        reader = asyncio.create_task(_drain(proc.stdout, chunks))
        try:
            await asyncio.wait_for(proc.wait(), timeout_s)
            timed_out = False
        except TimeoutError:
            _kill_group(proc.pid)
            await proc.wait()
            timed_out = True
        except asyncio.CancelledError:
            _kill_group(proc.pid)  # Ctrl-C / cancelled run: never leave the command's process group behind
            await proc.wait()
            raise
        await reader
        out = b"".join(chunks)
        text = (out or b"").decode("utf-8", errors="replace")
        return CommandResult(
            command=command,
            exit_code=None if timed_out else proc.returncode,
            output=text[-OUTPUT_TAIL_CHARS:],
            seconds=round(time.perf_counter() - start, 3),
            timed_out=timed_out,
        )


_FENCE_LINE = re.compile(r"^```[\w+-]*$")
_PROSE = re.compile(r"^[A-Z][a-z]+(?: [\w`'\"(),/-]+){3,}[.:]$")


def repaired_syntax(rel: str, text: str, limit: int = 20) -> str:
    """Small models sometimes write an English sentence as a line of code ("This method validates the
    arguments.") or leave a markdown fence inside the file, which breaks the whole file. Such a line, when it is
    exactly where Python stops parsing, becomes a comment (a fence is dropped). A ``\\n`` meant inside a quoted
    string that JSON decoding turned into a real line break (``'a \\n b'`` split over two lines) is escaped
    back. Anything else is left for `_syntax_problem` to report."""
    if not rel.endswith(".py"):
        return text
    for _ in range(limit):
        try:
            compile(text, rel, "exec", dont_inherit=True)
            return text
        except (SyntaxError, ValueError) as err:
            lines = text.split("\n")
            index = (getattr(err, "lineno", None) or 0) - 1
            if not 0 <= index < len(lines):
                return text
            stripped = lines[index].strip()
            if _FENCE_LINE.match(stripped):
                del lines[index]  # a markdown fence inside the file: never Python
            elif _PROSE.match(stripped):
                indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
                lines[index] = f"{indent}# {stripped}"
            elif str(getattr(err, "msg", "")).startswith("unterminated string literal") and index + 1 < len(lines):
                lines[index : index + 2] = [f"{lines[index]}\\n{lines[index + 1]}"]
            else:
                return text
            text = "\n".join(lines)
    return text


def _syntax_problem(rel: str, text: str) -> str | None:
    """Never write a Python file that does not parse: say where it breaks instead."""
    if not rel.endswith(".py"):
        return None
    try:
        compile(text, rel, "exec", dont_inherit=True)
    except SyntaxError as err:
        line = (err.text or "").strip()
        return f"{rel} line {err.lineno}: SyntaxError: {err.msg}" + (f" in `{line[:80]}`" if line else "")
    except ValueError as err:
        return f"{rel}: {err}"
    return None


async def _drain(stream: asyncio.StreamReader | None, chunks: list[bytes]) -> None:
    """Keep everything a command prints, so a timeout still shows what happened before it."""
    if stream is None:
        return
    while chunk := await stream.read(65536):
        chunks.append(chunk)


def _edited(edit: Edit, current: str | None) -> tuple[str, str | None]:
    """(new text, problem) for one edit applied to ``current`` (None = file does not exist)."""
    if edit.op == "append":
        if current is None:
            return "", f"{edit.path}: append to a file that does not exist (use create)"
        addition = (edit.content or edit.replace).strip("\n")
        if not addition:
            return "", f"{edit.path}: append needs content"
        return f"{current.rstrip(chr(10))}\n\n\n{addition}\n", None
    if edit.op == "create" and current is not None:
        return "", f"{edit.path}: create on a file that already exists; use append or search_replace"
    if edit.op != "search_replace":
        content = edit.content
        return (content if content.endswith("\n") or not content else content + "\n"), None
    if edit.search == edit.replace:
        return "", f"{edit.path}: search_replace changes nothing (search == replace); make a real change"
    if current is None:
        return "", f"{edit.path}: search_replace on a file that does not exist"
    if not edit.search:
        return "", f"{edit.path}: search_replace needs a non-empty search text"
    count = current.count(edit.search)
    if count > 1:
        return "", f"{edit.path}: search text found {count} times; include surrounding lines so it matches once"
    if count == 0:
        return "", f"{edit.path}: search text found 0 times, it must match exactly once{_closest(edit.search, current)}"
    return current.replace(edit.search, edit.replace, 1), None


def _closest(search: str, current: str) -> str:
    """Point a model whose search text is slightly off at the line it probably meant (copy it exactly)."""
    wanted = next((ln.strip() for ln in search.splitlines() if ln.strip()), "")
    lines = [ln.strip() for ln in current.splitlines() if ln.strip()]
    match = difflib.get_close_matches(wanted, lines, n=1, cutoff=0.6) if wanted else []
    return f"; the closest line in the file is `{match[0][:160]}`" if match else ""


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
