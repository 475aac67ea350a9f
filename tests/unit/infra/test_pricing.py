"""Honest prices, budgets that bite, exact routing checks.

Every call is priced for the provider that served it, from that call's own usage (tiers included); a model
without a known price is reported as unknown — never $0 — and a dollar budget that cannot bound it becomes a
token budget; a served model counts as the requested one only modulo case, org prefix, date/version suffixes,
routing tags and documented aliases.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from langchain_core.messages import HumanMessage

from sdd_harness.graph.core.config import CONFIGS_DIR, HarnessConfig, RunSettings, parse_config
from sdd_harness.graph.core.models import ModelRegistry
from sdd_harness.graph.core.phases import BUILTIN_PHASES, ORCHESTRATOR
from sdd_harness.graph.core.report import build_report, render_markdown
from sdd_harness.graph.core.usage import (
    DEFAULT_UNPRICED_USD_PER_MTOK,
    CallRecord,
    CallRecorder,
    Pricer,
    budget_event,
    budget_warnings,
    cost_text,
    effective_token_budget,
    normalise_model_id,
    same_model,
    spend_problem,
    totals,
    unpriced_roles,
)
from sdd_harness.graph.entry.modelcheck import check_models, render_rows
from sdd_harness.graph.infra.pricing import CallPricer, TokenUsage, genai_provider_id
from tests.fakes.openai_server import ChatRequest, FakeOpenAIServer, Reply

ROOT = Path(__file__).resolve().parents[3]
OPENCODE_GO: dict[str, Any] = yaml.safe_load((CONFIGS_DIR / "opencode-go.yaml").read_text(encoding="utf-8"))
GEMINI = {"ids": {"openrouter": "google/gemini-2.5-pro"}, "price_ref": "google/gemini-2.5-pro"}


def list_price(provider_id: str, model_ref: str) -> Any:
    """genai-prices' own price table for a model (the oracle: the tests never copy numbers from it)."""
    from genai_prices import Usage, calc_price

    return calc_price(Usage(input_tokens=1), model_ref=model_ref, provider_id=provider_id).model_price


def per_token(value: Any, tier: int | None = None) -> float:
    """USD per token from a genai-prices per-Mtok price (``tier``: index into a tiered price's tiers)."""
    if tier is not None:
        value = value.tiers[tier].price
    elif hasattr(value, "base"):
        value = value.base
    return float(Decimal(value)) / 1_000_000


def config(
    phases: dict[str, dict[str, Any]] | None = None, base_url: str = "http://127.0.0.1:9/v1", **top: Any
) -> HarnessConfig:
    """Every role on a per-token local provider with an unknown model, except the ``phases`` given."""
    data: dict[str, Any] = {
        "default_provider": "fake-http",
        "providers": {"fake-http": {"base_url": base_url, "api_key_env": None}, **top.pop("providers", {})},
        "phases": {p: {"model": f"m-{p}", **(phases or {}).get(p, {})} for p in BUILTIN_PHASES},
        "orchestrator": {"model": f"m-{ORCHESTRATOR}", **(phases or {}).get(ORCHESTRATOR, {})},
        **top,
    }
    return parse_config(data)


def record(model: str, input_tokens: int = 0, output_tokens: int = 0, **fields: Any) -> CallRecord:
    return CallRecord(
        phase="sdd-apply", requested_model=model, input_tokens=input_tokens, output_tokens=output_tokens, **fields
    )


# --------------------------------------------------------------------------- every call priced for real


def test_a_model_outside_the_catalogue_is_priced_for_its_provider() -> None:
    """`openai/gpt-5` on OpenRouter (no catalogue entry) used to show "unknown"."""
    pricer = Pricer(config())
    prices = list_price("openrouter", "openai/gpt-5")
    cost = pricer.cost("openai/gpt-5", "openrouter", record("openai/gpt-5", 1000, 500))
    assert cost == pytest.approx(1000 * per_token(prices.input_mtok) + 500 * per_token(prices.output_mtok))
    assert pricer.rates("openai/gpt-5", "openrouter") is not None
    # the same model on OpenAI itself, served under its dated id, and with the org prefix OpenAI does not use
    direct = Pricer(config()).cost("gpt-5", "openai", record("gpt-5", 1000, 500, served_model="gpt-5-2025-08-07"))
    assert direct == pytest.approx(cost)
    assert Pricer(config()).cost("openai/gpt-5", "openai", record("openai/gpt-5", 1000, 500)) == pytest.approx(cost)


