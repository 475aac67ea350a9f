"""Metric 3: price one change's calls under three model maps, from per-call phase and token counts.

Input: ``bench/recorded/demo-run.json`` (a ``run.json`` report of a real run: ``calls`` with phase,
input/cached/output/reasoning tokens). Until it exists, a stand-in is produced by replaying the scripted fake
pipeline (``bench/recorded/fake-run.json``) and every output says so.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import REQUEST, ROOT, config, copy_demo, scratch_dir

RECORDED = ROOT / "bench" / "recorded" / "demo-run.json"
STAND_IN = ROOT / "bench" / "recorded" / "fake-run.json"
STAND_IN_LABEL = "replay of fake run — replace with recorded demo (bench/recorded/demo-run.json)"
SCENARIOS = {
    "a": ("opencode-go.yaml as configured (OpenCode Go flat = 0; OpenRouter calls per token)", "opencode-go", True),
    "b": ("same map, every model per token on OpenRouter (openrouter.yaml)", "openrouter", True),
    "c": ("single-model.yaml (Claude Sonnet 4.6 everywhere)", "single-model", True),
}


def stand_in_report(path: Path = STAND_IN) -> dict[str, Any]:
    """Run the scripted fake team (one verify loop-back, real pytest) and keep its run.json-shaped report."""
    from sdd_harness.graph.entry.api import arun_change
    from tests.fakes.scripted import SLUGIFY_BUGGY, SLUGIFY_OK, DemoScript, team

    repo = copy_demo(scratch_dir() / "demo-repo")
    models = team(DemoScript(impl_versions=[SLUGIFY_BUGGY, SLUGIFY_OK]))
    cfg = config("opencode-go", {"task_loop": False})  # the loop-back script converges only without the task loop
    result = asyncio.run(arun_change(REQUEST, repo, cfg, models=models, auto_approve=True))
    if result.status != "done":
        raise RuntimeError(f"stand-in run did not finish: {result.status}: {result.reason}")
    report = {**result.report, "source": STAND_IN_LABEL}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    return report


def load_calls(regenerate: bool = False, stand_in: bool = False) -> tuple[list[dict[str, Any]], str, Path, str]:
    """(calls, label, file, run status): the recorded demo run if present (unless ``stand_in``), else the fake."""
    if RECORDED.is_file() and not stand_in:
        data = json.loads(RECORDED.read_text(encoding="utf-8"))
        return data.get("calls") or [], "recorded demo run", RECORDED, str(data.get("status"))
    if regenerate or not STAND_IN.is_file():
        data = stand_in_report()
    else:
        data = json.loads(STAND_IN.read_text(encoding="utf-8"))
    return data.get("calls") or [], STAND_IN_LABEL, STAND_IN, str(data.get("status"))


def price(calls: list[dict[str, Any]], config_name: str, flat: bool = True) -> dict[str, Any]:
    """Cost per phase if ``config_name``'s model map had served these exact token counts."""
    from sdd_harness.graph.core.usage import CallRecord, Pricer

    cfg = config(config_name)
    pricer = Pricer(cfg, flat_providers=flat)
    roles = cfg.roles()
    per_phase: dict[str, float] = defaultdict(float)
    tokens: dict[str, int] = defaultdict(int)
    unpriced: list[str] = []
    for call in calls:
        role = call.get("phase", "")
        if role not in roles:
            unpriced.append(role)
            continue
        binding = roles[role]
        provider = cfg.provider_name(binding)
        record = CallRecord(
            phase=role,
            requested_model=binding.model,
            input_tokens=int(call.get("input_tokens") or 0),
            cached_tokens=int(call.get("cached_tokens") or 0),
            output_tokens=int(call.get("output_tokens") or 0),
            reasoning_tokens=int(call.get("reasoning_tokens") or 0),
        )
        cost = pricer.cost(binding.model, provider, record)
        if cost is None:
            unpriced.append(f"{role}:{binding.model}")
            continue
        per_phase[role] += cost
        tokens[role] += record.input_tokens + record.output_tokens
    total = sum(per_phase.values())
    orchestrator = per_phase.get("orchestrator", 0.0)
    return {
        "config": config_name,
        "per_phase": dict(per_phase),
        "tokens": dict(tokens),
        "total": total,
        "orchestrator": orchestrator,
        "floor": total - orchestrator,
        "unpriced": sorted(set(unpriced)),
        "models": {role: f"{cfg.provider_name(b)}:{b.model}" for role, b in roles.items()},
    }


def compare(calls: list[dict[str, Any]], source: str, path: Path, status: str) -> dict[str, Any]:
    results = {key: {**price(calls, name, flat), "label": label} for key, (label, name, flat) in SCENARIOS.items()}
    a, b, c = results["a"]["total"], results["b"]["total"], results["c"]["total"]
    by_phase_calls: dict[str, int] = defaultdict(int)
    for call in calls:
        by_phase_calls[call.get("phase", "")] += 1
    floor = results["b"]["floor"]
    return {
        "source": source,
        "source_file": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "run_status": status,
        "calls": len(calls),
        "calls_per_phase": dict(by_phase_calls),
        "input_tokens": sum(int(c.get("input_tokens") or 0) for c in calls),
        "output_tokens": sum(int(c.get("output_tokens") or 0) for c in calls),
        "phases": list(by_phase_calls),
        "scenarios": results,
        "a_over_c": a / c if c else float("nan"),
        "b_over_floor": b / floor if floor else float("nan"),
        "orchestrator_share_b": results["b"]["orchestrator"] / b if b else 0.0,
        "orchestrator_over_floor_b": results["b"]["orchestrator"] / floor if floor else float("nan"),
    }


def measure(regenerate: bool = False) -> dict[str, Any]:
    """The primary source (recorded demo if present) and, when that is the recorded run, the fake stand-in too
    (it has a verify loop-back, so it is the one that exercises the orchestrator's judgment)."""
    primary = compare(*load_calls(regenerate))
    if primary["source"] != STAND_IN_LABEL:
        primary["secondary"] = compare(*load_calls(regenerate, stand_in=True))
    return primary


def plot(result: dict[str, Any], path: Path) -> Path:
    """Grouped bars per phase for the three maps; a second panel for the stand-in when both sources exist."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [result, *([result["secondary"]] if result.get("secondary") else [])]
    keys = [
        ("a", "multi-model: OpenCode Go (flat) + OpenRouter"),
        ("b", "multi-model: all OpenRouter"),
        ("c", "single model: Claude Sonnet 4.6"),
    ]
    width = 0.27
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 4.2 * len(panels)), squeeze=False)
    for ax, data in zip(axes[:, 0], panels, strict=True):
        phases = list(dict.fromkeys([*data["phases"], "orchestrator"]))
        for i, (key, label) in enumerate(keys):
            values = [1000 * data["scenarios"][key]["per_phase"].get(p, 0.0) for p in phases]
            ax.bar([x + (i - 1) * width for x in range(len(phases))], values, width, label=label)
        ax.set_xticks(range(len(phases)), [p.removeprefix("sdd-") for p in phases], rotation=30, ha="right")
        ax.set_ylabel("USD × 1000 per change")
        ax.set_title(f"Cost per phase — {data['source']} (run status: {data['run_status']})", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
