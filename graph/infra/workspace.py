"""The target repository as the only place the harness may write, plus real command execution.

Every path a model names goes through ``Workspace.resolve``: absolute paths, ``..`` escapes, symlinks that
lead outside, the ``.git`` folder and the harness's own ``.sdd`` state are refused before anything is touched,
and so are names that only make sense to a shell (``~``, ``$HOME``, ``%USERPROFILE%``, ``..\\x``), NUL and
other control characters and over-long names. Writes are atomic, size-capped and leave no temp file behind;
commands run with a scrubbed environment and never leave ``__pycache__`` in the repository (their bytecode goes to
one folder outside it, shared by the run's commands).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import os
import re
import shlex
import signal
import stat
import sys
import time
import uuid
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from sdd_harness.graph.infra.checkpoints import STATE_DIR
from sdd_harness.graph.infra.childenv import bytecode_dir, forget_bytecode, scrubbed_env
from sdd_harness.graph.infra.pathnames import is_drive_path, path_name_problem, shown
from sdd_harness.graph.infra.pyparse import PARSING

_FENCE = re.compile(r"^\s*```[\w+-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)
OUTPUT_TAIL_CHARS = 4000
DEFAULT_MAX_FILE_BYTES = 1 << 20  # one MiB: far above any source file a model should write in one edit
OFF_LIMITS = {
    ".git": "the .git folder is off limits",
    STATE_DIR: f"the {STATE_DIR} folder holds the harness's own run state (run index, checkpoints) and is off limits",
}


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
    """A repository root with guarded file access, and the scrubbed environment its commands run in."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        protected: Iterable[str] = (),
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        secret_names: Iterable[str] = (),
    ) -> None:
        self.root = resolved(os.fspath(root))
        self.protected = frozenset(protected)  # the user's uncommitted files (git.protected_paths): never written
        if not self.root.is_dir():
            raise WorkspaceError(f"repository {self.root} does not exist or is not a folder")
        self.max_file_bytes = max_file_bytes
        self.secret_names = frozenset(secret_names)

    def resolve(self, rel: str) -> Path:
        """The real path of ``rel`` inside the repo, or a WorkspaceError that names the path and the reason."""
        if problem := path_name_problem(rel):
            raise WorkspaceError(problem)
        if Path(rel).is_absolute() or is_drive_path(rel):
            raise WorkspaceError(f"refused {rel!r}: absolute paths are not allowed, use a path inside the repo")
        try:
            target = (self.root / rel).resolve()
        except (OSError, RuntimeError, ValueError) as err:  # a symlink loop, a name the OS will not take
            raise WorkspaceError(f"refused {shown(rel)}: it cannot be resolved ({err})") from None
        if not target.is_relative_to(self.root):
            raise WorkspaceError(f"refused {rel!r}: it points outside the repository {self.root}")
        for part in target.relative_to(self.root).parts:
            if why := OFF_LIMITS.get(part.lower()):
                raise WorkspaceError(f"refused {rel!r}: {why}")
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
        target = self.resolve(rel)
        if not target.is_file():
            why = "it is a folder" if target.is_dir() else "no such file" if not target.exists() else "not a file"
            raise WorkspaceError(f"cannot read {rel!r}: {why}")
        return _read_text(rel, target)

    def write(self, rel: str, text: str) -> Path:
        """Atomically create or replace one file. On any failure nothing changes: no temp file, no new folder."""
        target = self.writable(rel)
        data, problem = self._encoded(rel, text)
        if problem := problem or self._placement_problem(rel, target):
            raise WorkspaceError(problem)
        created: list[Path] = []
        tmp = target.with_name(f".{target.name[:40]}.{uuid.uuid4().hex[:8]}.sdd-tmp")  # unique: parallel writers
        done = False
        try:
            mode = stat.S_IMODE(target.stat().st_mode) if target.is_file() else None
            _make_folders(target.parent, self.root, created)
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as handle:
                if mode is not None:
                    os.fchmod(handle.fileno(), mode)  # an executable script stays executable
                handle.write(data)
            os.replace(tmp, target)
            done = True
            forget_bytecode(target)
        except OSError as err:
            raise WorkspaceError(f"could not write {shown(rel)}: {err.strerror or err}") from None
        finally:
            if not done:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                for folder in reversed(created):
                    with contextlib.suppress(OSError):
                        folder.rmdir()
        return target

    def check_edit(self, edit: Edit) -> str | None:
        """Why an edit cannot be applied to the current files, or None when it can."""
        try:
            target = self.writable(edit.path)
            current = self._current(edit.path, target)
        except WorkspaceError as err:
            return str(err)
        text, problem = _edited(edit, current)
        return problem or self._encoded(edit.path, text)[1] or self._placement_problem(edit.path, target)

    def apply(self, edits: list[Edit]) -> list[str]:
        """Apply all edits or none: each edit is checked against the text the earlier ones produce, and a write
        that fails half-way (disk full) puts back the files already written."""
        pending: dict[Path, str] = {}
        problems: list[str] = []
        for edit in edits:
            try:
                target = self.writable(edit.path)
                current = pending.get(target)
                current = self._current(edit.path, target) if current is None else current
            except WorkspaceError as err:
                problems.append(str(err))
                continue
            text, problem = _edited(edit, current)
            if problem:
                problems.append(problem)
            else:
                pending[target] = text
        for target, text in pending.items():
            rel = self.rel(target)
            if (problem := _syntax_problem(rel, text)) and (repaired := repaired_syntax(rel, text)) != text:
                pending[target], problem = repaired, _syntax_problem(rel, repaired)
            problem = problem or self._encoded(rel, pending[target])[1] or self._placement_problem(rel, target)
            if not problem and (inner := next((p for p in pending if target in p.parents), None)):
                problem = f"refused {rel!r}: another edit needs it as a folder for {self.rel(inner)!r}"
            problems += [problem] if problem else []
        if problems:
            raise WorkspaceError("; ".join(problems))
        written: list[tuple[Path, bytes | None]] = []
        try:
            for target, text in pending.items():
                before = target.read_bytes() if target.is_file() else None
                self.write(self.rel(target), text)
                written.append((target, before))
        except (WorkspaceError, OSError):
            _restore(written)
            raise
        return [self.rel(target) for target in pending]

    async def run(self, command: str, timeout_s: float) -> CommandResult:
        """Run a shell-free command in the repo with a timeout; the process group is killed on timeout.

        The command gets a scrubbed environment (no keys, tokens, passwords or URL credentials) and writes
        Python bytecode into one folder outside the repository, shared by this process's commands."""
        argv = shlex.split(command)
        if argv and argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        env = scrubbed_env(os.environ, self.secret_names)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(PYTHONPYCACHEPREFIX=await asyncio.to_thread(bytecode_dir), NO_COLOR="1")
        return await _run(command, argv, self.root, env, timeout_s)

    def _current(self, rel: str, target: Path) -> str | None:
        """The file's text, None when it does not exist yet; a folder or an unreadable file is refused."""
        if target.is_dir():
            raise WorkspaceError(f"refused {rel!r}: it is an existing folder, not a file")
        return _read_text(rel, target) if target.is_file() else None

    def _encoded(self, rel: str, text: str) -> tuple[bytes, str | None]:
        """(UTF-8 bytes, problem): text that cannot be encoded or is over the size limit is refused."""
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as err:
            return b"", f"refused {rel!r}: the content is not valid UTF-8 text ({err.reason} at character {err.start})"
        if len(data) > self.max_file_bytes:
            return data, (
                f"refused {rel!r}: {len(data):,} bytes is over the {self.max_file_bytes:,}-byte limit for one "
                "file (run.max_file_bytes)"
            )
        return data, None

    def _placement_problem(self, rel: str, target: Path) -> str | None:
        """A folder where the file should go, or a file where one of its folders should be."""
        if target.is_dir():
            return f"refused {rel!r}: it is an existing folder, not a file"
        for folder in target.parents:
            if folder == self.root or not folder.is_relative_to(self.root):
                return None
            if folder.is_dir():
                return None
            if folder.exists():
                return f"refused {rel!r}: {self.rel(folder)!r} is a file, so it cannot hold {target.name!r}"
        return None


