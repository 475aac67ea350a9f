"""OpenSpec artifacts as data: pydantic models a model fills in, rendered and merged by code.

The spec phase produces a `SpecDeltaSet` (structured output); `render_delta` turns each
`CapabilityDelta` into the delta markdown OpenSpec reads, and `archive_change` merges a change's
deltas into `openspec/specs/` the way `openspec archive <id> --yes` (npm @fission-ai/openspec 1.13.2)
does, so no model ever rewrites a main spec by hand.

The merge mirrors OpenSpec's `buildUpdatedSpec` (src/core/specs-apply.ts) and its parsers
(src/core/parsers/*): requirement blocks are kept as raw markdown, matched by their
`### Requirement:` name, and the file is reassembled from the same slices OpenSpec uses, so the
output is byte-identical (checked by tests/integration/test_openspec_golden.py).

Deliberate differences - this module is *stricter* than OpenSpec, never looser:
- REMOVED of a requirement that does not exist is an error (OpenSpec 1.13.2 warns and skips it as
  "already removed"; it also ignores REMOVED entries for a brand-new capability).
- RENAMED whose source is gone but whose target exists is an error (OpenSpec treats it as
  "already synced").
- ADDED of a name that already exists is an error even when the content is identical (OpenSpec
  skips an identical block as "already synced").
- A change that would remove a capability's last requirement is refused (OpenSpec can retire the
  capability when `.openspec.yaml` sets `retire_capabilities: true`; the harness never does that).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ArchiveError",
    "ArchiveResult",
    "CapabilityDelta",
    "DeltaCounts",
    "MainSpec",
    "ParsedDelta",
    "Removal",
    "Rename",
    "Requirement",
    "RequirementBlock",
    "Scenario",
    "SpecDeltaSet",
    "archive_change",
    "archive_name",
    "change_path",
    "check_change",
    "kebab_case",
    "list_scenarios",
    "merge_spec",
    "parse_delta",
    "parse_spec",
    "render_delta",
    "render_requirement",
    "write_change_specs",
]

MIN_PURPOSE_LENGTH = 50  # OpenSpec warns (so --strict fails) below this many characters
PURPOSE_PLACEHOLDER = "TBD - created by archiving change {change}. Update Purpose after archive."
_SHALL_MUST = re.compile(r"\b(SHALL|MUST)\b")
_ARCHIVE_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}-")

# --------------------------------------------------------------------------------------------
# Normalisation of model output
# --------------------------------------------------------------------------------------------

_FENCE_LINE = re.compile(r"^\s*(`{3,}|~{3,})[\w+-]*\s*$")
_HEADER_PREFIX = re.compile(r"^\s*#{1,6}(?:\s+|$)")
_LABEL_PREFIX = re.compile(r"^(?:requirement|scenario)\s*:\s*", re.IGNORECASE)
_STEP_PREFIX = re.compile(
    r"^(?:[-*+]\s+)?(?:\*\*|__)?(?:GIVEN|WHEN|THEN|AND)\b(?:\*\*|__)?\s*:?\s*(?:\*\*|__)?\s*", re.IGNORECASE
)


def _drop_fences(text: str) -> list[str]:
    """Lines of `text` without ``` / ~~~ fence lines, which small models wrap strings in."""
    return [line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if not _FENCE_LINE.match(line)]


def _one_line(text: str) -> str:
    """Collapse a string a model produced into one clean line (names, scenario steps)."""
    parts = [_HEADER_PREFIX.sub("", line).strip() for line in _drop_fences(text)]
    return " ".join(p for p in parts if p)


def _clean_name(text: str) -> str:
    """A requirement/scenario name without `###`, `Requirement:` labels, bold or backticks."""
    name = _LABEL_PREFIX.sub("", _one_line(text)).strip()
    return re.sub(r"[ \t]+#+[ \t]*$", "", name.strip("`*_ ")).strip()


def _clean_step(text: str) -> str:
    """A GIVEN/WHEN/THEN entry without a bullet or a repeated keyword the model already wrote."""
    return _STEP_PREFIX.sub("", _one_line(text)).strip()


def _clean_block(text: str) -> str:
    """Multi-line prose (requirement text, purpose) without fences or markdown headers."""
    lines: list[str] = []
    for line in _drop_fences(text):
        if re.match(r"^\s*#{1,6}\s*Requirement\s*:", line, re.IGNORECASE):
            continue  # a model repeating the header inside the body
        lines.append(_HEADER_PREFIX.sub("", line))
    return "\n".join(line.rstrip() for line in lines).strip()


