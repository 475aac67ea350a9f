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

from sdd_harness.graph.infra.openspec.changes import (
    archive_change,
    archive_name,
    change_path,
    check_change,
    discover_specs,
    existing_specs,
    list_scenarios,
    write_change_specs,
)
from sdd_harness.graph.infra.openspec.merge import ArchiveError, ArchiveResult, DeltaCounts, merge_spec
from sdd_harness.graph.infra.openspec.models import (
    CapabilityDelta,
    Removal,
    Rename,
    Requirement,
    Scenario,
    SpecDeltaSet,
    kebab_case,
    render_delta,
    render_requirement,
)
from sdd_harness.graph.infra.openspec.parse import MainSpec, ParsedDelta, RequirementBlock, parse_delta, parse_spec

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
    "discover_specs",
    "existing_specs",
    "kebab_case",
    "list_scenarios",
    "merge_spec",
    "parse_delta",
    "parse_spec",
    "render_delta",
    "render_requirement",
    "write_change_specs",
]
