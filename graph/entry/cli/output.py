"""`--json` output: one JSON document on stdout, nothing else there (progress and notes go to stderr).

The keys are a stable interface, documented in the README ("Scripting: --json"); add keys, never rename them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

JSON_VERSION = 1  # bumped only if a key changes meaning


def emit(data: dict[str, Any]) -> None:
    print(json.dumps({"version": JSON_VERSION, **data}, indent=2, default=str))


def run_document(result: Any, *, repo: Path, config: str, config_from: str, exit_code: int, resume: str | None):
    """`sdd run --json` / `sdd resume --json` / `sdd demo --json`."""
    report = result.report or {}
    return {
        "run_id": result.run_id,
        "status": result.status,
        "reason": result.reason,
        "exit_code": exit_code,
        "change_id": result.change_id,
        "repo": str(repo),
        "config": config,
        "config_from": config_from,
        "verdict": report.get("verdict"),
        "report_path": str(result.report_path) if result.report_path else None,
        "awaiting_approval": (result.interrupt or {}).get("phase"),
        "resume_command": resume,
        "totals": {
            k: (report.get("totals") or {}).get(k, 0)
            for k in ("calls", "input_tokens", "cached_tokens", "output_tokens", "cost_usd")
        },
        "phases": [
            {
                k: row.get(k)
                for k in (
                    "phase",
                    "requested",
                    "served",
                    "routing_mismatch",
                    "calls",
                    "input_tokens",
                    "cached_tokens",
                    "output_tokens",
                    "cost_usd",
                    "seconds",
                )
            }
            for row in report.get("phases", [])
        ],
    }


RUN_KEYS = ("status", "source", "config", "request", "started", "updated", "reason", "change_id", "awaiting")


def runs_document(repo: Path, runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`sdd runs --json`: every run of the repo, oldest first."""
    ordered = sorted(runs.items(), key=lambda kv: kv[1].get("started", ""))
    return {
        "repo": str(repo),
        "runs": [
            {"run_id": run_id, **{k: meta.get(k) for k in RUN_KEYS}, "source": meta.get("source") or "cli"}
            for run_id, meta in ordered
        ],
    }


def first_line(text: str, width: int = 60) -> str:
    """A request as one short line: its first non-empty line, cut with an ellipsis."""
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    return line if len(line) <= width else line[: width - 1].rstrip() + "…"
