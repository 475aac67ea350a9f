"""Whole runs in real git repositories, through the script API and the `sdd` command: each change on its own
branch named after the change id init uses, the run's work committed when it ends (done, paused, failed),
`undo` giving the repository back, the user's uncommitted work never touched, and a folder without git
working with one warning."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sdd_harness.graph.core.context import Context
from sdd_harness.graph.core.phases import PROPOSE
from sdd_harness.graph.entry import gitrun
from sdd_harness.graph.entry.api import RunError, list_runs, resume_run, run_change, undo_run
from sdd_harness.graph.entry.runindex import ACTIVE, RunIndex, _owner
from sdd_harness.graph.infra import checkpoints
from sdd_harness.graph.infra import git as gitinfra
from sdd_harness.graph.infra.git import GitError, protected_paths
from tests.fakes.http_team import http_config, serve_demo
from tests.fakes.scripted import SLUGIFY_REQUEST, team

ROOT = Path(__file__).resolve().parents[3]
REQUEST = SLUGIFY_REQUEST
ME = ["-c", "user.name=Test User", "-c", "user.email=test@example.com"]


@pytest.fixture(autouse=True)
def _sqlite_in_the_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(checkpoints.ENV_URL, raising=False)


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(["git", *ME, *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def snapshot(repo: Path) -> dict[str, bytes]:
    """Every file outside .git and the harness's own (ignored) state: what a user would diff."""
    return {
        p.relative_to(repo).as_posix(): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and not {".git", ".sdd", ".pytest_cache", "__pycache__"} & set(p.relative_to(repo).parts)
    }


@pytest.fixture
def repo(demo_repo: Path) -> Path:
    git(demo_repo, "init", "-q", "-b", "main")
    (demo_repo / ".gitignore").write_text("__pycache__/\n")
    git(demo_repo, "add", ".")
    git(demo_repo, "commit", "-q", "-m", "initial")
    return demo_repo


def user_edits(repo: Path) -> None:
    """The user's own unfinished work, in a file the change does not need."""
    (repo / "README.md").write_text("# textkit\n\nmy unfinished notes\n")
    (repo / "TODO.txt").write_text("try the new slug helper\n")


def branch(repo: Path) -> str:
    return git(repo, "branch", "--show-current").strip()


def run_commits(repo: Path, rev_range: str) -> list[str]:
    return git(repo, "log", "--format=%s%x09%(trailers:key=Sdd-Run,valueonly,separator=%x2c)", rev_range).splitlines()


def paused(repo: Path, **kwargs: Any) -> Any:
    ctx = Context(repo=str(repo), approval_gates=[PROPOSE])
    result = run_change(REQUEST, repo, "opencode-go", models=team(), context=ctx, **kwargs)
    assert result.status == "awaiting_approval", result.reason
    return result


def test_a_run_works_on_its_own_branch_and_undo_gives_the_repo_back(repo: Path) -> None:
    user_edits(repo)
    before, main_tip = snapshot(repo), git(repo, "rev-parse", "main").strip()

    result = run_change(REQUEST, repo, "opencode-go", models=team(), auto_approve=True)

    assert result.status == "done", result.reason
    assert branch(repo) == f"sdd/{result.change_id}"  # the branch and the OpenSpec folder share the change id
    assert any((repo / "openspec" / "changes" / "archive").glob(f"*-{result.change_id}"))
    assert git(repo, "rev-parse", "main").strip() == main_tip  # nothing landed on the user's branch
    commits = run_commits(repo, f"main..sdd/{result.change_id}")
    assert commits and all(line.endswith(f"\t{result.run_id}") for line in commits)
    assert all(line.startswith(f"sdd({result.change_id}): ") for line in commits)
    assert git(repo, "status", "--porcelain").splitlines() == [" M README.md", "?? TODO.txt"]  # all else committed
    assert git(repo, "log", "--format=", "--name-only", f"main..sdd/{result.change_id}", "--", "README.md") == ""
    meta = list_runs(repo)[result.run_id]
    assert meta["git"]["branch"] == f"sdd/{result.change_id}" and meta["git"]["dirty"] == ["README.md", "TODO.txt"]

    report = undo_run(result.run_id, repo)

    assert branch(repo) == "main" and "sdd/" not in git(repo, "branch")
    assert snapshot(repo) == before  # the run's files gone, the user's edits exactly as they were
    assert report.kept == ["README.md", "TODO.txt"] and "openspec/project.md" in report.removed
    assert list_runs(repo)[result.run_id]["status"] == "undone"
    with pytest.raises(RunError, match="already undone"):
        undo_run(result.run_id, repo)
    with pytest.raises(RunError, match="undone"):
        resume_run(result.run_id, repo, models=team())


