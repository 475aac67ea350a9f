"""The live display: one line per running phase (elapsed, calls, tokens, model), ✓ only after the gate advanced."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any

from rich.console import Console

from sdd_harness.graph.entry.api import arun_change
from sdd_harness.graph.entry.cli.display import RunDisplay
from tests.fakes.scripted import SLUGIFY_BUGGY, SLUGIFY_OK, DemoScript, team


def plain() -> tuple[RunDisplay, io.StringIO]:
    buffer = io.StringIO()
    return RunDisplay(Console(file=buffer, width=200, no_color=True, force_terminal=False)), buffer


def events(display: RunDisplay, *items: dict[str, Any]) -> None:
    for item in items:
        display(item)


def test_a_phase_that_ends_is_not_ticked_until_its_gate_advances():
    display, out = plain()
    events(
        display,
        {"event": "phase_start", "phase": "sdd-spec", "attempt": 1, "model": "deepseek-v4-pro"},
        {"event": "phase_end", "phase": "sdd-spec", "seconds": 3.2, "error": "", "cost_usd": 0.01, "calls": 1},
    )
    assert "✓" not in out.getvalue()
    events(display, {"event": "gate", "phase": "sdd-spec", "action": "retry", "next": "sdd-spec", "reason": "no "
                     "scenario under requirement R1", "by": "gate"})  # fmt: skip
    text = out.getvalue()
    assert "✓" not in text and "✗ sdd-spec · deepseek-v4-pro · 3.2s · 1 call(s) — retry: no scenario" in text
    events(
        display,
        {"event": "phase_start", "phase": "sdd-spec", "attempt": 2, "model": "deepseek-v4-pro"},
        {"event": "phase_end", "phase": "sdd-spec", "seconds": 2.0, "error": "", "cost_usd": 0.01, "calls": 1},
        {"event": "gate", "phase": "sdd-spec", "action": "advance", "next": "sdd-design", "reason": "", "by": "gate"},
    )
    ticks = [line for line in out.getvalue().splitlines() if line.startswith("✓")]
    assert ticks == [ticks[0]] and "sdd-spec (attempt 2)" in ticks[0]


def test_the_line_counts_calls_and_streamed_tokens_and_names_the_serving_model():
    display, out = plain()
    events(
        display,
        {"event": "phase_start", "phase": "sdd-apply", "attempt": 1, "model": "qwen2.5-coder-1.5b"},
        {"event": "tokens", "phase": "sdd-apply", "model": "qwen2.5-coder-1.5b", "count": 40},
        {"event": "tokens", "phase": "sdd-apply", "model": "qwen2.5-coder-1.5b", "count": 90},
    )
    assert display.phases["sdd-apply"].tokens == 90 and display.phases["sdd-apply"].calls == 0
    events(
        display,
        {"event": "call_end", "phase": "sdd-apply", "model": "qwen2.5-coder-1.5b", "input_tokens": 800,
         "output_tokens": 95, "seconds": 6.1, "ok": True},
        {"event": "tokens", "phase": "sdd-apply", "model": "qwen2.5-coder-1.5b", "count": 10},
    )  # fmt: skip
    line = display.phases["sdd-apply"]
    assert (line.calls, line.tokens) == (1, 105)
    assert re.search(r"sdd-apply · qwen2\.5-coder-1\.5b · [\d.]+s · 1 call\(s\) · 105 tok out", line.summary())
    events(
        display,
        {"event": "phase_end", "phase": "sdd-apply", "seconds": 9.0, "error": "", "cost_usd": 0.0, "calls": 2},
        {"event": "gate", "phase": "sdd-apply", "action": "advance", "next": "sdd-verify", "reason": "", "by": "gate"},
    )
    assert "✓ sdd-apply · qwen2.5-coder-1.5b · 9.0s · 2 call(s) · 95 tok out" in out.getvalue()


def test_the_live_area_redraws_elapsed_time_calls_and_tokens_on_a_terminal():
    buffer = io.StringIO()
    terminal = Console(file=buffer, width=160, force_terminal=True, color_system=None)
    display = RunDisplay(terminal, live=True)
    events(
        display,
        {"event": "phase_start", "phase": "sdd-explore", "attempt": 1, "model": "kimi-k2.6"},
        {"event": "tokens", "phase": "sdd-explore", "model": "kimi-k2.6", "count": 321},
    )
    assert display._live is not None  # a live area is up while a phase runs
    display._live.refresh()
    drawn = buffer.getvalue()
    assert "sdd-explore · kimi-k2.6 ·" in drawn and "0 call(s) · 321 tok out" in drawn
    events(
        display,
        {"event": "phase_end", "phase": "sdd-explore", "seconds": 1.5, "error": "", "cost_usd": 0.0, "calls": 1},
        {
            "event": "gate",
            "phase": "sdd-explore",
            "action": "advance",
            "next": "sdd-propose",
            "reason": "",
            "by": "gate",
        },
    )
    assert display._live is None and "✓ sdd-explore" in buffer.getvalue()


def test_warnings_tasks_and_failed_calls_are_shown():
    display, out = plain()
    events(
        display,
        {"event": "phase_start", "phase": "sdd-apply", "attempt": 1},
        {"event": "call_end", "phase": "sdd-apply", "model": "m", "input_tokens": 1, "output_tokens": 0, "ok": False},
        {"event": "task", "phase": "sdd-apply", "task": "1.1", "step": "check", "attempt": 1, "ok": False},
        {"event": "warning", "message": "price of m unknown: the budget counts tokens"},
        {
            "event": "task",
            "phase": "sdd-apply",
            "task": "2",
            "title": "sample 2",
            "step": "sample 2",
            "passed": 3,
            "failed": 5,
            "ok": False,
        },
    )
    text = out.getvalue()
    assert "a call to m failed" in text and "task 1.1 · check #1: failed" in text
    assert "task 2 · sample 2: failed (3/8 scenario tests)" in text and "None" not in text
    assert "warning: price of m unknown" in text


def test_a_scripted_run_with_a_loop_back_never_ticks_the_failed_attempt(tmp_path: Path, demo_repo: Path):
    """The scripted fake team writes a buggy slugify first: verify fails and loops back to apply."""
    display, out = plain()
    models = team(DemoScript(impl_versions=[SLUGIFY_BUGGY, SLUGIFY_OK]))
    from sdd_harness.graph.core.config import load_config

    cfg = load_config("opencode-go")
    cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={"task_loop": False})})
    result = asyncio.run(arun_change("Add slugify", demo_repo, cfg, models=models, auto_approve=True, on_event=display))
    assert result.status == "done", result.reason
    lines = out.getvalue().splitlines()
    verify = [line for line in lines if re.match(r"[✓✗] sdd-verify", line)]
    assert verify[0].startswith("✗") and "sent back to sdd-apply: assertion failures in slugify" in verify[0]
    assert verify[-1].startswith("✓") and "(attempt 2)" in verify[-1]
    assert "\x1b[" not in out.getvalue()  # plain lines when not a terminal
