"""Config loading: the bundled maps load as documented, and every mistake a user can make in the YAML
becomes one ConfigError naming the file, the key path, the bad value and what is allowed — before any
file in the target repo is touched."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sdd_harness.graph.core.config import (
    CONFIGS_DIR,
    ConfigError,
    HarnessConfig,
    load_config,
    missing_keys,
    require_keys,
)
from sdd_harness.graph.core.phases import BUILTIN_PHASES, ORCHESTRATOR
from sdd_harness.graph.entry.api import run_change

OPENCODE_GO = CONFIGS_DIR / "opencode-go.yaml"
BASE: dict[str, Any] = yaml.safe_load(OPENCODE_GO.read_text(encoding="utf-8"))

# The documented opencode-go map: role -> (short model name, provider, provider model id).
OPENCODE_GO_MAP = {
    "sdd-init": ("deepseek-v4-flash", "opencode-go", "deepseek-v4-flash"),
    "sdd-explore": ("kimi-k2.6", "opencode-go", "kimi-k2.6"),
    "sdd-propose": ("glm-5.1", "opencode-go", "glm-5.1"),
    "sdd-spec": ("deepseek-v4-pro", "opencode-go", "deepseek-v4-pro"),
    "sdd-design": ("deepseek-v4-pro", "opencode-go", "deepseek-v4-pro"),
    "sdd-tasks": ("deepseek-v4-flash", "opencode-go", "deepseek-v4-flash"),
    "sdd-apply": ("deepseek-v4-pro", "opencode-go", "deepseek-v4-pro"),
    "sdd-verify": ("qwen3-coder-480b", "openrouter", "qwen/qwen3-coder"),
    "sdd-archive": ("deepseek-v4-flash", "opencode-go", "deepseek-v4-flash"),
    ORCHESTRATOR: ("claude-sonnet-4.6", "openrouter", "anthropic/claude-sonnet-4.6"),
}


def write_yaml(tmp_path: Path, data: Any, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def mutated(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    change(data)
    return data


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {p.relative_to(root).as_posix(): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


# --------------------------------------------------------------------------- bundled configs


@pytest.mark.parametrize("name", ["opencode-go", "openrouter", "single-model"])
def test_bundled_configs_load_by_name_and_by_path(name: str) -> None:
    by_name = load_config(name)
    by_path = load_config(CONFIGS_DIR / f"{name}.yaml")
    assert isinstance(by_name, HarnessConfig)
    assert by_name.model_dump() == by_path.model_dump()
    assert set(by_name.phases) == set(BUILTIN_PHASES)
    assert Path(by_name.source_file).resolve() == (CONFIGS_DIR / f"{name}.yaml").resolve()
    assert require_keys(by_name, env={"OPENCODE_API_KEY": "k", "OPENROUTER_API_KEY": "k"}) is None


def test_opencode_go_phase_map_is_exactly_as_documented() -> None:
    cfg = load_config("opencode-go")
    assert cfg.default_provider == "opencode-go"
    actual = {}
    for role, binding in cfg.roles().items():
        provider = cfg.provider_name(binding)
        actual[role] = (binding.model, provider, cfg.model_id(binding.model, provider))
    assert actual == OPENCODE_GO_MAP
    assert cfg.providers["openrouter"].base_url == "https://openrouter.ai/api/v1"
    assert cfg.phases["sdd-spec"].reasoning == "high"
    assert cfg.phases["sdd-explore"].mode == "thinking"


def test_openrouter_and_single_model_configs_use_one_provider() -> None:
    for name in ("openrouter", "single-model"):
        cfg = load_config(name)
        assert {cfg.provider_name(b) for b in cfg.roles().values()} == {"openrouter"}
        assert missing_keys(cfg, env={"OPENROUTER_API_KEY": "k"}) == []
    single = load_config("single-model")
    assert {b.model for b in single.roles().values()} == {"claude-sonnet-4.6"}
    same_roles = load_config("openrouter")
    assert {r: b.model for r, b in same_roles.roles().items()} == {r: m[0] for r, m in OPENCODE_GO_MAP.items()}


def test_unknown_config_name_lists_the_bundled_ones() -> None:
    with pytest.raises(ConfigError) as err:
        load_config("no-such-config")
    message = str(err.value)
    assert "no-such-config" in message and "not found" in message
    for name in ("opencode-go", "openrouter", "single-model"):
        assert name in message


# --------------------------------------------------------------------------- bad configs


BAD_CASES = {
    "unknown phase": (
        lambda d: d["phases"].__setitem__("sdd-review", {"model": "glm-5.1"}),
        "phases.sdd-review",
        "sdd-review",
        ["unknown phase", "sdd-init", "sdd-archive"],
    ),
    "missing phase": (
        lambda d: d["phases"].pop("sdd-verify"),
        "phases",
        None,
        ["sdd-verify"],
    ),
    "unknown provider": (
        lambda d: d["phases"]["sdd-spec"].__setitem__("source", "nowhere"),
        "phases.sdd-spec.source",
        "nowhere",
        ["unknown provider", "openrouter", "opencode-go", "deepseek"],
    ),
    "unknown orchestrator provider": (
        lambda d: d["orchestrator"].__setitem__("source", "open-router"),
        "orchestrator.source",
        "open-router",
        ["unknown provider", "openrouter"],
    ),
    "unknown default provider": (
        lambda d: d.__setitem__("default_provider", "nowhere"),
        "default_provider",
        "nowhere",
        ["opencode-go", "openrouter"],
    ),
    "missing model": (
        lambda d: d["phases"]["sdd-apply"].pop("model"),
        "phases.sdd-apply.model",
        "<missing>",
        ["required"],
    ),
    "missing orchestrator model": (
        lambda d: d["orchestrator"].pop("model"),
        "orchestrator.model",
        "<missing>",
        ["required"],
    ),
    "bad reasoning": (
        lambda d: d["phases"]["sdd-spec"].__setitem__("reasoning", "extreme"),
        "phases.sdd-spec.reasoning",
        "extreme",
        ["none, low, medium, high"],
    ),
    "unknown phase key": (
        lambda d: d["phases"]["sdd-spec"].__setitem__("temprature", 0.2),
        "phases.sdd-spec.temprature",
        "temprature",
        ["unknown key", "temperature", "reasoning", "source"],
    ),
    "unknown run key": (
        lambda d: d.setdefault("run", {}).__setitem__("max_attempt", 3),
        "run.max_attempt",
        "max_attempt",
        ["unknown key", "max_attempts", "budget_usd"],
    ),
    "unknown top-level key": (
        lambda d: d.__setitem__("phase", {}),
        "phase",
        "phase",
        ["unknown key", "phases", "orchestrator"],
    ),
    "unknown provider key": (
        lambda d: d.__setitem__("providers", {"mine": {"base_url": "http://x/v1", "api_keyenv": "K"}}),
        "providers.mine.api_keyenv",
        "api_keyenv",
        ["unknown key", "api_key_env", "base_url"],
    ),
    "run value out of range": (
        lambda d: d.setdefault("run", {}).__setitem__("max_attempts", 0),
        "run.max_attempts",
        0,
        ["greater than or equal to 1"],
    ),
    "unknown approval gate": (
        lambda d: d.setdefault("run", {}).__setitem__("approval_gates", ["sdd-review"]),
        "run.approval_gates",
        "sdd-review",
        ["sdd-propose", "before-archive"],
    ),
    "bad mode": (
        lambda d: d["phases"]["sdd-explore"].__setitem__("mode", "slow"),
        "phases.sdd-explore.mode",
        "slow",
        ["thinking", "fast"],
    ),
    "top-level typo is named, not the key it hides": (
        lambda d: d.__setitem__("phazes", d.pop("phases")),
        "phazes",
        "phazes",
        ["unknown key 'phazes' — did you mean 'phases'?", "allowed keys:"],
    ),
    "nested typo gets a suggestion": (
        lambda d: d["phases"]["sdd-spec"].__setitem__("reasonning", d["phases"]["sdd-spec"].pop("reasoning")),
        "phases.sdd-spec.reasonning",
        "reasonning",
        ["did you mean 'reasoning'?"],
    ),
    "run typo gets a suggestion": (
        lambda d: d.setdefault("run", {}).__setitem__("max_file_byte", 10),
        "run.max_file_byte",
        "max_file_byte",
        ["did you mean 'max_file_bytes'?"],
    ),
    "profile typo gets a suggestion": (
        lambda d: d.__setitem__("profiles", {"quick": {"skips": ["sdd-design"]}}),
        "profiles.quick.skips",
        "skips",
        ["did you mean 'skip'?"],
    ),
    "phase name typo gets a suggestion": (
        lambda d: d["phases"].__setitem__("sdd-aply", d["phases"].pop("sdd-apply")),
        "phases.sdd-aply",
        "sdd-aply",
        ["did you mean 'sdd-apply'?", "module:"],
    ),
    "provider typo gets a suggestion": (
        lambda d: d["phases"]["sdd-verify"].__setitem__("source", "openroutr"),
        "phases.sdd-verify.source",
        "openroutr",
        ["did you mean 'openrouter'?"],
    ),
    "empty model": (
        lambda d: d["phases"]["sdd-apply"].__setitem__("model", ""),
        "phases.sdd-apply.model",
        "",
        ["must not be empty", "model"],
    ),
    "blank orchestrator model": (
        lambda d: d["orchestrator"].__setitem__("model", "   "),
        "orchestrator.model",
        "   ",
        ["must not be empty"],
    ),
    "empty source": (
        lambda d: d["phases"]["sdd-verify"].__setitem__("source", ""),
        "phases.sdd-verify.source",
        "",
        ["must not be empty", "openrouter"],
    ),
    "empty default provider": (
        lambda d: d.__setitem__("default_provider", ""),
        "default_provider",
        "",
        ["must not be empty", "opencode-go"],
    ),
    "empty fallback model": (
        lambda d: d["phases"]["sdd-spec"].__setitem__("fallback", ["glm-5.1", ""]),
        "phases.sdd-spec.fallback.1",
        "",
        ["must not be empty"],
    ),
    "empty provider base_url": (
        lambda d: d.__setitem__("providers", {"mine": {"base_url": "", "api_key_env": "MINE_KEY"}}),
        "providers.mine.base_url",
        "",
        ["http(s) URL"],
    ),
    "provider base_url without a scheme": (
        lambda d: d.__setitem__("providers", {"mine": {"base_url": "localhost:8080/v1"}}),
        "providers.mine.base_url",
        "localhost:8080/v1",
        ["http(s) URL"],
    ),
    "empty key variable": (
        lambda d: d.__setitem__("providers", {"mine": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": ""}}),
        "providers.mine.api_key_env",
        "",
        ["must not be empty", "null"],
    ),
    "empty verify command": (
        lambda d: d.setdefault("run", {}).__setitem__("verify_commands", ["python -m pytest -q", ""]),
        "run.verify_commands.1",
        "",
        ["must not be empty"],
    ),
    "file limit must be positive": (
        lambda d: d.setdefault("run", {}).__setitem__("max_file_bytes", 0),
        "run.max_file_bytes",
        0,
        ["greater than 0"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_config_names_file_key_value_and_allowed(tmp_path: Path, case: str) -> None:
    change, key, value, allowed = BAD_CASES[case]
    path = write_yaml(tmp_path, mutated(change))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert err.value.key == key
    assert message.startswith(f"{path}: {key}: got ")
    if value is not None:
        assert err.value.value == value
        assert repr(value) in message
    for word in allowed:
        assert word in message, f"{word!r} missing from: {message}"


def test_names_are_stripped_and_the_file_limit_is_read(tmp_path: Path) -> None:
    data = mutated(lambda d: d.setdefault("run", {}).__setitem__("max_file_bytes", 4096))
    data["phases"]["sdd-apply"]["model"] = " glm-5.1 "
    cfg = load_config(write_yaml(tmp_path, data))
    assert cfg.phases["sdd-apply"].model == "glm-5.1" and cfg.run.max_file_bytes == 4096


def test_the_config_lists_every_key_variable_of_every_provider(tmp_path: Path) -> None:
    data = mutated(lambda d: d.__setitem__("providers", {"mine": {"base_url": "http://h/v1", "api_key_env": "ODD"}}))
    names = load_config(write_yaml(tmp_path, data)).api_key_env_names()
    assert {"ODD", "OPENCODE_API_KEY", "OPENROUTER_API_KEY", "DEEPSEEK_API_KEY"} <= set(names)
    assert names == sorted(set(names))


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("phases:\n  sdd-init: {model: deepseek-v4-flash\n  sdd-explore: x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert "valid YAML" in str(err.value)


def test_invalid_yaml_says_which_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("phases:\n  sdd-init: {model: deepseek-v4-flash\n  sdd-explore: x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "line 2" in str(err.value) or "line 3" in str(err.value)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_yaml_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "mapping" in str(err.value)


def test_unknown_price_key_lists_the_allowed_keys(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, mutated(lambda d: d.__setitem__("prices", {"glm-5.1": {"input": 1.0}})))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == "prices.glm-5.1.input"
    assert "input_per_mtok" in str(err.value) and "output_per_mtok" in str(err.value)


def test_internal_source_file_is_not_offered_as_a_config_key(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, mutated(lambda d: d.__setitem__("phase", {})))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "source_file" not in str(err.value).split("allowed keys:")[1]
    with pytest.raises(ConfigError):
        load_config(write_yaml(tmp_path, mutated(lambda d: d.__setitem__("source_file", "x"))))


# --------------------------------------------------------------------------- API keys


def test_missing_key_for_a_phase_provider_names_the_variable() -> None:
    cfg = load_config("opencode-go")
    with pytest.raises(ConfigError) as err:
        require_keys(cfg, env={"OPENCODE_API_KEY": "set"})
    message = str(err.value)
    assert "OPENROUTER_API_KEY" in message
    assert err.value.key == "phases.sdd-verify.source" and err.value.value == "openrouter"
    assert message.startswith(str(OPENCODE_GO))
    assert ("orchestrator", "openrouter", "OPENROUTER_API_KEY") in missing_keys(cfg, env={"OPENCODE_API_KEY": "x"})
    require_keys(cfg, env={"OPENCODE_API_KEY": "set", "OPENROUTER_API_KEY": "set"})  # no error


def test_missing_default_provider_key_is_named() -> None:
    cfg = load_config("opencode-go")
    with pytest.raises(ConfigError, match="OPENCODE_API_KEY"):
        require_keys(cfg, env={"OPENROUTER_API_KEY": "set"})


def test_every_missing_variable_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        require_keys(load_config("opencode-go"), env={})
    assert "OPENCODE_API_KEY" in str(err.value) and "OPENROUTER_API_KEY" in str(err.value)


def test_provider_without_key_needs_no_env(tmp_path: Path) -> None:
    data = {
        "default_provider": "local",
        "providers": {"local": {"base_url": "http://127.0.0.1:9/v1", "api_key_env": None}},
        "phases": {p: {"model": "m"} for p in BUILTIN_PHASES},
        "orchestrator": {"model": "m"},
    }
    cfg = load_config(write_yaml(tmp_path, data))
    assert missing_keys(cfg, env={}) == []
    require_keys(cfg, env={})


# --------------------------------------------------------------------------- nothing written on a bad config


@pytest.mark.parametrize(
    "case", ["unknown phase", "unknown provider", "missing model", "bad reasoning", "unknown phase key"]
)
def test_run_change_with_bad_config_writes_nothing(tmp_path: Path, demo_repo: Path, case: str) -> None:
    path = write_yaml(tmp_path, mutated(BAD_CASES[case][0]))
    before = snapshot(demo_repo)
    with pytest.raises(ConfigError) as err:
        run_change("Add slugify", demo_repo, path, auto_approve=True)
    assert str(path) in str(err.value)
    assert snapshot(demo_repo) == before


def test_run_change_with_invalid_yaml_writes_nothing(tmp_path: Path, demo_repo: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("phases: [unclosed\n", encoding="utf-8")
    before = snapshot(demo_repo)
    with pytest.raises(ConfigError):
        run_change("Add slugify", demo_repo, path, auto_approve=True)
    assert snapshot(demo_repo) == before


def test_run_change_without_api_keys_fails_before_writing(monkeypatch: pytest.MonkeyPatch, demo_repo: Path) -> None:
    monkeypatch.delenv("OPENCODE_API_KEY", raising=False)
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    before = snapshot(demo_repo)
    with pytest.raises(ConfigError, match="_API_KEY"):
        run_change("Add slugify", demo_repo, "opencode-go", auto_approve=True)
    assert snapshot(demo_repo) == before
