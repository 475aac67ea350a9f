"""The run report: ``run.json`` for machines and ``run.md`` for people, written into the change folder."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from sdd_harness.graph.core.state import busy_seconds
from sdd_harness.graph.core.usage import cost_text, same_model, totals

REPORT_JSON = "run.json"
REPORT_MD = "run.md"


def phase_rows(calls: list[dict[str, Any]], timings: dict[str, float]) -> list[dict[str, Any]]:
    """One row per phase/role: models requested and served, tokens, cost, seconds."""
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for call in calls:
        grouped[call["phase"]].append(call)
    rows = []
    for phase in [*timings, *[p for p in grouped if p not in timings]]:
        group = grouped.get(phase, [])
        t = totals(group)
        requested = sorted({c["requested_model"] for c in group})
        served = sorted({c["served_model"] for c in group if c.get("served_model")}) or ["?"]
        mismatch = any(_mismatched(c) for c in group)
        rows.append(
            {
                "phase": phase,
                "requested": ", ".join(requested),
                "served": ", ".join(served),
                "calls": len(group),
                "input_tokens": t["input_tokens"],
                "cached_tokens": t["cached_tokens"],
                "output_tokens": t["output_tokens"],
                "reasoning_tokens": t["reasoning_tokens"],
                "cost_usd": t["cost_usd"],
                "unpriced_calls": t["unpriced_calls"],
                "cost": cost_text(t),
                "seconds": timings.get(phase, t["seconds"]),
                "routing_mismatch": mismatch,
                "failed_calls": sum(1 for c in group if not c.get("ok", True)),
                "capped_calls": t["capped_calls"],
            }
        )
    return rows


def _mismatched(call: dict[str, Any]) -> bool:
    """The recorder's verdict (it knows the config's aliases); calls recorded before it kept one are re-checked."""
    if "routing_mismatch" in call:
        return bool(call["routing_mismatch"])
    return bool(call.get("served_model")) and not same_model(call["requested_model"], call["served_model"])


def build_report(state: dict[str, Any]) -> dict[str, Any]:
    calls = state.get("calls") or []
    spent = totals(calls)
    return {
        "change_id": state.get("change_id"),
        "request": state.get("request"),
        "status": state.get("status"),
        "status_reason": state.get("status_reason"),
        "pending_phase": state.get("pending_phase"),
        "verdict": ((state.get("outputs") or {}).get("sdd-verify") or {}).get("verdict"),
        "phases": phase_rows(calls, {p: busy_seconds(s) for p, s in (state.get("spans") or {}).items()}),
        "totals": {**spent, "cost": cost_text(spent)},
        "decisions": state.get("decisions") or [],
        "apply_log": state.get("apply_log") or [],
        "artifacts": state.get("artifacts") or {},
        "calls": calls,
    }


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Run report: {report['change_id']}",
        "",
        f"- Status: **{report['status']}** — {report['status_reason']}",
        f"- Verdict: {report['verdict'] or '-'}",
        f"- Cost: {report['totals'].get('cost') or cost_text(report['totals'])}",
        "",
        "## Phases",
        "",
        "| Phase | Requested | Served | Calls | In tok | Cached | Out tok | Capped | Cost $ | Seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["phases"]:
        warn = " ⚠ routing mismatch" if r["routing_mismatch"] else ""
        lines.append(
            f"| {r['phase']} | {r['requested']} | {r['served']}{warn} | {r['calls']} | {r['input_tokens']} | "
            f"{r.get('cached_tokens', 0)} | {r['output_tokens']} | {r.get('capped_calls', 0)} | {_cost_cell(r)} | "
            f"{r['seconds']:.1f} |"
        )
    t = report["totals"]
    lines += [
        f"| **total** | | | {t['calls']} | {t['input_tokens']} | {t.get('cached_tokens', 0)} | {t['output_tokens']} | "
        f"{t.get('capped_calls', 0)} | {_cost_cell(t)} | "
        f"{sum(r['seconds'] for r in report['phases']):.1f} |",
        "",
        "## Gate decisions",
        "",
    ]
    lines += [
        f"{i}. `{d['phase']}` → **{d['action']}** → `{d['next']}` ({d['by']}): {d['reason'][:300]}"
        for i, d in enumerate(report["decisions"], start=1)
    ]
    if report["apply_log"]:
        lines += [
            "",
            "## Apply steps",
            "",
            "| Tasks | Step | Scenario tests passed | Existing tests broken | OK | Time (model + run) "
            "| Why it failed / winner |",
            "|---|---|---|---|---|---|---|",
        ]
        for e in report["apply_log"]:
            tasks = ", ".join(f"1.{t}" for t in e.get("tasks") or []) or str(e.get("task") or "")
            passed = f"{e['passed']}/{e['passed'] + e.get('failed', 0)}" if e.get("passed") is not None else ""
            broken = str(e.get("regressions", ""))
            note = e.get("error") or (f"winner: {e['winner']}" if e.get("winner") else "")
            if e.get("backers", 0) > 1:
                note += f" ({e['backers']} candidates gave the same answers to the probe calls)"
            if e.get("suspect"):
                note += f"; suspect: {', '.join(t.rsplit('::', 1)[-1] for t in e['suspect'])}"
            why = " ".join(str(note).split())
            why = (why if len(why) <= 160 else why[:159] + "…").replace("|", "\\|")  # the start says the most
            ok = "yes" if e.get("ok") else "no"
            took = f"{e['seconds']:.1f} s (run {e.get('run_seconds', 0.0):.1f} s)" if "seconds" in e else ""
            lines.append(f"| {tasks} | {e.get('step')} | {passed} | {broken} | {ok} | {took} | {why} |")
    return "\n".join(lines) + "\n"


def _cost_cell(row: dict[str, Any]) -> str:
    """Cost in the run.md table: dollars, or "≥ $x + n unpriced calls" — an unknown price never reads as $0."""
    return cost_text(row).removeprefix("$").replace("$", "")


def report_dir(state: dict[str, Any], paths: Any) -> Path:
    archived = ((state.get("outputs") or {}).get("sdd-archive") or {}).get("archive_dir")
    return paths.repo / archived if archived else paths.dir


def write_report(state: dict[str, Any], paths: Any, harness: Any = None) -> Path:
    report = build_report(state)
    folder = report_dir(state, paths)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / REPORT_JSON).write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    (folder / REPORT_MD).write_text(render_markdown(report), encoding="utf-8")
    return folder
