"""A candidate's own guard that stops a value scenario is taken out in a variant that is run like any other."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sdd_harness.graph.infra.candidates import evaluate
from sdd_harness.graph.infra.guards import unguarded
from sdd_harness.graph.infra.workspace import Workspace

GUARDED = """def share(total: int, parts: int) -> list[int]:
    if parts < 1:
        raise ValueError("parts must be at least 1")
    if total % parts:
        raise ValueError(f"total must divide evenly, got {total}")
    base, extra = divmod(total, parts)
    return [base + 1 if i < extra else base for i in range(parts)]
"""
CONTRACT = """import pytest
from pkg.money import share


def test_uneven():
    assert share(10, 3) == [4, 3, 3]


def test_bad_parts():
    with pytest.raises(ValueError):
        share(1, 0)
"""
EXPECTATIONS = {
    "test_uneven": ("share(10, 3)", "return `[4, 3, 3]`"),
    "test_bad_parts": ("share(1, 0)", "raise `ValueError`"),
}
TESTS = ["tests/test_money.py::test_uneven", "tests/test_money.py::test_bad_parts"]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "money.py").write_text("")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_money.py").write_text(CONTRACT)
    return Workspace(tmp_path)


def run(workspace: Workspace, files: dict[str, str]):
    return asyncio.run(evaluate(workspace, files, TESTS, set(), "x", timeout_s=60))[0]


def test_the_guard_that_raised_in_a_value_scenario_goes_and_the_variant_passes(repo: Workspace) -> None:
    guarded = run(repo, {"pkg/money.py": GUARDED})
    assert guarded.failed == ["tests/test_money.py::test_uneven"]
    variants = unguarded(guarded.files, guarded.evidence, EXPECTATIONS)
    assert [label for label, _ in variants] == ["without the guard on line 4 of pkg/money.py"]
    files = variants[0][1]
    assert "total % parts" not in files["pkg/money.py"] and "parts < 1" in files["pkg/money.py"]
    fixed = run(repo, files)
    assert fixed.failed == [] and len(fixed.passed) == 2


def test_no_variant_when_no_value_scenario_failed_on_a_guard(repo: Workspace) -> None:
    wrong = GUARDED.replace("base + 1 if", "base if").replace(
        '    if total % parts:\n        raise ValueError(f"total must divide evenly, got {total}")\n', ""
    )
    score = run(repo, {"pkg/money.py": wrong})
    assert score.failed == ["tests/test_money.py::test_uneven"]  # an assertion, not a guard
    assert unguarded(score.files, score.evidence, EXPECTATIONS) == []
