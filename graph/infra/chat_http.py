"""The wire side of OpenAI-compatible chat endpoints: HTTP clients that refuse a 200 which is not a chat
completion, reasoning text read from raw responses, and keys scrubbed from errors.

Gateways and small servers sometimes answer 200 with an HTML page, ``{"error": ...}`` or a completion without
choices. Caught here, on the raw response (an httpx response event hook, installed through the openai SDK's
``DefaultHttpxClient``), such a body raises ``MalformedResponseError`` — a provider fault the model registry
retries and fails over — instead of whatever ``KeyError``/``ValueError`` the client library would raise while
reading it. The openai SDK lets an exception from the HTTP client pass through unchanged and unretried.

A body that claims JSON but does not parse is left to the SDK, which raises ``json.JSONDecodeError``: the same
provider fault, already handled. Streams (``text/event-stream``) and error statuses pass untouched.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from langchain_core.messages import BaseMessage

from sdd_harness.graph.infra.dotenv import redact

PREVIEW_CHARS = 300


class MalformedResponseError(Exception):
    """A provider answered 200 with something that is not a usable chat completion (a provider fault)."""


def completion_problem(content_type: str, body: bytes) -> str | None:
    """Why a successful, non-streamed chat-completions body is unusable, or None when it is a completion."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    try:
        data: Any = json.loads(body)
    except ValueError:
        if media_type.endswith("json"):
            return None  # the SDK's JSONDecodeError says it well
        preview = body[:PREVIEW_CHARS].decode(errors="replace")
        return f"not a chat completion: a {media_type or 'untyped'} body: {preview}"
    if not isinstance(data, dict):
        return f"not a chat completion: a JSON {type(data).__name__}"
    if data.get("error"):
        return f"not a chat completion: error {json.dumps(data['error'])[:PREVIEW_CHARS]}"
    choices = data.get("choices")
    if not isinstance(choices, list):
        return f"not a chat completion: no 'choices' (keys: {', '.join(sorted(map(str, data))[:10])})"
    if not choices:
        return "the chat completion had no choices"
    if not all(isinstance(choice, dict) and isinstance(choice.get("message"), dict) for choice in choices):
        return "not a chat completion: a choice without a message"
    return None


def _checked(response: Any) -> bool:
    """A chat-completions answer we should read: 2xx, not a stream, to a POST on ``.../chat/completions``."""
    request = response.request
    return (
        response.is_success
        and request.method == "POST"
        and request.url.path.rstrip("/").endswith("/chat/completions")
        and "text/event-stream" not in response.headers.get("content-type", "")
    )


def _raise_if_malformed(response: Any, label: str, secrets: list[str]) -> None:
    problem = completion_problem(response.headers.get("content-type", ""), response.content)
    if problem:
        raise MalformedResponseError(redact(f"{label}: {problem}", secrets))


def completion_hooks(
    label: str, secrets: Iterable[str] = ()
) -> tuple[Callable[[Any], None], Callable[[Any], Awaitable[None]]]:
    """(sync, async) httpx response hooks that raise ``MalformedResponseError`` for an unusable body."""
    hidden = [s for s in secrets if s]

    def check(response: Any) -> None:
        if _checked(response):
            response.read()
            _raise_if_malformed(response, label, hidden)

    async def acheck(response: Any) -> None:
        if _checked(response):
            await response.aread()
            _raise_if_malformed(response, label, hidden)

    return check, acheck


def chat_http_clients(label: str, secrets: Iterable[str] = ()) -> tuple[Any, Any]:
    """(sync, async) httpx clients with the openai SDK's defaults (timeouts, limits, redirects, environment
    proxies) plus the completion check. One pair per model: a client shared across ``asyncio.run`` calls keeps
    connections bound to a closed event loop."""
    import openai

    check, acheck = completion_hooks(label, secrets)
    return (
        openai.DefaultHttpxClient(event_hooks={"response": [check]}),
        openai.DefaultAsyncHttpxClient(event_hooks={"response": [acheck]}),
    )


def raw_field(obj: Any, name: str) -> Any:
    """A field of a raw response object: dict key, attribute, or pydantic extra (non-standard fields)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None:
        value = (getattr(obj, "model_extra", None) or {}).get(name)
    return value


def keep_reasoning(message: BaseMessage, raw: Any) -> None:
    """Copy reasoning text (``reasoning_content`` or ``reasoning``) and details from a raw message/delta."""
    text = raw_field(raw, "reasoning_content") or raw_field(raw, "reasoning")
    if isinstance(text, str) and text:
        message.additional_kwargs["reasoning_content"] = text
    details = raw_field(raw, "reasoning_details")
    if isinstance(details, list) and details:
        message.additional_kwargs["reasoning_details"] = [
            d.model_dump() if hasattr(d, "model_dump") else d for d in details
        ]


def secret_of(model: Any) -> list[str]:
    """The model's API key, as a list for ``redact``/``scrub_exception`` (empty without one)."""
    key = getattr(model, "openai_api_key", None)
    value = key.get_secret_value() if hasattr(key, "get_secret_value") else None
    return [value] if isinstance(value, str) and value else []


def scrub_exception(err: BaseException, secrets: list[str]) -> BaseException:
    """Mask keys in an exception (and its causes) in place: servers sometimes echo the key back."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        _scrub_one(current, secrets)
        current = current.__cause__ or current.__context__
    return err


def _scrub_one(err: BaseException, secrets: list[str]) -> None:
    err.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in err.args)
    if isinstance(getattr(err, "message", None), str):
        err.message = redact(err.message, secrets)  # type: ignore[attr-defined]
    body = getattr(err, "body", None)
    if isinstance(body, str):
        err.body = redact(body, secrets)  # type: ignore[attr-defined]
    elif isinstance(body, dict | list):
        err.body = json.loads(redact(json.dumps(body), secrets))  # type: ignore[attr-defined]
