"""The example repositories and eval tasks under examples/ are consistent.

Every check runs pytest in a subprocess on a copy in tmp_path, so nothing (no
__pycache__, no .pytest_cache) is ever written into examples/.
"""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sdd_harness.graph.entry.evaluate.acceptance import parse_outcomes

EXAMPLES = Path(__file__).resolve().parents[4] / "examples"
TASKS_DIR = EXAMPLES / "tasks"
TASKS = sorted(p for p in TASKS_DIR.iterdir() if (p / "task.md").is_file()) if TASKS_DIR.is_dir() else []
_IGNORE = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc")
# Files that tell a tool how to run the tests; a bare repo (just packages and tests/) has none of them.
_PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "tox.ini", "conftest.py")
MIN_ACCEPT_TESTS, MAX_ACCEPT_TESTS = 6, 16


def _is_bare(repo: Path) -> bool:
    return not (repo / "pyproject.toml").exists()


def _copy_repo(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=_IGNORE)
    return dest


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("PYTHONPATH", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # The harness venv carries pytest plugins (langsmith, anyio) that cost ~1 s per start;
    # the example repos need plain pytest only.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("name", ["demo-repo", "brownfield-repo"])
def test_example_repo_tests_pass(tmp_path, name):
    repo = _copy_repo(EXAMPLES / name, tmp_path / name)
    result = _pytest(repo)
    assert result.returncode == 0, _report(result)
    assert "passed" in result.stdout
    assert not (repo / "openspec" / "changes").exists()


def test_demo_repo_has_no_openspec_and_requests_exist():
    assert not (EXAMPLES / "demo-repo" / "openspec").exists()
    for request in ("demo-request.md", "brownfield-request.md"):
        text = (EXAMPLES / request).read_text(encoding="utf-8").strip()
        assert 3 <= len(text.splitlines()) <= 10, request


def test_brownfield_spec_is_openspec_shaped():
    specs = sorted((EXAMPLES / "brownfield-repo" / "openspec" / "specs").glob("*/spec.md"))
    assert specs
    for spec in specs:
        text = spec.read_text(encoding="utf-8")
        assert text.startswith(f"# {spec.parent.name} Specification\n")
        assert "\n## Purpose\n" in text and "\n## Requirements\n" in text
        blocks = text.split("\n### Requirement: ")[1:]
        assert blocks
        for block in blocks:
            assert "SHALL" in block or "MUST" in block
            assert "\n#### Scenario: " in block
            assert "- **WHEN** " in block and "- **THEN** " in block


def test_tasks_discovered():
    assert len(TASKS) >= 5


def test_suite_has_a_bare_layout_task():
    """Test-command detection must cope with a repo that is only packages and tests/, so one task has that layout."""
    assert any(_is_bare(task / "repo") for task in TASKS)


@pytest.mark.parametrize("task", TASKS, ids=[t.name for t in TASKS])
class TestTask:
    def test_layout(self, task):
        repo = task / "repo"
        assert list((repo / "tests").glob("test_*.py"))
        assert list((task / "accept").glob("test_*.py"))
        assert not (repo / "openspec").exists()
        lines = (task / "task.md").read_text(encoding="utf-8").strip().splitlines()
        assert 3 <= len(lines) <= 8

    def test_repo_is_configured_or_bare(self, task):
        """Either pyproject.toml puts the root on pytest's path, or the repo holds only packages and tests/."""
        repo = task / "repo"
        if not _is_bare(repo):
            pytest_options = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]
            assert pytest_options["ini_options"]["pythonpath"] == ["."]
            return
        entries = [p for p in repo.iterdir() if p.name not in ("__pycache__", ".pytest_cache")]
        assert not [p.name for p in entries if p.name in _PROJECT_FILES or p.is_file()]
        packages = [p for p in entries if p.name != "tests"]
        assert packages and all((p / "__init__.py").is_file() for p in packages)

    def test_accept_and_repo_test_files_have_distinct_names(self, task):
        """Without __init__.py in tests/ and accept/, pytest refuses two test modules with one basename."""
        accept = {p.name for p in (task / "accept").rglob("*.py")}
        repo_tests = {p.name for p in (task / "repo").rglob("test_*.py")}
        assert not accept & repo_tests

    def test_solution_leaves_repo_tests_alone(self, task):
        """The repo's own tests must pass unchanged after the change, so the reference answer never edits them."""
        solution = task / "solution"
        if not solution.is_dir():
            pytest.skip("task has no reference solution")
        assert not (solution / "tests").exists()
        assert not (solution / "accept").exists()

    def test_repo_tests_pass(self, task, tmp_path):
        repo = _copy_repo(task / "repo", tmp_path / "repo")
        result = _pytest(repo)
        assert result.returncode == 0, _report(result)

    def test_accept_fails_on_starting_repo(self, task, tmp_path):
        repo = _copy_repo(task / "repo", tmp_path / "repo")
        shutil.copytree(task / "accept", repo / "accept", ignore=_IGNORE)
        result = _pytest(repo, "accept/")
        assert result.returncode != 0, _report(result)

    def test_solution_passes_accept_and_repo_tests(self, task, tmp_path):
        solution = task / "solution"
        if not solution.is_dir():
            pytest.skip("task has no reference solution")
        repo = _copy_repo(task / "repo", tmp_path / "repo")
        shutil.copytree(solution, repo, dirs_exist_ok=True, ignore=_IGNORE)
        shutil.copytree(task / "accept", repo / "accept", ignore=_IGNORE)
        result = _pytest(repo, "-rA", "tests", "accept/")
        assert result.returncode == 0, _report(result)
        accept_tests = [test_id for test_id in parse_outcomes(result.stdout) if test_id.startswith("accept/")]
        assert MIN_ACCEPT_TESTS <= len(accept_tests) <= MAX_ACCEPT_TESTS, accept_tests