def test_a_tiered_price_charges_each_call_by_its_own_size() -> None:
    """Below 200k input tokens the base rate applies; above it, the tier rate applies to every token."""
    cfg = config({"sdd-apply": {"model": "gemini-2.5-pro", "source": "openrouter"}}, models={"gemini-2.5-pro": GEMINI})
    pricer = Pricer(cfg)
    prices = list_price("openrouter", "google/gemini-2.5-pro")
    threshold = prices.input_mtok.tiers[0].start
    small, large = 10_000, threshold + 50_000

    small_cost = pricer.cost("gemini-2.5-pro", "openrouter", record("google/gemini-2.5-pro", small, 1000))
    large_cost = pricer.cost("gemini-2.5-pro", "openrouter", record("google/gemini-2.5-pro", large, 1000))

    assert small_cost == pytest.approx(small * per_token(prices.input_mtok) + 1000 * per_token(prices.output_mtok))
    assert large_cost == pytest.approx(
        large * per_token(prices.input_mtok, tier=0) + 1000 * per_token(prices.output_mtok, tier=0)
    )
    assert per_token(prices.input_mtok, tier=0) > per_token(prices.input_mtok)  # the test means something
    # `sdd models` shows the base tier; budgets use the dearest tier
    rates = pricer.rates("gemini-2.5-pro", "openrouter")
    assert rates is not None and rates[0] == pytest.approx(per_token(prices.input_mtok))
    assert pricer.peak_rate("gemini-2.5-pro", "openrouter") == pytest.approx(per_token(prices.output_mtok, tier=0))


def test_the_real_provider_price_wins_over_the_catalogue_reference() -> None:
    """deepseek-v4-flash on DeepSeek's own API costs DeepSeek's price, not OpenRouter's; cache reads are cheaper."""
    cfg = config({"sdd-apply": {"model": "deepseek-v4-flash", "source": "deepseek"}})
    own, listed = list_price("deepseek", "deepseek-v4-flash"), list_price("openrouter", "deepseek/deepseek-v4-flash")
    assert own.input_mtok != listed.input_mtok  # the providers differ, so the test can tell them apart
    call = record("deepseek-v4-flash", 10_000, 2_000, cached_tokens=8_000)
    cost = Pricer(cfg).cost("deepseek-v4-flash", "deepseek", call)
    assert cost == pytest.approx(
        2_000 * per_token(own.input_mtok) + 8_000 * per_token(own.cache_read_mtok) + 2_000 * per_token(own.output_mtok)
    )


def test_reasoning_counted_apart_is_billed_as_output_at_the_catalogue_price() -> None:
    pricer = Pricer(config())
    prices = list_price("openrouter", "openai/gpt-5")
    inside = record("openai/gpt-5", 100, 1010, reasoning_tokens=1000)  # OpenAI style: reasoning within output
    apart = record("openai/gpt-5", 100, 10, reasoning_tokens=1000)  # counted apart: both billed
    expected = 100 * per_token(prices.input_mtok) + 1010 * per_token(prices.output_mtok)
    assert pricer.cost("openai/gpt-5", "openrouter", inside) == pytest.approx(expected)
    assert pricer.cost("openai/gpt-5", "openrouter", apart) == pytest.approx(expected)


def test_overrides_and_flat_subscriptions_keep_working() -> None:
    cfg = config(
        {"sdd-apply": {"model": "glm-5.1", "source": "openrouter"}},
        prices={"glm-5.1": {"input_per_mtok": 2.0, "output_per_mtok": 8.0, "cached_input_per_mtok": 0.5}},
    )
    call = record("z-ai/glm-5.1", 1000, 100, cached_tokens=400)
    assert Pricer(cfg).cost("glm-5.1", "openrouter", call) == pytest.approx(600 * 2e-6 + 400 * 0.5e-6 + 100 * 8e-6)
    flat = config(prices={"m-sdd-apply": {"flat": True}})
    assert Pricer(flat).cost("m-sdd-apply", "fake-http", record("m-sdd-apply", 10**6, 10**6)) == 0.0
    # OpenCode Go is a subscription: marginal cost 0, unless list prices are asked for (bench cost comparison)
    assert Pricer(config()).cost("kimi-k2.6", "opencode-go", record("kimi-k2.6", 1000, 1000)) == 0.0
    listed = Pricer(config(), flat_providers=False).cost("kimi-k2.6", "opencode-go", record("kimi-k2.6", 1000, 1000))
    assert listed is not None and listed > 0


