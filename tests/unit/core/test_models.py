"""The model registry: which endpoint, which provider model id, which reasoning switch, which key — and a
whole run over real HTTP (ChatOpenAI -> fake OpenAI server) proving each phase asks for its own model."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

from sdd_harness.graph.core.config import ConfigError, HarnessConfig, ModelBinding, load_config
from sdd_harness.graph.core.models import ModelRegistry, reasoning_kwargs
from sdd_harness.graph.core.phases import BUILTIN_PHASES, ORCHESTRATOR, VERIFY
from sdd_harness.graph.entry.api import run_change
from sdd_harness.graph.infra.providers import BUILTIN_PROVIDERS, Provider
from tests.fakes.chat import FakeChatModel
from tests.fakes.openai_server import ChatRequest, FakeOpenAIServer, Reply
from tests.fakes.scripted import DemoScript

KEYS = {"OPENCODE_API_KEY": "key-opencode", "OPENROUTER_API_KEY": "key-openrouter"}
ROLES = [*BUILTIN_PHASES, ORCHESTRATOR]


def prompt_owner(system: str) -> str:
    """The role whose prompt this is, read from its first line: routing is checked against the prompt it sent."""
    match = re.search(r"You are the (\S+) phase", system)
    if "making one whole change" in system or "precise Python programmer" in system:  # apply's one-shot and
        return "sdd-apply"  # focused prompts: it sends them for two of its candidates
    return f"sdd-{match.group(1)}" if match else ORCHESTRATOR if "gate coordinator" in system else "unknown"


@pytest.fixture(scope="module")
def opencode_go() -> HarnessConfig:
    return load_config("opencode-go")


# --------------------------------------------------------------------------- building ChatOpenAI


@pytest.mark.parametrize(
    "role, model_id, base_url, key",
    [
        ("sdd-verify", "qwen/qwen3-coder", "https://openrouter.ai/api/v1", "key-openrouter"),
        ("orchestrator", "anthropic/claude-sonnet-4.6", "https://openrouter.ai/api/v1", "key-openrouter"),
        ("sdd-spec", "deepseek-v4-pro", "https://opencode.ai/zen/go/v1", "key-opencode"),
        ("sdd-explore", "kimi-k2.6", "https://opencode.ai/zen/go/v1", "key-opencode"),
        ("sdd-init", "deepseek-v4-flash", "https://opencode.ai/zen/go/v1", "key-opencode"),
    ],
)
def test_registry_builds_chat_openai_for_the_provider(
    opencode_go: HarnessConfig, role: str, model_id: str, base_url: str, key: str
) -> None:
    model = ModelRegistry(opencode_go, env=KEYS).chat_model(role)
    assert isinstance(model, ChatOpenAI)
    assert model.model_name == model_id
    assert model.openai_api_base == base_url
    assert model.openai_api_key.get_secret_value() == key
    assert model.temperature == 0.0


def test_reasoning_settings_reach_the_built_model(opencode_go: HarnessConfig) -> None:
    registry = ModelRegistry(opencode_go, env=KEYS)
    assert registry.chat_model("sdd-spec").reasoning_effort == "high"  # opencode-go speaks the openai style
    assert registry.chat_model("sdd-design").reasoning_effort == "medium"
    assert registry.chat_model("sdd-explore").reasoning_effort == "medium"  # mode: thinking
    assert registry.chat_model("sdd-init").reasoning_effort is None  # reasoning: none
    assert registry.chat_model("sdd-verify").extra_body is None  # nothing set -> nothing sent


def _binding(**kw: Any) -> ModelBinding:
    return ModelBinding(model="m", **kw)


@pytest.mark.parametrize(
    "style, binding, expected",
    [
        ("openai", _binding(reasoning="high"), {"reasoning_effort": "high"}),
        ("openai", _binding(reasoning="low"), {"reasoning_effort": "low"}),
        ("openai", _binding(reasoning="none"), {}),
        ("openai", _binding(mode="thinking"), {"reasoning_effort": "medium"}),
        ("openai", _binding(), {}),
        ("openrouter", _binding(reasoning="high"), {"extra_body": {"reasoning": {"effort": "high", "exclude": False}}}),
        (
            "openrouter",
            _binding(mode="thinking"),
            {"extra_body": {"reasoning": {"effort": "medium", "exclude": False}}},
        ),
        ("openrouter", _binding(reasoning="none"), {"extra_body": {"reasoning": {"enabled": False}}}),
        ("openrouter", _binding(mode="fast"), {"extra_body": {"reasoning": {"enabled": False}}}),
        ("openrouter", _binding(), {}),
        ("deepseek", _binding(mode="thinking"), {"extra_body": {"thinking": {"type": "enabled"}}}),
        ("deepseek", _binding(mode="fast"), {"extra_body": {"thinking": {"type": "disabled"}}}),
        ("deepseek", _binding(reasoning="none"), {"extra_body": {"thinking": {"type": "disabled"}}}),
        (
            "deepseek",
            _binding(reasoning="high"),
            {"extra_body": {"thinking": {"type": "enabled"}}, "reasoning_effort": "high"},
        ),
        ("kimi", _binding(mode="thinking"), {"extra_body": {"thinking": {"type": "enabled"}}}),
        ("zai", _binding(reasoning="none"), {"extra_body": {"thinking": {"type": "disabled"}}}),
        ("none", _binding(reasoning="high", mode="thinking"), {}),
    ],
)
def test_reasoning_kwargs_per_provider_style(style: str, binding: ModelBinding, expected: dict[str, Any]) -> None:
    assert reasoning_kwargs(Provider(base_url="http://x/v1", reasoning_style=style), binding) == expected


def test_builtin_providers_use_their_documented_reasoning_style() -> None:
    assert BUILTIN_PROVIDERS["openai"].reasoning_style == "openai"
    assert BUILTIN_PROVIDERS["openrouter"].reasoning_style == "openrouter"
    assert BUILTIN_PROVIDERS["deepseek"].reasoning_style == "deepseek"


def test_models_are_cached_per_role(opencode_go: HarnessConfig) -> None:
    registry = ModelRegistry(opencode_go, env=KEYS)
    spec = registry.chat_model("sdd-spec")
    assert registry.chat_model("sdd-spec") is spec
    apply = registry.chat_model("sdd-apply")  # same catalogue model, its own instance (own settings)
    assert apply is not spec and apply.model_name == spec.model_name


def test_string_override_with_provider_prefix(opencode_go: HarnessConfig) -> None:
    registry = ModelRegistry(opencode_go, overrides={"sdd-apply": "openrouter:deepseek-v4-pro"}, env=KEYS)
    model = registry.chat_model("sdd-apply")
    assert model.model_name == "deepseek/deepseek-v4-pro"
    assert model.openai_api_base == "https://openrouter.ai/api/v1"
    assert model.openai_api_key.get_secret_value() == "key-openrouter"
    assert model.extra_body == {"reasoning": {"effort": "high", "exclude": False}}  # reasoning: high, new style
    assert registry.describe("sdd-apply") == ("deepseek/deepseek-v4-pro", "openrouter")
    assert registry.chat_model("sdd-spec").model_name == "deepseek-v4-pro"  # other roles untouched


def test_string_override_without_provider_keeps_the_role_provider(opencode_go: HarnessConfig) -> None:
    registry = ModelRegistry(opencode_go, overrides={"sdd-verify": "kimi-k2.6"}, env=KEYS)
    model = registry.chat_model("sdd-verify")
    assert model.model_name == "moonshotai/kimi-k2.6"  # sdd-verify runs on openrouter
    assert model.openai_api_base == "https://openrouter.ai/api/v1"


def test_fake_override_is_used_as_is(opencode_go: HarnessConfig) -> None:
    fake = FakeChatModel(model="fake-verify")
    registry = ModelRegistry(opencode_go, overrides={"sdd-verify": fake}, env={})
    assert registry.chat_model("sdd-verify") is fake
    assert registry.describe("sdd-verify") == ("fake-verify", "fake")


def test_missing_key_names_the_variable(opencode_go: HarnessConfig) -> None:
    registry = ModelRegistry(opencode_go, env={"OPENCODE_API_KEY": "x"})
    registry.chat_model("sdd-spec")  # opencode-go key present: fine
    with pytest.raises(ConfigError) as err:
        registry.chat_model("sdd-verify")
    assert "OPENROUTER_API_KEY" in str(err.value)
    assert err.value.key == "phases.sdd-verify.source"
    with pytest.raises(ConfigError, match="OPENROUTER_API_KEY"):
        ModelRegistry(opencode_go, env={"OPENCODE_API_KEY": "x"}).check_keys()


def test_check_keys_skips_roles_served_by_fakes(opencode_go: HarnessConfig) -> None:
    fakes = {role: FakeChatModel(model=f"fake-{role}") for role in ROLES}
    ModelRegistry(opencode_go, overrides=fakes, env={}).check_keys()  # no error: nothing needs a key
    with pytest.raises(ConfigError, match="OPENROUTER_API_KEY"):
        ModelRegistry(opencode_go, overrides={**fakes, "sdd-apply": "openrouter:glm-5.1"}, env={}).check_keys()


def test_missing_orchestrator_key_points_at_the_orchestrator_section(opencode_go: HarnessConfig) -> None:
    registry = ModelRegistry(opencode_go, overrides={"sdd-verify": FakeChatModel()}, env={"OPENCODE_API_KEY": "x"})
    with pytest.raises(ConfigError) as err:
        registry.check_keys()
    assert err.value.key == "orchestrator.source"


def test_describe_is_stable_after_the_model_is_built(opencode_go: HarnessConfig) -> None:
    registry = ModelRegistry(opencode_go, env=KEYS)
    before = registry.describe("sdd-verify")
    registry.chat_model("sdd-verify")
    assert registry.describe("sdd-verify") == before == ("qwen/qwen3-coder", "openrouter")


# --------------------------------------------------------------------------- real HTTP


def custom_config(tmp_path: Path, base_url: str, style: str = "openai", **phase_extra: dict[str, Any]) -> Path:
    """Every role on one custom provider at ``base_url``, each with its own model name ``m-<role>``."""
    phases = {p: {"model": f"m-{p}", **phase_extra.get(p.replace("-", "_"), {})} for p in BUILTIN_PHASES}
    data = {
        "default_provider": "fake-http",
        "providers": {"fake-http": {"base_url": base_url, "api_key_env": None, "reasoning_style": style}},
        "phases": phases,
        "orchestrator": {"model": f"m-{ORCHESTRATOR}"},
    }
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_reasoning_switches_go_over_the_wire(tmp_path: Path, fake_openai_server: FakeOpenAIServer) -> None:
    server = fake_openai_server
    server.responder = lambda req: Reply(content="ok")
    for style, expected_key, expected in [
        ("openrouter", "reasoning", {"effort": "high", "exclude": False}),
        ("deepseek", "thinking", {"type": "enabled"}),
        ("openai", "reasoning_effort", "high"),
    ]:
        cfg = load_config(custom_config(tmp_path, server.base_url, style, sdd_spec={"reasoning": "high"}))
        ModelRegistry(cfg, env={}).chat_model("sdd-spec").invoke([HumanMessage("hi")])
        body = server.last.body
        assert body["model"] == "m-sdd-spec"
        assert body[expected_key] == expected, (style, body)
    assert server.last.authorization == "Bearer not-needed"


def test_full_run_over_http_asks_each_phase_for_its_own_model(
    tmp_path: Path,
    demo_repo: Path,
    slugify_request: str,
    fake_openai_server: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # the demo repo's pytest needs no plugins (faster)
    server = fake_openai_server
    script = DemoScript()
    misrouted: list[tuple[str, str]] = []
    impostor = "other-vendor/impostor-model"

    def responder(req: ChatRequest) -> Reply:
        role = req.model.removeprefix("m-")
        asked_by = prompt_owner(req.system_text)  # which phase's prompt came with this model?
        if asked_by != role:
            misrouted.append((req.model, asked_by))
        served = impostor if role == "sdd-explore" else req.model
        return Reply(content=script.reply(role, req.last_user_text), served_model=served)  # routed by the model

    server.responder = responder
    config = custom_config(tmp_path, server.base_url, sdd_spec={"reasoning": "high"}, sdd_init={"reasoning": "none"})
    result = run_change(slugify_request, demo_repo, config, auto_approve=True)

    assert result.status == "done", result.reason
    assert misrouted == []
    assert server.errors == []
    calls = result.report["calls"]
    assert {c["phase"] for c in calls} == set(BUILTIN_PHASES) - {VERIFY}  # all pass: no judge, no links
    for call in calls:
        assert call["requested_model"] == f"m-{call['phase']}", call
    served = {c["phase"]: c["served_model"] for c in calls}
    assert served["sdd-explore"] == impostor and served["sdd-spec"] == "m-sdd-spec"

    # what actually went over the wire
    assert {r.model for r in server.requests} == {f"m-{p}" for p in BUILTIN_PHASES if p != VERIFY}
    assert server.count() == len(calls)
    for phase in BUILTIN_PHASES:
        assert server.count(f"m-{phase}") == sum(1 for c in calls if c["phase"] == phase)
    assert all(r.body.get("reasoning_effort") == "high" for r in server.requests_for("m-sdd-spec"))
    assert all("reasoning_effort" not in r.body for r in server.requests_for("m-sdd-init"))

    rows = {row["phase"]: row for row in result.report["phases"]}
    assert rows["sdd-explore"]["routing_mismatch"] is True
    assert rows["sdd-explore"]["requested"] == "m-sdd-explore" and impostor in rows["sdd-explore"]["served"]
    assert [p for p, row in rows.items() if row["routing_mismatch"]] == ["sdd-explore"]
    assert result.report_path is not None and "routing mismatch" in result.report_path.read_text(encoding="utf-8")


class RecordingServers:
    """Stands in for the embedded server manager: records which servers are asked for and which are warmed."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.warmed: list[str] = []

    def base_url(self, name: str, options: Any = None) -> str:
        self.started.append(name)
        return "http://127.0.0.1:9/v1"

    def warm(self, wanted: dict[str, Any]) -> None:
        self.warmed += [name for name in wanted if name not in self.started]


def test_the_first_local_model_asked_for_starts_the_runs_other_local_models_loading(monkeypatch) -> None:
    from sdd_harness.graph.infra import embedded

    servers = RecordingServers()
    monkeypatch.setattr(embedded, "get_servers", lambda: servers)
    registry = ModelRegistry(load_config("local"))
    registry.chat_model("sdd-init")
    assert servers.started == ["qwen2.5-coder-0.5b"]  # the one the phase needs, before anything else
    assert servers.warmed == ["qwen2.5-coder-1.5b"]  # spec's model loads while init's answers