async def _run(command: str, argv: list[str], cwd: Path, env: dict[str, str], timeout_s: float) -> CommandResult:
    start = time.perf_counter()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    except (OSError, ValueError) as err:
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
    text = b"".join(chunks).decode("utf-8", errors="replace")
    return CommandResult(
        command=command,
        exit_code=None if timed_out else proc.returncode,
        output=text[-OUTPUT_TAIL_CHARS:],
        seconds=round(time.perf_counter() - start, 3),
        timed_out=timed_out,
    )


def _read_text(rel: str, target: Path) -> str:
    try:
        return target.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise WorkspaceError(f"cannot read {rel!r}: {err.strerror or err}") from None


def _make_folders(folder: Path, root: Path, created: list[Path]) -> None:
    """mkdir -p below ``root``, recording each folder made so a failed write can remove them again."""
    missing = [p for p in (folder, *folder.parents) if p.is_relative_to(root) and not p.exists()]
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:  # a parallel writer made it first: not ours to remove
            continue
        created.append(path)


def _restore(written: list[tuple[Path, bytes | None]]) -> None:
    """Best effort: put back what an all-or-nothing apply already wrote before a later write failed."""
    for target, before in reversed(written):
        with contextlib.suppress(OSError):
            if before is None:
                target.unlink()
            else:
                target.write_bytes(before)
            forget_bytecode(target)


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
            with PARSING:  # see pyparse: the parser is not thread-safe on 3.11
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
        with PARSING:  # see pyparse: the parser is not thread-safe on 3.11
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