def test_a_custom_provider_is_recognised_by_its_base_url() -> None:
    assert genai_provider_id("moonshot") == "moonshotai" and genai_provider_id("zai") == "zai"
    assert genai_provider_id("my-groq", "https://api.groq.com/openai/v1") == "groq"
    assert genai_provider_id("opencode-go", "https://opencode.ai/zen/go/v1") is None
    pricer = CallPricer(provider_urls={"my-deepseek": "https://api.deepseek.com/v1"})
    prices = list_price("deepseek", "deepseek-v4-pro")
    cost = pricer.price("deepseek-v4-pro", "my-deepseek", TokenUsage(1000, 0, 0))
    assert cost == pytest.approx(1000 * per_token(prices.input_mtok))


def test_an_unknown_price_is_none_not_zero() -> None:
    pricer = Pricer(config())
    assert pricer.cost("m-sdd-apply", "fake-http", record("m-sdd-apply", 1000, 1000)) is None
    assert pricer.rates("m-sdd-apply", "fake-http") is None and pricer.peak_rate("m-sdd-apply", "fake-http") is None


def test_calls_over_http_are_priced_from_their_real_usage(fake_openai_server: FakeOpenAIServer) -> None:
    """The recorder prices what the provider reported for this call: the served model, its tokens."""
    server = fake_openai_server
    cfg = config(
        {"sdd-apply": {"model": "openai/gpt-5", "source": "openrouter"}},
        providers={"openrouter": {"base_url": server.base_url, "api_key_env": None}},
    )
    server.script("openai/gpt-5", [Reply(content="ok", prompt_tokens=3000, completion_tokens=200, cached_tokens=1000)])
    registry = ModelRegistry(cfg, env={})
    recorder = CallRecorder("sdd-apply", Pricer(cfg), registry.lookup)
    registry.chat_model("sdd-apply").invoke([HumanMessage("hi")], config={"callbacks": [recorder]})
    prices = list_price("openrouter", "openai/gpt-5")
    (call,) = recorder.records
    assert call.provider == "openrouter" and call.cached_tokens == 1000
    assert call.cost_usd == pytest.approx(
        2000 * per_token(prices.input_mtok)
        + 1000 * per_token(prices.cache_read_mtok)
        + 200 * per_token(prices.output_mtok)
    )


# --------------------------------------------------------------------------- unknown prices in run totals


def test_run_totals_count_unpriced_calls_apart_and_never_as_zero(tmp_path: Path) -> None:
    calls = [
        record("m-sdd-apply", 100, 10, cost_usd=None).model_dump(),
        record("m-sdd-apply", 100, 10, cost_usd=None).model_dump(),
        {**record("priced", 100, 10, cost_usd=0.0125).model_dump(), "phase": "sdd-spec"},
    ]
    spent = totals(calls)
    assert spent["cost_usd"] == 0.0125 and spent["unpriced_calls"] == 2
    assert cost_text(spent) == "≥ $0.0125 + 2 unpriced calls"
    assert cost_text(totals(calls[2:])) == "$0.0125"

    report = build_report({"change_id": "c", "status": "done", "status_reason": "ok", "calls": calls})
    assert report["totals"]["cost"] == "≥ $0.0125 + 2 unpriced calls"
    assert report["totals"]["unpriced_calls"] == 2
    rows = {r["phase"]: r for r in report["phases"]}
    assert rows["sdd-apply"]["unpriced_calls"] == 2 and rows["sdd-apply"]["cost"] == "≥ $0.0000 + 2 unpriced calls"
    markdown = render_markdown(report)
    assert "Cost: ≥ $0.0125 + 2 unpriced calls" in markdown
    apply_line = next(line for line in markdown.splitlines() if line.startswith("| sdd-apply"))
    assert "≥ 0.0000 + 2 unpriced calls" in apply_line and "| 0.0000 |" not in apply_line
    assert "| **total** |" in markdown and "≥ 0.0125 + 2 unpriced calls" in markdown


# --------------------------------------------------------------------------- budgets with unknown prices


def opencode_go(**run: Any) -> HarnessConfig:
    """The bundled opencode-go map (flat + OpenRouter-priced), with sdd-apply on a model nobody prices."""
    data = {**OPENCODE_GO, "run": run, "phases": dict(OPENCODE_GO["phases"])}
    data["phases"]["sdd-apply"] = {"model": "acme/unlisted-coder", "source": "openrouter"}
    return parse_config(data)


def test_unpriced_roles_are_named_with_their_provider_and_fallbacks() -> None:
    assert unpriced_roles(parse_config(OPENCODE_GO)) == []  # the bundled map prices everything
    cfg = opencode_go(budget_usd=2.0)
    cfg.phases["sdd-verify"] = cfg.phases["sdd-verify"].model_copy(
        update={"fallback": ["openrouter:acme/spare", "glm-5.1"]}
    )
    assert unpriced_roles(cfg) == [
        "sdd-apply: acme/unlisted-coder on openrouter",
        "sdd-verify (fallback): acme/spare on openrouter",
    ]


