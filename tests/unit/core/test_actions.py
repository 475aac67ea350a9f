"""Look-around tools in both styles: JSON actions (local/open models) and native tool calls (cloud)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sdd_harness.graph.core.actions import Grep, ListDir, ReadFile, run_action
from sdd_harness.graph.core.config import load_config
from sdd_harness.graph.core.phases import EXPLORE
from sdd_harness.graph.entry.api import run_change
from sdd_harness.graph.infra.workspace import Workspace
from tests.fakes.openai_server import ChatRequest, Reply
from tests.fakes.scripted import DemoScript, role_of, team


def config_with_tools(mode: str, tmp_path: Path):
    cfg = load_config("opencode-go")
    phases = dict(cfg.phases)
    phases[EXPLORE] = phases[EXPLORE].model_copy(update={"tools": mode, "tool_steps": 3})
    return cfg.model_copy(update={"phases": phases})


@pytest.mark.parametrize("mode", ["json", "native"])
def test_explore_reads_a_file_with_either_tool_style(mode: str, tmp_path: Path, demo_repo: Path, slugify_request: str):
    models = team(DemoScript())
    result = run_change(slugify_request, demo_repo, config_with_tools(mode, tmp_path), models=models, auto_approve=True)

    assert result.status == "done", result.reason
    steps = result.state["outputs"][EXPLORE]["tool_steps"]
    assert [json.loads(s["action"])["action"] for s in steps] == ["read_file"]
    assert "def word_count" in steps[0]["observation"]
    calls = models[EXPLORE].calls
    assert len(calls) == 3  # read_file, finish, final answer
    assert any("def word_count" in str(m.content) for m in calls[-1])  # the observation reached the model


class ReadsTheNamedFile(DemoScript):
    """Explore's look-around reads the file the request names, then finishes."""

    def look_around(self, phase: str, native: bool, messages: list) -> dict:
        looked = any("Result of read_file" in str(m.content) for m in messages)
        return {"action": {"action": "finish"} if looked else {"action": "read_file", "path": "textkit/strings.py"}}


def run_reading_the_named_file(repo: Path, request: str, tmp_path: Path) -> tuple[Any, str, str]:
    """The run, the second look-around prompt and the answer prompt, as text."""
    models = team(ReadsTheNamedFile())
    result = run_change(request, repo, config_with_tools("json", tmp_path), models=models, auto_approve=True)
    calls = models[EXPLORE].calls
    return result, "\n".join(str(m.content) for m in calls[1]), "\n".join(str(m.content) for m in calls[-1])


def test_a_file_already_in_the_prompt_is_not_sent_twice(tmp_path: Path, demo_repo: Path, slugify_request: str):
    result, second_look, answer = run_reading_the_named_file(demo_repo, slugify_request, tmp_path)

    assert result.status == "done", result.reason
    assert "will be shown to you in full when you answer" in second_look
    assert "width - len(suffix)" not in second_look  # the pointer, not the body every later step re-sends
    assert answer.count("width - len(suffix)") == 1  # the request names it: shown once, when answering