def kebab_case(value: str) -> str:
    """Capability ids are kebab-case path segments (`user-auth`, `identity/user-auth`)."""
    segments = []
    for segment in _one_line(value).split("/"):
        slug = re.sub(r"[^a-z0-9]+", "-", re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", segment).lower())
        if slug.strip("-"):
            segments.append(slug.strip("-"))
    return "/".join(segments)


def _dupes(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        if name in seen and name not in out:
            out.append(name)
        seen.add(name)
    return out


# --------------------------------------------------------------------------------------------
# Models (structured output of the spec phase)
# --------------------------------------------------------------------------------------------


class Scenario(BaseModel):
    """One testable GIVEN/WHEN/THEN case; each becomes a `#### Scenario:` block."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Short name of the case, e.g. 'Rejects an expired token'.")
    given: list[str] = Field(default_factory=list, max_length=3, description="Preconditions (optional), one per entry.")
    when: list[str] = Field(min_length=1, max_length=3, description="Trigger(s), one per entry; no 'WHEN' prefix.")
    then: list[str] = Field(
        min_length=1, max_length=3, description="Observable outcome(s), one per entry; no 'THEN' prefix."
    )

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: str) -> str:
        name = _clean_name(str(value))
        if not name:
            raise ValueError("scenario name must not be empty")
        return name

    @field_validator("given", "when", "then", mode="before")
    @classmethod
    def _steps(cls, value: object) -> object:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return [s for s in (_clean_step(str(v)) for v in value) if s]
        return value


class Requirement(BaseModel):
    """One behaviour the system must have; becomes a `### Requirement:` block."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Short unique name; for MODIFIED it must equal the existing name exactly.")
    text: str = Field(description="One or two sentences stating the behaviour; must contain SHALL or MUST.")
    scenarios: list[Scenario] = Field(min_length=1, max_length=5, description="At least one scenario that tests it.")

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: str) -> str:
        name = _clean_name(str(value))
        if not name:
            raise ValueError("requirement name must not be empty")
        return name

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, value: str) -> str:
        return _clean_block(str(value))

    @model_validator(mode="after")
    def _check(self) -> Requirement:
        if not self.text:
            raise ValueError(f"requirement '{self.name}' text must not be empty")
        if not _SHALL_MUST.search(self.text):
            raise ValueError(f"requirement '{self.name}' text must contain SHALL or MUST")
        dupes = _dupes(s.name for s in self.scenarios)
        if dupes:
            raise ValueError(f"requirement '{self.name}' has duplicate scenario names: {dupes}")
        return self


class Rename(BaseModel):
    """Rename an existing requirement without changing its content."""

    model_config = ConfigDict(extra="forbid")

    from_name: str = Field(description="Current requirement name, exactly as in the main spec.")
    to_name: str = Field(description="New requirement name.")

    @field_validator("from_name", "to_name", mode="before")
    @classmethod
    def _names(cls, value: str) -> str:
        name = _clean_name(str(value))
        if not name:
            raise ValueError("rename names must not be empty")
        return name


