"""The harness config: one YAML file, validated by pydantic, with errors a user can act on.

Loading never touches the network or a model. Every problem becomes a ``ConfigError`` that names the file,
the key path, the bad value and what is allowed; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from sdd_harness.graph.core.phases import BUILTIN_PHASES, ORCHESTRATOR
from sdd_harness.graph.infra.embedded.options import ModelServerOptions, Speculation
from sdd_harness.graph.infra.providers import BUILTIN_CATALOG, BUILTIN_PROVIDERS, CatalogEntry, Provider

Reasoning = Literal["none", "low", "medium", "high"]
CONFIGS_DIR = Path(str(resources.files("sdd_harness.configs")))


class ConfigError(Exception):
    """A config problem, phrased for the person who wrote the file."""

    def __init__(self, file: str, key: str, value: Any, allowed: str) -> None:
        self.file, self.key, self.value, self.allowed = file, key, value, allowed
        super().__init__(f"{file}: {key}: got {value!r}; {allowed}")


class ModelBinding(BaseModel):
    """Which model serves a phase, where it runs and how it should think."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="Short name from the catalogue or a provider's own model id.")
    source: str | None = Field(None, description="Provider name; defaults to the config's default_provider.")
    reasoning: Reasoning | None = Field(None, description="Reasoning effort: none, low, medium or high.")
    mode: Literal["thinking", "fast"] | None = Field(None, description="'thinking' switches a model's thinking on.")
    tools: Literal["native", "json"] | None = Field(None, description="Tool calling style; default: provider's.")
    fallback: list[str] = Field(default_factory=list, description="Models tried in order when this one fails.")
    max_tokens: int | None = Field(None, gt=0, description="Cap on output tokens per call.")
    temperature: float | None = Field(None, ge=0, le=2)
    timeout_s: float | None = Field(None, gt=0, description="Per-request timeout in seconds.")
    tool_steps: int | None = Field(None, ge=0, le=20, description="Max look-around tool steps (0 = none).")
    role: str | None = Field(None, description="Free-form role label, e.g. gate-coordinator.")
    verbosity: list[str] | None = Field(None, description="Extra output rules appended to this phase's prompt.")


OnFail = str  # "retry" | "stop" | "back_to:<phase>"


class PhaseBinding(ModelBinding):
    """A phase entry: its model, and — for a custom phase — where its code sits and where it runs."""

    module: str | None = Field(None, description="Custom phase: importable module with run(ctx) and check(ctx).")
    after: str | None = Field(None, description="Custom phase: runs right after this phase.")
    beside: str | None = Field(None, description="Custom phase: runs in parallel with this phase.")
    prompt: str | None = Field(None, description="Prompt file name (without .md); default: the phase name.")
    artifact: str | None = Field(None, description="File the phase writes in the change folder (for the report).")
    on_fail: OnFail = Field("retry", description="When its gate fails: retry, stop, or back_to:<phase>.")


