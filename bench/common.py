"""Shared bench helpers: scratch repos, configs, recording fake teams, timing."""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from sdd_harness.graph.core.config import CONFIGS_DIR, HarnessConfig, parse_config  # noqa: E402

DEMO_REPO = ROOT / "examples" / "demo-repo"
REQUEST = (ROOT / "tests" / "fakes" / "slugify-request.md").read_text(encoding="utf-8")  # what the fakes answer
# A verify command that reflects the real code (buggy slugify lacks the rstrip) without starting Python:
# fails on SLUGIFY_BUGGY, passes on SLUGIFY_OK, so the verify loop-back still happens.
CHEAP_VERIFY = "grep -q 'rstrip(\"-\")' textkit/strings.py"
IGNORE = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".sdd")

# The harness's subprocesses run pytest in the demo repo; the venv's plugins (langsmith...) cost 1-2 s a start.
os.environ.setdefault("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
os.environ.setdefault("LANGSMITH_TRACING", "false")


def scratch_dir(prefix: str = "sdd-bench-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def copy_demo(dest: Path, source: Path = DEMO_REPO) -> Path:
    shutil.copytree(source, dest, ignore=IGNORE)
    return dest


def config(name: str = "opencode-go", run: dict[str, Any] | None = None) -> HarnessConfig:
    """A bundled config with ``run:`` settings replaced (in memory; resume uses the run's stored snapshot)."""
    data = yaml.safe_load((CONFIGS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    if run is not None:
        data["run"] = run
    return parse_config(data, "<memory>")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Events:
    """``on_event`` sink that timestamps every progress event (phase_start/phase_end/gate/task)."""

    log: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    current: dict[str, int] = field(default_factory=dict)  # phase -> visit number (1-based)
    gates: int = 0

    def __call__(self, event: dict[str, Any]) -> None:
        self.log.append((time.perf_counter(), event))
        if event.get("event") == "phase_start":
            self.current[event["phase"]] = self.current.get(event["phase"], 0) + 1
        elif event.get("event") == "gate":
            self.gates += 1

    def window(self, phase: str) -> float | None:
        """Wall time from the phase's first start to its last end (robust to fan-out workers)."""
        starts = [t for t, e in self.log if e.get("phase") == phase and e.get("event") == "phase_start"]
        ends = [t for t, e in self.log if e.get("phase") == phase and e.get("event") == "phase_end"]
        return (max(ends) - min(starts)) if starts and ends else None


@dataclass
class Recorded:
    role: str
    key: tuple[str, int]  # (phase, visit) for phases; ("orchestrator", gate decision index) for the orchestrator
    messages: list[Any]
    reply: str


def recording(responder: Callable[..., str], events: Events, sink: list[Recorded], role: str) -> Callable[..., str]:
    """Wrap a fake's responder so every call (messages in, reply out) is kept with the node visit it belongs to."""

    def respond(messages: list[Any], kwargs: dict[str, Any]) -> str:
        reply = responder(messages, kwargs)
        key = ("orchestrator", events.gates) if role == "orchestrator" else (role, events.current.get(role, 1))
        sink.append(Recorded(role, key, list(messages), reply))
        return reply

    return respond


class SubprocessClock:
    """Sum of wall time spent in ``Workspace.run`` (the harness's real subprocesses), patched in memory."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.count = 0

    @contextmanager
    def patch(self) -> Iterator[SubprocessClock]:
        from sdd_harness.graph.infra.workspace import Workspace

        original = Workspace.run
        clock = self

        async def timed(ws: Any, command: str, timeout_s: float) -> Any:
            start = time.perf_counter()
            try:
                return await original(ws, command, timeout_s)
            finally:
                clock.seconds += time.perf_counter() - start
                clock.count += 1

        Workspace.run = timed  # type: ignore[method-assign]
        try:
            yield self
        finally:
            Workspace.run = original  # type: ignore[method-assign]

    def reset(self) -> None:
        self.seconds, self.count = 0.0, 0
