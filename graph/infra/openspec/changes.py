"""A change folder on disk: where deltas are written, which specs exist, and checking and archiving a change
all-or-nothing."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from sdd_harness.graph.infra.openspec.merge import (
    ArchiveError,
    ArchiveResult,
    DeltaCounts,
    _delta_problems,
    _spec_problems,
    merge_spec,
)
from sdd_harness.graph.infra.openspec.models import SpecDeltaSet, render_delta
from sdd_harness.graph.infra.openspec.parse import parse_delta

_ARCHIVE_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}-")

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


def existing_specs(openspec_dir: Path, max_chars: int = 1500) -> str:
    """Capability -> requirement names of the current specs, so deltas target real names."""
    lines: list[str] = []
    for capability, spec in discover_specs(openspec_dir):
        names = [
            ln.split(":", 1)[1].strip()
            for ln in spec.read_text(encoding="utf-8").splitlines()
            if ln.startswith("### Requirement:")
        ]
        lines.append(f"{capability}: " + "; ".join(names))
    return "\n".join(lines)[:max_chars]
