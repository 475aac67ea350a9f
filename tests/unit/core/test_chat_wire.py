"""The chat model on the wire: a 200 that is not a chat completion is a provider fault (retried by
``RunnableRetry``, then failed over), keys echoed by a provider never survive in an error — sync, async,
streamed or not — and the private ChatOpenAI methods reasoning relies on are checked, not assumed."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from sdd_harness.graph.core import models
from sdd_harness.graph.core.config import parse_config
from sdd_harness.graph.core.models import MalformedResponseError, ModelRegistry, missing_hooks
from sdd_harness.graph.core.phases import BUILTIN_PHASES, ORCHESTRATOR
from sdd_harness.graph.infra.chat_http import completion_problem
from tests.fakes.openai_server import FakeOpenAIServer, Fault, Reply

KEY_VAR = "SDD_WIRE_TEST_KEY"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    import openai._base_client as base

    monkeypatch.setattr(base, "INITIAL_RETRY_DELAY", 0.01)
    monkeypatch.setattr(base, "MAX_RETRY_DELAY", 0.02)
    monkeypatch.setattr(models, "BODY_RETRY_WAIT", {"max": 0.01, "jitter": 0.0})


def registry(base_url: str, key: str | None = None, **spec: Any) -> ModelRegistry:
    data = {
        "default_provider": "p",
        "providers": {"p": {"base_url": base_url, "api_key_env": KEY_VAR if key else None}},
        "phases": {p: {"model": f"m-{p}"} for p in BUILTIN_PHASES} | {"sdd-spec": {"model": "m-sdd-spec", **spec}},
        "orchestrator": {"model": f"m-{ORCHESTRATOR}"},
    }
    return ModelRegistry(parse_config(data), env={KEY_VAR: key} if key else {})


@pytest.mark.parametrize(
    "body, problem",
    [
        ({"error": {"message": "upstream overloaded", "code": 502}}, "not a chat completion: error"),
        ({"id": "c", "choices": []}, "the chat completion had no choices"),
        ({"id": "c", "object": "list", "data": []}, "no 'choices'"),
        ({"id": "c", "choices": [{"index": 0, "finish_reason": "stop"}]}, "a choice without a message"),
    ],
)
def test_a_200_that_is_not_a_chat_completion_raises_malformed_once_per_attempt(
    fake_openai_server: FakeOpenAIServer, body: dict[str, Any], problem: str
) -> None:
    fake_openai_server.inject(Fault(status=200, body=body))
    with pytest.raises(MalformedResponseError, match=rf"^m-sdd-spec: .*{re.escape(problem)}"):
        registry(fake_openai_server.base_url).chat_model("sdd-spec").invoke([HumanMessage("hi")])
    assert fake_openai_server.count() == 1  # the SDK passes it through unretried; RunnableRetry owns body faults


def test_malformed_bodies_are_retried_then_failed_over(fake_openai_server: FakeOpenAIServer) -> None:
    server = fake_openai_server
    server.inject(Fault(status=200, body={"choices": []}), model="m-sdd-spec", times=100)
    server.script("m-backup", [Reply(content="from the fallback")])
    reg = registry(server.base_url, fallback=["m-backup"])
    assert reg.runnable("sdd-spec").invoke([HumanMessage("hi")]).content == "from the fallback"
    assert server.count("m-sdd-spec") == models.BODY_RETRY_ATTEMPTS and server.count("m-backup") == 1


def test_async_and_streamed_calls_check_bodies_too(fake_openai_server: FakeOpenAIServer) -> None:
    fake_openai_server.inject(Fault(status=200, body={"error": "gateway timeout"}), times=2)
    model = registry(fake_openai_server.base_url).chat_model("sdd-spec")
    with pytest.raises(MalformedResponseError, match="gateway timeout"):
        asyncio.run(model.ainvoke([HumanMessage("hi")]))
    with pytest.raises(MalformedResponseError):  # a JSON error body to a streamed request is not a stream either
        list(model.stream([HumanMessage("hi")]))
    assert model.invoke([HumanMessage("hi")]).content == "OK"  # healthy again: the server's default reply


def _chain(err: BaseException) -> str:
    texts, current = [], err
    while current is not None:
        texts += [str(current), repr(getattr(current, "body", None)), str(getattr(current, "message", ""))]
        current = current.__cause__ or current.__context__
    return "\n".join(texts)


@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "stream", "astream"])
def test_a_key_the_provider_echoes_is_scrubbed_from_the_error(fake_openai_server: FakeOpenAIServer, mode: str) -> None:
    key = f"plain{uuid.uuid4().hex}"  # not key-shaped: only scrubbing by value can hide it
    fake_openai_server.inject(Fault.http(401, f"Incorrect API key provided: {key}"))
    model = registry(fake_openai_server.base_url, key=key).chat_model("sdd-spec")
    messages = [HumanMessage("hi")]

    async def consume_astream() -> None:
        async for _ in model.astream(messages):
            pass

    calls = {
        "invoke": lambda: model.invoke(messages),
        "ainvoke": lambda: asyncio.run(model.ainvoke(messages)),
        "stream": lambda: list(model.stream(messages)),
        "astream": lambda: asyncio.run(consume_astream()),
    }
    with pytest.raises(Exception, match="Incorrect API key provided") as caught:
        calls[mode]()
    assert fake_openai_server.last.authorization == f"Bearer {key}"  # the key really was sent
    assert key not in _chain(caught.value)


def test_completion_problem_reads_the_raw_body() -> None:
    ok = b'{"id": "c", "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}}]}'
    assert completion_problem("application/json", ok) is None
    assert completion_problem("application/json; charset=utf-8", b'{"choices": [') is None  # the SDK's JSONDecodeError
    html = completion_problem("text/html", b"<html><body>502 Bad Gateway</body></html>")
    assert html is not None and "text/html body: <html><body>502 Bad Gateway" in html
    assert completion_problem("application/json", b"[1, 2]") == "not a chat completion: a JSON list"


def test_the_private_chat_openai_methods_reasoning_needs_are_checked() -> None:
    from langchain_openai import ChatOpenAI

    assert missing_hooks(ChatOpenAI) == []
    partial = type("Partial", (), {"_create_chat_result": lambda self: None})
    assert missing_hooks(partial) == ["_convert_chunk_to_generation_chunk", "_get_request_payload"]
