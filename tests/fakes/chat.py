"""Recording fake chat models: the same registry path as real ones, no network.

Used by the test suite, the benchmarks and anyone who wants to dry-run a config. A fake answers from a
script (a list of replies) or a responder function; with neither, it returns a minimal valid instance of
the JSON schema it was asked for, so a whole pipeline can run unscripted.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

Responder = Callable[[list[BaseMessage], dict[str, Any]], str]


class Cut(str):
    """A scripted reply that stopped at max_tokens: the fake reports ``finish_reason: length`` for it."""


def schema_of(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a call asked for via ``response_format``, if any."""
    fmt = kwargs.get("response_format") or {}
    return (fmt.get("json_schema") or {}).get("schema") if isinstance(fmt, dict) else None


def minimal_instance(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """A small value that validates against ``schema`` (enough for unscripted runs)."""
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        return minimal_instance(root.get("$defs", {})[name], root)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return minimal_instance(options[0], root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: minimal_instance(props[k], root) for k in schema.get("required", []) if k in props}
    if kind == "array":
        return [minimal_instance(schema.get("items", {}), root) for _ in range(max(1, schema.get("minItems", 0)))]
    return {"string": "x", "integer": 1, "number": 1.0, "boolean": True, "null": None}.get(kind, "x")


class FakeChatModel(BaseChatModel):
    """A chat model that records every call and reports its own name as the served model."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: str = "fake-model"
    served_model: str | None = Field(None, description="Report this instead of `model` (routing mismatch tests).")
    replies: list[str | BaseException] = Field(default_factory=list)
    responder: Responder | None = None
    latency_s: float = 0.0
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _call_kwargs: list[dict[str, Any]] = PrivateAttr(default_factory=list)
    _active: int = PrivateAttr(default=0)
    peak_concurrency: int = 0  # most calls in flight at once (async callers)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "fake-chat"

    @cached_property
    def _serialized(self) -> dict[str, Any]:
        """What callbacks are told the model is. The inherited one builds a pydantic repr, inspecting every
        field default (~0.5 ms per instance); fresh fakes per run made that a visible share of a fake run."""
        return {
            "lc": 1,
            "type": "not_implemented",
            "id": ["graph", "fakes", "FakeChatModel"],
            "repr": f"FakeChatModel(model={self.model!r})",
            "name": self.model,
        }

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model}

    def _get_invocation_params(self, stop: Sequence[str] | None = None, **kwargs: Any) -> dict[str, Any]:
        return {
            "model": self.model,
            "_type": self._llm_type,
            **{k: v for k, v in kwargs.items() if k != "stop"},
        }

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        """Native tool mode: a reply of the form {"tool_call": {"name": ..., "args": {...}}} becomes a tool call."""
        return self.bind(tools=list(tools), **kwargs)

    @property
    def calls(self) -> list[list[BaseMessage]]:
        return list(self._calls)

    @property
    def call_kwargs(self) -> list[dict[str, Any]]:
        """The keyword arguments of each call (temperature, seed, response_format …), in call order."""
        return list(self._call_kwargs)

    def _reply_text(self, messages: list[BaseMessage], kwargs: dict[str, Any], stop: list[str] | None = None) -> str:
        """The scripted reply, ended before the first of ``stop`` as a server ends it (``stop`` is recorded too)."""
        with self._lock:
            self._calls.append(list(messages))
            self._call_kwargs.append({**kwargs, **({"stop": list(stop)} if stop else {})})
            scripted = self.replies.pop(0) if self.replies else None
        if isinstance(scripted, BaseException):
            raise scripted
        if scripted is not None:
            return _stopped(scripted, stop)
        if self.responder is not None:
            return _stopped(self.responder(messages, kwargs), stop)
        schema = schema_of(kwargs)
        return json.dumps(minimal_instance(schema)) if schema else "ok"

    def _result(self, messages: list[BaseMessage], text: str, tools: bool = False) -> ChatResult:
        prompt_chars = sum(len(str(m.content)) for m in messages)
        usage = {"input_tokens": max(1, prompt_chars // 4), "output_tokens": max(1, len(text) // 4)}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        tool_calls = _tool_calls(text) if tools else []
        finish = "length" if isinstance(text, Cut) else "stop"
        message = AIMessage(
            content="" if tool_calls else str(text),
            tool_calls=tool_calls,
            usage_metadata=usage,
            response_metadata={"model_name": self.served_model or self.model, "finish_reason": finish},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency_s:
            import time

            time.sleep(self.latency_s)
        return self._result(messages, self._reply_text(messages, kwargs, stop), "tools" in kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._active += 1
        self.peak_concurrency = max(self.peak_concurrency, self._active)
        try:
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            return self._result(messages, self._reply_text(messages, kwargs, stop), "tools" in kwargs)
        finally:
            self._active -= 1


def _stopped(text: str, stop: list[str] | None) -> str:
    cuts = [text.find(s) for s in stop or [] if s in text]
    if not cuts:
        return text
    return Cut(text[: min(cuts)]) if isinstance(text, Cut) else text[: min(cuts)]


def _tool_calls(text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except ValueError:
        return []
    call = data.get("tool_call") if isinstance(data, dict) else None
    if not isinstance(call, dict) or "name" not in call:
        return []
    return [{"name": call["name"], "args": call.get("args") or {}, "id": f"call-{call['name']}", "type": "tool_call"}]
