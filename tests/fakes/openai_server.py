"""A fake OpenAI-compatible HTTP server for tests, with fault injection.

Stdlib only (``http.server.ThreadingHTTPServer``), bound to 127.0.0.1 on an ephemeral port.

    with FakeOpenAIServer() as server:
        server.script("planner", ["first answer", Reply(content="{}", served_model="other")])
        server.inject(Fault.rate_limit(), model="coder")        # next "coder" request gets a 429
        llm = ChatOpenAI(base_url=server.base_url, api_key="test", model="planner", max_retries=0)
        llm.invoke("hi").content                                # -> "first answer"
        server.count("planner")                                 # -> 1

What is answered for a request, in order:
  1. a fault queued with ``server.inject(fault, model)`` (``model="*"`` matches any model);
  2. the next item of ``server.script(model, [...])`` (str, Reply or Fault; ``"*"`` for any model);
  3. ``server.responder(request)`` -- by default :func:`default_responder`, which returns a minimal
     valid JSON instance when the request carries a ``json_schema`` response_format, forced tool
     calls with minimal arguments, ``"{}"`` for ``json_object`` and ``"OK"`` otherwise.
Faults other than an HTTP status or a reset (delay, truncation, invalid JSON) still consume the reply
from 2./3. and then delay or mangle it.

Every request (faulty or not) is recorded in ``server.requests``. The Authorization header is kept
only in ``ChatRequest.headers`` (excluded from repr) and is never logged.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "ChatRequest",
    "Fault",
    "FakeOpenAIServer",
    "Reply",
    "default_responder",
    "fake_openai_server",
    "minimal_instance",
]

ANY_MODEL = "*"


# --------------------------------------------------------------------------- data model


@dataclass
class Fault:
    """Something going wrong with one request.

    status      -- answer with this HTTP status, ``body`` (dict -> JSON, str -> raw) and ``headers``.
    reset       -- close the socket (TCP RST) without any response.
    delay       -- seconds to sleep before answering (combinable with any other field or none).
    truncate_after -- streaming only: send this many SSE events, then stop without ``[DONE]``.
                   ``truncate_clean=False`` (default) drops the connection mid chunked body (the
                   client sees a protocol error); ``True`` ends the HTTP body properly, so the
                   client just sees the stream end early without a finish_reason.
                   For non-streaming requests a truncated fault sends half a JSON body.
    invalid_json -- answer 200 with a body that is not JSON (for streams: an SSE event that is not JSON).
    """

    status: int | None = None
    body: dict | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False
    delay: float = 0.0
    truncate_after: int | None = None
    truncate_clean: bool = False
    invalid_json: bool = False

    @property
    def replaces_reply(self) -> bool:
        """True when no model reply is sent at all (HTTP error status or reset). Delays, truncation and
        invalid JSON still consume the next scripted/responder reply and mangle it."""
        return self.status is not None or self.reset

    # convenience constructors
    @classmethod
    def http(
        cls,
        status: int,
        message: str | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> Fault:
        message = message or f"fake error {status}"
        body = {
            "error": {
                "message": message,
                "type": _ERROR_TYPES.get(status, "api_error"),
                "param": None,
                "code": code,
            }
        }
        return cls(status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def rate_limit(cls, retry_after: float | int = 1) -> Fault:
        return cls.http(429, "Rate limit reached (fake)", {"Retry-After": str(retry_after)}, code="rate_limit_exceeded")

    @classmethod
    def payment_required(cls) -> Fault:
        return cls.http(402, "Insufficient credits (fake)", code="insufficient_quota")

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls.http(status)

    @classmethod
    def bad_gateway(cls) -> Fault:
        return cls.http(502)

    @classmethod
    def unavailable(cls) -> Fault:
        return cls.http(503, "Service unavailable (fake)")

    @classmethod
    def connection_reset(cls) -> Fault:
        return cls(reset=True)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(delay=seconds)

    @classmethod
    def truncated_stream(cls, after: int = 2, clean: bool = False) -> Fault:
        return cls(truncate_after=after, truncate_clean=clean)

    @classmethod
    def invalid_json_body(cls) -> Fault:
        return cls(invalid_json=True)


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "server_error",
    503: "server_error",
}


@dataclass
class Reply:
    """What the fake model answers. Token counts default to estimates from text length (~4 chars/token).

    tool_calls items: ``{"name": str, "arguments": dict | str, "id"?: str}`` or OpenAI wire format.
    """

    content: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    reasoning: str | None = None
    served_model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int = 0
    finish_reason: str | None = None
    fault: Fault | None = None


@dataclass
class ChatRequest:
    """One recorded request. ``headers`` keys are lower-cased; it is excluded from repr (secrets)."""

    method: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(repr=False, default_factory=dict)
    raw_body: bytes = field(repr=False, default=b"")
    time: float = 0.0

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def response_format(self) -> dict[str, Any] | None:
        return self.body.get("response_format")

    @property
    def json_schema(self) -> dict[str, Any] | None:
        """The JSON schema from ``response_format={"type": "json_schema", ...}``, if any."""
        rf = self.response_format or {}
        if rf.get("type") == "json_schema":
            return (rf.get("json_schema") or {}).get("schema")
        return None

    @property
    def tools(self) -> list[dict[str, Any]]:
        return list(self.body.get("tools") or [])

    @property
    def tool_choice(self) -> Any:
        return self.body.get("tool_choice")

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def include_usage(self) -> bool:
        return bool((self.body.get("stream_options") or {}).get("include_usage"))

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def last_user_text(self) -> str:
        for m in reversed(self.messages):
            if m.get("role") == "user":
                return _text_of(m.get("content"))
        return ""

    @property
    def system_text(self) -> str:
        return "\n".join(_text_of(m.get("content")) for m in self.messages if m.get("role") in ("system", "developer"))


Responder = Callable[[ChatRequest], "Reply | str"]


# --------------------------------------------------------------------------- default responder


def minimal_instance(schema: dict[str, Any], root: dict[str, Any] | None = None, _depth: int = 0) -> Any:
    """A small instance valid against ``schema`` (common JSON-schema subset, no ``pattern`` support)."""
    root = schema if root is None else root
    if _depth > 40:
        return None
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        return minimal_instance(_resolve_ref(root, schema["$ref"]), root, _depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "allOf" in schema:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for sub in schema["allOf"]:
            sub = _resolve_ref(root, sub["$ref"]) if "$ref" in sub else sub
            for k, v in sub.items():
                if k in ("properties",):
                    merged.setdefault(k, {}).update(v)
                elif k == "required":
                    merged[k] = list(dict.fromkeys([*merged.get(k, []), *v]))
                else:
                    merged.setdefault(k, v)
        return minimal_instance(merged, root, _depth + 1)
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            branches = schema[key]
            non_null = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
            return minimal_instance((non_null or branches)[0], root, _depth + 1)
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), typ[0] if typ else None)
    if typ is None:
        if "properties" in schema:
            typ = "object"
        elif "items" in schema:
            typ = "array"
        else:
            return "x"
    if typ == "object":
        props = schema.get("properties") or {}
        return {name: minimal_instance(props.get(name, {}), root, _depth + 1) for name in schema.get("required", [])}
    if typ == "array":
        n = max(1, int(schema.get("minItems", 0)))
        if "maxItems" in schema:
            n = min(n, int(schema["maxItems"]))
        items = schema.get("items") or {}
        if isinstance(items, list):  # tuple form
            return [minimal_instance(s, root, _depth + 1) for s in items]
        values = [minimal_instance(items, root, _depth + 1) for _ in range(n)]
        if schema.get("uniqueItems") and n > 1 and all(isinstance(v, str) for v in values):
            values = [f"{v}{i}" for i, v in enumerate(values)]
        return values
    if typ == "string":
        fmt = schema.get("format")
        if fmt in _FORMATS:
            return _FORMATS[fmt]
        length = max(1, int(schema.get("minLength", 1)))
        if "maxLength" in schema:
            length = min(length, int(schema["maxLength"]))
        return "x" * length
    if typ in ("integer", "number"):
        value: float = 0
        if "minimum" in schema:
            value = max(value, schema["minimum"]) if "maximum" not in schema else schema["minimum"]
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            value = schema["exclusiveMinimum"] + 1
        if "maximum" in schema and value > schema["maximum"]:
            value = schema["maximum"]
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            value = schema["exclusiveMaximum"] - 1
        return int(math.ceil(value)) if typ == "integer" else value
    if typ == "boolean":
        return True
    if typ == "null":
        return None
    return "x"


_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "x@example.com",
    "uri": "http://example.com/",
    "url": "http://example.com/",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


def _resolve_ref(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#"):
        raise ValueError(f"only local $ref supported, got {ref!r}")
    node: Any = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if part:
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def default_responder(request: ChatRequest) -> Reply:
    """Zero-scripting answers: schema-valid JSON, forced tool calls, or plain ``"OK"``."""
    schema = request.json_schema
    if schema is not None:
        return Reply(content=json.dumps(minimal_instance(schema)))
    forced = _forced_tool(request)
    if forced is not None:
        params = (forced.get("function") or {}).get("parameters") or {"type": "object"}
        return Reply(tool_calls=[{"name": forced["function"]["name"], "arguments": minimal_instance(params)}])
    if (request.response_format or {}).get("type") == "json_object":
        return Reply(content="{}")
    return Reply(content="OK")


def _forced_tool(request: ChatRequest) -> dict[str, Any] | None:
    tools = [t for t in request.tools if t.get("type", "function") == "function"]
    choice = request.tool_choice
    if not tools or choice in (None, "none", "auto"):
        return None
    if choice in ("required", "any"):
        return tools[0]
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        return next((t for t in tools if t["function"]["name"] == name), None)
    return None


# --------------------------------------------------------------------------- server


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self.sockets_lock:
            socks, self.open_sockets = list(self.open_sockets), set()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet: clients hang up a lot
        pass


class FakeOpenAIServer:
    """Threaded fake OpenAI server; see module docstring. Use as context manager or call start()/close()."""

    def __init__(
        self,
        responder: Responder | None = None,
        models: Iterable[str] = ("fake-model",),
        stream_chunk_chars: int = 8,
    ) -> None:
        self.responder: Responder = responder or default_responder
        self.models: list[str] = list(models)
        self.stream_chunk_chars = stream_chunk_chars
        self.faults: dict[str, deque[Fault]] = defaultdict(deque)
        self.scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self.errors: list[BaseException] = []  # exceptions raised by the responder (answered as 500)
        self._requests: list[ChatRequest] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ids = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle
    def start(self) -> FakeOpenAIServer:
        if self._httpd is not None:
            return self
        self._closing.clear()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-openai:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._closing.set()  # wakes handlers sleeping on a delay fault
        httpd.shutdown()
        httpd.server_close()
        httpd.drop_connections()  # keep-alive handler threads see EOF and exit
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    # ---- configuration
    def script(self, model: str, replies: Iterable[Reply | Fault | str]) -> FakeOpenAIServer:
        """Queue replies for requests naming ``model`` (``"*"`` = any model); falls back to the responder."""
        items = [_coerce_reply(r) for r in replies]
        with self._lock:
            self.scripts[model].extend(items)
        return self

    def inject(self, fault: Fault, model: str = ANY_MODEL, times: int = 1) -> FakeOpenAIServer:
        """Queue ``fault`` for the next ``times`` requests naming ``model`` (``"*"`` = any model)."""
        with self._lock:
            self.faults[model].extend([fault] * times)
        return self

    def reset(self) -> None:
        """Forget queued faults/scripts, recorded requests and errors (responder is kept)."""
        with self._lock:
            self.faults.clear()
            self.scripts.clear()
            self._requests.clear()
            self.errors.clear()

    # ---- recording
    @property
    def requests(self) -> list[ChatRequest]:
        """Snapshot of the chat-completion requests received so far (including faulted ones)."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, model: str) -> list[ChatRequest]:
        return [r for r in self.requests if r.model == model]

    def count(self, model: str | None = None) -> int:
        return len(self.requests if model is None else self.requests_for(model))

    @property
    def last(self) -> ChatRequest | None:
        reqs = self.requests
        return reqs[-1] if reqs else None

    # ---- internals used by the handler
    def _record(self, request: ChatRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _pop(self, queues: dict[str, deque], model: str) -> Any:
        with self._lock:
            for key in (model, ANY_MODEL):
                q = queues.get(key)
                if q:
                    return q.popleft()
        return None

    def _decide(self, request: ChatRequest) -> tuple[Reply | None, Fault | None]:
        fault = self._pop(self.faults, request.model)
        if fault is not None and fault.replaces_reply:
            return None, fault
        reply = self._pop(self.scripts, request.model)
        if reply is None:
            try:
                reply = _coerce_reply(self.responder(request))
            except Exception as exc:  # surfaced to the client as a 500 and kept in .errors
                with self._lock:
                    self.errors.append(exc)
                return None, Fault.http(500, f"fake responder raised {type(exc).__name__}: {exc}")
        if reply.fault is not None:
            fault = _merge_faults(fault, reply.fault)
        return reply, fault

    def _next_id(self) -> int:
        return next(self._ids)

    def _model_list(self) -> list[str]:
        with self._lock:
            seen = [*self.models, *self.scripts, *self.faults, *(r.model for r in self._requests)]
        return [m for m in dict.fromkeys(seen) if m and m != ANY_MODEL]


def _merge_faults(a: Fault | None, b: Fault) -> Fault:
    """Combine an injected fault ``a`` with a reply's own fault ``b`` (b wins, delays add up)."""
    if a is None:
        return b
    default = Fault()
    merged = Fault(**{f.name: getattr(a, f.name) for f in fields(Fault)})
    for f in fields(Fault):
        if getattr(b, f.name) != getattr(default, f.name):
            setattr(merged, f.name, getattr(b, f.name))
    merged.delay = a.delay + b.delay
    return merged


def _coerce_reply(item: Reply | Fault | str) -> Reply:
    if isinstance(item, Reply):
        return item
    if isinstance(item, Fault):
        return Reply(fault=item)
    if isinstance(item, str):
        return Reply(content=item)
    raise TypeError(f"expected Reply, Fault or str, got {type(item).__name__}")


# --------------------------------------------------------------------------- wire format


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return str(content)


def _estimate_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _wire_tool_calls(reply: Reply, first_id: int) -> list[dict[str, Any]]:
    out = []
    for i, tc in enumerate(reply.tool_calls or []):
        fn = tc.get("function") or tc
        args = fn.get("arguments", {})
        out.append(
            {
                "id": tc.get("id") or f"call_{first_id}_{i}",
                "type": "function",
                "function": {
                    "name": fn["name"],
                    "arguments": args if isinstance(args, str) else json.dumps(args),
                },
            }
        )
    return out


def _usage(request: ChatRequest, reply: Reply, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
    prompt_text = "".join(_text_of(m.get("content")) + json.dumps(m.get("tool_calls") or "") for m in request.messages)
    prompt = reply.prompt_tokens if reply.prompt_tokens is not None else max(1, _estimate_tokens(prompt_text))
    reasoning = (
        reply.reasoning_tokens if reply.reasoning_tokens is not None else _estimate_tokens(reply.reasoning or "")
    )
    completion = reply.completion_tokens
    if completion is None:
        out_text = reply.content + "".join(t["function"]["name"] + t["function"]["arguments"] for t in tool_calls)
        completion = _estimate_tokens(out_text) + reasoning
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] if text else []


def _sse_events(
    request: ChatRequest,
    reply: Reply,
    cid: str,
    model: str,
    created: int,
    tool_calls: list[dict[str, Any]],
    finish: str,
    usage: dict[str, Any],
    size: int,
) -> Iterator[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }

    yield chunk({"role": "assistant", "content": ""})
    for piece in _chunks(reply.reasoning or "", size):
        yield chunk({"reasoning_content": piece})
    for piece in _chunks(reply.content, size):
        yield chunk({"content": piece})
    for i, tc in enumerate(tool_calls):
        yield chunk(
            {
                "tool_calls": [
                    {
                        "index": i,
                        "id": tc["id"],
                        "type": "function",
                        "function": {"name": tc["function"]["name"], "arguments": ""},
                    }
                ]
            }
        )
        for piece in _chunks(tc["function"]["arguments"], size * 4):
            yield chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    yield chunk({}, finish)
    if request.include_usage:
        yield {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fake",
            "choices": [],
            "usage": usage,
        }


def _make_handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeOpenAI/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # never log (no secrets in output)
            pass

        # ---- helpers
        def _send(
            self,
            status: int,
            body: bytes | str | dict | None,
            headers: dict[str, str] | None = None,
            content_type: str = "application/json",
        ) -> None:
            if isinstance(body, dict):
                body = json.dumps(body)
            data = body.encode() if isinstance(body, str) else (body or b"")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", f"req_fake_{server._next_id()}")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _reset(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

        def _write_chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        # ---- routes
        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/v1/models":
                data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in server._model_list()]
                self._send(200, {"object": "list", "data": data})
            elif path.startswith("/v1/models/"):
                self._send(
                    200,
                    {"id": path[len("/v1/models/") :], "object": "model", "created": 0, "owned_by": "fake"},
                )
            else:
                self._send(404, Fault.http(404, f"no route GET {path}").body)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0].rstrip("/")
            if path != "/v1/chat/completions":
                self._send(404, Fault.http(404, f"no route POST {path}").body)
                return
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("body is not an object")
            except ValueError:
                self._send(400, Fault.http(400, "request body is not valid JSON").body)
                return
            request = ChatRequest(
                method="POST",
                path=path,
                body=body,
                raw_body=raw,
                time=time.time(),
                headers={k.lower(): v for k, v in self.headers.items()},
            )
            server._record(request)
            reply, fault = server._decide(request)
            try:
                self._answer(request, reply, fault)
            except (BrokenPipeError, ConnectionResetError, OSError):  # client gave up (e.g. timeout)
                self.close_connection = True

        def _answer(self, request: ChatRequest, reply: Reply | None, fault: Fault | None) -> None:
            if fault is not None and fault.delay > 0 and server._closing.wait(fault.delay):
                self.close_connection = True
                return
            if fault is not None and fault.reset:
                self._reset()
                return
            if fault is not None and fault.status is not None:
                self._send(fault.status, fault.body if fault.body is not None else "", fault.headers)
                return
            if fault is not None and fault.invalid_json and not request.stream:
                self._send(200, b'{"id": "chatcmpl-broken", "choices": [{"message": ', fault.headers)
                return
            reply = reply or Reply(content="")
            n = server._next_id()
            cid, created = f"chatcmpl-fake{n}", int(time.time())
            model = reply.served_model or request.model
            tool_calls = _wire_tool_calls(reply, n)
            finish = reply.finish_reason or ("tool_calls" if tool_calls else "stop")
            usage = _usage(request, reply, tool_calls)
            if request.stream:
                self._stream(request, reply, fault, cid, model, created, tool_calls, finish, usage)
                return
            message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
            if tool_calls:
                message["tool_calls"] = tool_calls
                message["content"] = reply.content or None
            if reply.reasoning is not None:
                message["reasoning_content"] = reply.reasoning
            payload = {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "system_fingerprint": "fake",
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": usage,
            }
            data = json.dumps(payload).encode()
            if fault is not None and fault.truncate_after is not None:
                # non-streaming truncation: promise the full length, send half, hang up
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self._reset()
                return
            self._send(200, data, fault.headers if fault else None)

        def _stream(
            self,
            request: ChatRequest,
            reply: Reply,
            fault: Fault | None,
            cid: str,
            model: str,
            created: int,
            tool_calls: list[dict[str, Any]],
            finish: str,
            usage: dict[str, Any],
        ) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("x-request-id", f"req_fake_{server._next_id()}")
            for k, v in (fault.headers if fault else {}).items():
                self.send_header(k, v)
            self.end_headers()
            events = list(
                _sse_events(request, reply, cid, model, created, tool_calls, finish, usage, server.stream_chunk_chars)
            )
            limit = fault.truncate_after if fault is not None else None
            for i, event in enumerate(events):
                if limit is not None and i >= limit:
                    if fault is not None and fault.truncate_clean:
                        self.wfile.write(b"0\r\n\r\n")
                        self.close_connection = True
                    else:
                        self._reset()
                    return
                if fault is not None and fault.invalid_json and i == 1:
                    self._write_chunk(b"data: {not json\n\n")
                self._write_chunk(f"data: {json.dumps(event)}\n\n".encode())
            self._write_chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")

    return Handler


# --------------------------------------------------------------------------- pytest fixture

try:  # pytest is a dev dependency; keep the module importable without it
    import pytest
except ImportError:  # pragma: no cover
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def fake_openai_server() -> Iterator[FakeOpenAIServer]:
        """A started FakeOpenAIServer, closed after the test.

        Register with ``pytest_plugins = ["tests.fakes.openai_server"]`` in tests/conftest.py.
        """
        with FakeOpenAIServer() as server:
            yield server