class RunSettings(BaseModel):
    """Knobs for one run; every one can be overridden from the CLI or the script API."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(3, ge=1, le=20, description="Reruns allowed per phase and per loop-back target.")
    budget_usd: float | None = Field(None, ge=0, description="Stop cleanly once the run's cost exceeds this.")
    token_budget: int | None = Field(None, gt=0, description="Stop cleanly once the run's tokens exceed this.")
    verify_commands: list[str] | None = Field(None, description="Test/lint commands; None = detected by init.")
    command_timeout_s: float = Field(300, gt=0, description="Timeout for each verify/check command.")
    openspec_root: str = Field(".", description="Folder (relative to the repo) that holds openspec/ artifacts.")
    task_loop: bool = Field(True, description="Apply one task at a time with its check (False: all, then verify).")
    fix_attempts: int = Field(2, ge=0, le=10, description="Targeted fix attempts per task inside apply.")
    require_coverage: bool = Field(
        False, description="Verify FAILs when no spec scenario is covered by a passing test (default: a warning)."
    )
    profile: str | None = Field(None, description="Named profile (e.g. fast-forward) that skips phases.")
    approval_gates: list[str] = Field(
        default_factory=list,
        description="Phases after which a human approves; 'before-archive' also allowed.",
    )


class PriceOverride(BaseModel):
    """Private per-token rates (USD per million tokens) or a flat subscription (marginal cost 0)."""

    model_config = ConfigDict(extra="forbid")

    input_per_mtok: float = Field(0, ge=0)
    output_per_mtok: float = Field(0, ge=0)
    cached_input_per_mtok: float | None = Field(None, ge=0)
    flat: bool = Field(False, description="Subscription: every call costs 0 at the margin.")


class Profile(BaseModel):
    """A way of running fewer phases, e.g. for small changes."""

    model_config = ConfigDict(extra="forbid")

    skip: list[str] = Field(default_factory=list, description="Phases this profile does not run.")


BUILTIN_PROFILES = {"full": Profile(), "fast-forward": Profile(skip=["sdd-explore", "sdd-design"])}


class HarnessConfig(BaseModel):
    """A whole config file after defaults are merged in."""

    model_config = ConfigDict(extra="forbid")

    default_provider: str = "opencode-go"
    providers: dict[str, Provider] = Field(default_factory=dict, validate_default=True)
    models: dict[str, CatalogEntry] = Field(default_factory=dict, validate_default=True)
    phases: dict[str, PhaseBinding]
    orchestrator: ModelBinding
    run: RunSettings = Field(default_factory=RunSettings)
    prices: dict[str, PriceOverride] = Field(default_factory=dict)
    profiles: dict[str, Profile] = Field(default_factory=dict, validate_default=True)
    prompt_dir: str | None = Field(None, description="Folder of .md prompts overriding the built-in ones.")
    verbosity: dict[str, list[str]] = Field(
        default_factory=dict, description="Output rules per phase name or per model name ('*' = all)."
    )
    _source_file: str = PrivateAttr("<memory>")

    @property
    def source_file(self) -> str:
        return self._source_file

    @field_validator("providers", mode="before")
    @classmethod
    def _merge_builtin_providers(cls, value: Any) -> dict[str, Any]:
        merged: dict[str, Any] = {name: p.model_dump() for name, p in BUILTIN_PROVIDERS.items()}
        for name, override in (value or {}).items():
            base = merged.get(name, {})
            merged[name] = {**base, **(override or {})} if isinstance(override, Mapping) else override
        return merged

    @field_validator("profiles", mode="before")
    @classmethod
    def _merge_builtin_profiles(cls, value: Any) -> dict[str, Any]:
        return {**{n: p.model_dump() for n, p in BUILTIN_PROFILES.items()}, **(value or {})}

    @field_validator("models", mode="before")
    @classmethod
    def _merge_builtin_models(cls, value: Any) -> dict[str, Any]:
        merged: dict[str, Any] = {name: e.model_dump() for name, e in BUILTIN_CATALOG.items()}
        merged.update(value or {})
        return merged

    @model_validator(mode="after")
    def _check_references(self) -> HarnessConfig:
        if self.default_provider not in self.providers:
            raise ValueError(f"default_provider {self.default_provider!r} is not a known provider")
        for phase, spec in self.phases.items():
            if phase not in BUILTIN_PHASES and not spec.module:
                raise ValueError(f"unknown phase {phase!r}")
            if phase in BUILTIN_PHASES and spec.module:
                raise ValueError(f"name clash {phase!r}")
        missing = [p for p in BUILTIN_PHASES if p not in self.phases]
        if missing:
            raise ValueError(f"phases missing: {', '.join(missing)}")
        for gate in self.run.approval_gates:
            if gate not in self.phases and gate != "before-archive":
                raise ValueError(f"unknown approval gate {gate!r}")
        if self.run.profile and self.run.profile not in self.profiles:
            raise ValueError(f"unknown profile {self.run.profile!r}")
        return self

    def custom_phases(self) -> dict[str, PhaseBinding]:
        return {name: spec for name, spec in self.phases.items() if spec.module}

    def binding(self, phase: str) -> ModelBinding:
        return self.orchestrator if phase == ORCHESTRATOR else self.phases[phase]

    def provider_name(self, binding: ModelBinding) -> str:
        return binding.source or self.default_provider

    def provider_of(self, binding: ModelBinding) -> Provider:
        return self.providers[self.provider_name(binding)]

    def model_id(self, model: str, provider: str) -> str:
        """The id the provider knows the model by (short names resolved through the catalogue)."""
        entry = self.models.get(model)
        return entry.ids.get(provider, model) if entry else model

    def roles(self) -> dict[str, ModelBinding]:
        return {**self.phases, ORCHESTRATOR: self.orchestrator}


def _key_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def _dig(data: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        if (
            isinstance(data, Mapping)
            and part in data
            or isinstance(data, list)
            and isinstance(part, int)
            and part < len(data)
        ):
            data = data[part]
        else:
            return None
    return data


def _allowed_for(loc: tuple[Any, ...], message: str) -> str:
    if loc and loc[-1] == "reasoning":
        return "allowed: none, low, medium, high"
    if "Extra inputs" in message:
        parent = loc[:-1]
        model = _model_at(parent)
        fields = ", ".join(model.model_fields) if model else "see the README"
        return f"unknown key; allowed keys: {fields}"
    if "Field required" in message:
        return "this key is required"
    return message


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    if not loc:
        return HarnessConfig
    if loc[0] == "phases" and len(loc) == 2:
        return PhaseBinding
    if loc[0] == "orchestrator" and len(loc) == 1:
        return ModelBinding
    if loc[0] == "run" and len(loc) == 1:
        return RunSettings
    if loc[0] == "providers" and len(loc) == 2:
        return Provider
    if loc[0] == "providers" and len(loc) in (4, 5) and loc[2] == "servers":
        return ModelServerOptions if len(loc) == 4 else Speculation
    if loc[0] == "prices" and len(loc) == 2:
        return PriceOverride
    if loc[0] == "models" and len(loc) == 2:
        return CatalogEntry
    return None


def _from_validation_error(err: ValidationError, file: str, data: Any) -> ConfigError:
    first = err.errors()[0]
    loc = tuple(first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if not loc:  # model-level checks
        return _from_model_check(message, file, data)
    value = first.get("input") if "Extra inputs" not in message else loc[-1]
    if "Field required" in message:
        value = "<missing>"
    return ConfigError(
        file, _key_path(loc), value if value is not None else _dig(data, loc), _allowed_for(loc, message)
    )


def _from_model_check(message: str, file: str, data: Any) -> ConfigError:
    phases = ", ".join(BUILTIN_PHASES)
    if message.startswith("unknown phase"):
        name = message.split("'")[1]
        return ConfigError(
            file,
            f"phases.{name}",
            name,
            f"unknown phase; built-ins: {phases} — or add `module:` to define a custom phase",
        )
    if message.startswith("phases missing"):
        return ConfigError(
            file, "phases", sorted((data or {}).get("phases", {})), f"every phase needs a model; {message}"
        )
    if message.startswith("default_provider"):
        return ConfigError(file, "default_provider", data.get("default_provider"), _providers_allowed(data))
    if message.startswith("name clash"):
        name = message.split("'")[1]
        return ConfigError(
            file,
            f"phases.{name}.module",
            (data or {}).get("phases", {}).get(name, {}).get("module"),
            f"{name} is a built-in phase; give your phase another name (e.g. {name}-custom)",
        )
    if message.startswith("unknown profile"):
        names = ", ".join(sorted({*BUILTIN_PROFILES, *((data or {}).get("profiles") or {})}))
        return ConfigError(file, "run.profile", message.split("'")[1], f"allowed profiles: {names}")
    if message.startswith("unknown approval gate"):
        return ConfigError(file, "run.approval_gates", message.split("'")[1], f"allowed: {phases}, before-archive")
    return ConfigError(file, "<root>", None, message)


def _providers_allowed(data: Mapping[str, Any] | None) -> str:
    names = sorted({*BUILTIN_PROVIDERS, *((data or {}).get("providers") or {})})
    return "allowed providers: " + ", ".join(names)


def _check_sources(config: HarnessConfig, file: str) -> None:
    for role, binding in config.roles().items():
        key = "orchestrator" if role == ORCHESTRATOR else f"phases.{role}"
        if binding.source is not None and binding.source not in config.providers:
            names = ", ".join(sorted(config.providers))
            raise ConfigError(file, f"{key}.source", binding.source, f"unknown provider; allowed: {names}")


def _check_servers(config: HarnessConfig, file: str) -> None:
    """Embedded server options name real embedded models, and no model drafts for itself."""
    for name, provider in config.providers.items():
        key = f"providers.{name}.servers"
        if provider.servers and not provider.embedded:
            raise ConfigError(file, key, sorted(provider.servers), "only the embedded provider starts its own servers")
        for model, options in provider.servers.items():
            try:
                options.check_for(model)
            except ValueError as err:
                draft = options.speculation.draft_model if options.speculation else None
                where = f"{key}.{model}" if draft != model else f"{key}.{model}.speculation.draft_model"
                raise ConfigError(file, where, model, str(err)) from None


def parse_config(data: Any, file: str = "<memory>") -> HarnessConfig:
    """Validate already-loaded YAML data."""
    if not isinstance(data, Mapping):
        raise ConfigError(file, "<root>", type(data).__name__, "the file must be a YAML mapping with phases:")
    try:
        config = HarnessConfig.model_validate(dict(data))
    except ValidationError as err:
        raise _from_validation_error(err, file, data) from None
    config._source_file = file
    _check_sources(config, file)
    _check_servers(config, file)
    _check_extensions(config)
    return config


def _check_extensions(config: HarnessConfig) -> None:
    """Custom phases: placement (no cycles, known anchors) and code (module importable, run() defined)."""
    if not config.custom_phases():
        return
    from sdd_harness.graph.core.builder import phase_module
    from sdd_harness.graph.core.order import phase_groups

    phase_groups(config)
    for name in config.custom_phases():
        phase_module(name, config)


def resolve_config_path(name_or_path: str | os.PathLike[str]) -> Path:
    """Accept a path or a bundled config name such as ``local`` or ``opencode-go``."""
    path = Path(name_or_path)
    if path.exists():
        return path
    bundled = CONFIGS_DIR / f"{path.stem if path.suffix in ('.yaml', '.yml') else path.name}.yaml"
    if bundled.exists() and len(path.parts) == 1:
        return bundled
    available = ", ".join(sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml")))
    raise ConfigError(str(name_or_path), "<file>", str(name_or_path), f"file not found; bundled configs: {available}")


def _deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        return {k: _deep_merge(base.get(k), v) if k in base else v for k, v in override.items()} | {
            k: v for k, v in base.items() if k not in override
        }
    return override


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> Any:
    """YAML data with `extends:` resolved (a bundled name or a path relative to the file)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<yaml>"
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(str(path), where, problem, "the file must be valid YAML") from None
    if not isinstance(data, Mapping) or "extends" not in data:
        return data
    data = dict(data)
    parent_name = str(data.pop("extends"))
    candidate = path.parent / parent_name
    try:
        parent = candidate if candidate.is_file() else resolve_config_path(parent_name)
    except ConfigError:
        raise ConfigError(str(path), "extends", parent_name, "no such config file or bundled config") from None
    if parent.resolve() in seen:
        raise ConfigError(str(path), "extends", parent_name, "configs extend each other in a cycle")
    return _deep_merge(_read_yaml(parent, (*seen, path.resolve())), data)


