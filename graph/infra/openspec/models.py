"""The spec phase's structured output (deltas, requirements, scenarios), cleaned of model noise and rendered
as the delta markdown OpenSpec reads."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MIN_PURPOSE_LENGTH = 50  # OpenSpec warns (so --strict fails) below this many characters
PURPOSE_PLACEHOLDER = "TBD - created by archiving change {change}. Update Purpose after archive."
_SHALL_MUST = re.compile(r"\b(SHALL|MUST)\b")

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


def _required_name(value: object, empty: str) -> str:
    """A cleaned requirement or scenario name; ``empty`` is the error when nothing is left."""
    name = _clean_name(str(value))
    if not name:
        raise ValueError(empty)
    return name


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
        return _required_name(value, "scenario name must not be empty")

    @field_validator("given", "when", "then", mode="before")
    @classmethod
    def _steps(cls, value: object) -> object:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return [s for s in (_clean_step(str(v)) for v in value) if s]
        return value


MAX_SCENARIOS = 48  # the model writes at most a few; the request's own examples join them, one scenario each


class Requirement(BaseModel):
    """One behaviour the system must have; becomes a `### Requirement:` block."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Short unique name; for MODIFIED it must equal the existing name exactly.")
    text: str = Field(description="One or two sentences stating the behaviour; must contain SHALL or MUST.")
    scenarios: list[Scenario] = Field(
        min_length=1,
        max_length=MAX_SCENARIOS,
        description="At least one scenario that tests it.",
    )

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: str) -> str:
        return _required_name(value, "requirement name must not be empty")

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
        return _required_name(value, "rename names must not be empty")


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
        return _required_name(value, "removed requirement name must not be empty")

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
    pairs = [
        ("MODIFIED", "REMOVED"),
        ("MODIFIED", "ADDED"),
        ("ADDED", "REMOVED"),
        ("RENAMED from", "REMOVED"),
        ("RENAMED from", "MODIFIED"),
        ("RENAMED to", "ADDED"),
    ]
    hints = {("RENAMED from", "MODIFIED"): " (MODIFIED must use the new name)"}
    return section_conflicts(cap, sections, pairs, hints)


def section_conflicts(
    cap: str,
    sections: dict[str, list[str]],
    pairs: list[tuple[str, str]],
    hints: dict[tuple[str, str], str] | None = None,
) -> list[str]:
    """A name twice in one section, or in two sections that exclude each other (OpenSpec's delta rules)."""
    problems = [
        f"capability '{cap}': requirement '{n}' appears twice in {kind}"
        for kind, names in sections.items()
        for n in _dupes(names)
    ]
    for a, b in pairs:
        hint = (hints or {}).get((a, b), "")
        for name in sorted(set(sections[a]) & set(sections[b])):
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