class Removal(BaseModel):
    """Remove an existing requirement (plain strings are accepted as the name)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Requirement name exactly as in the main spec.")
    reason: str = Field(default="", description="Why it goes away (optional, one line).")

    @model_validator(mode="before")
    @classmethod
    def _from_str(cls, value: object) -> object:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: str) -> str:
        name = _clean_name(str(value))
        if not name:
            raise ValueError("removed requirement name must not be empty")
        return name

    @field_validator("reason", mode="before")
    @classmethod
    def _reason(cls, value: str) -> str:
        return _one_line(str(value))


class CapabilityDelta(BaseModel):
    """All requirement changes to one capability (one `specs/<capability>/spec.md` delta file)."""

    model_config = ConfigDict(extra="forbid")

    capability: str = Field(description="Capability id in kebab-case, e.g. 'user-auth'.")
    purpose: str = Field(
        default="",
        description="Only for a NEW capability: 1-2 sentences (50+ characters) on what it is for.",
    )
    added: list[Requirement] = Field(default_factory=list, max_length=8, description="New requirements.")
    modified: list[Requirement] = Field(
        default_factory=list,
        description="Changed requirements: full new text, same name, every existing scenario kept.",
    )
    removed: list[Removal] = Field(default_factory=list, description="Requirements to delete.")
    renamed: list[Rename] = Field(default_factory=list, description="Requirements to rename.")

    @field_validator("capability", mode="before")
    @classmethod
    def _capability(cls, value: str) -> str:
        slug = kebab_case(str(value))
        if not slug:
            raise ValueError("capability must be a non-empty kebab-case name")
        return slug

    @field_validator("purpose", mode="before")
    @classmethod
    def _purpose(cls, value: str) -> str:
        return _clean_block(str(value))

    @property
    def removed_names(self) -> list[str]:
        """Names listed under REMOVED, for callers that only need the names."""
        return [r.name for r in self.removed]

    @model_validator(mode="after")
    def _check(self) -> CapabilityDelta:
        cap = self.capability
        if not (self.added or self.modified or self.removed or self.renamed):
            raise ValueError(f"capability '{cap}' delta has no added, modified, removed or renamed requirements")
        if self.purpose and len(self.purpose) < MIN_PURPOSE_LENGTH:
            raise ValueError(f"capability '{cap}' purpose must be at least {MIN_PURPOSE_LENGTH} characters")
        problems = _model_conflicts(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _model_conflicts(delta: CapabilityDelta) -> list[str]:
    """The duplicate/cross-section rules OpenSpec applies, checked before anything is written."""
    cap = delta.capability
    sections = {
        "ADDED": [r.name for r in delta.added],
        "MODIFIED": [r.name for r in delta.modified],
        "REMOVED": delta.removed_names,
        "RENAMED from": [r.from_name for r in delta.renamed],
        "RENAMED to": [r.to_name for r in delta.renamed],
    }
    problems = [
        f"capability '{cap}': requirement '{n}' appears twice in {kind}"
        for kind, names in sections.items()
        for n in _dupes(names)
    ]
    pairs = [
        ("MODIFIED", "REMOVED"),
        ("MODIFIED", "ADDED"),
        ("ADDED", "REMOVED"),
        ("RENAMED from", "REMOVED"),
        ("RENAMED from", "MODIFIED"),
        ("RENAMED to", "ADDED"),
    ]
    for a, b in pairs:
        for name in sorted(set(sections[a]) & set(sections[b])):
            hint = " (MODIFIED must use the new name)" if a == "RENAMED from" and b == "MODIFIED" else ""
            problems.append(f"capability '{cap}': requirement '{name}' is in both {a} and {b}{hint}")
    return problems


class SpecDeltaSet(BaseModel):
    """Every capability a change touches; the spec phase's whole structured output."""

    model_config = ConfigDict(extra="forbid")

    deltas: list[CapabilityDelta] = Field(min_length=1, max_length=4, description="One entry per capability touched.")

    @model_validator(mode="after")
    def _unique(self) -> SpecDeltaSet:
        dupes = _dupes(d.capability for d in self.deltas)
        if dupes:
            raise ValueError(f"capability listed more than once (merge them into one delta): {dupes}")
        return self


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _render_scenario(scenario: Scenario) -> str:
    lines = [f"#### Scenario: {scenario.name}"]
    for keyword, steps in (("GIVEN", scenario.given), ("WHEN", scenario.when), ("THEN", scenario.then)):
        lines += [f"- **{keyword if i == 0 else 'AND'}** {step}" for i, step in enumerate(steps)]
    return "\n".join(lines)


def render_requirement(req: Requirement) -> str:
    """One `### Requirement:` block with its scenarios, as OpenSpec writes them."""
    parts = [f"### Requirement: {req.name}\n{req.text}"] + [_render_scenario(s) for s in req.scenarios]
    return "\n\n".join(parts)


def _render_removal(removal: Removal) -> str:
    reason = removal.reason or "No longer required."
    return f"### Requirement: {removal.name}\n**Reason**: {reason}"


def _render_rename(rename: Rename) -> str:
    return f"- FROM: `### Requirement: {rename.from_name}`\n- TO: `### Requirement: {rename.to_name}`"


def render_delta(delta: CapabilityDelta, *, include_purpose: bool = True) -> str:
    """Delta markdown for `openspec/changes/<id>/specs/<capability>/spec.md` (passes validate --strict).

    `## Purpose` is only read by OpenSpec when the capability is new; pass include_purpose=False for
    an existing capability to avoid the "delta Purpose ignored" warning.
    """
    out = [f"# Delta for {delta.capability}"]
    if include_purpose and delta.purpose:
        out.append(f"## Purpose\n\n{delta.purpose}")
    sections: list[tuple[str, list[str]]] = [
        ("ADDED", [render_requirement(r) for r in delta.added]),
        ("MODIFIED", [render_requirement(r) for r in delta.modified]),
        ("REMOVED", [_render_removal(r) for r in delta.removed]),
        ("RENAMED", [_render_rename(r) for r in delta.renamed]),
    ]
    out += [f"## {kind} Requirements\n\n" + "\n\n".join(blocks) for kind, blocks in sections if blocks]
    return "\n\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------
