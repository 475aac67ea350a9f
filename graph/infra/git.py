"""Git as the user's safety net: each run on its own branch, finished work committed, one-command undo.

At run start (``begin_run``) the harness records the original branch and HEAD and the files with uncommitted
changes (the user's work: never written unless allowed, never committed), then switches to ``sdd/<change-id>``.
During the run ``commit_paths`` commits exactly the paths it is given on that branch; ``undo_run`` switches
back, deletes the branch once it is sure every commit on it is the run's, and leaves the user's files alone.

Git runs as a subprocess with a scrubbed environment, no hooks, no pager, no editor, no prompts, no signing:
a repository's hooks or a credential prompt must never run or hang an unattended run. Every failure is a
``GitError`` with one line that says what failed and where.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, Field

from sdd_harness.graph.infra.checkpoints import STATE_DIR

BRANCH_PREFIX = "sdd/"
RUN_TRAILER = "Sdd-Run"
FALLBACK_NAME, FALLBACK_EMAIL = "sdd-harness", "sdd-harness@localhost"
GIT_TIMEOUT_S = 120
MAX_BRANCH_SUFFIX = 1000
_KEEP_GIT_ENV = re.compile(r"^GIT_(AUTHOR|COMMITTER)_(NAME|EMAIL|DATE)$|^GIT_CONFIG_(GLOBAL|SYSTEM|NOSYSTEM)$")
_SECRET_ENV = re.compile(r"(API_KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
_SAFE_CONFIG = ("core.hooksPath=/dev/null", "core.fsmonitor=false", "commit.gpgSign=false", "core.pager=cat")


class GitError(Exception):
    """A git step that failed; the message is one line naming the command, the folder and git's reason."""


class GitRecord(BaseModel):
    """What one run needs to commit safely and to be undone; stored in the run index and the runtime context."""

    run_id: str
    change_id: str
    top: str = Field(description="The git work tree's root (absolute).")
    original_branch: str | None = Field(description="Branch checked out at start; None = detached HEAD.")
    original_head: str | None = Field(description="Commit checked out at start; None = no commit yet.")
    branch: str | None = Field(None, description="The run's own branch; None = it works on the original one.")
    dirty: list[str] = Field(default_factory=list, description="Files (repo-relative) with changes at start.")
    allow_dirty: bool = False

    @classmethod
    def of(cls, value: GitRecord | Mapping[str, Any] | None) -> GitRecord | None:
        return value if isinstance(value, GitRecord) or value is None else cls.model_validate(value)


def protected_paths(record: GitRecord | Mapping[str, Any] | None) -> frozenset[str]:
    """Repo-relative files a run must not write: the ones the user had uncommitted changes in at start."""
    rec = GitRecord.of(record)
    return frozenset() if rec is None or rec.allow_dirty else frozenset(rec.dirty)


def _env(literal: bool = True) -> dict[str, str]:
    """The caller's environment without anything that redirects git (GIT_DIR from a hook...) or holds a key."""
    env = {
        key: value
        for key, value in os.environ.items()
        if (not key.startswith("GIT_") or _KEEP_GIT_ENV.match(key)) and not _SECRET_ENV.search(key)
    }
    env.update(
        LC_ALL="C",
        GIT_TERMINAL_PROMPT="0",
        GIT_PAGER="cat",
        PAGER="cat",
        GIT_EDITOR="true",
        GIT_OPTIONAL_LOCKS="0",
    )
    if literal:  # a file named `*.py` is that file, never a pattern (check-ignore rejects the setting)
        env["GIT_LITERAL_PATHSPECS"] = "1"
    return env


def _reason(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.lstrip().startswith("hint:")]
    first = next((ln for ln in lines if ln.startswith(("fatal:", "error:"))), lines[0] if lines else "no message")
    return re.sub(r"^(fatal|error): ", "", first)[:300]


