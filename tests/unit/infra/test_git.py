"""Git as the user's safety net, on real temporary repositories: the run's own branch, the user's uncommitted
files protected and never committed, commits of exactly the given paths, and an undo that gives everything back
(or refuses, changing nothing, when something on the branch is not the run's)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from sdd_harness.graph.infra.git import (
    FALLBACK_EMAIL,
    FALLBACK_NAME,
    GitError,
    GitRecord,
    begin_run,
    commit_changes,
    commit_paths,
    dirty_paths,
    protected_paths,
    undo_run,
)
from sdd_harness.graph.infra.workspace import Edit, Workspace, WorkspaceError

ME = ["-c", "user.name=Test User", "-c", "user.email=test@example.com"]


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(["git", *ME, *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def make_repo(root: Path) -> Path:
    """main with one commit: app.py, lib/util.py, README.md and a .gitignore."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    (root / "app.py").write_text("print('app')\n")
    (root / "lib").mkdir()
    (root / "lib" / "util.py").write_text("def util():\n    return 1\n")
    (root / "README.md").write_text("# project\n")
    (root / ".gitignore").write_text("build/\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "initial")
    return root


def make_user_changes(repo: Path) -> dict[str, str]:
    """Uncommitted work of every kind: modified, staged, untracked, and an ignored file (not the user's work)."""
    (repo / "app.py").write_text("print('my unfinished edit')\n")
    (repo / "staged.py").write_text("x = 1\n")
    git(repo, "add", "staged.py")
    (repo / "notes.txt").write_text("my notes\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.bin").write_text("generated\n")
    return {p: (repo / p).read_text() for p in ("app.py", "staged.py", "notes.txt")}


def branch(repo: Path) -> str:
    return git(repo, "branch", "--show-current").strip()


def files_in(repo: Path, commit: str) -> list[str]:
    return sorted(git(repo, "show", "--name-only", "--format=", commit).split())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "proj")