# Parsing (ports of OpenSpec's line-based readers; structure inside code fences is ignored)
# --------------------------------------------------------------------------------------------

_REQ_HEADER = re.compile(r"^###\s*Requirement:\s*(.+)\s*$", re.IGNORECASE)
_REQ_HEADER_STRICT = re.compile(r"^###\s+Requirement:\s*(.+)\s*$", re.IGNORECASE)
_TOP_HEADER = re.compile(r"^##\s+")
_SECTION_HEADER = re.compile(r"^(##)\s+(.+)$")
_SCENARIO_HEADER = re.compile(r"^####\s+")
_DELTA_HEADER = re.compile(r"^##\s+(ADDED|MODIFIED|REMOVED|RENAMED)\s+Requirements\s*$", re.IGNORECASE)
_ANY_HEADER = re.compile(r"^(#{1,6})\s+(.+)$")
_DELTA_TITLES = (
    "added requirements",
    "modified requirements",
    "removed requirements",
    "renamed requirements",
)


def _normalize_text(content: str) -> str:
    """LF line endings, no BOM - what every OpenSpec reader does first."""
    return content.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _fence_mask(lines: list[str]) -> list[bool]:
    """True for lines inside a fenced code block (fence lines included)."""
    mask = [False] * len(lines)
    active: tuple[str, int] | None = None
    for i, line in enumerate(lines):
        if active is None:
            m = re.match(r"^\s*(`{3,}|~{3,})", line)
            if m:
                active = (m.group(1)[0], len(m.group(1)))
                mask[i] = True
            continue
        mask[i] = True
        m = re.match(r"^\s*(`{3,}|~{3,})\s*$", line)
        if m and m.group(1)[0] == active[0] and len(m.group(1)) >= active[1]:
            active = None
    return mask


def normalize_requirement_name(name: str) -> str:
    """Drop an ATX closing `#` run (`Foo ###` is `Foo`) and surrounding space."""
    return re.sub(r"[ \t]+#+[ \t]*$", "", name).strip()


def _fold(name: str) -> str:
    """Case/space-insensitive form, used only to catch near-miss typos."""
    return re.sub(r"\s+", " ", normalize_requirement_name(name).lower())


class RequirementBlock(BaseModel):
    """A `### Requirement:` block kept as its exact markdown (header line to last non-blank line)."""

    name: str
    raw: str

    @property
    def scenarios(self) -> list[str]:
        """Scenario names (any non-fenced `####` header, `Scenario:` label stripped) in order."""
        lines = self.raw.split("\n")
        mask = _fence_mask(lines)
        return [_scenario_name(line) for i, line in enumerate(lines) if not mask[i] and _SCENARIO_HEADER.match(line)]

    @property
    def text(self) -> str:
        """Requirement statement: body lines before the first header (OpenSpec's reader)."""
        return _requirement_body(self.raw.split("\n")[1:])

    @property
    def scenario_count(self) -> int:
        """Scenarios that have a body; an empty `####` header does not count."""
        return sum(1 for body in _scenario_bodies(self.raw.split("\n")[1:]) if body.strip())


def _scenario_name(line: str) -> str:
    name = _SCENARIO_HEADER.sub("", line, count=1)
    name = re.sub(r"[ \t]+#+[ \t]*$", "", name)
    return re.sub(r"^Scenario:\s*", "", name, flags=re.IGNORECASE).strip()


def _requirement_body(body_lines: list[str]) -> str:
    mask = _fence_mask(body_lines)
    captured: list[str] = []
    metadata: list[str] = []
    for i, line in enumerate(body_lines):
        if mask[i]:
            continue
        if re.match(r"^#{1,6}\s", line):
            break
        stripped = line.strip()
        if not stripped:
            continue
        (metadata if re.match(r"^\*\*[^*]+\*\*:", stripped) else captured).append(stripped)
    return "\n".join(captured or metadata)