def run_git(
    cwd: str | Path, *args: str, check: bool = True, config: Iterable[str] = (), stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one git command in ``cwd``; with ``check``, a non-zero exit is a one-line ``GitError``."""
    cmd = ["git", "--no-pager"]
    for item in (*_SAFE_CONFIG, *config):
        cmd += ["-c", item]
    try:
        proc = subprocess.run(
            [*cmd, *args],
            cwd=cwd,
            env=_env(literal=args[:1] != ("check-ignore",)),
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            errors="surrogateescape",
            timeout=GIT_TIMEOUT_S,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"`git {args[0]}` did not finish within {GIT_TIMEOUT_S} s in {cwd}") from None
    except OSError as err:
        raise GitError(f"`git {args[0]}` could not run in {cwd}: {err}") from None
    if check and proc.returncode != 0:
        shown = [arg for arg in args[: args.index("--") if "--" in args else len(args)] if arg != "--quiet"]
        raise GitError(f"`git {' '.join(shown[:3])}` failed in {cwd}: {_reason(proc.stderr)}")
    return proc


def _z(output: str) -> list[str]:
    return [item for item in output.split("\0") if item]


def work_tree(repo: str | Path) -> tuple[Path, str] | None:
    """(work tree root, repo's path inside it) when ``repo`` is part of a git work tree, else None."""
    if shutil.which("git") is None:
        return None
    proc = run_git(repo, "rev-parse", "--show-toplevel", "--show-prefix", check=False)
    if proc.returncode != 0:
        return None
    top, _, prefix = proc.stdout.partition("\n")
    return Path(top.strip()), prefix.strip().rstrip("/")


def head_commit(repo: str | Path) -> str | None:
    out = run_git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False).stdout.strip()
    return out or None


def current_branch(repo: str | Path) -> str | None:
    """The checked-out branch (also an unborn one); None on a detached HEAD."""
    out = run_git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
    return out or None


def branch_exists(repo: str | Path, name: str) -> bool:
    return run_git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}", check=False).returncode == 0


