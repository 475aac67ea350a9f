"""Deterministic repairs of the delta mistakes small models make, before OpenSpec's rules are checked.

MODIFIED of a requirement that does not exist becomes ADDED; REMOVED/RENAMED of unknown names are dropped;
repeated names are numbered; requirement text without SHALL/MUST gets "The system SHALL"; a new capability
gets a Purpose of the length OpenSpec wants. Real conflicts are left for validation to report.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sdd_harness.graph.infra.openspec.changes import discover_specs

_SHALL = re.compile(r"\b(SHALL|MUST)\b")


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
                req["text"] = _with_shall(req["text"].strip())
    return data


def _with_shall(text: str) -> str:
    """ "X should do Y" reads "X SHALL do Y"; otherwise the sentence gets "The system SHALL" in front."""
    if not text:
        return text
    modal = re.search(r"\b(should|will|must|shall|has to|needs to)\b", text, flags=re.IGNORECASE)
    if modal:
        return f"{text[: modal.start()]}SHALL{text[modal.end() :]}"
    return f"The system SHALL {text[:1].lower()}{text[1:]}"


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