def _scenario_bodies(body_lines: list[str]) -> list[str]:
    mask = _fence_mask(body_lines)
    bodies = []
    for i, line in enumerate(body_lines):
        if mask[i] or not _SCENARIO_HEADER.match(line):
            continue
        end = i + 1
        while end < len(body_lines) and (mask[end] or not re.match(r"^#{1,4}\s", body_lines[end])):
            end += 1
        bodies.append("\n".join(body_lines[i + 1 : end]))
    return bodies


class MainSpec(BaseModel):
    """A main spec split the way OpenSpec splits it for merging.

    `before` + `header_line` + `preamble` + requirement blocks + `after` is how the file is
    reassembled; `title` and `purpose` are for display.
    """

    title: str = ""
    purpose: str | None = None
    before: str = ""
    header_line: str = "## Requirements"
    preamble: str = ""
    requirements: list[RequirementBlock] = Field(default_factory=list)
    after: str = "\n"
    has_requirements_header: bool = True

    def names(self) -> list[str]:
        """Requirement names in file order."""
        return [r.name for r in self.requirements]


def parse_spec(text: str) -> MainSpec:
    """Split a main spec into title, purpose and ordered raw requirement blocks."""
    normalized = _normalize_text(text)
    lines = normalized.split("\n")
    mask = _fence_mask(lines)
    title = next((ln[2:].strip() for i, ln in enumerate(lines) if not mask[i] and ln.startswith("# ")), "")
    purpose = _purpose_section(normalized)
    header = next(
        (i for i, ln in enumerate(lines) if not mask[i] and re.match(r"^##\s+Requirements\s*$", ln, re.IGNORECASE)),
        None,
    )
    if header is None:
        # OpenSpec quirk: this branch uses the un-normalized content.
        before = text.rstrip()
        return MainSpec(
            title=title,
            purpose=purpose,
            before=before + "\n\n" if before else "",
            has_requirements_header=False,
        )
    end = next((i for i in range(header + 1, len(lines)) if not mask[i] and _TOP_HEADER.match(lines[i])), len(lines))
    body, body_mask = lines[header + 1 : end], mask[header + 1 : end]
    preamble, blocks = _split_blocks(body, body_mask)
    before = "\n".join(lines[:header])
    after = "\n".join(lines[end:])
    return MainSpec(
        title=title,
        purpose=purpose,
        before=before + "\n" if before.rstrip() else before,
        header_line=lines[header],
        preamble="\n".join(preamble).rstrip(),
        requirements=blocks,
        after=after if after.startswith("\n") else "\n" + after,
    )


def _split_blocks(body: list[str], mask: list[bool]) -> tuple[list[str], list[RequirementBlock]]:
    """Preamble lines, then one block per `### Requirement:` header up to the next one or a `## `."""

    def is_req(i: int) -> bool:
        return not mask[i] and bool(_REQ_HEADER.match(body[i]))

    cursor = 0
    while cursor < len(body) and not is_req(cursor):
        cursor += 1
    preamble = body[:cursor]
    blocks: list[RequirementBlock] = []
    while cursor < len(body):
        if not is_req(cursor):
            cursor += 1
            continue
        match = _REQ_HEADER.match(body[cursor])
        assert match is not None
        start = cursor
        cursor += 1
        while cursor < len(body) and not is_req(cursor) and not (not mask[cursor] and _TOP_HEADER.match(body[cursor])):
            cursor += 1
        raw = "\n".join(body[start:cursor]).rstrip()
        blocks.append(RequirementBlock(name=normalize_requirement_name(match.group(1)), raw=raw))
    return preamble, blocks


def _mask_html_comments(content: str) -> str:
    """Blank out `<!-- ... -->` (an unterminated one runs to the end), keeping line breaks."""

    def blank(s: str) -> str:
        return re.sub(r"[^\n]", " ", s)

    out, index = [], 0
    while True:
        start = content.find("<!--", index)
        if start == -1:
            return "".join(out) + content[index:]
        out.append(content[index:start])
        m = re.compile(r"--!?>").search(content, start + 4)
        if m is None:
            return "".join(out) + blank(content[start:])
        out.append(blank(content[start : m.end()]))
        index = m.end()


