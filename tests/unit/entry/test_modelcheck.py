"""`sdd models --check`: one tiny call per role through the real registry path; requested vs served, latency,
the price of that call, and failures as rows — and missing keys named before any call."""

from __future__ import annotations

import asyncio

import pytest

from sdd_harness.graph.core.config import ConfigError, parse_config
from sdd_harness.graph.core.phases import BUILTIN_PHASES, ORCHESTRATOR
from sdd_harness.graph.entry.modelcheck import CHECK_COLUMNS, CHECK_MAX_TOKENS, acheck_models, check_models, render_rows
from tests.fakes.openai_server import ChatRequest, FakeOpenAIServer, Fault, Reply

ROLES = [*BUILTIN_PHASES, ORCHESTRATOR]


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    import openai._base_client as base

    monkeypatch.setattr(base, "INITIAL_RETRY_DELAY", 0.01)


def config(base_url: str, key_env: str | None = None, **extra: dict) -> object:
    data = {
        "default_provider": "fake-http",
        "providers": {"fake-http": {"base_url": base_url, "api_key_env": key_env}},
        "phases": {p: {"model": f"m-{p}", **extra.get(p, {})} for p in BUILTIN_PHASES},
        "orchestrator": {"model": f"m-{ORCHESTRATOR}"},
        "prices": {"m-sdd-spec": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}},
    }
    return parse_config(data)


def test_one_tiny_call_per_role_reports_requested_served_latency_and_cost(
    fake_openai_server: FakeOpenAIServer,
) -> None:
    server = fake_openai_server

    def responder(req: ChatRequest) -> Reply:
        served = "other-vendor/impostor" if req.model == "m-sdd-explore" else req.model
        return Reply(content="OK", served_model=served, prompt_tokens=12, completion_tokens=1)

    server.responder = responder
    server.inject(Fault.payment_required(), model="m-sdd-verify")
    checks = check_models(config(server.base_url), env={})

    assert [c.role for c in checks] == ROLES
    assert sorted(r.model for r in server.requests) == sorted(f"m-{r}" for r in ROLES)  # exactly one call each
    assert all(r.body.get("max_completion_tokens") == CHECK_MAX_TOKENS for r in server.requests)
    assert all(r.body.get("response_format") is None and not r.stream for r in server.requests)
    by_role = {c.role: c for c in checks}
    spec = by_role["sdd-spec"]
    assert spec.ok and spec.requested == spec.served == "m-sdd-spec" and spec.provider == "fake-http"
    assert spec.seconds > 0 and spec.cost_usd == pytest.approx(12 * 1e-6 + 1 * 2e-6)
    assert by_role["sdd-explore"].ok and by_role["sdd-explore"].routing_mismatch
    verify = by_role["sdd-verify"]
    assert not verify.ok and "402" in (verify.error or "") and verify.served is None
    assert [c.role for c in checks if not c.ok] == ["sdd-verify"]

    rows = render_rows(checks)
    assert CHECK_COLUMNS == ["role", "provider", "requested", "served", "ok", "latency", "$"]
    assert all(len(row) == len(CHECK_COLUMNS) for row in rows)
    explore = next(row for row in rows if row[0] == "sdd-explore")
    assert "mismatch" in explore[3] and explore[4] == "ok"
    assert next(row for row in rows if row[0] == "sdd-verify")[4].startswith("FAIL")


def test_missing_keys_fail_before_any_call(fake_openai_server: FakeOpenAIServer) -> None:
    cfg = config(fake_openai_server.base_url, key_env="SDD_CHECK_API_KEY")
    with pytest.raises(ConfigError, match="SDD_CHECK_API_KEY"):
        check_models(cfg, env={})
    assert fake_openai_server.count() == 0


def test_a_fallback_providers_missing_key_is_named_too(fake_openai_server: FakeOpenAIServer) -> None:
    cfg = config(fake_openai_server.base_url, sdd_apply={})
    cfg.phases["sdd-apply"] = cfg.phases["sdd-apply"].model_copy(update={"fallback": ["openrouter:glm-5.1"]})
    with pytest.raises(ConfigError, match="OPENROUTER_API_KEY"):
        check_models(cfg, env={})
    assert fake_openai_server.count() == 0


def test_selected_roles_only(fake_openai_server: FakeOpenAIServer) -> None:
    checks = asyncio.run(acheck_models(config(fake_openai_server.base_url), env={}, roles=["sdd-spec"]))
    assert [c.role for c in checks] == ["sdd-spec"] and fake_openai_server.count() == 1
    with pytest.raises(ConfigError, match="allowed"):
        check_models(config(fake_openai_server.base_url), env={}, roles=["nope"])