def load_config(name_or_path: str | os.PathLike[str]) -> HarnessConfig:
    path = resolve_config_path(name_or_path)
    return parse_config(_read_yaml(path, ()), str(path))


def missing_keys(config: HarnessConfig, env: Mapping[str, str] | None = None) -> list[tuple[str, str, str]]:
    """(role, provider, env var) for every model the config uses whose key is not set (env, then .env)."""
    from sdd_harness.graph.infra.dotenv import EnvWithDotenv

    env = EnvWithDotenv() if env is None else env
    missing = []
    for role, binding in config.roles().items():
        provider_name = config.provider_name(binding)
        var = config.providers[provider_name].api_key_env
        if var and not env.get(var):
            missing.append((role, provider_name, var))
    return missing


def require_keys(config: HarnessConfig, env: Mapping[str, str] | None = None) -> None:
    """Name every missing key variable at once, with the roles that need it."""
    missing = missing_keys(config, env)
    if not missing:
        return
    by_var: dict[str, list[str]] = {}
    for role, _provider, var in missing:
        by_var.setdefault(var, []).append(role)
    role, provider, var = missing[0]
    key = "orchestrator.source" if role == ORCHESTRATOR else f"phases.{role}.source"
    needs = "; ".join(f"{v} (needed by {', '.join(roles)})" for v, roles in by_var.items())
    raise ConfigError(
        config.source_file, key, provider, f"environment variable(s) not set: {needs}; export them (or use .env)"
    )