def _purpose_section(content: str) -> str | None:
    """Body of `## Purpose`, or None when absent or holding no prose (comments/fences only)."""
    normalized = _normalize_text(content)
    lines = normalized.split("\n")
    masked = _mask_html_comments(normalized).split("\n")
    fmask = _fence_mask(masked)
    start = next(
        (i for i, ln in enumerate(masked) if not fmask[i] and re.match(r"^##\s+Purpose\s*$", ln, re.IGNORECASE)),
        None,
    )
    if start is None:
        return None
    end = next(
        (i for i in range(start + 1, len(masked)) if not fmask[i] and _TOP_HEADER.match(masked[i])),
        len(masked),
    )
    prose = "\n".join(masked[i] for i in range(start + 1, end) if not fmask[i]).strip()
    body = "\n".join(lines[start + 1 : end]).strip()
    return body if prose and body else None


class ParsedDelta(BaseModel):
    """A delta spec file read back as raw blocks, enough to merge it and list its scenarios."""

    capability: str
    purpose: str | None = None
    added: list[RequirementBlock] = Field(default_factory=list)
    modified: list[RequirementBlock] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    renamed: list[tuple[str, str]] = Field(default_factory=list)
    unpaired_renames: list[str] = Field(default_factory=list)
    orphaned: list[str] = Field(default_factory=list)
    sections: list[str] = Field(default_factory=list)

    def has_operations(self) -> bool:
        """True when at least one ADDED/MODIFIED/REMOVED/RENAMED entry parsed."""
        return bool(self.added or self.modified or self.removed or self.renamed)


def parse_delta(text: str, capability: str) -> ParsedDelta:
    """Read a delta spec (`## ADDED/MODIFIED/REMOVED/RENAMED Requirements`, repeats allowed)."""
    normalized = _normalize_text(text)
    lines = normalized.split("\n")
    mask = _fence_mask(lines)
    starts = [(i, m.group(2).strip()) for i, ln in enumerate(lines) if not mask[i] and (m := _SECTION_HEADER.match(ln))]
    bodies: dict[str, list[tuple[list[str], list[bool]]]] = {t: [] for t in _DELTA_TITLES}
    for n, (index, title) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
        if title.lower() in bodies:
            bodies[title.lower()].append((lines[index + 1 : end], mask[index + 1 : end]))
    delta = ParsedDelta(
        capability=capability,
        purpose=_purpose_section(normalized),
        sections=[t.split()[0].upper() for t in _DELTA_TITLES if bodies[t]],
        orphaned=_orphans(lines, mask),
    )
    for body, bmask in bodies["added requirements"]:
        delta.added += _split_blocks(body, bmask)[1]
    for body, bmask in bodies["modified requirements"]:
        delta.modified += _split_blocks(body, bmask)[1]
    for body, bmask in bodies["removed requirements"]:
        delta.removed += _removed_names(body, bmask)
    for body, bmask in bodies["renamed requirements"]:
        pairs, unpaired = _rename_pairs(body, bmask)
        delta.renamed += pairs
        delta.unpaired_renames += unpaired
    return delta


def _orphans(lines: list[str], mask: list[bool]) -> list[str]:
    """Requirement headers outside every delta section (OpenSpec ignores them, with a warning)."""
    section: str | None = None
    out = []
    for i, line in enumerate(lines):
        if mask[i]:
            continue
        m = _SECTION_HEADER.match(line)
        if m:
            section = m.group(2).strip().lower()
            continue
        if section in _DELTA_TITLES:
            continue
        h = _REQ_HEADER.match(line)
        if h:
            out.append(normalize_requirement_name(h.group(1)))
    return out


def _removed_names(body: list[str], mask: list[bool]) -> list[str]:
    names = []
    for i, line in enumerate(body):
        if mask[i]:
            continue
        m = _REQ_HEADER.match(line) or re.match(r"^\s*[-*+]\s*`?###\s*Requirement:\s*(.+?)`?\s*$", line)
        if m:
            names.append(normalize_requirement_name(m.group(1)))
    return names


def _rename_pairs(body: list[str], mask: list[bool]) -> tuple[list[tuple[str, str]], list[str]]:
    """FROM:/TO: pairs; a FROM without its TO (or a TO without a FROM) is reported, not guessed."""
    pairs: list[tuple[str, str]] = []
    unpaired: list[str] = []
    pending: str | None = None
    for i, line in enumerate(body):
        if mask[i]:
            continue
        m_from = re.match(r"^\s*[-*+]?\s*FROM:\s*`?###\s*Requirement:\s*(.+?)`?\s*$", line)
        m_to = re.match(r"^\s*[-*+]?\s*TO:\s*`?###\s*Requirement:\s*(.+?)`?\s*$", line)
        if m_from:
            if pending is not None:
                unpaired.append(f"FROM '{pending}' has no matching TO")
            pending = normalize_requirement_name(m_from.group(1))
        elif m_to:
            to = normalize_requirement_name(m_to.group(1))
            if pending is None:
                unpaired.append(f"TO '{to}' has no matching FROM")
            else:
                pairs.append((pending, to))
                pending = None
    if pending is not None:
        unpaired.append(f"FROM '{pending}' has no matching TO")
    return pairs, unpaired


