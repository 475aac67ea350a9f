"""Reasoning per provider: the switch each API documents reaches the HTTP body, the reasoning text the server
returns is kept in the call record and the run report (ChatOpenAI alone drops it), it is sent back on a
re-ask where the provider wants it, and reasoning tokens are priced."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from pydantic import BaseModel

from sdd_harness.graph.core.config import parse_config
from sdd_harness.graph.core.llm import ask_structured
from sdd_harness.graph.core.models import ModelRegistry, chat_openai_class
from sdd_harness.graph.core.phases import BUILTIN_PHASES, ORCHESTRATOR, VERIFY
from sdd_harness.graph.core.usage import CallRecord, CallRecorder, Pricer
from sdd_harness.graph.entry.api import run_change
from sdd_harness.graph.infra.providers import BUILTIN_PROVIDERS
from tests.fakes.openai_server import ChatRequest, FakeOpenAIServer, Reply
from tests.fakes.scripted import DemoScript, role_of

REASONING_KEYS = ("reasoning_effort", "thinking", "reasoning", "chat_template_kwargs")


def config_for(base_url: str, style: str = "deepseek", provider: dict[str, Any] | None = None, **binding: Any):
    data = {
        "default_provider": "p",
        "providers": {"p": {"base_url": base_url, "api_key_env": None, "reasoning_style": style, **(provider or {})}},
        "phases": {p: {"model": f"m-{p}", **binding} for p in BUILTIN_PHASES},
        "orchestrator": {"model": f"m-{ORCHESTRATOR}"},
    }
    return parse_config(data)


# --------------------------------------------------------------------------- switches on the wire


@pytest.mark.parametrize(
    "style, binding, expected",
    [
        ("openai", {"reasoning": "high"}, {"reasoning_effort": "high"}),
        ("openai", {"mode": "thinking"}, {"reasoning_effort": "medium"}),
        ("openai", {"reasoning": "none"}, {}),
        ("openrouter", {"reasoning": "low"}, {"reasoning": {"effort": "low", "exclude": False}}),
        ("openrouter", {"reasoning": "none"}, {"reasoning": {"enabled": False}}),
        ("deepseek", {"reasoning": "high"}, {"thinking": {"type": "enabled"}, "reasoning_effort": "high"}),
        ("deepseek", {"mode": "thinking"}, {"thinking": {"type": "enabled"}}),
        ("deepseek", {"reasoning": "none"}, {"thinking": {"type": "disabled"}}),
        ("kimi", {"mode": "thinking"}, {"thinking": {"type": "enabled"}}),
        ("kimi", {"mode": "fast"}, {"thinking": {"type": "disabled"}}),
        ("zai", {"reasoning": "medium"}, {"thinking": {"type": "enabled"}}),
        ("zai", {"reasoning": "none"}, {"thinking": {"type": "disabled"}}),
        ("ollama", {"reasoning": "none"}, {"reasoning_effort": "none"}),
        ("ollama", {"mode": "thinking"}, {"reasoning_effort": "medium"}),
        ("chat_template", {"reasoning": "none"}, {"chat_template_kwargs": {"enable_thinking": False}}),
        ("chat_template", {"reasoning": "high"}, {"chat_template_kwargs": {"enable_thinking": True}}),
        ("none", {"reasoning": "high", "mode": "thinking"}, {}),
        ("deepseek", {}, {}),  # nothing configured -> the provider's default, nothing sent
    ],
)
def test_reasoning_switch_reaches_the_http_body(
    fake_openai_server: FakeOpenAIServer, style: str, binding: dict[str, Any], expected: dict[str, Any]
) -> None:
    registry = ModelRegistry(config_for(fake_openai_server.base_url, style, **binding), env={})
    registry.chat_model("sdd-spec").invoke([HumanMessage("hi")])
    body = fake_openai_server.last.body
    assert {k: body[k] for k in REASONING_KEYS if k in body} == expected


def test_builtin_presets_speak_their_providers_dialect() -> None:
    styles = {name: p.reasoning_style for name, p in BUILTIN_PROVIDERS.items()}
    assert styles == {
        "opencode-go": "openai",
        "openrouter": "openrouter",
        "deepseek": "deepseek",
        "moonshot": "kimi",
        "zai": "zai",
        "openai": "openai",
        "ollama": "ollama",
        "vllm": "chat_template",
        "llama.cpp": "chat_template",
        "embedded": "none",
    }
    echo = {name: p.echo_field() for name, p in BUILTIN_PROVIDERS.items() if p.echo_field()}
    assert echo == {
        "deepseek": "reasoning_content",
        "moonshot": "reasoning_content",
        "zai": "reasoning_content",
        "openrouter": "reasoning_details",
    }


# --------------------------------------------------------------------------- reasoning text kept


def test_reasoning_content_is_kept_on_the_message_and_in_the_record(fake_openai_server: FakeOpenAIServer) -> None:
    server = fake_openai_server
    server.script("*", [Reply(content="42", reasoning="six times seven", reasoning_tokens=30, completion_tokens=31)])
    registry = ModelRegistry(config_for(server.base_url), env={})
    recorder = CallRecorder("sdd-spec", None, registry.lookup)
    reply = registry.chat_model("sdd-spec").invoke([HumanMessage("6*7?")], config={"callbacks": [recorder]})
    assert reply.additional_kwargs["reasoning_content"] == "six times seven"
    (record,) = recorder.records
    assert record.reasoning == "six times seven"
    assert record.reasoning_tokens == 30 and record.output_tokens == 31


def test_reasoning_is_read_from_the_openrouter_ollama_vllm_field_too() -> None:
    """OpenRouter, Ollama and vLLM >= 0.10 call it ``reasoning``; OpenRouter adds ``reasoning_details``."""
    model = chat_openai_class()(model="x", base_url="http://127.0.0.1:9/v1", api_key="k")
    details = [{"type": "reasoning.text", "text": "thought", "format": "unknown", "index": 0}]
    response = {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": "x",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "ok", "reasoning": "thought", "reasoning_details": details},
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }
    message = model._create_chat_result(response).generations[0].message
    assert message.additional_kwargs["reasoning_content"] == "thought"
    assert message.additional_kwargs["reasoning_details"] == details


def test_streamed_reasoning_deltas_are_joined(fake_openai_server: FakeOpenAIServer) -> None:
    thought = "first I read the request, then I check the spec, then I answer"
    fake_openai_server.script("*", [Reply(content="done", reasoning=thought)])
    model = ModelRegistry(config_for(fake_openai_server.base_url), env={}).chat_model("sdd-spec")
    model.streaming = True
    reply = model.invoke([HumanMessage("go")])
    assert fake_openai_server.last.stream
    assert reply.content == "done" and reply.additional_kwargs["reasoning_content"] == thought


def test_reasoning_text_lands_in_the_run_report(
    tmp_path: Path, demo_repo: Path, slugify_request: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    script = DemoScript()
    with FakeOpenAIServer() as server:

        def responder(req: ChatRequest) -> Reply:
            phase = role_of(req.model)
            answer = script.reply(phase, req.last_user_text)
            return Reply(content=answer, reasoning=f"reasoning of {phase}", reasoning_tokens=40)

        server.responder = responder
        data = config_for(server.base_url, "deepseek", reasoning="high").model_dump(mode="json")
        data["providers"] = {"p": data["providers"]["p"]}
        path = tmp_path / "thinking.yaml"
        path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
        result = run_change(slugify_request, demo_repo, path, auto_approve=True)
        assert all(r.body["thinking"] == {"type": "enabled"} for r in server.requests)
    assert result.status == "done", result.reason
    calls = result.report["calls"]
    assert calls and all(c["reasoning"] == f"reasoning of {c['phase']}" for c in calls)
    assert all(c["reasoning_tokens"] == 40 for c in calls)
    assert result.report["totals"]["reasoning_tokens"] == 40 * len(calls)
    assert result.report_path is not None
    stored = json.loads((result.report_path.parent / "run.json").read_text(encoding="utf-8"))
    assert {c["reasoning"] for c in stored["calls"]} == {
        f"reasoning of {p}" for p in BUILTIN_PHASES if p != VERIFY
    }  # verify asks no model here
    assert all(row["reasoning_tokens"] == 40 * row["calls"] for row in stored["phases"] if row["calls"])


# --------------------------------------------------------------------------- reasoning sent back


class Answer(BaseModel):
    answer: int


def _reask(server: FakeOpenAIServer, style: str, provider: dict[str, Any] | None = None) -> dict[str, Any]:
    server.reset()
    server.script("*", [Reply(content="forty-two", reasoning="I think it is 42"), Reply(content='{"answer": 42}')])
    registry = ModelRegistry(config_for(server.base_url, style, provider, mode="thinking"), env={})
    got = asyncio.run(ask_structured(registry.runnable("sdd-spec"), Answer, [HumanMessage("answer?")]))
    assert got.answer == 42 and server.count() == 2
    return next(m for m in server.last.messages if m["role"] == "assistant")


@pytest.mark.parametrize("style", ["deepseek", "kimi", "zai"])
def test_reask_sends_the_reasoning_back_to_thinking_providers(fake_openai_server: FakeOpenAIServer, style: str) -> None:
    assistant = _reask(fake_openai_server, style)
    assert assistant["content"] == "forty-two" and assistant["reasoning_content"] == "I think it is 42"


def test_reask_keeps_reasoning_off_the_wire_elsewhere(fake_openai_server: FakeOpenAIServer) -> None:
    assert "reasoning_content" not in _reask(fake_openai_server, "openai")
    assert "reasoning_content" not in _reask(fake_openai_server, "deepseek", {"reasoning_echo": "none"})
    assert _reask(fake_openai_server, "openai", {"reasoning_echo": "reasoning_content"})["reasoning_content"]


def test_openrouter_gets_reasoning_details_back() -> None:
    model = chat_openai_class()(
        model="x", base_url="http://127.0.0.1:9/v1", api_key="k", reasoning_echo="reasoning_details"
    )
    details = [{"type": "reasoning.encrypted", "data": "opaque"}]
    turn = AIMessage(content="{}", additional_kwargs={"reasoning_content": "t", "reasoning_details": details})
    payload = model._get_request_payload([HumanMessage("q"), turn, HumanMessage("again")])
    assistant = payload["messages"][1]
    assert assistant["reasoning_details"] == details and "reasoning_content" not in assistant


# --------------------------------------------------------------------------- reasoning tokens priced


def test_reasoning_tokens_are_priced_as_output() -> None:
    config = config_for("http://127.0.0.1:9/v1")
    config = config.model_copy(update={"prices": {"m": parse_price(input=1.0, output=10.0)}})
    pricer = Pricer(config)
    inside = CallRecord(phase="p", requested_model="m", input_tokens=100, output_tokens=1010, reasoning_tokens=1000)
    assert pricer.cost("m", "p", inside) == pytest.approx(100 * 1e-6 + 1010 * 1e-5)
    # a provider that counts reasoning apart from completion tokens: both are billed
    apart = CallRecord(phase="p", requested_model="m", input_tokens=100, output_tokens=10, reasoning_tokens=1000)
    assert pricer.cost("m", "p", apart) == pytest.approx(100 * 1e-6 + 1010 * 1e-5)


def parse_price(input: float, output: float) -> Any:
    from sdd_harness.graph.core.config import PriceOverride

    return PriceOverride(input_per_mtok=input, output_per_mtok=output)


def test_reasoning_tokens_over_http_are_priced_from_the_catalogue(fake_openai_server: FakeOpenAIServer) -> None:
    """deepseek-v4-pro has genai-prices rates; a thinking reply's reasoning tokens cost output rate."""
    server = fake_openai_server
    config = config_for(server.base_url, "deepseek")
    config.phases["sdd-spec"] = config.phases["sdd-spec"].model_copy(update={"model": "deepseek-v4-pro"})
    registry = ModelRegistry(config, env={})
    pricer = Pricer(config)
    rates = pricer.rates("deepseek-v4-pro", "p")
    assert rates is not None and rates[2] > 0
    thinking = Reply(content="ok", reasoning="...", prompt_tokens=1000, reasoning_tokens=5000, completion_tokens=5010)
    plain = Reply(content="ok", prompt_tokens=1000, reasoning_tokens=0, completion_tokens=10)
    server.script("deepseek-v4-pro", [thinking, plain])
    costs = []
    for _ in range(2):
        recorder = CallRecorder("sdd-spec", pricer, registry.lookup)
        registry.chat_model("sdd-spec").invoke([HumanMessage("hi")], config={"callbacks": [recorder]})
        costs.append(recorder.records[0].cost_usd)
    assert costs[0] == pytest.approx(1000 * rates[0] + 5010 * rates[2])
    assert costs[0] - costs[1] == pytest.approx(5000 * rates[2])