def test_a_paused_run_commits_its_artifacts_and_resume_returns_to_its_branch(repo: Path) -> None:
    result = paused(repo)
    run_branch = f"sdd/{result.change_id}"
    assert git(repo, "status", "--porcelain") == ""
    committed = git(repo, "ls-tree", "-r", "--name-only", run_branch, "openspec")
    assert f"openspec/changes/{result.change_id}/proposal.md" in committed
    assert run_commits(repo, f"main..{run_branch}") == [f"sdd({result.change_id}): OpenSpec artifacts\t{result.run_id}"]

    git(repo, "switch", "-q", "main")  # the user looks at their own branch while the run waits
    assert not (repo / "openspec").exists()
    events: list[dict[str, Any]] = []
    resumed = resume_run(
        result.run_id,
        repo,
        answer="reject: name the capability text-slugs",
        models=team(),
        on_event=events.append,
        approver=lambda payload: "stop",
    )

    assert branch(repo) == run_branch and "back to the run's branch" in resumed.warnings[0]
    assert {"event": "warning", "message": resumed.warnings[0]} in events
    assert git(repo, "status", "--porcelain") == "" and len(run_commits(repo, f"main..{run_branch}")) == 2
    assert git(repo, "log", "-1", "--format=%s", "main").strip() == "initial"


def test_the_users_uncommitted_files_are_protected_in_the_run_context(repo: Path) -> None:
    user_edits(repo)
    result = paused(repo)
    record = list_runs(repo)[result.run_id]["git"]
    stored_context = list_runs(repo)[result.run_id]["context"]
    assert protected_paths(record) == {"README.md", "TODO.txt"} == protected_paths(stored_context["git"])

    git(repo, "switch", "-q", "main")
    allowed = paused(repo, allow_dirty=True)
    assert protected_paths(list_runs(repo)[allowed.run_id]["git"]) == frozenset()


def test_a_run_never_overwrites_a_file_the_user_has_uncommitted_changes_in(repo: Path) -> None:
    strings = repo / "textkit" / "strings.py"
    strings.write_text(strings.read_text() + "\n# my unfinished edit\n")
    mine = strings.read_text()
    result = run_change(REQUEST, repo, "opencode-go", models=team(), auto_approve=True)
    assert strings.read_text() == mine and result.status != "done"  # the change needs that file: it cannot finish
    committed = git(repo, "log", "--format=", "--name-only", f"main..sdd/{result.change_id}").split()
    assert "textkit/strings.py" not in committed


def test_no_branch_stays_on_the_users_branch_and_commits_nothing(repo: Path) -> None:
    tip = git(repo, "rev-parse", "HEAD").strip()
    events: list[dict[str, Any]] = []
    result = paused(repo, git_branch=False, on_event=events.append)
    assert branch(repo) == "main" and git(repo, "rev-parse", "HEAD").strip() == tip
    assert "--no-branch" in result.warnings[0] and any(e.get("event") == "warning" for e in events)
    with pytest.raises(RunError, match="without a branch of its own"):
        undo_run(result.run_id, repo)


def test_config_can_turn_the_branch_off(repo: Path) -> None:
    from sdd_harness.graph.core.config import load_config

    cfg = load_config("opencode-go")
    cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"git_branch": False})})
    ctx = Context(repo=str(repo), approval_gates=[PROPOSE])
    result = run_change(REQUEST, repo, cfg, models=team(), context=ctx)
    assert result.status == "awaiting_approval" and branch(repo) == "main"


def test_a_folder_without_git_works_with_one_warning(demo_repo: Path) -> None:
    events: list[dict[str, Any]] = []
    result = paused(demo_repo, on_event=events.append)
    warnings = [e["message"] for e in events if e.get("event") == "warning"]
    assert len(warnings) == 1 and "not a git repository" in warnings[0] and "rolled back" in warnings[0]
    assert result.warnings == warnings and not (demo_repo / ".git").exists()
    with pytest.raises(RunError, match="nothing can be undone"):
        undo_run(result.run_id, demo_repo)


