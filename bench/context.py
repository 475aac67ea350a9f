"""Metric 4: prompt tokens per change on a generated 200-file repository vs a naive whole-context baseline.

Harness side: ``count_tokens_approximately`` on exactly the messages each scripted fake received (one happy-path
slugify change, real pytest). Naive side, for the same calls: the same system prompt, plus the request, plus
the full text of every file the harness considered relevant (its ranked ``relevant_files`` for the request,
explore's affected files, the task files, files its tools read), plus every artifact earlier phases wrote, in
full. A second naive flavour adds the whole untruncated repository map (what a map-every-call agent sends).
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import REQUEST, Events, Recorded, config, recording, scratch_dir
from bench.genrepo import generate

ARTIFACT_OF = {
    "sdd-init": ["../../project.md"],
    "sdd-explore": ["exploration.md"],
    "sdd-propose": ["proposal.md"],
    "sdd-spec": ["specs/*/spec.md"],
    "sdd-design": ["design.md"],
    "sdd-tasks": ["tasks.md"],
    "sdd-verify": ["verify-report.md"],
}


async def _run(repo: Path) -> tuple[Any, list[Recorded]]:
    from sdd_harness.graph.entry.api import arun_change
    from tests.fakes.scripted import DemoScript, team

    events, sink = Events(), []
    models = team(DemoScript())
    for role, fake in models.items():
        fake.responder = recording(fake.responder, events, sink, role)
    result = await arun_change(REQUEST, repo, config("opencode-go"), models=models, auto_approve=True, on_event=events)
    return result, sink


def _artifacts(change_dir: Path, phases: list[str]) -> str:
    texts = []
    for phase in phases:
        for pattern in ARTIFACT_OF.get(phase, []):
            base = change_dir.parent.parent if pattern.startswith("../../") else change_dir
            for path in sorted(base.glob(pattern.removeprefix("../../"))):
                texts.append(f"--- {path.name}\n{path.read_text(encoding='utf-8')}")
    return "\n".join(texts)


def measure(files: int = 200) -> dict[str, Any]:
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_core.messages.utils import count_tokens_approximately

    from sdd_harness.graph.core.phases import BUILTIN_PHASES
    from sdd_harness.graph.infra.repomap import iter_files, relevant_files, repo_map

    root = scratch_dir()
    pristine = generate(root / "pristine", files)
    repo = generate(root / "repo", files)
    result, recorded = asyncio.run(_run(repo))
    state = result.state
    outputs = state.get("outputs") or {}
    relevant = set(relevant_files(pristine, REQUEST, limit=4))
    relevant |= set((outputs.get("sdd-explore") or {}).get("affected_files") or [])
    relevant |= {t.get("file", "") for t in (outputs.get("sdd-tasks") or {}).get("tasks", [])}
    steps = (outputs.get("sdd-explore") or {}).get("tool_steps") or []
    relevant |= {json.loads(s["action"]).get("path", "") for s in steps}
    relevant = {r for r in relevant if r and (pristine / r).is_file()}
    files_text = "\n\n".join(f"### {r}\n{(pristine / r).read_text(encoding='utf-8')}" for r in sorted(relevant))
    full_map = repo_map(pristine, max_chars=10**9)
    archive = (outputs.get("sdd-archive") or {}).get("archive_dir")
    change_dir = repo / archive if archive else repo / "openspec" / "changes" / (result.change_id or "")

    harness: dict[str, int] = defaultdict(int)
    naive: dict[str, int] = defaultdict(int)
    naive_map: dict[str, int] = defaultdict(int)
    calls: dict[str, int] = defaultdict(int)
    order = list(BUILTIN_PHASES)
    for rec in recorded:
        phase = rec.key[0]
        earlier = order[: order.index(phase)] if phase in order else order
        system = str(rec.messages[0].content) if rec.messages else ""
        user = f"Change request:\n{REQUEST}\n\nRelevant files:\n{files_text}\n\nArtifacts so far:\n"
        user += _artifacts(change_dir, earlier)
        harness[phase] += count_tokens_approximately(rec.messages)
        naive[phase] += count_tokens_approximately([SystemMessage(system), HumanMessage(user)])
        naive_map[phase] += count_tokens_approximately(
            [SystemMessage(system), HumanMessage(f"{user}\n\nRepository map:\n{full_map}")]
        )
        calls[phase] += 1
    total_h, total_n, total_m = sum(harness.values()), sum(naive.values()), sum(naive_map.values())
    return {
        "repo_files": len(iter_files(pristine)),
        "status": result.status,
        "calls": sum(calls.values()),
        "relevant_files": sorted(relevant),
        "harness_tokens": total_h,
        "naive_tokens": total_n,
        "naive_with_map_tokens": total_m,
        "ratio": total_h / total_n if total_n else float("nan"),
        "ratio_with_map": total_h / total_m if total_m else float("nan"),
        "fake_usage_input_tokens": sum(c.get("input_tokens", 0) for c in result.report["calls"]),
        "per_phase": {
            p: {"calls": calls[p], "harness": harness[p], "naive": naive[p], "naive_with_map": naive_map[p]}
            for p in calls
        },
    }
