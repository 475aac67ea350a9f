"""Validating a delta and merging it into a main spec, byte-identical to `openspec archive` (see the package
docstring for where this is stricter)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field

from sdd_harness.graph.infra.openspec.models import (
    _SHALL_MUST,
    MIN_PURPOSE_LENGTH,
    PURPOSE_PLACEHOLDER,
    section_conflicts,
)
from sdd_harness.graph.infra.openspec.parse import (
    _ANY_HEADER,
    _DELTA_HEADER,
    _REQ_HEADER_STRICT,
    _TOP_HEADER,
    MainSpec,
    ParsedDelta,
    RequirementBlock,
    _fence_mask,
    _fold,
    _normalize_text,
    normalize_requirement_name,
    parse_spec,
)

# --------------------------------------------------------------------------------------------
# Merge
# --------------------------------------------------------------------------------------------


class ArchiveError(Exception):
    """A change cannot be archived; nothing under openspec/ was modified."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


class DeltaCounts(BaseModel):
    """How many entries of each delta kind were applied."""

    added: int = 0
    modified: int = 0
    removed: int = 0
    renamed: int = 0

    def __add__(self, other: DeltaCounts) -> DeltaCounts:
        return DeltaCounts(**{k: getattr(self, k) + getattr(other, k) for k in DeltaCounts.model_fields})


class ArchiveResult(BaseModel):
    """What `archive_change` did."""

    change_id: str
    capabilities: list[str] = Field(description="Capability ids whose main spec was written, sorted.")
    created: list[str] = Field(default_factory=list, description="Capabilities that did not exist before.")
    counts: dict[str, DeltaCounts] = Field(default_factory=dict, description="Per capability.")
    totals: DeltaCounts = Field(default_factory=DeltaCounts)
    archive_path: Path
    warnings: list[str] = Field(default_factory=list)


def _skeleton(capability: str, change_id: str, purpose: str | None) -> str:
    body = (purpose or "").strip() or PURPOSE_PLACEHOLDER.format(change=change_id)
    return f"# {capability} Specification\n\n## Purpose\n{body}\n\n## Requirements\n"


def _carryable_purpose(skeleton: str) -> bool:
    """OpenSpec keeps a delta Purpose only if the new spec stays readable (no comments/headers)."""
    if "<!--" in skeleton or _structure_issues(skeleton):
        return False
    sections = _sections(skeleton)
    return bool(
        _find_section(sections, "Purpose")
        and _find_section(sections, "Requirements")
        and (_find_section(sections, "Purpose") or {}).get("content", "").strip()
    )


def _structure_issues(content: str) -> list[str]:
    """Main-spec shape errors OpenSpec refuses to merge into (delta headers, stray/duplicate reqs)."""
    lines = _normalize_text(content).split("\n")
    mask = _fence_mask(lines)
    lines = ["" if mask[i] else ln for i, ln in enumerate(lines)]
    header = next((i for i, ln in enumerate(lines) if re.match(r"^##\s+Requirements\s*$", ln, re.I)), None)
    end = len(lines)
    if header is not None:
        end = next((i for i in range(header + 1, len(lines)) if _TOP_HEADER.match(lines[i])), len(lines))
    issues, seen = [], set()
    for i, line in enumerate(lines):
        if _DELTA_HEADER.match(line):
            issues.append(f"line {i + 1}: main spec contains delta header '{line.strip()}'")
            continue
        m = _REQ_HEADER_STRICT.match(line)
        if not m:
            continue
        name = normalize_requirement_name(m.group(1))
        if header is None or not header < i < end:
            issues.append(f"line {i + 1}: requirement '{name}' is outside the ## Requirements section")
        elif name in seen:
            issues.append(f"line {i + 1}: requirement '{name}' is declared twice")
        seen.add(name)
    return issues


def _sections(content: str) -> list[dict]:
    """Header tree like OpenSpec's MarkdownParser (title, level, content, children)."""
    lines = _normalize_text(content).split("\n")
    mask = _fence_mask(lines)
    roots: list[dict] = []
    stack: list[dict] = []
    for i, line in enumerate(lines):
        m = None if mask[i] else _ANY_HEADER.match(line)
        if not m:
            continue
        level = len(m.group(1))
        end = next(
            (
                j
                for j in range(i + 1, len(lines))
                if not mask[j] and (h := re.match(r"^(#{1,6})\s+", lines[j])) and len(h.group(1)) <= level
            ),
            len(lines),
        )
        node = {
            "level": level,
            "title": m.group(2).strip(),
            "content": "\n".join(lines[i + 1 : end]).strip(),
            "children": [],
        }
        while stack and stack[-1]["level"] >= level:
            stack.pop()
        (stack[-1]["children"] if stack else roots).append(node)
        stack.append(node)
    return roots


def _find_section(sections: list[dict], title: str) -> dict | None:
    for node in sections:
        if node["title"].lower() == title.lower():
            return node
        child = _find_section(node["children"], title)
        if child:
            return child
    return None


