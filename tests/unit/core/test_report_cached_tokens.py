"""The run report shows prompt tokens served from the provider's cache, per phase and in total."""

from __future__ import annotations

from sdd_harness.graph.core.report import build_report, render_markdown


def call(phase: str, input_tokens: int, cached: int) -> dict:
    return {
        "phase": phase,
        "requested_model": "qwen2.5-coder-1.5b",
        "served_model": "qwen2.5-coder-1.5b",
        "input_tokens": input_tokens,
        "cached_tokens": cached,
        "output_tokens": 10,
        "cost_usd": 0.0,
        "seconds": 1.0,
    }


def test_cached_prompt_tokens_per_phase_and_total() -> None:
    state = {
        "change_id": "c",
        "status": "done",
        "status_reason": "",
        "calls": [call("sdd-apply", 600, 0), call("sdd-apply", 700, 640), call("sdd-verify", 300, 12)],
    }
    report = build_report(state)
    rows = {r["phase"]: r for r in report["phases"]}
    assert rows["sdd-apply"]["cached_tokens"] == 640 and rows["sdd-verify"]["cached_tokens"] == 12
    assert report["totals"]["cached_tokens"] == 652 and report["totals"]["input_tokens"] == 1600
    assert [c["cached_tokens"] for c in report["calls"]] == [0, 640, 12]
    md = render_markdown(report)
    assert "| Phase | Requested | Served | Calls | In tok | Cached | Out tok |" in md
    assert "| sdd-apply | qwen2.5-coder-1.5b | qwen2.5-coder-1.5b | 2 | 1300 | 640 | 20 |" in md
    assert "| **total** | | | 3 | 1600 | 652 | 30 |" in md


def test_a_report_from_before_cached_tokens_still_renders() -> None:
    report = build_report({"change_id": "c", "status": "done", "status_reason": "", "calls": []})
    for row in report["phases"]:
        row.pop("cached_tokens", None)
    report["totals"].pop("cached_tokens")
    assert "| **total** | | | 0 | 0 | 0 | 0 |" in render_markdown(report)