# --------------------------------------------------------------------------------------------
# Change layout helpers
# --------------------------------------------------------------------------------------------


def change_path(repo: Path, change_id: str) -> Path:
    """`openspec/changes/<change-id>/` inside a target repo."""
    return Path(repo) / "openspec" / "changes" / change_id


def discover_specs(folder: Path) -> list[tuple[str, Path]]:
    """(capability id, spec.md) for every `specs/**/spec.md` of a change or of `openspec/`; ids may nest."""
    root = folder / "specs"
    found: list[tuple[str, Path]] = []

    def walk(directory: Path, segments: list[str]) -> None:
        if not directory.is_dir():
            return
        for entry in directory.iterdir():
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                walk(entry, [*segments, entry.name])
            elif entry.name == "spec.md" and segments and entry.is_file():
                found.append(("/".join(segments), entry))

    walk(root, [])
    return sorted(found)


def _stray_delta_files(changedir: Path) -> list[str]:
    """`.md` files under specs/ that OpenSpec never reads (it refuses to archive them)."""
    root = changedir / "specs"
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.rglob("*.md")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.name != "spec.md" or len(rel.parts) == 1:
            out.append(rel.as_posix())
    return out


def write_change_specs(repo: Path, change_id: str, delta_set: SpecDeltaSet) -> list[Path]:
    """Render every delta into `openspec/changes/<id>/specs/<cap>/spec.md` (Purpose only for new caps)."""
    written = []
    for delta in delta_set.deltas:
        main = Path(repo) / "openspec" / "specs" / delta.capability / "spec.md"
        target = change_path(repo, change_id) / "specs" / delta.capability / "spec.md"
        _atomic_write(target, render_delta(delta, include_purpose=not main.exists()))
        written.append(target)
    return written


def list_scenarios(change_dir: Path) -> list[tuple[str, str, str]]:
    """(capability, requirement, scenario) for every ADDED/MODIFIED scenario in a change folder."""
    out = []
    for capability, path in discover_specs(Path(change_dir)):
        delta = parse_delta(path.read_text(encoding="utf-8"), capability)
        for block in delta.added + delta.modified:
            out += [(capability, block.name, s) for s in block.scenarios]
    return out


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
    problems += [
        f"capability '{cap}': requirement '{n}' appears twice in {kind}"
        for kind, ns in names.items()
        for n in _dupes(ns)
    ]
    pairs = [
        ("MODIFIED", "REMOVED"),
        ("MODIFIED", "ADDED"),
        ("ADDED", "REMOVED"),
        ("RENAMED from", "MODIFIED"),
        ("RENAMED to", "ADDED"),
    ]
    for a, b in pairs:
        for n in sorted(set(names[a]) & set(names[b])):
            problems.append(f"capability '{cap}': requirement '{n}' is in both {a} and {b}")
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


# --------------------------------------------------------------------------------------------
# Check and archive
# --------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """Every main spec a change would write, computed in memory before touching the disk."""

    writes: dict[str, tuple[Path, str, bytes | None]] = field(default_factory=dict)
    counts: dict[str, DeltaCounts] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _plan(repo: Path, change_id: str, strict: bool) -> _Plan:
    plan = _Plan()
    changedir = change_path(repo, change_id)
    if not changedir.is_dir():
        plan.problems.append(f"change '{change_id}' not found at {changedir}")
        return plan
    plan.problems += [
        f"change '{change_id}': delta file specs/{p} is not read by OpenSpec (use specs/<capability>/spec.md)"
        for p in _stray_delta_files(changedir)
    ]
    deltas = discover_specs(changedir)
    if not deltas and not _skip_specs(changedir):
        plan.problems.append(
            f"change '{change_id}' has no delta specs under specs/<capability>/spec.md "
            "(set `skip_specs: true` in its .openspec.yaml if it changes no behaviour)"
        )
    for capability, path in deltas:
        _plan_capability(Path(repo), change_id, capability, path, strict, plan)
    return plan


