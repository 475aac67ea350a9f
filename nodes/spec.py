"""sdd-spec: requirement deltas with scenarios, rendered to OpenSpec markdown by code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field

from sdd_harness.graph.core.phase import GateContext, Phase, PhaseContext
from sdd_harness.graph.core.phases import SPEC
from sdd_harness.graph.infra.openspec import (
    CapabilityDelta,
    Requirement,
    SpecDeltaSet,
    check_change,
    discover_specs,
    existing_specs,
    write_change_specs,
)
from sdd_harness.nodes import propose

_SHALL = re.compile(r"\b(SHALL|MUST)\b")


class CapabilityAnswer(CapabilityDelta):
    """What the model fills in: at least one requirement, so a grammar-constrained model cannot answer empty."""

    added: list[Requirement] = Field(
        min_length=1,
        max_length=8,
        description="Every requirement this change adds or changes; an existing name is treated as MODIFIED.",
    )


class SpecAnswer(SpecDeltaSet):
    deltas: list[CapabilityAnswer] = Field(min_length=1, max_length=4, description="One per capability touched.")


def reclassify(answer: SpecAnswer, existing: dict[str, set[str]]) -> SpecDeltaSet:
    """ADDED entries whose name already exists in the capability are changes to it: MODIFIED."""
    data = answer.model_dump()
    for delta in data["deltas"]:
        known = existing.get(delta["capability"], set())
        delta["modified"] += [r for r in delta["added"] if r["name"] in known]
        delta["added"] = [r for r in delta["added"] if r["name"] not in known]
        if known:
            delta["purpose"] = ""  # an existing capability keeps its Purpose
    return SpecDeltaSet.model_validate(data)


def existing_requirements(openspec_dir: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for capability, spec in discover_specs(openspec_dir):
        lines = spec.read_text(encoding="utf-8").splitlines()
        found[capability] = {ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("### Requirement:")}
    return found


def normalise_deltas(data: Any, existing: dict[str, set[str]]) -> Any:
    """Deterministic repairs of the mistakes small models make, before validation.

    MODIFIED of a requirement that does not exist becomes ADDED; REMOVED/RENAMED of unknown names are
    dropped; requirement text without SHALL/MUST gets 'The system SHALL'. Real conflicts still fail.
    """
    if not isinstance(data, dict):
        return data
    data["deltas"] = _merge_same_capability(data.get("deltas") or [])
    for delta in data.get("deltas") or []:
        if not isinstance(delta, dict):
            continue
        known = existing.get(str(delta.get("capability", "")).strip().lower(), set())
        modified = delta.get("modified") or []
        delta["added"] = (delta.get("added") or []) + [r for r in modified if _name(r) not in known]
        delta["modified"] = [r for r in modified if _name(r) in known]
        delta["removed"] = [r for r in delta.get("removed") or [] if _name(r) in known]
        delta["renamed"] = [
            r for r in delta.get("renamed") or [] if isinstance(r, dict) and r.get("from_name") in known
        ]
        if not known:
            delta["purpose"] = _purpose(delta)
        _unique_names(delta["added"])
        for req in delta["added"] + delta["modified"]:
            if isinstance(req, dict):
                _unique_names(req.get("scenarios") or [])
            if isinstance(req, dict) and isinstance(req.get("text"), str) and not _SHALL.search(req["text"]):
                text = req["text"].strip()
                req["text"] = f"The system SHALL {text[:1].lower()}{text[1:]}" if text else text
    return data


def _merge_same_capability(deltas: list[Any]) -> list[Any]:
    """One delta per capability: small models often split one capability over several entries."""
    merged: dict[str, dict[str, Any]] = {}
    out: list[Any] = []
    for delta in deltas:
        if not isinstance(delta, dict):
            out.append(delta)
            continue
        key = str(delta.get("capability", "")).strip().lower()
        if key not in merged:
            merged[key] = delta
            out.append(delta)
            continue
        first = merged[key]
        for kind in ("added", "modified", "removed", "renamed"):
            first[kind] = (first.get(kind) or []) + (delta.get(kind) or [])
        first["purpose"] = first.get("purpose") or delta.get("purpose", "")
    return out


def _unique_names(items: list[Any]) -> None:
    """Small models repeat names; OpenSpec needs them unique, so number the repeats."""
    seen: dict[str, int] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            key = item["name"].strip().lower()
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                item["name"] = f"{item['name'].strip()} ({seen[key]})"


def _purpose(delta: dict[str, Any]) -> str:
    """A new capability needs a Purpose of 50+ characters; build one from what the delta says."""
    purpose = str(delta.get("purpose") or "").strip()
    if len(purpose) >= 50:
        return purpose
    names = ", ".join(_name(r) for r in delta.get("added") or [] if _name(r))
    topic = str(delta.get("capability", "this capability")).replace("-", " ")
    lead = purpose.rstrip(".") if purpose else f"Behaviour of {topic}"
    text = f"{lead}. Covers: {names or topic}."
    if len(text) < 50:
        text += " Defined by the change requests that touch this capability."
    return text[:400]


def _name(item: Any) -> str:
    return str(item.get("name", "") if isinstance(item, dict) else item).strip()


async def run(ctx: PhaseContext) -> dict[str, Any]:
    specs = await ctx.io(existing_specs, ctx.paths.openspec, 2500)
    template = ctx.state.get("spec_template")
    seeded = (
        f"\n\nFilled spec template (authoritative):\n{yaml.safe_dump(template, sort_keys=False)}" if template else ""
    )
    user = (
        f"Change request:\n{ctx.request}{seeded}\n\nProposal:\n{ctx.brief(propose.PHASE)}\n\n"
        f"Existing specs (capability: requirement names):\n{specs or '(none: every capability is new)'}"
    )
    existing = await ctx.io(existing_requirements, ctx.paths.openspec)
    answer = await ctx.ask(SpecAnswer, user, prepare=lambda data: normalise_deltas(data, existing))
    delta_set = reclassify(answer, existing)
    written = await ctx.io(write_change_specs, ctx.paths.root, ctx.paths.change_id, delta_set)
    rels = [ctx.workspace.rel(p) for p in written]
    return {"outputs": {SPEC: delta_set.model_dump()}, "artifacts": {SPEC: ", ".join(rels)}}


def check(ctx: GateContext) -> list[str]:
    if ctx.result(PHASE) is None:
        return ["no spec deltas were produced"]
    return check_change(ctx.paths.root, ctx.paths.change_id)


def brief(deltas: SpecDeltaSet) -> str:
    """What later phases see of the spec: one line per added or changed requirement."""
    lines = [
        f"- [{delta.capability}] {req.name}: {req.text}"
        for delta in deltas.deltas
        for req in [*delta.added, *delta.modified]
    ]
    return "\n".join(lines) or "(no spec)"


PHASE = Phase(name=SPEC, run=run, check=check, output=SpecDeltaSet, brief=brief)
