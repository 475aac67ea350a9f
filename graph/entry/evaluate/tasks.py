"""The task suite (folders with repo/, task.md, accept/) and the arms to run on it (config x mode)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sdd_harness.graph.core.config import HarnessConfig, load_config

Mode = Literal["pipeline", "one-shot"]
RESULTS_JSON = "eval-results.json"
REPORT_MD = "eval-report.md"
WORK_DIR = "work"
ACCEPT_DIR = "accept"
DEFAULT_ACCEPT_TIMEOUT_S = 300.0
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
_IGNORE = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.pyc", ".sdd", ".ruff_cache")


class EvalError(Exception):
    """A task suite or task folder that cannot be evaluated; the message names the folder and the problem."""


# --------------------------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class EvalTask:
    """One evaluation task. ``solution`` is recorded for reference only: the harness never sees it."""

    name: str
    root: Path
    request: str
    repo: Path
    accept: Path
    accept_files: tuple[str, ...]
    solution: Path | None = None


def task_problems(folder: Path) -> list[str]:
    """What keeps ``folder`` from being a task (empty list: it is one)."""
    problems = []
    if not (folder / "repo").is_dir():
        problems.append("missing repo/ (the starting repository)")
    elif (folder / "repo" / ACCEPT_DIR).exists():
        problems.append("repo/ contains accept/ (acceptance tests belong only in the task's accept/)")
    request = folder / "task.md"
    if not request.is_file():
        problems.append("missing task.md (the change request)")
    elif not request.read_text(encoding="utf-8", errors="replace").strip():
        problems.append("task.md is empty")
    accept = folder / ACCEPT_DIR
    if not accept.is_dir():
        problems.append("missing accept/ (the hidden acceptance tests)")
    elif not acceptance_files(accept):
        problems.append("accept/ has no test files (test_*.py or *_test.py)")
    return problems


def acceptance_files(accept: Path) -> list[str]:
    return sorted(
        p.relative_to(accept).as_posix()
        for p in accept.rglob("*.py")
        if (p.name.startswith("test_") or p.name.endswith("_test.py")) and "__pycache__" not in p.parts
    )


def load_task(folder: str | os.PathLike[str]) -> EvalTask:
    """Load one task folder; ``EvalError`` names the folder and everything that is missing."""
    path = Path(folder).resolve()
    if not path.is_dir():
        raise EvalError(f"{path}: not a folder (expected a task with repo/, task.md and accept/)")
    problems = task_problems(path)
    if problems:
        raise EvalError(f"task folder {path}: " + "; ".join(problems))
    solution = path / "solution"
    return EvalTask(
        name=path.name,
        root=path,
        request=(path / "task.md").read_text(encoding="utf-8").strip(),
        repo=path / "repo",
        accept=path / ACCEPT_DIR,
        accept_files=tuple(acceptance_files(path / ACCEPT_DIR)),
        solution=solution if solution.is_dir() else None,
    )


def load_tasks(tasks_dir: str | os.PathLike[str], only: list[str] | None = None) -> list[EvalTask]:
    """A suite folder (every non-hidden sub-folder is a task) or a single task folder.

    Bad task folders are all reported at once, each with what it is missing.
    """
    root = Path(tasks_dir).resolve()
    if not root.is_dir():
        raise EvalError(f"{root}: tasks folder does not exist")
    if (root / "task.md").is_file() or (root / ACCEPT_DIR).is_dir():
        folders = [root]
    else:
        folders = sorted(
            p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")) and p.name != "__pycache__"
        )
    if only:
        unknown = sorted(set(only) - {f.name for f in folders})
        if unknown:
            known = ", ".join(f.name for f in folders) or "none"
            raise EvalError(f"{root}: unknown task(s) {', '.join(unknown)}; tasks here: {known}")
        folders = [f for f in folders if f.name in only]
    if not folders:
        raise EvalError(f"{root}: no task folders (each needs repo/, task.md and accept/)")
    bad = [f"{f}: {'; '.join(p)}" for f in folders if (p := task_problems(f))]
    if bad:
        raise EvalError("bad task folder(s):\n  " + "\n  ".join(bad))
    return [load_task(f) for f in folders]


# --------------------------------------------------------------------------------------------- arms


@dataclass(frozen=True)
class Arm:
    """One thing being measured: a config run as the full pipeline or as the one-shot baseline."""

    label: str
    mode: Mode
    config: HarnessConfig
    ref: str

    @property
    def key(self) -> str:
        return f"{self.label}/{self.mode}"

    @property
    def uses_embedded(self) -> bool:
        roles = self.config.roles()
        bindings = roles.values() if self.mode == "pipeline" else [roles["sdd-apply"]]
        return any(self.config.provider_of(b).embedded for b in bindings)


def config_label(ref: str | os.PathLike[str]) -> str:
    path = Path(ref)
    return path.stem if path.suffix in (".yaml", ".yml") else path.name


def make_arms(configs: list[str | os.PathLike[str] | HarnessConfig], baseline: bool = False) -> list[Arm]:
    """Pipeline arms for each config, plus a one-shot arm per config when ``baseline`` (ConfigError on bad ones)."""
    if not configs:
        raise EvalError("give at least one config to evaluate")
    arms: list[Arm] = []
    seen: dict[str, int] = {}
    for ref in configs:
        cfg = ref if isinstance(ref, HarnessConfig) else load_config(ref)
        base = config_label(cfg.source_file if isinstance(ref, HarnessConfig) else ref)
        seen[base] = seen.get(base, 0) + 1
        label = base if seen[base] == 1 else f"{base}-{seen[base]}"
        arms.append(Arm(label, "pipeline", cfg, str(ref if not isinstance(ref, HarnessConfig) else cfg.source_file)))
        if baseline:
            arms.append(Arm(label, "one-shot", cfg, arms[-1].ref))
    return arms