def _plan_capability(repo: Path, change_id: str, capability: str, path: Path, strict: bool, plan: _Plan) -> None:
    delta = parse_delta(path.read_text(encoding="utf-8"), capability)
    problems = _delta_problems(delta, strict)
    if problems:
        plan.problems += problems
        return
    target = repo / "openspec" / "specs" / Path(*capability.split("/")) / "spec.md"
    original = target.read_bytes() if target.is_file() else None
    try:
        rebuilt, counts = merge_spec(original.decode("utf-8") if original is not None else None, delta, change_id)
    except ArchiveError as exc:
        plan.problems += exc.problems
        return
    spec_problems = _spec_problems(capability, rebuilt, strict)
    if original is None and not delta.purpose:
        msg = f"capability '{capability}' is new but its delta has no ## Purpose (archive writes TBD)"
        (spec_problems if strict else plan.warnings).append(msg)
    if spec_problems:
        plan.problems += spec_problems
        return
    if original is not None:
        rebuilt = _match_line_ending(rebuilt, original)
    plan.writes[capability] = (target, rebuilt, original)
    plan.counts[capability] = counts
    if original is None:
        plan.created.append(capability)


def _match_line_ending(text: str, original: bytes) -> str:
    """Write back the existing file's dominant line ending (CRLF wins ties), as OpenSpec does."""
    crlf = original.count(b"\r\n")
    lf = original.count(b"\n") - crlf
    if crlf == 0 and lf == 0:
        return text
    text = text.replace("\r\n", "\n")
    return text.replace("\n", "\r\n") if crlf >= lf else text


def _skip_specs(changedir: Path) -> bool:
    """`skip_specs: true` in the change's .openspec.yaml: a change with no behaviour change."""
    meta = changedir / ".openspec.yaml"
    try:
        data = yaml.safe_load(meta.read_text(encoding="utf-8")) if meta.is_file() else None
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("skip_specs") is True


def check_change(repo: Path, change_id: str, *, strict: bool = True) -> list[str]:
    """Problems that would stop `archive_change` (strict: also what `validate --strict` would flag).

    Never writes anything. The harness's deterministic gate uses this before archive.
    """
    return _plan(Path(repo), change_id, strict).problems


def archive_name(change_id: str, today: date | None = None) -> str:
    """`YYYY-MM-DD-<id>`; an id that already carries a date prefix is kept as is (OpenSpec rule)."""
    if _ARCHIVE_DATE_PREFIX.match(change_id):
        return change_id
    return f"{(today or date.today()).isoformat()}-{change_id}"


def archive_change(repo: Path, change_id: str, today: date | None = None) -> ArchiveResult:
    """Merge a change's deltas into openspec/specs/ and move it to changes/archive/ (all or nothing)."""
    repo = Path(repo)
    plan = _plan(repo, change_id, strict=False)
    dest = repo / "openspec" / "changes" / "archive" / archive_name(change_id, today)
    if dest.exists():
        plan.problems.append(f"change '{change_id}': archive target {dest} already exists")
    if plan.problems:
        raise ArchiveError(plan.problems)
    _commit_writes(list(plan.writes.values()))
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(change_path(repo, change_id), dest)
    except OSError as exc:
        _rollback(list(plan.writes.values()))
        raise ArchiveError([f"change '{change_id}': could not move to {dest}: {exc}"]) from exc
    totals = sum(plan.counts.values(), DeltaCounts())
    return ArchiveResult(
        change_id=change_id,
        capabilities=sorted(plan.writes),
        created=plan.created,
        counts=plan.counts,
        totals=totals,
        archive_path=dest,
        warnings=plan.warnings,
    )


def _atomic_write(path: Path, text: str | bytes) -> None:
    """Write via a temp file in the same directory and os.replace, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _commit_writes(writes: list[tuple[Path, str, bytes | None]]) -> None:
    """Write every main spec; if one fails, put the earlier ones back."""
    done: list[tuple[Path, str, bytes | None]] = []
    try:
        for item in writes:
            _atomic_write(item[0], item[1])
            done.append(item)
    except BaseException:
        _rollback(done)
        raise


def _rollback(writes: list[tuple[Path, str, bytes | None]]) -> None:
    for path, _, original in writes:
        if original is None:
            path.unlink(missing_ok=True)
            _prune_empty(path.parent)
        else:
            _atomic_write(path, original)


def _prune_empty(directory: Path) -> None:
    """Remove capability directories a rolled-back new spec left empty (never openspec/specs itself)."""
    while directory.name != "specs" and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent
