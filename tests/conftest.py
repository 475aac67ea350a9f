"""Shared fixtures: the fake OpenAI server plugin and a fresh copy of the demo repo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fakes.scripted import SLUGIFY_REQUEST

pytest_plugins = ["tests.fakes.openai_server"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture
def demo_repo(tmp_path: Path) -> Path:
    """A scratch copy of examples/demo-repo (the harness writes into it)."""
    target = tmp_path / "demo-repo"
    shutil.copytree(EXAMPLES / "demo-repo", target, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return target


@pytest.fixture
def slugify_request() -> str:
    """The change the scripted fakes answer (add slugify); `make demo` runs examples/demo-request.md instead."""
    return SLUGIFY_REQUEST


@pytest.fixture(autouse=True)
def _fast_inner_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness runs pytest inside example repos; skip this venv's unrelated plugins (1-2 s each start)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
