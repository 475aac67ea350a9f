"""Tests for tests/fakes/openai_server.py, driven through langchain-openai and the openai SDK."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field, ValidationError

from tests.fakes.openai_server import (
    ChatRequest,
    FakeOpenAIServer,
    Fault,
    Reply,
    default_responder,
    minimal_instance,
)

SECRET = "sk-test-SECRET-do-not-leak-1234"


@pytest.fixture
def server():
    # same as the module's `fake_openai_server` fixture (register it in a conftest with
    # pytest_plugins = ["tests.fakes.openai_server"]); defined here to avoid a double import warning
    with FakeOpenAIServer() as s:
        yield s


def llm(server: FakeOpenAIServer, model: str = "m", **kw) -> ChatOpenAI:
    kw.setdefault("max_retries", 0)
    return ChatOpenAI(base_url=server.base_url, api_key=kw.pop("api_key", "test"), model=model, **kw)


def collect(stream) -> object:
    acc = None
    for chunk in stream:
        acc = chunk if acc is None else acc + chunk
    return acc


class Step(BaseModel):
    name: str
    kind: Literal["read", "write"]
    files: list[str] = Field(min_length=2)


class Plan(BaseModel):
    title: str
    steps: list[Step]
    estimate: int = Field(ge=3)
    note: str | None = None
    done: bool


# --------------------------------------------------------------------------- happy paths


def test_base_url_and_context_manager() -> None:
    with FakeOpenAIServer() as s:
        assert s.base_url.startswith("http://127.0.0.1:") and s.base_url.endswith("/v1")
        assert s.port != 2024
        assert llm(s).invoke("hi").content == "OK"
    s.close()  # idempotent
    with pytest.raises(RuntimeError):
        _ = s.base_url


def test_plain_invoke_content_usage_and_model(server: FakeOpenAIServer) -> None:
    server.script("m", [Reply(content="hello there", prompt_tokens=11, completion_tokens=7, cached_tokens=3)])
    msg = llm(server).invoke("hi")
    assert msg.content == "hello there"
    assert msg.usage_metadata["input_tokens"] == 11
    assert msg.usage_metadata["output_tokens"] == 7
    assert msg.usage_metadata["total_tokens"] == 18
    assert msg.usage_metadata["input_token_details"]["cache_read"] == 3
    assert msg.response_metadata["model_name"] == "m"
    assert msg.response_metadata["finish_reason"] == "stop"


def test_estimated_usage_and_reasoning_tokens(server: FakeOpenAIServer) -> None:
    server.script("m", [Reply(content="x" * 40, reasoning="y" * 20)])
    msg = llm(server).invoke("z" * 400)
    assert msg.usage_metadata["input_tokens"] >= 100
    assert msg.usage_metadata["output_token_details"]["reasoning"] == 5
    assert msg.usage_metadata["output_tokens"] == 10 + 5


def test_served_model_mismatch_visible(server: FakeOpenAIServer) -> None:
    server.script("m", [Reply(content="hi", served_model="cheaper-model")])
    msg = llm(server).invoke("hi")
    assert msg.response_metadata["model_name"] == "cheaper-model"
    assert server.last.model == "m"


def test_streaming_with_usage(server: FakeOpenAIServer) -> None:
    server.script("m", [Reply(content="streamed answer in several chunks", served_model="s")])
    chunks = list(llm(server, stream_usage=True).stream("hi"))
    assert len(chunks) > 3
    msg = collect(chunks)
    assert msg.content == "streamed answer in several chunks"
    assert msg.usage_metadata is not None and msg.usage_metadata["output_tokens"] > 0
    assert msg.response_metadata["finish_reason"] == "stop"
    assert msg.response_metadata["model_name"] == "s"
    assert server.last.stream and server.last.include_usage


def test_streaming_without_usage_has_no_usage_chunk(server: FakeOpenAIServer) -> None:
    msg = collect(llm(server, stream_usage=False).stream("hi"))
    assert msg.content == "OK"
    assert not msg.usage_metadata
    assert not server.last.include_usage


def test_tool_calls_invoke_and_stream(server: FakeOpenAIServer) -> None:
    call = {"name": "write_file", "arguments": {"path": "a.py", "text": "print(1)\n" * 5}}
    server.script("m", [Reply(tool_calls=[call]), Reply(tool_calls=[call])])
    tool = {"type": "function", "function": {"name": "write_file", "parameters": {"type": "object"}}}
    model = llm(server).bind_tools([tool])
    msg = model.invoke("go")
    assert msg.tool_calls[0]["name"] == "write_file"
    assert msg.tool_calls[0]["args"] == call["arguments"]
    assert msg.response_metadata["finish_reason"] == "tool_calls"
    streamed = collect(model.stream("go"))
    assert streamed.tool_calls[0]["args"] == call["arguments"]


def test_async_invoke_and_stream(server: FakeOpenAIServer) -> None:
    server.script("m", ["async one", "async two"])

    async def go() -> tuple[str, str]:
        model = llm(server, stream_usage=True)
        first = await model.ainvoke("x")
        acc = None
        async for chunk in model.astream("x"):
            acc = chunk if acc is None else acc + chunk
        return first.content, acc.content

    assert asyncio.run(go()) == ("async one", "async two")


def test_reasoning_content_raw_sdk(server: FakeOpenAIServer) -> None:
    server.script("m", [Reply(content="a", reasoning="because"), Reply(content="b", reasoning="since")])
    client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert r.choices[0].message.model_extra["reasoning_content"] == "because"
    assert r.usage.completion_tokens_details.reasoning_tokens == 2
    stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], stream=True)
    parts = [getattr(c.choices[0].delta, "reasoning_content", None) for c in stream if c.choices]
    assert "".join(p for p in parts if p) == "since"


def test_models_endpoint(server: FakeOpenAIServer) -> None:
    server.script("planner", ["x"])
    client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    ids = [m.id for m in client.models.list().data]
    assert "fake-model" in ids and "planner" in ids


# --------------------------------------------------------------------------- default responder


def test_structured_output_json_schema_zero_scripting(server: FakeOpenAIServer) -> None:
    plan = llm(server).with_structured_output(Plan, method="json_schema").invoke("plan it")
    assert isinstance(plan, Plan)
    assert plan.estimate >= 3 and len(plan.steps[0].files) == 2 and plan.steps[0].kind == "read"
    assert server.last.json_schema is not None


def test_bind_response_format(server: FakeOpenAIServer) -> None:
    msg = llm(server).bind(response_format=Plan).invoke("plan it")
    Plan.model_validate_json(msg.content)


def test_structured_output_function_calling_forced_tool(server: FakeOpenAIServer) -> None:
    plan = llm(server).with_structured_output(Plan, method="function_calling").invoke("plan it")
    assert isinstance(plan, Plan)


def test_json_object_mode(server: FakeOpenAIServer) -> None:
    msg = llm(server).bind(response_format={"type": "json_object"}).invoke("json please")
    assert json.loads(msg.content) == {}


def test_minimal_instance_schema_features() -> None:
    schema = {
        "$defs": {
            "Leaf": {"type": "object", "properties": {"v": {"const": 7}}, "required": ["v"]},
            "Color": {"enum": ["red", "green"]},
        },
        "type": "object",
        "properties": {
            "leaf": {"$ref": "#/$defs/Leaf"},
            "color": {"$ref": "#/$defs/Color"},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 5}]},
            "one": {"oneOf": [{"type": "boolean"}, {"type": "string"}]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 3, "uniqueItems": True},
            "empty": {"type": "array", "items": {"type": "string"}, "maxItems": 0},
            "num": {"type": "number", "exclusiveMinimum": 0},
            "both": {
                "allOf": [
                    {"$ref": "#/$defs/Leaf"},
                    {"properties": {"w": {"type": "string"}}, "required": ["w"]},
                ]
            },
            "when": {"type": "string", "format": "date-time"},
            "nullable": {"type": ["null", "string"], "minLength": 2},
            "optional": {"type": "string"},
        },
        "required": ["leaf", "color", "maybe", "one", "tags", "empty", "num", "both", "when", "nullable"],
    }
    inst = minimal_instance(schema)
    assert inst == {
        "leaf": {"v": 7},
        "color": "red",
        "maybe": 5,
        "one": True,
        "tags": ["x0", "x1", "x2"],
        "empty": [],
        "num": 1,
        "both": {"v": 7, "w": "x"},
        "when": "2024-01-01T00:00:00Z",
        "nullable": "xx",
    }


def test_minimal_instance_recursive_schema_terminates() -> None:
    schema = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
                "required": [],
            }
        },
        "$ref": "#/$defs/Node",
    }
    assert minimal_instance(schema) == {}


# --------------------------------------------------------------------------- scripting & responder


def test_script_queue_per_model_then_responder(server: FakeOpenAIServer) -> None:
    server.script("a", ["a1", Reply(content="a2")]).script("*", ["any"])
    assert llm(server, "a").invoke("x").content == "a1"
    assert llm(server, "b").invoke("x").content == "any"
    assert llm(server, "a").invoke("x").content == "a2"
    assert llm(server, "a").invoke("x").content == "OK"
    assert server.count() == 4 and server.count("a") == 3
    assert [r.model for r in server.requests_for("b")] == ["b"]


def test_custom_responder_sees_request(server: FakeOpenAIServer) -> None:
    seen: list[ChatRequest] = []

    def responder(req: ChatRequest) -> Reply | str:
        seen.append(req)
        if req.json_schema is not None:
            return default_responder(req)
        return f"echo:{req.last_user_text}|{req.system_text}"

    server.responder = responder
    msg = llm(server).invoke([("system", "be brief"), ("user", "ping")])
    assert msg.content == "echo:ping|be brief"
    assert seen[0].messages[0]["role"] == "system"


def test_responder_exception_becomes_500_and_is_recorded(server: FakeOpenAIServer) -> None:
    def boom(req: ChatRequest) -> Reply:
        raise RuntimeError("kaput")

    server.responder = boom
    with pytest.raises(openai.InternalServerError, match="kaput"):
        llm(server).invoke("x")
    assert isinstance(server.errors[0], RuntimeError)


def test_invalid_or_schema_violating_content(server: FakeOpenAIServer) -> None:
    server.script("m", ["not json {", '{"title": "only a title"}'])
    structured = llm(server).with_structured_output(Plan, method="json_schema")
    # the openai SDK parses response_format=<pydantic model> itself -> pydantic ValidationError
    with pytest.raises(ValidationError, match="Invalid JSON"):
        structured.invoke("x")
    with pytest.raises(ValidationError, match="Field required"):
        structured.invoke("x")


# --------------------------------------------------------------------------- faults


def test_rate_limit_429_with_retry_after(server: FakeOpenAIServer) -> None:
    server.inject(Fault.rate_limit(retry_after=1), model="m")
    with pytest.raises(openai.RateLimitError) as exc:
        llm(server).invoke("x")
    assert exc.value.status_code == 429
    assert exc.value.response.headers["retry-after"] == "1"
    assert exc.value.code == "rate_limit_exceeded"
    assert llm(server).invoke("x").content == "OK"  # fault consumed


def test_fault_only_for_its_model(server: FakeOpenAIServer) -> None:
    server.inject(Fault.server_error(), model="other")
    assert llm(server).invoke("x").content == "OK"
    with pytest.raises(openai.InternalServerError):
        llm(server, "other").invoke("x")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors(server: FakeOpenAIServer, status: int) -> None:
    server.inject(Fault.server_error(status))
    with pytest.raises(openai.InternalServerError) as exc:
        llm(server).invoke("x")
    assert exc.value.status_code == status


def test_payment_required_402_is_plain_status_error(server: FakeOpenAIServer) -> None:
    server.inject(Fault.payment_required())
    with pytest.raises(openai.APIStatusError) as exc:
        llm(server).invoke("x")
    assert exc.value.status_code == 402
    assert not isinstance(exc.value, openai.RateLimitError | openai.InternalServerError)


def test_custom_status_body_and_headers(server: FakeOpenAIServer) -> None:
    server.inject(Fault(status=400, body={"error": {"message": "context_length_exceeded"}}, headers={"x-a": "b"}))
    with pytest.raises(openai.BadRequestError) as exc:
        llm(server).invoke("x")
    assert exc.value.response.headers["x-a"] == "b"


def test_connection_reset(server: FakeOpenAIServer) -> None:
    server.inject(Fault.connection_reset())
    with pytest.raises(openai.APIConnectionError):
        llm(server).invoke("x")
    assert server.count() == 1
    assert llm(server).invoke("x").content == "OK"


def test_delay_causes_client_timeout(server: FakeOpenAIServer) -> None:
    server.inject(Fault.slow(2))
    t0 = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        llm(server, timeout=0.5).invoke("x")
    assert time.monotonic() - t0 < 1.5


def test_delay_then_normal_reply(server: FakeOpenAIServer) -> None:
    server.script("m", [Reply(content="late", fault=Fault.slow(0.1))])
    t0 = time.monotonic()
    assert llm(server).invoke("x").content == "late"
    assert time.monotonic() - t0 >= 0.1


def test_invalid_json_body(server: FakeOpenAIServer) -> None:
    server.inject(Fault.invalid_json_body())
    with pytest.raises(json.JSONDecodeError):  # not wrapped by the SDK, not retried
        llm(server).invoke("x")


def test_truncated_stream_abrupt(server: FakeOpenAIServer) -> None:
    server.script("m", [Reply(content="a long answer that will be cut", fault=Fault.truncated_stream(after=2))])
    with pytest.raises(openai.APIConnectionError):
        list(llm(server, stream_usage=True).stream("x"))


def test_truncated_stream_clean_ends_early(server: FakeOpenAIServer) -> None:
    server.inject(Fault.truncated_stream(after=2, clean=True))
    server.script("m", ["a long answer that will be cut"])
    msg = collect(llm(server, stream_usage=True).stream("x"))
    assert msg.content == "a long a"  # role chunk + one 8-char content chunk
    assert "finish_reason" not in msg.response_metadata
    assert not msg.usage_metadata


def test_truncated_non_streaming_body(server: FakeOpenAIServer) -> None:
    server.inject(Fault.truncated_stream())
    with pytest.raises(openai.APIConnectionError):
        llm(server).invoke("x")


def test_sdk_retries_by_default(server: FakeOpenAIServer) -> None:
    server.inject(Fault.server_error(), model="m")
    assert llm(server, max_retries=1).invoke("x").content == "OK"
    assert server.count("m") == 2


def test_close_interrupts_pending_delay() -> None:
    s = FakeOpenAIServer().start()
    s.inject(Fault.slow(30))
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(lambda: httpx.post(f"{s.base_url}/chat/completions", json={"model": "m"}, timeout=5))
        while s.count() == 0:
            time.sleep(0.01)
        t0 = time.monotonic()
        s.close()
        assert time.monotonic() - t0 < 1
        with pytest.raises(httpx.HTTPError):
            fut.result()


# --------------------------------------------------------------------------- recording & secrets


def test_concurrent_requests_are_all_recorded(server: FakeOpenAIServer) -> None:
    model = llm(server)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: model.invoke(f"q{i}").content, range(16)))
    assert results == ["OK"] * 16
    assert server.count("m") == 16
    assert sorted(r.last_user_text for r in server.requests) == sorted(f"q{i}" for i in range(16))


def test_authorization_recorded_but_never_logged(server: FakeOpenAIServer, capfd) -> None:
    model = llm(server, api_key=SECRET)
    model.invoke("x")
    server.inject(Fault.rate_limit())
    server.inject(Fault.connection_reset())
    for _ in range(2):
        with pytest.raises(openai.APIError) as exc:
            model.invoke("x")
        assert SECRET not in str(exc.value)
    assert server.requests[0].authorization == f"Bearer {SECRET}"
    assert SECRET not in repr(server.requests)
    out, err = capfd.readouterr()
    assert SECRET not in out and SECRET not in err


def test_bad_routes_and_bad_body(server: FakeOpenAIServer) -> None:
    assert httpx.get(f"{server.url}/nope").status_code == 404
    r = httpx.post(f"{server.base_url}/chat/completions", content=b"{broken")
    assert r.status_code == 400 and "error" in r.json()
    assert server.count() == 0
