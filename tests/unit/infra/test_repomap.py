"""Which files the repository map (and list_dir / grep) sees: git's view in a work tree, a pruned walk elsewhere,
never a virtualenv, never a file outside the repository through a symlink."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sdd_harness.graph.infra.repomap import iter_files, repo_map

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def write(root: Path, rel: str, text: str = "x = 1\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def git(root: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A secret-looking file and folder next to the repository, reachable only through symlinks."""
    write(tmp_path / "outside", "secret.py", "TOKEN = 'do-not-map'\n")
    return tmp_path / "outside"


@needs_git
def test_a_git_work_tree_is_listed_by_git_and_respects_gitignore(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, "pkg/core.py")
    write(repo, "pkg/gone.py")
    write(repo, "scratch_env/lib/site.py")  # ignored, and not a name the walk would know to skip
    write(repo, ".github/workflows/ci.yml", "on: push\n")
    write(repo, "openspec/changes/x/tasks.md", "- [ ] t\n")  # the harness's own artifacts stay out of the map
    write(repo, ".gitignore", "scratch_env/\n")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    (repo / "pkg/gone.py").unlink()  # tracked but deleted: not listed
    write(repo, "pkg/new.py")  # untracked, not ignored: listed
    assert iter_files(repo) == [".github/workflows/ci.yml", "pkg/core.py", "pkg/new.py"]
    assert iter_files(repo / "pkg") == ["core.py", "new.py"]  # a sub-folder of a work tree maps its own files


@needs_git
def test_a_caller_s_git_dir_does_not_redirect_the_listing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from a git hook (GIT_DIR set to another repository), the map still lists the repository it maps."""
    other, repo = tmp_path / "other", tmp_path / "repo"
    write(other, "elsewhere.py")
    git(other, "init", "-q")
    git(other, "add", "-A")
    write(repo, "mine.py")
    write(repo, "generated/kept.py")  # ignored, but tracked on purpose: only this repository's index knows it
    write(repo, ".gitignore", "generated/\n")
    git(repo, "init", "-q")
    git(repo, "add", "-f", "generated/kept.py")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    assert iter_files(repo) == ["generated/kept.py", "mine.py"]


@needs_git
def test_symlinks_out_of_a_git_repo_are_not_followed(tmp_path: Path, outside: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, "a.py")
    (repo / "leak.py").symlink_to(outside / "secret.py")
    (repo / "inside.py").symlink_to(repo / "a.py")
    git(repo, "init", "-q")
    assert iter_files(repo) == ["a.py", "inside.py"]


def test_outside_git_the_walk_skips_heavy_and_hidden_folders_and_outside_links(tmp_path: Path, outside: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, "a/b.py")
    write(repo, "a.py")
    write(repo, "README.md", "# r\n")
    for heavy in (
        ".venv",
        "venv",
        "node_modules",
        ".sdd",
        "__pycache__",
        ".tox",
        "build",
        "dist",
        ".cache",
        "x.egg-info",
    ):
        write(repo, f"{heavy}/lib/mod.py")
    (repo / "linked").symlink_to(outside, target_is_directory=True)
    (repo / "leak.py").symlink_to(outside / "secret.py")
    # path order as a tree: a folder's files sort by their parts ("a" < "a.py")
    assert iter_files(repo) == ["README.md", "a/b.py", "a.py"]
    assert "do-not-map" not in repo_map(repo, max_chars=10_000)


def test_the_limit_keeps_the_first_files_in_path_order(tmp_path: Path) -> None:
    for name in ("c.py", "a.py", "b/z.py", "b/a.py"):
        write(tmp_path, name)
    assert iter_files(tmp_path, limit=3) == ["a.py", "b/a.py", "b/z.py"]


@needs_git
def test_a_folder_that_an_enclosing_repository_ignores_is_walked(tmp_path: Path) -> None:
    """A scratch repository inside another repository's ignored folder still has a map."""
    write(tmp_path, ".gitignore", "scratch/\n")
    git(tmp_path, "init", "-q")
    write(tmp_path, "scratch/repo/mod.py")
    assert iter_files(tmp_path / "scratch" / "repo") == ["mod.py"]