def test_run_start_records_the_users_uncommitted_files_and_switches_to_its_own_branch(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    make_user_changes(repo)
    record, warnings = begin_run(repo, "run1", "add-thing")

    assert warnings == []
    assert record is not None and record.branch == "sdd/add-thing" and branch(repo) == "sdd/add-thing"
    assert (record.original_branch, record.original_head) == ("main", head)
    assert record.dirty == ["app.py", "notes.txt", "staged.py"]  # ignored build/ output is not the user's work
    assert (repo / "app.py").read_text() == "print('my unfinished edit')\n"  # switching kept every change


def test_an_existing_branch_name_gets_the_next_free_suffix(repo: Path) -> None:
    git(repo, "branch", "sdd/add-thing")
    git(repo, "branch", "sdd/add-thing-2")
    record, _ = begin_run(repo, "run1", "add-thing")
    assert record is not None and record.branch == "sdd/add-thing-3" == branch(repo)


def test_a_file_with_uncommitted_changes_is_refused_unless_allow_dirty(repo: Path) -> None:
    make_user_changes(repo)
    record, _ = begin_run(repo, "run1", "add-thing")
    workspace = Workspace(repo, protected=protected_paths(record))

    with pytest.raises(WorkspaceError, match=r"'app.py'.*has uncommitted changes.*commit or stash.*--allow-dirty"):
        workspace.write("app.py", "print('model')\n")
    with pytest.raises(WorkspaceError, match="notes.txt"):
        workspace.apply([Edit(op="create", path="new.py", content="y = 2\n"), Edit(op="append", path="notes.txt")])
    assert workspace.check_edit(Edit(op="replace_file", path="./staged.py", content="z\n")) is not None
    assert (repo / "app.py").read_text() == "print('my unfinished edit')\n" and not (repo / "new.py").exists()
    assert workspace.apply([Edit(op="create", path="new.py", content="y = 2\n")]) == ["new.py"]  # others: fine

    allowed, _ = begin_run(repo, "run2", "other", allow_dirty=True)
    Workspace(repo, protected=protected_paths(allowed)).write("app.py", "print('model')\n")
    assert (repo / "app.py").read_text() == "print('model')\n"


def test_commit_paths_commits_only_the_given_paths_with_the_message(repo: Path) -> None:
    user = make_user_changes(repo)
    record, _ = begin_run(repo, "run1", "add-thing")
    (repo / "lib" / "util.py").write_text("def util():\n    return 2\n")
    (repo / "lib" / "new.py").write_text("NEW = 1\n")
    (repo / "other.py").write_text("left alone\n")

    message = "sdd(add-thing): 1.2 Add util — lib/util.py"
    sha = commit_paths(repo, ["lib/util.py", "lib/new.py", "app.py", "staged.py"], message, record)

    assert sha == git(repo, "rev-parse", "HEAD").strip() and branch(repo) == "sdd/add-thing"
    assert files_in(repo, sha) == ["lib/new.py", "lib/util.py"]  # the user's app.py / staged.py never
    body = git(repo, "log", "-1", "--format=%B", sha)
    assert body.splitlines()[0] == message and "Sdd-Run: run1" in body
    assert git(repo, "rev-parse", "main").strip() == record.original_head  # main untouched
    status = git(repo, "status", "--porcelain")
    assert " M app.py" in status and "A  staged.py" in status and "?? other.py" in status and "?? notes.txt" in status
    assert {p: (repo / p).read_text() for p in user} == user
    assert commit_paths(repo, ["lib/util.py"], "nothing changed", record) is None
    assert commit_paths(repo, ["other.py"], "no record, no commit", None) is None
    assert commit_paths(repo, ["../outside.py", ".sdd/runs.json", "/etc/passwd"], "not inside", record) is None


def test_a_deleted_file_is_committed_as_a_deletion_and_an_ignored_one_is_skipped(repo: Path) -> None:
    record, _ = begin_run(repo, "run1", "tidy")
    (repo / "README.md").unlink()
    (repo / "build").mkdir()
    (repo / "build" / "x.txt").write_text("generated\n")
    sha = commit_paths(repo, ["README.md", "build/x.txt"], "sdd(tidy): remove readme", record)
    assert sha and files_in(repo, sha) == ["README.md"]
    assert "README.md" not in git(repo, "ls-files")


def test_commits_go_only_to_the_runs_branch(repo: Path) -> None:
    record, _ = begin_run(repo, "run1", "add-thing")
    git(repo, "switch", "-q", "main")
    (repo / "lib" / "new.py").write_text("NEW = 1\n")
    assert commit_paths(repo, ["lib/new.py"], "must not land on main", record) is None
    assert git(repo, "rev-parse", "HEAD").strip() == record.original_head

    nobranch, warnings = begin_run(repo, "run2", "in-place", branch=False)
    assert nobranch is not None and nobranch.branch is None and branch(repo) == "main"
    assert "--no-branch" in warnings[0] and "cannot roll it back" in warnings[0]
    assert commit_paths(repo, ["lib/new.py"], "no branch, no commit", nobranch) is None


def test_commit_without_a_configured_identity_uses_the_fallback(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("GIT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    record, _ = begin_run(repo, "run1", "add-thing")
    (repo / "new.py").write_text("x = 1\n")
    sha = commit_paths(repo, ["new.py"], "sdd(add-thing): new", record)
    assert sha is not None
    assert git(repo, "log", "-1", "--format=%an <%ae>", sha).strip() == f"{FALLBACK_NAME} <{FALLBACK_EMAIL}>"


def test_hooks_never_run_and_git_env_from_a_caller_does_not_redirect(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "hook-ran"
    for hook in ("pre-commit", "commit-msg", "post-commit", "post-checkout", "reference-transaction"):
        path = repo / ".git" / "hooks" / hook
        path.write_text(f"#!/bin/sh\necho {hook} >> {marker}\nexit 1\n")
        path.chmod(0o755)
    elsewhere = make_repo(tmp_path / "elsewhere")
    monkeypatch.setenv("GIT_DIR", str(elsewhere / ".git"))  # e.g. the harness started from another repo's hook
    monkeypatch.setenv("GIT_INDEX_FILE", str(elsewhere / ".git" / "index"))
    record, _ = begin_run(repo, "run1", "add-thing")
    (repo / "new.py").write_text("x = 1\n")
    assert commit_paths(repo, ["new.py"], "sdd(add-thing): new", record)
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_INDEX_FILE")
    assert not marker.exists()
    assert branch(repo) == "sdd/add-thing" and branch(elsewhere) == "main"
    assert "sdd/" not in git(elsewhere, "branch")


def test_not_a_git_repo_works_with_one_warning(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    record, warnings = begin_run(plain, "run1", "add-thing")
    assert record is None and len(warnings) == 1 and "not a git repository" in warnings[0]
    assert "rolled back" in warnings[0]
    assert dirty_paths(plain) == [] and protected_paths(None) == frozenset()


def test_without_git_installed_the_run_works_with_one_warning(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-bin-here"))
    record, warnings = begin_run(repo, "run1", "add-thing")
    assert record is None and warnings == [
        "git is not installed: the run works, but nothing it changes can be rolled back"
    ]


def test_an_untracked_folder_inside_another_repo_is_not_treated_as_that_repo(repo: Path) -> None:
    scratch = repo / "scratch" / "copy"  # e.g. an eval work copy under a checkout
    scratch.mkdir(parents=True)
    (scratch / "m.py").write_text("x = 1\n")
    record, warnings = begin_run(scratch, "run1", "add-thing")
    assert record is None and "none of its files are tracked" in warnings[0]
    assert branch(repo) == "main"


def test_a_git_failure_is_one_line_and_changes_nothing(repo: Path) -> None:
    git(repo, "branch", "sdd")  # a branch named `sdd` leaves no room for sdd/<change-id>
    with pytest.raises(GitError) as err:
        begin_run(repo, "run1", "add-thing")
    assert "\n" not in str(err.value) and "`git switch" in str(err.value) and "refs/heads/sdd" in str(err.value)
    assert branch(repo) == "main" and "sdd/" not in git(repo, "branch")


def run_on_branch(repo: Path) -> GitRecord:
    """A run that creates, modifies and deletes files, with the user's own changes around it."""
    record, _ = begin_run(repo, "run1", "add-thing")
    assert record is not None
    (repo / "lib" / "util.py").write_text("def util():\n    return 2\n")
    (repo / "lib" / "new.py").write_text("NEW = 1\n")
    (repo / "docs").mkdir()
    (repo / "docs" / "guide.md").write_text("# guide\n")
    commit_paths(repo, ["lib/util.py", "lib/new.py"], "sdd(add-thing): 1.1 util", record)
    (repo / "README.md").unlink()
    commit_changes(repo, "sdd(add-thing): rest", record)
    return record


def test_undo_restores_the_branch_and_files_and_leaves_the_users_changes(repo: Path) -> None:
    user = make_user_changes(repo)
    tracked_before = git(repo, "ls-files")
    record = run_on_branch(repo)
    assert set(files_in(repo, "HEAD")) == {"docs/guide.md", "README.md"}  # the user's files were never swept in

    report = undo_run(repo, record)

    assert branch(repo) == "main" and "sdd/add-thing" not in git(repo, "branch")
    assert git(repo, "rev-parse", "HEAD").strip() == record.original_head
    assert not (repo / "lib" / "new.py").exists() and not (repo / "docs").exists()
    assert (repo / "lib" / "util.py").read_text() == "def util():\n    return 1\n"
    assert (repo / "README.md").read_text() == "# project\n"
    assert {p: (repo / p).read_text() for p in user} == user and git(repo, "ls-files") == tracked_before
    status = git(repo, "status", "--porcelain")
    assert status.splitlines() == [" M app.py", "A  staged.py", "?? notes.txt"]
    assert report.commits == 2 and sorted(report.removed) == ["docs/guide.md", "lib/new.py"]


def test_undo_refuses_a_branch_with_commits_the_run_did_not_make(repo: Path) -> None:
    record = run_on_branch(repo)
    (repo / "mine.py").write_text("mine = 1\n")
    git(repo, "add", "mine.py")
    git(repo, "commit", "-q", "-m", "my own work on the run's branch")
    tip = git(repo, "rev-parse", "HEAD").strip()

    with pytest.raises(GitError, match=r"1 commit\(s\) the run did not make .*my own work") as err:
        undo_run(repo, record)
    assert "\n" not in str(err.value)
    assert branch(repo) == "sdd/add-thing" and git(repo, "rev-parse", "HEAD").strip() == tip
    assert (repo / "mine.py").exists()


def test_undo_refuses_uncommitted_leftovers_unless_told_to_discard(repo: Path) -> None:
    user = make_user_changes(repo)
    record = run_on_branch(repo)
    (repo / "lib" / "util.py").write_text("half-written by a killed run\n")
    (repo / "lib" / "partial.py").write_text("partial\n")

    with pytest.raises(GitError, match=r"uncommitted changes .*lib/partial.py, lib/util.py.*--discard"):
        undo_run(repo, record)
    assert branch(repo) == "sdd/add-thing" and (repo / "lib" / "partial.py").exists()

    report = undo_run(repo, record, discard=True)
    assert branch(repo) == "main" and not (repo / "lib" / "partial.py").exists()
    assert (repo / "lib" / "util.py").read_text() == "def util():\n    return 1\n"
    assert {p: (repo / p).read_text() for p in user} == user
    assert report.discarded == ["lib/partial.py", "lib/util.py"]


def test_undo_refuses_merged_work_and_a_missing_branch(repo: Path) -> None:
    record = run_on_branch(repo)
    git(repo, "switch", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", "sdd/add-thing")
    with pytest.raises(GitError, match="already merged into main"):
        undo_run(repo, record)
    git(repo, "branch", "-q", "-D", "sdd/add-thing")
    with pytest.raises(GitError, match="no longer exists"):
        undo_run(repo, record)


def test_undo_from_the_original_branch_just_deletes_the_runs_branch(repo: Path) -> None:
    record = run_on_branch(repo)
    git(repo, "switch", "-q", "main")
    (repo / "later.txt").write_text("edited after switching back\n")  # the user's, never discarded
    report = undo_run(repo, record, discard=True)
    assert "sdd/add-thing" not in git(repo, "branch") and report.discarded == []
    assert (repo / "later.txt").read_text() == "edited after switching back\n"


def test_a_project_folder_inside_a_monorepo_uses_that_repo_with_paths_relative_to_the_folder(tmp_path: Path) -> None:
    mono = make_repo(tmp_path / "mono")
    service = mono / "services" / "api"
    service.mkdir(parents=True)
    (service / "main.py").write_text("x = 1\n")
    git(mono, "add", ".")
    git(mono, "commit", "-q", "-m", "service")
    (service / "main.py").write_text("x = 'mine'\n")
    (mono / "app.py").write_text("outside the folder\n")

    record, warnings = begin_run(service, "run1", "add-route")
    assert warnings == [] and record is not None and record.dirty == ["main.py"] and branch(mono) == "sdd/add-route"
    (service / "routes.py").write_text("ROUTES = []\n")
    sha = commit_paths(service, ["routes.py", "main.py"], "sdd(add-route): routes", record)
    assert sha and files_in(mono, sha) == ["services/api/routes.py"]

    report = undo_run(service, record)
    assert branch(mono) == "main" and report.removed == ["routes.py"] and not (service / "routes.py").exists()
    assert (service / "main.py").read_text() == "x = 'mine'\n" and (
        mono / "app.py"
    ).read_text() == "outside the folder\n"
