"""Ports of OpenSpec's line-based readers for main specs and delta specs (structure inside code fences is
ignored)."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

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