def test_a_dollar_budget_becomes_a_token_budget_at_the_dearest_known_rate() -> None:
    cfg = opencode_go(budget_usd=2.0)
    # the dearest priced model of this map: Claude Sonnet 4.6 output (the orchestrator, on OpenRouter)
    dearest = per_token(list_price("openrouter", "anthropic/claude-sonnet-4.6").output_mtok)
    assert effective_token_budget(cfg) == int(2.0 / dearest)

    lines = budget_warnings(cfg)
    assert "budget $2.00" in lines[0] and "  sdd-apply: acme/unlisted-coder on openrouter" in lines
    assert f"{int(2.0 / dearest):,} tokens" in lines[-1] and "claude-sonnet-4.6" in lines[-1]
    event = budget_event(cfg)
    assert event is not None and event["event"] == "budget_warning"
    assert event["token_budget"] == int(2.0 / dearest) and event["lines"] == lines


def test_the_runs_own_token_budget_wins_and_no_warning_without_cause() -> None:
    cfg = opencode_go(budget_usd=2.0, token_budget=50_000)
    assert effective_token_budget(cfg) == 50_000
    assert "50,000 tokens" in budget_warnings(cfg)[-1]
    # run settings overridden for this run (CLI / API) are the ones that count
    assert effective_token_budget(cfg, RunSettings(budget_usd=2.0, token_budget=7)) == 7
    assert effective_token_budget(cfg, RunSettings()) is None
    # no dollar budget, or every model priced: nothing to say, no token bound added
    assert effective_token_budget(opencode_go()) is None and budget_warnings(opencode_go()) == []
    priced = parse_config({**OPENCODE_GO, "run": {"budget_usd": 2.0}})
    assert effective_token_budget(priced) is None and budget_event(priced) is None


def test_with_nothing_priced_the_documented_default_rate_applies() -> None:
    cfg = config(run={"budget_usd": 3.0})
    assert len(unpriced_roles(cfg)) == len(BUILTIN_PHASES) + 1
    assert effective_token_budget(cfg) == int(3.0 / (DEFAULT_UNPRICED_USD_PER_MTOK / 1e6))
    assert "default rate" in budget_warnings(cfg)[-1]


def test_spend_problem_stops_on_tokens_when_dollars_cannot_see_the_cost() -> None:
    settings = RunSettings(budget_usd=2.0)
    unpriced = [record("m-sdd-apply", 60_000, 5_000, cost_usd=None).model_dump()]
    assert spend_problem(unpriced, settings, token_budget=None) is None  # $0 known: dollars alone never stop it
    problem = spend_problem(unpriced, settings, token_budget=64_999)
    assert problem is not None and "65000 tokens exceed the token budget 64999" in problem
    assert spend_problem(unpriced, settings, token_budget=65_000) is None
    priced = [*unpriced, record("priced", 10, 10, cost_usd=2.5).model_dump()]
    over = spend_problem(priced, settings, token_budget=10**9)
    assert over is not None and "≥ $2.5000 + 1 unpriced call" in over and "budget $2.0000" in over


# --------------------------------------------------------------------------- verified routing

NEAR_MISSES = [
    ("gpt-4o", "gpt-4o-mini"),
    ("gpt-4o", "gpt-4"),
    ("openai/gpt-4o", "openai/gpt-4o-mini-2024-07-18"),
    ("fake-apply", "fake"),
    ("deepseek-v4-flash", "deepseek-v4-flash-distilled-1b"),
    ("deepseek/deepseek-v4-flash", "deepseek/deepseek-v4-flash-distilled-1b"),
    ("claude-sonnet-4.6", "claude-sonnet-4.5"),
    ("qwen2.5-coder:7b", "qwen2.5-coder:1.5b"),
    ("m-sdd-explore", "other-vendor/impostor-model"),
    ("kimi-k2.6", "kimi-k2"),
]
DECORATIONS = [
    ("gpt-4o", "gpt-4o-2024-08-06"),
    ("gpt-4o", "GPT-4o"),
    ("claude-3-5-sonnet", "claude-3-5-sonnet-20241022"),
    ("gpt-3.5-turbo", "gpt-3.5-turbo-0125"),
    ("qwen3-235b-a22b", "qwen3-235b-a22b-2507"),
    ("gemini-2.0-flash", "models/gemini-2.0-flash-001"),
    ("deepseek-v4-flash", "deepseek/deepseek-v4-flash"),
    ("deepseek/deepseek-v4-flash", "deepseek/deepseek-v4-flash-20260423"),
    ("glm-5.1", "GLM-5.1"),
    ("qwen/qwen3-coder", "qwen/qwen3-coder:free"),
    ("openai/gpt-4o", "openai/gpt-4o@preset/fast"),
    ("claude-3-5-sonnet", "claude-3-5-sonnet@20240620"),
    ("llama3.1", "llama3.1:latest"),
    ("gpt-4o", "gpt-4o-latest"),
    # documented aliases in the built-in catalogue (OpenRouter's canonical slugs, Anthropic's id)
    ("anthropic/claude-sonnet-4.6", "anthropic/claude-4.6-sonnet-20260217"),
    ("anthropic/claude-sonnet-4.6", "claude-sonnet-4-6"),
    ("qwen/qwen3-coder", "qwen/qwen3-coder-480b-a35b-07-25"),
]