def _spec_problems(capability: str, content: str, strict: bool) -> list[str]:
    """What `openspec validate` reports for a rebuilt main spec (errors; warnings too if strict)."""
    problems = [f"capability '{capability}': {issue}" for issue in _structure_issues(content)]
    sections = _sections(content)
    purpose = _find_section(sections, "Purpose")
    reqs = _find_section(sections, "Requirements")
    if not purpose or not purpose["content"]:
        return problems + [f"capability '{capability}': spec must have a non-empty ## Purpose section"]
    if reqs is None:
        return problems + [f"capability '{capability}': spec must have a ## Requirements section"]
    if not reqs["children"]:
        problems.append(
            f"capability '{capability}': spec would have no requirements left (retiring a capability is not supported)"
        )
    for child in reqs["children"]:
        if not any(s["content"] for s in child["children"]):
            problems.append(f"capability '{capability}': requirement '{_label(child['title'])}' has no scenario")
    for block in parse_spec(content).requirements:
        if not block.text:
            problems.append(f"capability '{capability}': requirement '{block.name}' has no requirement text")
        elif strict and not _SHALL_MUST.search(block.text):
            problems.append(f"capability '{capability}': requirement '{block.name}' text must contain SHALL or MUST")
    if strict:
        overview = purpose["content"].strip()
        if overview.startswith(("TBD", "TODO")):
            problems.append(f"capability '{capability}': Purpose is still a placeholder")
        elif len(overview) < MIN_PURPOSE_LENGTH:
            problems.append(f"capability '{capability}': Purpose is shorter than {MIN_PURPOSE_LENGTH} characters")
    return problems


def _label(title: str) -> str:
    return normalize_requirement_name(re.sub(r"^Requirement:\s*", "", title, flags=re.I))


def _delta_problems(delta: ParsedDelta, strict: bool) -> list[str]:
    """Delta-file errors OpenSpec's validator raises before archiving (plus warnings if strict)."""
    cap = delta.capability
    problems = [f"capability '{cap}': RENAMED {u}" for u in delta.unpaired_renames]
    if not delta.has_operations():
        where = (
            "no requirement entries parsed under " + ", ".join(delta.sections)
            if delta.sections
            else "no ## ADDED/MODIFIED/REMOVED/RENAMED Requirements section"
        )
        problems.append(f"capability '{cap}': {where}")
    for kind, blocks in (("ADDED", delta.added), ("MODIFIED", delta.modified)):
        for block in blocks:
            if not block.text:
                problems.append(f"capability '{cap}': {kind} requirement '{block.name}' has no requirement text")
            elif strict and not _SHALL_MUST.search(block.text):
                problems.append(
                    f"capability '{cap}': {kind} requirement '{block.name}' text must contain SHALL or MUST"
                )
            if block.scenario_count < 1:
                problems.append(f"capability '{cap}': {kind} requirement '{block.name}' has no scenario")
    names = {
        "ADDED": [b.name for b in delta.added],
        "MODIFIED": [b.name for b in delta.modified],
        "REMOVED": delta.removed,
        "RENAMED from": [f for f, _ in delta.renamed],
        "RENAMED to": [t for _, t in delta.renamed],
    }
    pairs = [
        ("MODIFIED", "REMOVED"),
        ("MODIFIED", "ADDED"),
        ("ADDED", "REMOVED"),
        ("RENAMED from", "MODIFIED"),
        ("RENAMED to", "ADDED"),
    ]
    problems += section_conflicts(cap, names, pairs)
    for n in sorted({_fold(x) for x in names["RENAMED from"]} & {_fold(x) for x in names["REMOVED"]}):
        problems.append(f"capability '{cap}': requirement '{n}' is in both RENAMED from and REMOVED")
    if strict:
        problems += [f"capability '{cap}': requirement '{n}' is outside any delta section" for n in delta.orphaned]
    return problems


def merge_spec(current: str | None, delta: ParsedDelta, change_id: str) -> tuple[str, DeltaCounts]:
    """Apply one parsed delta to a main spec's text (None = new capability); raises ArchiveError."""
    cap = delta.capability
    if current is None:
        if delta.modified or delta.renamed:
            name = delta.modified[0].name if delta.modified else delta.renamed[0][0]
            kind = "MODIFIED" if delta.modified else "RENAMED"
            raise ArchiveError(
                [
                    f"capability '{cap}': {kind} requirement '{name}' not found "
                    "(the capability does not exist yet; only ADDED is allowed)"
                ]
            )
        if delta.removed:
            raise ArchiveError(
                [
                    f"capability '{cap}': REMOVED requirement '{delta.removed[0]}' not found "
                    "(the capability does not exist yet)"
                ]
            )
        current = _skeleton(cap, change_id, delta.purpose)
        if delta.purpose and not _carryable_purpose(current):
            current = _skeleton(cap, change_id, None)  # OpenSpec falls back to its placeholder too
    issues = _structure_issues(current)
    if issues:
        raise ArchiveError([f"capability '{cap}': main spec is structurally invalid: {i}" for i in issues])
    spec = parse_spec(current)
    blocks: dict[str, RequirementBlock] = {b.name: b for b in spec.requirements}
    order = [b.name for b in spec.requirements]
    problems: list[str] = []
    counts = DeltaCounts(
        renamed=_apply_renames(cap, delta, blocks, order, problems),
        removed=_apply_removals(cap, delta, blocks, problems),
        modified=_apply_modifications(cap, delta, blocks, problems),
        added=_apply_additions(cap, delta, blocks, problems),
    )
    if problems:
        raise ArchiveError(problems)
    return _recompose(spec, blocks, order), counts