def test_a_git_failure_at_start_is_one_line_and_nothing_runs(repo: Path) -> None:
    git(repo, "branch", "sdd")  # leaves no room for sdd/<change-id>
    with pytest.raises(RunError) as err:
        run_change(REQUEST, repo, "opencode-go", models=team(), auto_approve=True, run_id="r1")
    assert "\n" not in str(err.value) and "refs/heads/sdd" in str(err.value) and "--no-branch" in str(err.value)
    assert branch(repo) == "main" and "r1" not in list_runs(repo) and git(repo, "status", "--porcelain") == ""


def test_a_failed_commit_is_a_warning_and_the_run_stays_resumable(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise GitError("`git commit` failed in repo: disk full")

    monkeypatch.setattr(gitinfra, "commit_changes", broken)
    result = paused(repo)
    assert any("could not be committed" in w and "disk full" in w for w in result.warnings)
    monkeypatch.undo()
    resumed = resume_run(result.run_id, repo, answer="stop", models=team())
    assert resumed.status != "awaiting_approval" and git(repo, "status", "--porcelain") == ""


def test_a_second_run_in_the_same_working_tree_is_refused(repo: Path) -> None:
    RunIndex(repo).save("busy1", status=ACTIVE, **_owner())  # a live run (this very process)
    with pytest.raises(RunError, match="run busy1 is still running"):
        run_change(REQUEST, repo, "opencode-go", models=team(), auto_approve=True)
    assert branch(repo) == "main"


def test_undo_refuses_unknown_and_running_runs(repo: Path) -> None:
    with pytest.raises(RunError, match="unknown run id 'nope'"):
        undo_run("nope", repo)
    RunIndex(repo).save("live", status=ACTIVE, git={"run_id": "live"}, **_owner())
    with pytest.raises(RunError, match="still running"):
        undo_run("live", repo)


def test_undo_refuses_a_branch_with_someone_elses_commit(repo: Path) -> None:
    result = paused(repo)
    (repo / "mine.py").write_text("x = 1\n")
    git(repo, "add", "mine.py")
    git(repo, "commit", "-q", "-m", "my work on top")
    with pytest.raises(RunError, match=r"cannot undo run .*1 commit\(s\) the run did not make"):
        undo_run(result.run_id, repo)
    assert branch(repo) == f"sdd/{result.change_id}" and (repo / "mine.py").exists()


def sdd(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    cmd = [sys.executable, "-m", "sdd_harness.graph.entry.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)


def test_cli_run_then_undo(fake_openai_server: Any, tmp_path: Path, repo: Path) -> None:
    serve_demo(fake_openai_server)
    config = http_config(tmp_path, fake_openai_server.base_url, approval_gates=[PROPOSE])
    before = snapshot(repo)
    out = sdd("run", REQUEST.splitlines()[0], "--repo", str(repo), "--config", str(config), "--run-id", "c1")
    assert out.returncode == 3, out.stdout + out.stderr  # paused for approval (no terminal)
    assert branch(repo).startswith("sdd/") and (repo / "openspec").is_dir()

    bad = sdd("undo", "nope", "--repo", str(repo))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown run id 'nope'" in bad.stderr
    undone = sdd("undo", "c1", "--repo", str(repo))
    assert undone.returncode == 0, undone.stderr
    assert undone.stdout.startswith("undone: back on main, deleted sdd/")
    assert branch(repo) == "main" and snapshot(repo) == before

    plain = tmp_path / "plain"
    shutil.copytree(ROOT / "examples" / "demo-repo", plain, ignore=shutil.ignore_patterns("__pycache__"))
    out = sdd("run", "Add slugify", "--repo", str(plain), "--config", str(config), "--no-branch")
    assert out.returncode == 3 and "warning: " in out.stdout and "not a git repository" in out.stdout


def test_change_id_is_computed_like_init_does(tmp_path: Path) -> None:
    from sdd_harness.graph.core.config import load_config

    cfg = load_config("opencode-go")
    (tmp_path / "openspec" / "changes" / "add-slugify").mkdir(parents=True)
    assert gitrun.change_id_for("Add slugify\nmore words", tmp_path, cfg) == "add-slugify-2"