@pytest.mark.parametrize("requested, served", NEAR_MISSES)
def test_a_near_miss_is_a_routing_mismatch(requested: str, served: str) -> None:
    assert not same_model(requested, served)
    assert not same_model(served, requested)


@pytest.mark.parametrize("requested, served", DECORATIONS)
def test_provider_decorations_are_the_same_model(requested: str, served: str) -> None:
    assert same_model(requested, served)


def test_normalising_keeps_what_names_the_model() -> None:
    assert normalise_model_id("OpenAI/GPT-4o-2024-08-06:free") == "gpt-4o"
    assert normalise_model_id("qwen2.5-coder:1.5b") == "qwen2.5-coder:1.5b"  # a size tag is not decoration
    assert normalise_model_id("deepseek-v3") == "deepseek-v3"  # nor is a model version


def test_the_recorder_flags_near_misses_and_honours_config_aliases(fake_openai_server: FakeOpenAIServer) -> None:
    server = fake_openai_server
    cfg = config(
        {"sdd-apply": {"model": "coder"}},
        base_url=server.base_url,
        models={"coder": {"ids": {"fake-http": "acme/coder-2"}, "aliases": ["acme-coder-2-instruct"]}},
    )
    served = ["acme/coder-2-20250101", "acme-coder-2-instruct", "acme/coder-2-mini", "acme/coder-1"]
    server.script("acme/coder-2", [Reply(content="ok", served_model=s) for s in served])
    registry = ModelRegistry(cfg, env={})
    recorder = CallRecorder("sdd-apply", Pricer(cfg), registry.lookup)
    for _ in served:
        registry.chat_model("sdd-apply").invoke([HumanMessage("hi")], config={"callbacks": [recorder]})
    assert [(r.served_model, r.routing_mismatch) for r in recorder.records] == [
        ("acme/coder-2-20250101", False),
        ("acme-coder-2-instruct", False),
        ("acme/coder-2-mini", True),
        ("acme/coder-1", True),
    ]
    report = build_report({"calls": [r.model_dump() for r in recorder.records]})
    assert report["phases"][0]["routing_mismatch"] is True


def test_model_check_flags_a_smaller_sibling_but_not_a_dated_id(fake_openai_server: FakeOpenAIServer) -> None:
    server = fake_openai_server
    answers = {"m-sdd-apply": "m-sdd-apply-mini", "m-sdd-spec": "m-sdd-spec-2025-01-31", "m-sdd-init": "m"}

    def responder(req: ChatRequest) -> Reply:
        return Reply(content="OK", served_model=answers.get(req.model, req.model))

    server.responder = responder
    checks = {c.role: c for c in check_models(config(base_url=server.base_url), env={})}
    assert sorted(role for role, c in checks.items() if c.routing_mismatch) == ["sdd-apply", "sdd-init"]
    rows = {row[0]: row for row in render_rows(list(checks.values()))}
    assert "⚠ mismatch" in rows["sdd-apply"][3] and "mismatch" not in rows["sdd-spec"][3]
    assert rows["sdd-apply"][6] == "?"  # unknown price shown as unknown, not $0


def test_sdd_models_prices_a_model_outside_the_catalogue(tmp_path: Path) -> None:
    data = {**OPENCODE_GO, "phases": {**OPENCODE_GO["phases"], "sdd-apply": {"model": "openai/gpt-5"}}}
    data["phases"]["sdd-apply"]["source"] = "openrouter"
    path = tmp_path / "gpt5.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "sdd_harness.graph.entry.cli", "models", "--config", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    row = next(r for r in json.loads(out.stdout)["roles"] if r["role"] == "sdd-apply")
    prices = list_price("openrouter", "openai/gpt-5")
    assert (row["input_per_mtok"], row["output_per_mtok"]) == (float(prices.input_mtok), float(prices.output_mtok))
