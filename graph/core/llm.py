"""Structured answers from any chat model, repaired by a bounded re-ask instead of crashing.

We bind ``response_format`` ourselves and parse the text, rather than use ``with_structured_output``:
the same path then works for OpenAI-style servers, llama.cpp grammars, json_object-only providers and
fakes, and a bad answer can be shown back to the model with the exact validation error.

Two kinds of failure, kept apart:
- a bad *answer* (invalid JSON, schema violation, empty reply, output cut at max_tokens) is repaired here by a
  bounded re-ask that shows the model its previous reply (with its reasoning, for providers that want it back);
- a *provider* fault (HTTP errors, timeouts, broken bodies) is retried and failed over by the registry
  (SDK retries, ``RunnableRetry``, ``with_fallbacks``); if it survives all that it becomes a ``ProviderError``
  — a ``ModelOutputError``, so the phase adapter turns it into gate feedback and the orchestrator's retry /
  stop path handles it (no crash, nothing half-written, resumable).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.utils.json import parse_json_markdown, parse_partial_json
from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)


class ModelOutputError(Exception):
    """The model kept answering with something that is not a valid instance of the schema."""


class ProviderError(ModelOutputError):
    """The provider failed after retries and fallbacks (HTTP error, timeout, broken body)."""


def is_provider_fault(err: BaseException) -> bool:
    from sdd_harness.graph.core.models import provider_faults

    return isinstance(err, provider_faults())


def provider_error(err: BaseException) -> ProviderError:
    """A short, key-free message naming the failure (the original stays as ``__cause__``)."""
    from sdd_harness.graph.infra.dotenv import redact

    text = redact(str(err))[:400]
    return ProviderError(f"model provider failed after retries and fallbacks: {type(err).__name__}: {text}")


def echo_kwargs(reply: Any) -> dict[str, Any]:
    """Reasoning to carry back on the assistant turn (the model layer decides whether it goes on the wire)."""
    extra = getattr(reply, "additional_kwargs", None) or {}
    return {k: extra[k] for k in ("reasoning_content", "reasoning_details") if extra.get(k)}


@functools.cache
def json_schema_of(schema: type[BaseModel]) -> dict[str, Any]:
    """Schemas are fixed per class; generating one costs ~1.7 ms, so every call reuses it (never mutate it)."""
    return schema.model_json_schema()


def response_format(schema: type[BaseModel], mode: str) -> dict[str, Any]:
    if mode == "json_object":
        return {"type": "json_object"}
    return {
        "type": "json_schema",
        "json_schema": {"name": schema.__name__, "schema": json_schema_of(schema), "strict": False},
    }


def schema_hint(schema: type[BaseModel]) -> str:
    """A compact schema for providers that only promise *some* JSON object."""
    return "Reply with one JSON object matching this JSON schema:\n" + json.dumps(
        json_schema_of(schema), separators=(",", ":")
    )


def closed_fences(text: str) -> str:
    """A complete reply with its last code fence closed: a model that ends on code without the closing fence
    did not run out of tokens, and an open fence is how a cut reply is told apart (see ``ask_text``)."""
    fences = sum(1 for line in text.split("\n") if line.strip().startswith("```"))
    return f"{text.rstrip()}\n```\n" if fences % 2 else text


def extract_json(text: str) -> Any:
    """Parse a JSON object out of a reply, tolerating fences and chatter around it.

    langchain-core's ``parse_json_markdown`` reads the reply or its fenced block; strict ``json.loads`` underneath
    (its default parser completes a cut-off object, which would hide a truncated answer). Failing that, the
    outermost ``{...}`` of the text — a small model's "Here is the JSON: {...} Hope this helps".
    """
    text = text.strip()
    if not text:
        raise ValueError("the reply was empty")
    try:
        return parse_json_markdown(text, parser=json.loads)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start >= 0 and end > start:
            return json.loads(text[start : end + 1])
    raise ValueError("the reply contained no JSON object")


def transcribe(schema: type[BaseModel], messages: list[BaseMessage], reply: str, error: str) -> None:
    """With SDD_TRANSCRIPT=<file>, append every structured exchange (prompt tail, reply, problem) as JSON lines.

    For debugging what a small model actually answered; prompts and replies only, never keys.
    """
    path = os.environ.get("SDD_TRANSCRIPT")
    if not path:
        return
    line = {
        "schema": schema.__name__,
        "prompt_tail": str(messages[-1].content)[-1500:],
        "reply": reply[:4000],
        "problem": error,
    }
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


def transcribe_text(phase: str, prompt: str, reply: str) -> None:
    """A plain-text exchange in the ``SDD_TRANSCRIPT`` log (see ``transcribe``)."""
    path = os.environ.get("SDD_TRANSCRIPT")
    if path:
        line = {"schema": f"text:{phase}", "prompt_tail": prompt[-1500:], "reply": reply[:4000], "problem": ""}
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")


def _is_truncation(err: Exception) -> bool:
    """openai raises LengthFinishReasonError when a structured reply runs into max_tokens."""
    return type(err).__name__ == "LengthFinishReasonError"


def truncated_text(err: Exception) -> str:
    """The text a cut-off reply got to (openai's LengthFinishReasonError carries the completion)."""
    try:
        return getattr(err, "completion").choices[0].message.content or ""  # noqa: B009
    except (AttributeError, IndexError, TypeError):
        return ""


def _drop_last(data: Any) -> bool:
    """Remove the entry a cut-off reply was writing: the last element of the deepest non-empty list on the
    trailing path (a whole scenario, not half of one); with no list there, the last key of the object."""
    node, deepest = data, None
    while isinstance(node, (dict, list)) and node:
        if isinstance(node, list):
            deepest = node
        node = node[-1] if isinstance(node, list) else node[next(reversed(node))]
    if deepest is not None:
        deepest.pop()
        return True
    if isinstance(data, dict) and data:
        data.pop(next(reversed(data)))
        return True
    return False


def salvaged(schema: type[T], text: str, prepare: Callable[[Any], Any] | None = None, tries: int = 24) -> T | None:
    """The complete part of a reply cut off at max_tokens, if it is a valid answer on its own.

    langchain-core's ``parse_partial_json`` closes the open strings and brackets; the entry the model was
    still writing is always dropped (a value cut mid-string can look valid and be wrong), then more trailing
    entries until the rest validates (bounded by ``tries``). A model that loops on a long list loses only the
    tail; one cut before any complete item yields None.
    """
    start = text.find("{")
    data = parse_partial_json(text[start:]) if start >= 0 else None
    if not isinstance(data, dict) or not _drop_last(data):
        return None
    for _ in range(tries):
        if not data:
            return None
        try:
            result = schema.model_validate(prepare(json.loads(json.dumps(data))) if prepare else data)
        except (ValueError, ValidationError):
            if not _drop_last(data):
                return None
            continue
        return None if parroted_fields(result) else result
    return None


def _problem(err: Exception) -> str:
    if isinstance(err, ValidationError):
        parts = [f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in err.errors()[:5]]
        return "; ".join(parts)
    return str(err)[:500]


def parroted_fields(instance: BaseModel, path: str = "") -> list[str]:
    """Fields whose value is just the schema's own description — small models copy those."""
    found: list[str] = []
    for name, field in type(instance).model_fields.items():
        value = getattr(instance, name)
        where = f"{path}{name}"
        if isinstance(value, str) and field.description and _same_text(value, field.description):
            found.append(where)
        elif isinstance(value, BaseModel):
            found += parroted_fields(value, f"{where}.")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found += parroted_fields(item, f"{where}.{i}.")
                elif isinstance(item, str) and field.description and _same_text(item, field.description):
                    found.append(f"{where}.{i}")
    return found


def _valid_without(schema: type[T], data: Any, paths: list[str], prepare: Callable[[Any], Any] | None) -> T | None:
    """``data`` with the copied field descriptions at ``paths`` removed (list items dropped, strings emptied),
    validated again; None when what is left is not a valid answer."""
    data = json.loads(json.dumps(data))
    for path in sorted(paths, key=lambda p: [int(k) if k.isdigit() else -1 for k in p.split(".")], reverse=True):
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.get(key)
            if node is None:
                break
        if isinstance(node, list) and last.isdigit() and int(last) < len(node):
            node.pop(int(last))
        elif isinstance(node, dict) and isinstance(node.get(last), str):
            node[last] = ""
    try:
        result = schema.model_validate(prepare(data) if prepare else data)
    except (ValueError, ValidationError):
        return None
    return None if parroted_fields(result) else result


def _same_text(value: str, description: str) -> bool:
    a, b = value.strip().lower().rstrip("."), description.strip().lower().rstrip(".")
    return bool(a) and (a == b or (len(b) > 15 and b in a))


async def ask_structured(
    model: Runnable,
    schema: type[T],
    messages: list[BaseMessage],
    *,
    mode: str = "json_schema",
    repairs: int = 2,
    config: RunnableConfig | None = None,
    prepare: Callable[[Any], Any] | None = None,
) -> T:
    """Ask ``model`` for a ``schema`` instance; re-ask with the validation error up to ``repairs`` times."""
    if mode == "json_object":
        messages = [*messages[:-1], HumanMessage(f"{messages[-1].content}\n\n{schema_hint(schema)}")]
    bound = model.bind(response_format=response_format(schema, mode))
    conversation = list(messages)
    last_error, truncations, asked = "no answer", 0, 0
    for _ in range(repairs + 1):
        asked += 1
        try:
            reply = await bound.ainvoke(conversation, config=config)
        except Exception as err:  # noqa: BLE001 - truncation is repaired, provider faults become ProviderError
            if is_provider_fault(err):
                raise provider_error(err) from err
            if not _is_truncation(err):
                raise
            last_error = "the reply hit the output token limit (too long or repeating itself)"
            partial = truncated_text(err)
            rescued = salvaged(schema, partial, prepare) if partial else None
            transcribe(schema, messages, partial, last_error + ("; its complete part was kept" if rescued else ""))
            if rescued is not None:
                return rescued
            truncations += 1
            if truncations == 2:  # a model that runs out twice is looping: a third try costs the same again
                break
            conversation += [HumanMessage(f"Your reply was cut off: {last_error}. Reply again, much shorter.")]
            continue
        text = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
        try:
            data = extract_json(text)
            result = schema.model_validate(prepare(data) if prepare else data)
            copied = parroted_fields(result)
            if not copied:
                transcribe(schema, messages, text, "")
                return result
            last_error = f"you copied the field descriptions instead of writing content in: {', '.join(copied[:5])}"
            if asked == repairs + 1:  # the last try: keep the answer without the copied parts if it still holds
                kept = _valid_without(schema, data, copied, prepare)
                if kept is not None:
                    transcribe(schema, messages, text, last_error + "; kept without the copied parts")
                    return kept
        except (ValueError, ValidationError) as err:
            last_error = _problem(err)
        transcribe(schema, messages, text, last_error)
        conversation += [
            AIMessage(content=text[:2000], additional_kwargs=echo_kwargs(reply)),
            HumanMessage(f"That reply was invalid: {last_error}. Reply again with only the corrected JSON object."),
        ]
    raise ModelOutputError(f"{schema.__name__}: still invalid after {asked - 1} repair(s): {last_error}")
