"""Tools for phases that look around the repository before answering, in two styles.

``native``: the model gets real tool definitions and answers with tool calls (cloud models do this well).
``json``: the model answers every step with ONE JSON object — a discriminated union of actions — enforced by
the server's JSON-schema grammar. Open models and local servers often break native tool calls; this works.
Both styles run the same actions against the same guarded workspace, and both end with ``finish``; the phase
then answers on a fresh prompt that holds what the look-around found.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Annotated, Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from pydantic import BaseModel, Field, ValidationError

from sdd_harness.graph.core.llm import ModelOutputError, echo_kwargs, is_provider_fault, json_schema_of
from sdd_harness.graph.infra.repomap import iter_files, slice_file
from sdd_harness.graph.infra.workspace import Workspace, WorkspaceError

OBSERVATION_CHARS = 2500


class ReadFile(BaseModel):
    """Read a repository file."""

    action: Literal["read_file"] = "read_file"
    path: str = Field(description="Repo-relative path.")


class ListDir(BaseModel):
    """List files under a folder."""

    action: Literal["list_dir"] = "list_dir"
    path: str = Field(".", description="Repo-relative folder.")


class Grep(BaseModel):
    """Find lines matching a regular expression."""

    action: Literal["grep"] = "grep"
    pattern: str
    path: str = Field(".", description="Repo-relative folder or file to search.")


class Finish(BaseModel):
    """Stop looking and give the final answer."""

    action: Literal["finish"] = "finish"


Action = Annotated[ReadFile | ListDir | Grep | Finish, Field(discriminator="action")]


class ActionStep(BaseModel):
    """One step of the JSON-action protocol."""

    action: Action


def run_action(workspace: Workspace, action: BaseModel) -> str:
    """Execute one read-only action; errors come back as text the model can react to."""
    try:
        if isinstance(action, ReadFile):
            return slice_file(workspace.read(action.path), OBSERVATION_CHARS)
        if isinstance(action, ListDir):
            base = workspace.resolve(action.path) if action.path not in (".", "") else workspace.root
            files = [f for f in iter_files(workspace.root) if (workspace.root / f).is_relative_to(base)]
            return "\n".join(files[:100]) or "(empty)"
        if isinstance(action, Grep):
            return grep(workspace, action.pattern, action.path)
    except (WorkspaceError, OSError) as err:
        return f"error: {err}"
    return "ok"


def grep(workspace: Workspace, pattern: str, path: str) -> str:
    try:
        regex = re.compile(pattern)
    except re.error as err:
        return f"error: bad pattern: {err}"
    base = workspace.resolve(path) if path not in (".", "") else workspace.root
    hits: list[str] = []
    for rel in iter_files(workspace.root):
        target = workspace.root / rel
        if not target.is_relative_to(base):
            continue
        for number, line in enumerate(target.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if regex.search(line):
                hits.append(f"{rel}:{number}: {line.strip()[:160]}")
                if len(hits) >= 40:
                    return "\n".join(hits) + "\n..."
    return "\n".join(hits) or "(no matches)"


class Finding(BaseModel):
    """What one look-around action turned up, kept whole for the answer step."""

    title: str
    text: str


async def look_around(
    ask_step: Callable[[list[BaseMessage]], Any],
    workspace: Workspace,
    messages: list[BaseMessage],
    *,
    mode: Literal["json", "native"],
    max_steps: int,
    model: Any = None,
    config: Any = None,
    shown: Collection[str] = (),
) -> tuple[list[dict[str, str]], list[Finding]]:
    """Let the model navigate the repository (bounded): the transcript for the report, and what it found.

    The answer is asked for separately, on a fresh prompt holding the findings instead of this conversation:
    every look-around step re-sends the map, the answer needs the code, not the map. ``shown``: files the
    answer prompt will hold in full anyway; reading one returns a pointer, not a copy every later step re-sends.
    """
    transcript: list[dict[str, str]] = []
    findings: list[Finding] = []
    conversation = list(messages)
    in_context = {_norm(p) for p in shown}
    for _ in range(max_steps):
        try:
            if mode == "native":
                action, call_id, reply = await _native_step(model, conversation, config)
            else:
                step = await ask_step(conversation)
                action, call_id, reply = step.action, None, AIMessage(content=step.model_dump_json())
        except Exception as err:  # noqa: BLE001 - bad actions and provider faults end the look-around
            if not isinstance(err, ModelOutputError) and not is_provider_fault(err):
                raise
            break  # a model that cannot produce a valid action just answers from what it has
        if isinstance(action, Finish) or action is None:
            break
        if isinstance(action, ReadFile) and _norm(action.path) in in_context:
            observation = f"{action.path} will be shown to you in full when you answer; look at another file or finish."
        else:
            observation = run_action(workspace, action)
            if not isinstance(action, ListDir) and not observation.startswith("error:"):
                findings.append(Finding(title=_title(action), text=observation))
            if isinstance(action, ReadFile) and not observation.startswith("error:"):
                in_context.add(_norm(action.path))
        transcript.append({"action": action.model_dump_json(), "observation": observation[:300]})
        conversation.append(reply)
        if call_id:
            conversation.append(ToolMessage(content=observation, tool_call_id=call_id))
        else:
            conversation.append(HumanMessage(f"Result of {action.action}:\n{observation}"))
    return transcript, findings


def _title(action: BaseModel) -> str:
    if isinstance(action, ReadFile):
        return _norm(action.path)
    if isinstance(action, Grep):
        return f"grep {action.pattern!r} in {action.path}"
    return str(getattr(action, "action", "action"))


def _norm(path: str) -> str:
    return path.strip().strip("`").removeprefix("./")


TOOLS: dict[str, type[BaseModel]] = {"read_file": ReadFile, "list_dir": ListDir, "grep": Grep, "finish": Finish}


async def _native_step(model: Any, conversation: list[BaseMessage], config: Any) -> tuple[Any, str | None, AIMessage]:
    bound = model.bind_tools([_tool_schema(name, cls) for name, cls in TOOLS.items()])
    reply = await bound.ainvoke(conversation, config=config)
    calls = getattr(reply, "tool_calls", None) or []
    if not calls:
        return None, None, reply
    call = calls[0]
    cls = TOOLS.get(call["name"])
    if cls is None:
        return None, None, reply
    try:
        action = cls.model_validate({**(call.get("args") or {}), "action": call["name"]})
    except ValidationError:
        return None, None, reply
    # keep the reasoning: DeepSeek/Kimi thinking mode requires it back on tool-call turns (400 otherwise)
    only_first = AIMessage(content=reply.content, tool_calls=[call], additional_kwargs=echo_kwargs(reply))
    return action, call.get("id") or "call-0", only_first


def _tool_schema(name: str, cls: type[BaseModel]) -> dict[str, Any]:
    schema = json_schema_of(cls)
    props = {k: v for k, v in schema.get("properties", {}).items() if k != "action"}
    required = [r for r in schema.get("required", []) if r != "action"]
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": cls.__doc__ or name,
            "parameters": {"type": "object", "properties": props, "required": required},
        },
    }


JSON_PROTOCOL = (
    "Before answering you may inspect the repository, ONE action per reply, as JSON:\n"
    '{"action": {"action": "read_file", "path": "pkg/mod.py"}}\n'
    '{"action": {"action": "list_dir", "path": "pkg"}}\n'
    '{"action": {"action": "grep", "pattern": "def name", "path": "."}}\n'
    '{"action": {"action": "finish"}} when you know enough.'
)
NATIVE_PROTOCOL = "Before answering you may call read_file, list_dir or grep; call finish when you know enough."
