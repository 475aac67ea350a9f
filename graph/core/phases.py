"""The nine built-in phase names and their default order.

Kept import-free so the CLI and config validation can use them without pulling in LangGraph.
"""

from __future__ import annotations

INIT = "sdd-init"
EXPLORE = "sdd-explore"
PROPOSE = "sdd-propose"
SPEC = "sdd-spec"
DESIGN = "sdd-design"
TASKS = "sdd-tasks"
APPLY = "sdd-apply"
VERIFY = "sdd-verify"
ARCHIVE = "sdd-archive"
ORCHESTRATOR = "orchestrator"

BUILTIN_PHASES: tuple[str, ...] = (INIT, EXPLORE, PROPOSE, SPEC, DESIGN, TASKS, APPLY, VERIFY, ARCHIVE)

BUILTIN_MODULES: dict[str, str] = {phase: f"sdd_harness.nodes.{phase.removeprefix('sdd-')}" for phase in BUILTIN_PHASES}
"""Where each built-in phase's declaration (``PHASE``) lives; loaded by name, so the core imports no phase."""
ORCHESTRATOR_MODULE = "sdd_harness.nodes.orchestrator"