# OpenSpec 1.13.2 applies RENAMED -> REMOVED -> MODIFIED -> ADDED (src/core/specs-apply.ts); the
# cross-section checks make MODIFIED/REMOVED order irrelevant, so we follow OpenSpec exactly.


def _apply_renames(
    cap: str, delta: ParsedDelta, blocks: dict[str, RequirementBlock], order: list[str], problems: list[str]
) -> int:
    done = 0
    for old, new in delta.renamed:
        if old not in blocks:
            problems.append(f"capability '{cap}': RENAMED requirement '{old}' not found")
            continue
        if new in blocks or any(k != old and _fold(k) == _fold(new) for k in blocks):
            problems.append(f"capability '{cap}': RENAMED target requirement '{new}' already exists")
            continue
        lines = blocks.pop(old).raw.split("\n")
        lines[0] = f"### Requirement: {new}"
        blocks[new] = RequirementBlock(name=new, raw="\n".join(lines))
        order[order.index(old)] = new
        done += 1
    return done


def _apply_removals(cap: str, delta: ParsedDelta, blocks: dict[str, RequirementBlock], problems: list[str]) -> int:
    done = 0
    for name in delta.removed:
        if name not in blocks:
            near = next((k for k in blocks if _fold(k) == _fold(name)), None)
            hint = f" (did you mean '{near}'?)" if near else ""
            problems.append(f"capability '{cap}': REMOVED requirement '{name}' not found{hint}")
            continue
        del blocks[name]
        done += 1
    return done


def _apply_modifications(cap: str, delta: ParsedDelta, blocks: dict[str, RequirementBlock], problems: list[str]) -> int:
    done = 0
    for block in delta.modified:
        current = blocks.get(block.name)
        if current is None:
            near = next((k for k in blocks if _fold(k) == _fold(block.name)), None)
            hint = f" (did you mean '{near}'?)" if near else ""
            problems.append(f"capability '{cap}': MODIFIED requirement '{block.name}' not found{hint}")
            continue
        missing = _missing_scenarios(current.scenarios, block.scenarios)
        if missing:
            problems.append(
                f"capability '{cap}': MODIFIED requirement '{block.name}' drops existing "
                f"scenario(s) {', '.join(repr(m) for m in missing)}; a MODIFIED block replaces the "
                "whole requirement, so repeat every existing scenario"
            )
            continue
        blocks[block.name] = block
        done += 1
    return done


def _missing_scenarios(current: list[str], incoming: list[str]) -> list[str]:
    """Multiplicity-aware: names in `current` not matched by one in `incoming`."""
    remaining = list(incoming)
    missing = []
    for name in current:
        if name in remaining:
            remaining.remove(name)
        else:
            missing.append(name)
    return missing


def _apply_additions(cap: str, delta: ParsedDelta, blocks: dict[str, RequirementBlock], problems: list[str]) -> int:
    done = 0
    for block in delta.added:
        near = next((k for k in blocks if _fold(k) == _fold(block.name)), None)
        if near is not None:
            problems.append(
                f"capability '{cap}': ADDED requirement '{block.name}' already exists"
                + ("" if near == block.name else f" as '{near}'")
                + " (use MODIFIED to change it)"
            )
            continue
        blocks[block.name] = block
        done += 1
    return done


def _recompose(spec: MainSpec, blocks: dict[str, RequirementBlock], order: list[str]) -> str:
    """Reassemble exactly as OpenSpec: kept blocks in place, new ones appended, one blank line apart."""
    kept = [blocks[name] for name in order if name in blocks]
    kept += [b for name, b in blocks.items() if name not in order]
    body_parts = ([spec.preamble.rstrip()] if spec.preamble.strip() else []) + [b.raw for b in kept]
    body = "\n\n".join(body_parts).rstrip()
    parts = [spec.before.rstrip(), spec.header_line, body, spec.after.strip()]
    return _collapse_blank_runs("\n\n".join(p for p in parts if p != "")).rstrip() + "\n"


def _collapse_blank_runs(content: str) -> str:
    """At most one empty line in a row, except inside code fences."""
    lines = content.split("\n")
    mask = _fence_mask(lines)
    kept, run = [], 0
    for i, line in enumerate(lines):
        if mask[i] or line != "":
            run = 0
            kept.append(line)
            continue
        run += 1
        if run == 1:
            kept.append(line)
    return "\n".join(kept)