def test_a_named_file_too_big_to_show_whole_can_be_read_and_is_shown_once(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    strings = demo_repo / "textkit" / "strings.py"
    filler = "".join(f"\n\ndef helper_{i}(text: str) -> str:\n    return text * {i}\n" for i in range(60))
    strings.write_text(strings.read_text() + filler + "\n\ndef last_helper() -> None:\n    pass\n")

    result, second_look, answer = run_reading_the_named_file(demo_repo, slugify_request, tmp_path)

    assert result.status == "done", result.reason
    assert "will be shown to you in full" not in second_look and "def helper_3(" in second_look  # really read
    assert answer.count("### textkit/strings.py") == 1 and answer.count("def normalize_whitespace(") == 1


def test_look_around_steps_carry_the_map_and_the_answer_carries_the_code(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    models = team(DemoScript())
    result = run_change(
        slugify_request, demo_repo, config_with_tools("json", tmp_path), models=models, auto_approve=True
    )

    assert result.status == "done", result.reason
    *looks, answer = [[str(m.content) for m in call] for call in models[EXPLORE].calls]
    for look in looks:
        assert "Repository map:" in look[1] and "def top_words(" in look[1]  # signatures to navigate by
        assert "width - len(suffix)" not in look[1]  # no file bodies, re-sent on every step
        assert "affected_files" not in look[0]  # the answer's rules wait for the answer
    assert "Repository map:" not in answer[1] and "Result of read_file" not in answer[1]
    assert "width - len(suffix)" in answer[1]  # the named file, in full
    assert "Counter(words(text))" in answer[1]  # and the one the look-around read
    assert "affected_files" in answer[0]


def test_json_actions_are_requested_as_a_json_schema_union(demo_repo: Path, slugify_request: str, tmp_path: Path):
    seen: list[dict] = []

    class Recording(DemoScript):
        def __call__(self, phase, messages, kwargs):
            seen.append(kwargs.get("response_format") or {})
            return super().__call__(phase, messages, kwargs)

    run_change(
        slugify_request, demo_repo, config_with_tools("json", tmp_path), models=team(Recording()), auto_approve=True
    )
    names = [f.get("json_schema", {}).get("name") for f in seen]
    assert "ActionStep" in names
    schema = json.dumps(next(f for f in seen if f.get("json_schema", {}).get("name") == "ActionStep"))
    for action in ("read_file", "list_dir", "grep", "finish"):
        assert action in schema


def test_native_tool_calls_over_http(fake_openai_server, demo_repo: Path, slugify_request: str, tmp_path: Path):
    """A real OpenAI-compatible server returning tool_calls drives the native path."""
    script = DemoScript()
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

    def to_lc(m: dict):
        content = m.get("content") or ""
        if m["role"] == "system":
            return SystemMessage(content)
        if m["role"] == "tool":
            return ToolMessage(content, tool_call_id=m.get("tool_call_id", "x"))
        if m["role"] == "assistant":
            return AIMessage(content)
        return HumanMessage(content)

    def responder(request: ChatRequest) -> Reply:
        messages = [to_lc(m) for m in request.messages]
        kwargs = {"response_format": request.response_format} if request.response_format else {}
        if request.tools:
            kwargs["tools"] = request.tools
        text = script(role_of(request.model), messages, kwargs)
        if not text.lstrip().startswith("{"):
            return Reply(content=text)  # apply answers with code blocks
        answer = json.loads(text)
        if "tool_call" in answer:
            return Reply(tool_calls=[{"name": answer["tool_call"]["name"], "arguments": answer["tool_call"]["args"]}])
        return Reply(content=json.dumps(answer))

    fake_openai_server.responder = responder
    data = {
        "default_provider": "fake",
        "providers": {"fake": {"base_url": fake_openai_server.base_url, "api_key_env": None, "tools": "native"}},
        "phases": {p: {"model": f"m-{p}"} for p in load_config("opencode-go").phases},
        "orchestrator": {"model": "m-orchestrator"},
    }
    path = tmp_path / "fake.yaml"
    import yaml

    path.write_text(yaml.safe_dump(data))
    result = run_change(slugify_request, demo_repo, str(path), auto_approve=True)
    assert result.status == "done", result.reason
    explore_requests = fake_openai_server.requests_for(f"m-{EXPLORE}")
    assert explore_requests[0].tools and {t["function"]["name"] for t in explore_requests[0].tools} >= {
        "read_file",
        "grep",
        "list_dir",
        "finish",
    }
    assert any(m.get("role") == "tool" for m in explore_requests[1].messages)


def test_actions_stay_inside_the_repo(tmp_path: Path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("def alpha():\n    return 1\n")
    ws = Workspace(tmp_path)
    assert "def alpha" in run_action(ws, ReadFile(path="pkg/mod.py"))
    assert run_action(ws, ReadFile(path="../../etc/passwd")).startswith("error:")
    assert run_action(ws, ReadFile(path="/etc/passwd")).startswith("error:")
    assert "pkg/mod.py" in run_action(ws, ListDir(path="pkg"))
    assert "pkg/mod.py:1:" in run_action(ws, Grep(pattern=r"def \w+"))
    assert run_action(ws, Grep(pattern="(")).startswith("error: bad pattern")
