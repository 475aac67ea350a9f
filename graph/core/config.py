"""The harness config: one YAML file, validated by pydantic, with errors a user can act on.

Loading never touches the network or a model. Every problem becomes a ``ConfigError`` that names the file,
the key path, the bad value and what is allowed; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from sdd_harness.graph.core.configfile import CONFIGS_DIR as CONFIGS_DIR  # re-exported: callers import it from here
from sdd_harness.graph.core.configfile import deep_merge, read_config_data
from sdd_harness.graph.core.configfile import resolve_config_path as resolve_config_path
from sdd_harness.graph.core.errors import ConfigError
from sdd_harness.graph.core.phases import BUILTIN_PHASES, ORCHESTRATOR
from sdd_harness.graph.core.providercheck import check_connections, check_servers
from sdd_harness.graph.infra.embedded.options import ModelServerOptions, Speculation
from sdd_harness.graph.infra.providers import BUILTIN_CATALOG, BUILTIN_PROVIDERS, CatalogEntry, Provider
from sdd_harness.graph.infra.workspace import DEFAULT_MAX_FILE_BYTES

Reasoning = Literal["none", "low", "medium", "high"]
# A name the harness looks something up by (a model, a provider, a module): '' or '  ' is always a mistake.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class ModelBinding(BaseModel):
    """Which model serves a phase, where it runs and how it should think."""

    model_config = ConfigDict(extra="forbid")

    model: Name = Field(description="Short name from the catalogue or a provider's own model id.")
    source: Name | None = Field(None, description="Provider name; defaults to the config's default_provider.")
    reasoning: Reasoning | None = Field(None, description="Reasoning effort: none, low, medium or high.")
    mode: Literal["thinking", "fast"] | None = Field(None, description="'thinking' switches a model's thinking on.")
    tools: Literal["native", "json"] | None = Field(None, description="Tool calling style; default: provider's.")
    fallback: list[Name] = Field(default_factory=list, description="Models tried in order when this one fails.")
    max_tokens: int | None = Field(None, gt=0, description="Cap on output tokens per call.")
    temperature: float | None = Field(None, ge=0, le=2)
    timeout_s: float | None = Field(None, gt=0, description="Per-request timeout in seconds.")
    tool_steps: int | None = Field(None, ge=0, le=20, description="Max look-around tool steps (0 = none).")
    role: str | None = Field(None, description="Free-form role label, e.g. gate-coordinator.")
    verbosity: list[str] | None = Field(None, description="Extra output rules appended to this phase's prompt.")
    samples: int | None = Field(None, ge=1, le=8, description="Candidates apply writes per task group (default 3).")
    sample_temperature: float | None = Field(
        None, ge=0, le=2, description="Temperature of the candidates after the first, greedy one (default 0.8)."
    )
    escalate: Name | None = Field(
        None, description="A stronger model used only when this phase's first answer fails (gate, tests)."
    )


OnFail = str  # "retry" | "stop" | "back_to:<phase>"


class PhaseBinding(ModelBinding):
    """A phase entry: its model, and — for a custom phase — where its code sits and where it runs."""

    module: Name | None = Field(None, description="Custom phase: importable module with run(ctx) and check(ctx).")
    after: Name | None = Field(None, description="Custom phase: runs right after this phase.")
    beside: Name | None = Field(None, description="Custom phase: runs in parallel with this phase.")
    prompt: Name | None = Field(None, description="Prompt file name (without .md); default: the phase name.")
    artifact: Name | None = Field(None, description="File the phase writes in the change folder (for the report).")
    on_fail: OnFail = Field("retry", description="When its gate fails: retry, stop, or back_to:<phase>.")


class RunSettings(BaseModel):
    """Knobs for one run; every one can be overridden from the CLI or the script API."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(3, ge=1, le=20, description="Reruns allowed per phase and per loop-back target.")
    budget_usd: float | None = Field(None, ge=0, description="Stop cleanly once the run's cost exceeds this.")
    token_budget: int | None = Field(None, gt=0, description="Stop cleanly once the run's tokens exceed this.")
    time_budget_s: float | None = Field(
        None,
        gt=0,
        description="Stop cleanly (resumable) once the run's phase time in seconds exceeds this; apply stops "
        "drawing candidates when it runs out and keeps its best one.",
    )
    verify_commands: list[Name] | None = Field(None, description="Test/lint commands; None = detected by init.")
    command_timeout_s: float = Field(300, gt=0, description="Timeout for each verify/check command.")
    max_file_bytes: int = Field(
        DEFAULT_MAX_FILE_BYTES, gt=0, description="Largest file (bytes) a model may write; larger edits are refused."
    )
    openspec_root: Name = Field(".", description="Folder (relative to the repo) that holds openspec/ artifacts.")
    task_loop: bool = Field(
        True,
        description="Apply samples candidates and keeps the one that passes the scenario tests (False: one "
        "candidate, written untested; verify finds out).",
    )
    fix_attempts: int = Field(2, ge=0, le=10, description="Targeted fix attempts per task inside apply.")
    require_coverage: bool = Field(
        False, description="Verify FAILs when no spec scenario is covered by a passing test (default: a warning)."
    )
    profile: Name | None = Field(None, description="Named profile (e.g. fast-forward) that skips phases.")
    approval_gates: list[str] = Field(
        default_factory=lambda: ["sdd-propose", "sdd-tasks"],
        description="Phases after which a human approves ('before-archive' also allowed); [] for none. "
        "`--auto` skips them; with no terminal and no --auto the run pauses (exit 3).",
    )
    git_branch: bool = Field(
        True, description="In a git repo, run each change on its own branch sdd/<change-id> (`sdd undo` needs it)."
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

    default_provider: Name = "opencode-go"
    providers: dict[str, Provider] = Field(default_factory=dict, validate_default=True)
    models: dict[str, CatalogEntry] = Field(default_factory=dict, validate_default=True)
    phases: dict[str, PhaseBinding]
    orchestrator: ModelBinding
    run: RunSettings = Field(default_factory=RunSettings)
    prices: dict[str, PriceOverride] = Field(default_factory=dict)
    profiles: dict[str, Profile] = Field(default_factory=dict, validate_default=True)
    prompt_dir: Name | None = Field(None, description="Folder of .md prompts overriding the built-in ones.")
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

    def api_key_env_names(self) -> list[str]:
        """Every environment variable this config reads a key from (all providers, used or not): the names
        to scrub from the environment of code the harness runs, whatever they are called."""
        return sorted({p.api_key_env for p in self.providers.values() if p.api_key_env})


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


def _unknown(what: str, word: Any, options: Iterable[str], allowed: str) -> str:
    """ "unknown key 'phazes' — did you mean 'phases'? allowed keys: ..." (the guess only when one is close)."""
    match = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    guess = f" — did you mean {match[0]!r}?" if match else ";"
    return f"unknown {what} {str(word)!r}{guess} {allowed}"


def _allowed_for(loc: tuple[Any, ...], kind: str, message: str, data: Any) -> str:
    if loc and loc[-1] == "reasoning":
        return "allowed: none, low, medium, high"
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        fields = list(model.model_fields) if model else []
        allowed = ", ".join(fields) or "see the README"
        return _unknown("key", loc[-1], fields, f"allowed keys: {allowed}")
    if kind == "missing":
        return "this key is required"
    if kind == "string_too_short":
        return "must not be empty: " + _name_hint(loc, data)
    return message


def _name_hint(loc: tuple[Any, ...], data: Any) -> str:
    """What belongs in a name that was left empty."""
    field = next((part for part in reversed(loc) if isinstance(part, str)), "")
    if field in ("model", "fallback"):
        return "name a model (a catalogue short name such as glm-5.1, or the provider's own model id)"
    if field in ("source", "default_provider"):
        return "name a provider; " + _providers_allowed(data)
    if field == "verify_commands":
        return "give a command such as 'python -m pytest -q', or leave the list out"
    return f"give a value for {field}, or leave the key out"


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
    if loc[0] == "profiles" and len(loc) == 2:
        return Profile
    return None


def _from_validation_error(err: ValidationError, file: str, data: Any) -> ConfigError:
    errors = err.errors()
    # An unknown key first: `phazes:` also makes `phases` "missing", and the typo is what the user must fix.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc, kind = tuple(first["loc"]), first["type"]
    message = first["msg"].removeprefix("Value error, ")
    if not loc:  # model-level checks
        return _from_model_check(message, file, data)
    value = loc[-1] if kind == "extra_forbidden" else "<missing>" if kind == "missing" else first.get("input")
    return ConfigError(
        file, _key_path(loc), value if value is not None else _dig(data, loc), _allowed_for(loc, kind, message, data)
    )


def _from_model_check(message: str, file: str, data: Any) -> ConfigError:
    phases = ", ".join(BUILTIN_PHASES)
    if message.startswith("unknown phase"):
        name = message.split("'")[1]
        return ConfigError(
            file,
            f"phases.{name}",
            name,
            _unknown("phase", name, BUILTIN_PHASES, f"built-ins: {phases} — or add `module:` for a custom phase"),
        )
    if message.startswith("phases missing"):
        return ConfigError(
            file, "phases", sorted((data or {}).get("phases", {})), f"every phase needs a model; {message}"
        )
    if message.startswith("default_provider"):
        name = data.get("default_provider")
        names = {*BUILTIN_PROVIDERS, *((data or {}).get("providers") or {})}
        return ConfigError(file, "default_provider", name, _unknown("provider", name, names, _providers_allowed(data)))
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
            allowed = _unknown("provider", binding.source, config.providers, f"allowed: {names}")
            raise ConfigError(file, f"{key}.source", binding.source, allowed)


def parse_config(data: Any, file: str = "<memory>") -> HarnessConfig:
    """Validate already-loaded YAML data."""
    if not isinstance(data, Mapping):
        raise ConfigError(file, "<root>", type(data).__name__, "the file must be a YAML mapping with phases:")
    try:
        config = HarnessConfig.model_validate(dict(data))
    except ValidationError as err:
        raise _from_validation_error(err, file, data) from None
    config._source_file = file
    check_connections(config.providers, file)
    _check_sources(config, file)
    check_servers(config.providers, file)
    return config


def load_config(name_or_path: str | os.PathLike[str]) -> HarnessConfig:
    """A config by bundled name or path; every problem (file, YAML, schema) is one ConfigError."""
    path = resolve_config_path(name_or_path)
    return parse_config(read_config_data(path), str(path))


def load_inline_config(data: Mapping[str, Any], file: str, base_dir: Path) -> HarnessConfig:
    """A config written inline (``[tool.sdd]`` in pyproject.toml): ``extends:`` is a bundled name or a path
    relative to ``base_dir``, merged exactly like a YAML file's."""
    data = dict(data)
    if "extends" in data:
        parent_name = str(data.pop("extends"))
        candidate = base_dir / parent_name
        try:
            parent = candidate if candidate.is_file() else resolve_config_path(parent_name)
        except ConfigError:
            raise ConfigError(file, "extends", parent_name, "no such config file or bundled config") from None
        data = deep_merge(read_config_data(parent), data)
    return parse_config(data, file)


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