def dirty_paths(repo: str | Path) -> list[str]:
    """Repo-relative files that are modified, staged, deleted or untracked (not ignored); the harness's state
    folder is never one of them."""
    located = work_tree(repo)
    if located is None:
        return []
    prefix = f"{located[1]}/" if located[1] else ""
    out = run_git(repo, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", ".").stdout
    paths = [entry[3:] for entry in _z(out) if len(entry) > 3]
    rels = [path[len(prefix) :] for path in paths if path.startswith(prefix)]
    return sorted({rel for rel in rels if PurePosixPath(rel).parts[:1] != (STATE_DIR,)})


def _identity(repo: str | Path) -> list[str]:
    """``user.name``/``user.email`` to pass only when the user has none configured (a fresh CI box)."""
    fallback = []
    for key, value, env in (("user.name", FALLBACK_NAME, "NAME"), ("user.email", FALLBACK_EMAIL, "EMAIL")):
        configured = run_git(repo, "config", "--get", key, check=False).stdout.strip()
        if not configured and not os.environ.get(f"GIT_AUTHOR_{env}"):
            fallback.append(f"{key}={value}")
    return fallback


def free_branch(repo: str | Path, change_id: str) -> str:
    """``sdd/<change-id>``, or the first ``sdd/<change-id>-N`` that does not exist yet."""
    base = f"{BRANCH_PREFIX}{change_id}"
    if run_git(repo, "check-ref-format", "--branch", base, check=False).returncode != 0:
        raise GitError(f"change id {change_id!r} does not make a valid branch name ({base})")
    for n in range(1, MAX_BRANCH_SUFFIX + 1):
        name = base if n == 1 else f"{base}-{n}"
        if not branch_exists(repo, name):
            return name
    raise GitError(f"branches {base} to {base}-{MAX_BRANCH_SUFFIX} all exist; delete old sdd branches")


def begin_run(
    repo: str | Path, run_id: str, change_id: str, *, branch: bool = True, allow_dirty: bool = False
) -> tuple[GitRecord | None, list[str]]:
    """Record the repo's state and (unless ``branch`` is False) switch to the run's own branch.

    Returns the record (None outside git) and warnings to show the user. Raises ``GitError`` before changing
    anything if git fails.
    """
    root = Path(repo).resolve()
    located = work_tree(root)
    if located is None:
        why = "git is not installed" if shutil.which("git") is None else f"{root} is not a git repository"
        return None, [f"{why}: the run works, but nothing it changes can be rolled back"]
    top, prefix = located
    if prefix and not run_git(root, "ls-files", "-z", "--", ".").stdout:
        return None, [
            f"{root} is inside the git work tree {top} but none of its files are tracked: "
            "the run works, but nothing it changes can be rolled back"
        ]
    head = head_commit(root)
    record = GitRecord(
        run_id=run_id,
        change_id=change_id,
        top=str(top),
        original_branch=current_branch(root),
        original_head=head,
        dirty=dirty_paths(root),
        allow_dirty=allow_dirty,
    )
    warnings = []
    if head is None:
        warnings.append(f"{top} has no commit yet: the run works on it directly and `sdd undo` cannot roll it back")
    elif not branch:
        where = record.original_branch or f"detached HEAD {head[:10]}"
        warnings.append(f"--no-branch: the run works on {where} directly and `sdd undo` cannot roll it back")
    else:
        record.branch = free_branch(root, change_id)
        run_git(root, "switch", "--quiet", "-c", record.branch)
    return record, warnings


def _inside(rel: str) -> str | None:
    """A clean repo-relative posix path, or None for anything that is not one (absolute, ``..``, state dir)."""
    path = PurePosixPath(rel.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts or path.parts[0] in (STATE_DIR, ".git"):
        return None
    return path.as_posix()


def commit_paths(
    repo: str | Path, paths: Iterable[str], message: str, record: GitRecord | Mapping[str, Any] | None
) -> str | None:
    """Commit exactly ``paths`` (repo-relative) on the run's branch; return the new commit's sha.

    None — and nothing committed — when the run has no branch of its own (no git, ``--no-branch``, no commit
    yet), HEAD is not on that branch, or none of the paths changed. Never ``-a``: other staged or modified
    files stay as they are, and files the user had uncommitted changes in at start are never committed.
    """
    rec = GitRecord.of(record)
    if rec is None or rec.branch is None or current_branch(repo) != rec.branch:
        return None
    skip = set(rec.dirty)
    wanted = sorted({p for p in map(_inside, paths) if p and p not in skip})
    if not wanted:
        return None
    known = set(_z(run_git(repo, "ls-files", "-z", "--", *wanted).stdout))
    present = [p for p in wanted if p in known or (Path(repo) / p).is_file()]
    ignored = set(_z(run_git(repo, "check-ignore", "-z", "--stdin", check=False, stdin="\0".join(present)).stdout))
    candidates = [p for p in present if p not in ignored]
    if not candidates:
        return None
    run_git(repo, "add", "-A", "--", *candidates)
    if run_git(repo, "diff", "--cached", "--quiet", "--", *candidates, check=False).returncode == 0:
        return None
    trailer = f"{RUN_TRAILER}: {rec.run_id}"
    run_git(
        repo,
        "commit",
        "--quiet",
        "--no-verify",
        "--cleanup=whitespace",
        "--only",
        "-m",
        message,
        "-m",
        trailer,
        "--",
        *candidates,
        config=_identity(repo),
    )
    return head_commit(repo)


def commit_changes(
    repo: str | Path, message: str, record: GitRecord | Mapping[str, Any] | None, under: str = "."
) -> str | None:
    """Commit every change under ``under`` (repo-relative) that is not one of the user's: the end-of-run
    safety commit, so nothing the run made is lost when the user switches branches."""
    changed = [p for p in dirty_paths(repo) if under in (".", "") or PurePosixPath(p).is_relative_to(under)]
    return commit_paths(repo, changed, message, record) if changed else None


class UndoReport(BaseModel):
    """What ``undo_run`` did, for the one-line summary."""

    branch: str = Field(description="The run's branch, now deleted.")
    restored: str = Field(description="Branch (or detached commit) checked out again.")
    commits: int = Field(description="The run's commits dropped with the branch.")
    removed: list[str] = Field(default_factory=list, description="Files the run created, now gone.")
    discarded: list[str] = Field(default_factory=list, description="Uncommitted leftovers thrown away (discard).")
    kept: list[str] = Field(default_factory=list, description="The user's own changed files, left as they are.")


def _run_commits(repo: Path, rec: GitRecord, tip: str) -> list[tuple[str, str, str]]:
    """(sha, subject, Sdd-Run trailer) of each commit on the run's branch since the run started."""
    fmt = f"--format=%H%x1f%s%x1f%(trailers:key={RUN_TRAILER},valueonly,separator=%x2c)%x1e"
    out = run_git(repo, "log", fmt, f"{rec.original_head}..{tip}").stdout
    rows = [row.strip("\n").split("\x1f") for row in out.split("\x1e") if row.strip()]
    return [(sha, subject, trailer.strip()) for sha, subject, trailer in rows]


def _undo_refusal(repo: Path, rec: GitRecord, tip: str, commits: list[tuple[str, str, str]]) -> str | None:
    """Why undoing would lose something that is not the run's, or None when it is safe."""
    foreign = [(sha, subject) for sha, subject, trailer in commits if rec.run_id not in trailer.split(",")]
    if foreign:
        sha, subject = foreign[0]
        return (
            f"branch {rec.branch} has {len(foreign)} commit(s) the run did not make ({sha[:10]} {subject[:60]!r}); "
            "move them to another branch first, or delete the branch yourself"
        )
    target = rec.original_branch
    if target is not None and not branch_exists(repo, target):
        return f"the original branch {target} no longer exists; switch to the branch you want and delete {rec.branch}"
    if target is not None and commits and _is_ancestor(repo, tip, f"refs/heads/{target}"):
        return f"the run's commits are already merged into {target}; revert them there instead"
    current = current_branch(repo)
    on_original = current == target if target else current is None and head_commit(repo) == rec.original_head
    if current != rec.branch and not on_original:
        return (
            f"HEAD is on {current or 'a detached commit'}, neither the run's branch {rec.branch} nor "
            f"{target or rec.original_head}; switch to one of them first"
        )
    return None


def _is_ancestor(repo: Path, commit: str, of: str) -> bool:
    return run_git(repo, "merge-base", "--is-ancestor", commit, of, check=False).returncode == 0


def _discard(repo: Path, paths: list[str]) -> None:
    """Throw away uncommitted changes to ``paths``: tracked ones back to HEAD, new ones deleted."""
    in_head = set(_z(run_git(repo, "ls-tree", "-r", "-z", "--name-only", "HEAD", "--", *paths).stdout))
    run_git(repo, "reset", "--quiet", "--", *paths)
    if in_head:
        run_git(repo, "checkout", "--quiet", "HEAD", "--", *sorted(in_head))
    for rel in paths:
        if rel not in in_head:
            (repo / rel).unlink(missing_ok=True)


def undo_run(repo: str | Path, record: GitRecord | Mapping[str, Any], *, discard: bool = False) -> UndoReport:
    """Put the repo back as it was before the run: original branch checked out, the run's branch deleted,
    files it created gone, the user's own changed files untouched. Refuses (``GitError``) rather than lose a
    commit or a change that is not the run's."""
    rec = GitRecord.model_validate(record) if not isinstance(record, GitRecord) else record
    root = Path(repo).resolve()
    if rec.branch is None or rec.original_head is None:
        raise GitError(f"run {rec.run_id} worked without a branch of its own; nothing can be undone by git")
    if not branch_exists(root, rec.branch):
        raise GitError(f"branch {rec.branch} no longer exists (already undone or deleted); nothing to undo")
    tip = run_git(root, "rev-parse", f"refs/heads/{rec.branch}").stdout.strip()
    commits = _run_commits(root, rec, tip)
    if refusal := _undo_refusal(root, rec, tip, commits):
        raise GitError(refusal)
    on_run_branch = current_branch(root) == rec.branch
    leftovers = [p for p in dirty_paths(root) if p not in rec.dirty] if on_run_branch else []
    if leftovers and not discard:
        shown = ", ".join(leftovers[:5]) + (f" and {len(leftovers) - 5} more" if len(leftovers) > 5 else "")
        raise GitError(
            f"uncommitted changes on {rec.branch} that are not the run's commits: {shown}; commit them to keep "
            "them, or undo with --discard to throw them away"
        )
    diff = ("diff", "--name-only", "-z", "--no-renames", "--relative", "--diff-filter=A", rec.original_head, tip)
    added = _z(run_git(root, *diff).stdout)
    if leftovers:
        _discard(root, leftovers)
    if on_run_branch:
        target = rec.original_branch
        run_git(root, "switch", "--quiet", *((target,) if target else ("--detach", rec.original_head)))
    run_git(root, "branch", "--quiet", "-D", rec.branch)
    return UndoReport(
        branch=rec.branch,
        restored=rec.original_branch or rec.original_head,
        commits=len(commits),
        removed=[p for p in added if not (root / p).exists()],
        discarded=leftovers,
        kept=[p for p in rec.dirty if (root / p).exists()],
    )
