"""A candidate runs in a throwaway copy of the repository: whatever it writes there, by the harness or by its
own code, never reaches the user's files; the copy holds git's view of the repository and is gone afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sdd_harness.graph.infra.sandbox import sandbox
from sdd_harness.graph.infra.workspace import Workspace, WorkspaceError

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def make(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def listing(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".sdd" not in p.relative_to(root).parts and ".git" not in p.relative_to(root).parts
    }


def git(root: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


FILES = {"calc/core.py": "def add(a, b):\n    return a + b\n", "data/rates.csv": "a,1\n", "README.md": "calc\n"}


def test_the_copy_has_the_files_and_writes_there_never_reach_the_original(tmp_path: Path) -> None:
    repo = make(tmp_path / "repo", FILES)
    before, mode = listing(repo), (repo / "calc/core.py").stat().st_mode
    with sandbox(Workspace(repo)) as copy:
        assert listing(copy.root) == before
        copy.write("calc/core.py", "def add(a, b):\n    return a - b\n")
        copy.write("calc/new.py", "X = 1\n")
        with open(copy.root / "data/rates.csv", "w", encoding="utf-8") as handle:  # candidate code, in place
            handle.write("overwritten by a test run in the copy\n")
        with open(copy.root / "README.md", "a", encoding="utf-8") as handle:
            handle.write("appended\n")
        (copy.root / "calc/core.py").chmod(0o600)
    assert listing(repo) == before
    assert (repo / "calc/core.py").stat().st_mode == mode


def test_the_copy_is_removed_on_exit_even_after_an_error(tmp_path: Path) -> None:
    repo = make(tmp_path / "repo", FILES)
    with pytest.raises(RuntimeError), sandbox(Workspace(repo)) as copy:
        folder = copy.root
        assert folder.is_dir() and folder.is_relative_to(repo / ".sdd")
        raise RuntimeError("candidate crashed")
    assert not folder.exists()
    assert list((repo / ".sdd" / "sandboxes").iterdir()) == []


def test_copies_are_independent_of_each_other(tmp_path: Path) -> None:
    repo = make(tmp_path / "repo", FILES)
    with sandbox(Workspace(repo)) as first, sandbox(Workspace(repo)) as second:
        assert first.root != second.root
        first.write("calc/core.py", "A = 1\n")
        assert second.read("calc/core.py") == FILES["calc/core.py"]
        assert not (second.root / ".sdd").exists()  # one sandbox is not copied into the next


def test_the_copy_keeps_the_workspace_guards(tmp_path: Path) -> None:
    repo = make(tmp_path / "repo", FILES)
    with sandbox(Workspace(repo, protected={"README.md"}, max_file_bytes=64)) as copy:
        with pytest.raises(WorkspaceError, match="uncommitted changes"):
            copy.write("README.md", "changed\n")
        with pytest.raises(WorkspaceError, match="limit"):
            copy.write("calc/big.py", "x = 1\n" * 50)
        with pytest.raises(WorkspaceError, match="outside the repository"):
            copy.write("../escape.py", "x = 1\n")


@needs_git
def test_in_a_git_repository_the_copy_holds_what_git_lists_and_not_what_it_ignores(tmp_path: Path) -> None:
    repo = make(tmp_path / "repo", {**FILES, ".gitignore": "scratch/\n*.log\n"})
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "start")
    make(repo, {"scratch/big_cache.py": "x = 1\n", "run.log": "noise\n", "calc/extra.py": "Y = 2\n"})
    make(repo, {".venv/lib/site.py": "z = 3\n", "openspec/changes/c/tasks.md": "- [ ] t\n"})
    with sandbox(Workspace(repo)) as copy:
        assert sorted(listing(copy.root)) == [
            ".gitignore",
            "README.md",
            "calc/core.py",
            "calc/extra.py",
            "data/rates.csv",
        ]
        assert not (copy.root / ".git").exists()
