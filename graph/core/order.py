"""The phase order a config implies: built-ins, minus a profile's skips, plus custom phases placed by name.

Returned as groups: phases in one group run in parallel (a custom phase placed ``beside`` another).
Every placement error names the config key, so a bad extension fails before anything runs.
"""

from __future__ import annotations

from sdd_harness.graph.core.config import HarnessConfig
from sdd_harness.graph.core.errors import ConfigError
from sdd_harness.graph.core.phases import BUILTIN_PHASES, INIT

Groups = list[list[str]]


def phase_groups(config: HarnessConfig, profile: str | None = None) -> Groups:
    profile = profile or config.run.profile
    skipped = set(config.profiles[profile].skip) if profile else set()
    _check_skips(config, skipped, profile)
    groups: Groups = [[p] for p in BUILTIN_PHASES if p not in skipped]
    pending = {name: spec for name, spec in config.custom_phases().items() if name not in skipped}
    _check_targets(config, pending)
    while pending:
        placed = [name for name, spec in pending.items() if _anchor(spec) in _flat(groups)]
        if not placed:
            raise ConfigError(
                config.source_file,
                f"phases.{sorted(pending)[0]}.after",
                _anchor(pending[sorted(pending)[0]]),
                f"cycle in the phase order: {' -> '.join(sorted(pending))}",
            )
        for name in placed:
            _place(groups, name, pending.pop(name))
    return groups


def _anchor(spec) -> str | None:
    return spec.after or spec.beside


def _flat(groups: Groups) -> list[str]:
    return [p for group in groups for p in group]


def _place(groups: Groups, name: str, spec) -> None:
    for index, group in enumerate(groups):
        if spec.beside in group:
            group.append(name)
            return
        if spec.after in group:
            groups.insert(index + 1, [name])
            return


def _check_targets(config: HarnessConfig, custom: dict) -> None:
    known = set(config.phases)
    for name, spec in custom.items():
        if bool(spec.after) == bool(spec.beside):
            raise ConfigError(
                config.source_file,
                f"phases.{name}",
                {"after": spec.after, "beside": spec.beside},
                "a custom phase needs exactly one of after: or beside:",
            )
        key, target = ("after", spec.after) if spec.after else ("beside", spec.beside)
        if target not in known:
            raise ConfigError(
                config.source_file,
                f"phases.{name}.{key}",
                target,
                f"no such phase; known phases: {', '.join(sorted(known))}",
            )
        if key == "beside" and target == INIT:
            raise ConfigError(config.source_file, f"phases.{name}.beside", target, "nothing can run beside sdd-init")
        if spec.on_fail not in ("retry", "stop") and not (
            spec.on_fail.startswith("back_to:") and spec.on_fail.removeprefix("back_to:") in known
        ):
            raise ConfigError(
                config.source_file,
                f"phases.{name}.on_fail",
                spec.on_fail,
                f"allowed: retry, stop, back_to:<phase> with a phase from {', '.join(sorted(known))}",
            )


def _check_skips(config: HarnessConfig, skipped: set[str], profile: str | None) -> None:
    unknown = sorted(skipped - set(config.phases))
    if unknown:
        raise ConfigError(config.source_file, f"profiles.{profile}.skip", unknown[0], "no such phase")
    if INIT in skipped:
        raise ConfigError(config.source_file, f"profiles.{profile}.skip", INIT, "sdd-init cannot be skipped")
