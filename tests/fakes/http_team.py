"""The scripted demo team served over real HTTP: a config whose every role points at a FakeOpenAIServer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from sdd_harness.graph.core.phases import BUILTIN_PHASES, ORCHESTRATOR
from tests.fakes.openai_server import ChatRequest, FakeOpenAIServer, Reply
from tests.fakes.scripted import DemoScript, role_of


def to_langchain(message: dict[str, Any]) -> BaseMessage:
    content = message.get("content") or ""
    role = message.get("role")
    if role == "system":
        return SystemMessage(content)
    if role == "tool":
        return ToolMessage(content, tool_call_id=message.get("tool_call_id", "call"))
    if role == "assistant":
        return AIMessage(content)
    return HumanMessage(content)


def serve_demo(server: FakeOpenAIServer, script: DemoScript | None = None) -> DemoScript:
    """Answer every request the way the scripted team would, for the role its model serves (`m-<role>`)."""
    script = script or DemoScript()

    def responder(request: ChatRequest) -> Reply:
        kwargs: dict[str, Any] = {}
        if request.response_format:
            kwargs["response_format"] = request.response_format
        if request.tools:
            kwargs["tools"] = request.tools
        text = script(role_of(request.model), [to_langchain(m) for m in request.messages], kwargs)
        if not text.lstrip().startswith("{"):
            return Reply(content=text)  # apply answers with code blocks, not JSON
        answer = json.loads(text)
        if "tool_call" in answer:
            return Reply(tool_calls=[{"name": answer["tool_call"]["name"], "arguments": answer["tool_call"]["args"]}])
        return Reply(content=json.dumps(answer))

    server.responder = responder
    return script


def http_config(tmp_path: Path, base_url: str, api_key_env: str | None = None, **run: Any) -> Path:
    """A config file: provider `fake` at ``base_url``, model `m-<role>` for every role."""
    data: dict[str, Any] = {
        "default_provider": "fake",
        "providers": {"fake": {"base_url": base_url, "api_key_env": api_key_env}},
        "phases": {phase: {"model": f"m-{phase}"} for phase in BUILTIN_PHASES},
        "orchestrator": {"model": f"m-{ORCHESTRATOR}"},
    }
    if run:
        data["run"] = run
    path = tmp_path / "http-config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path
