"""The model registry: one chat model per role, built from the config, cached, and swappable for fakes.

Data flows one way: config -> registry -> nodes. Nodes never build models themselves; tests and the script
API hand the registry ready-made models (fakes included) under the same role names.

Resilience, layered with library mechanisms only:

1. the openai SDK's own retries (``max_retries``): 408/409/429/5xx, connection errors and timeouts, with
   exponential backoff that honours ``Retry-After`` / ``retry-after-ms``;
2. ``RunnableRetry`` around each real model for faults the SDK does not retry: a 200 whose body is not JSON
   or not a chat completion (``JSONDecodeError`` / ``MalformedResponseError``, raised by the response hook of
   ``graph.infra.chat_http`` on each model's own HTTP clients);
3. ``with_fallbacks`` to the binding's ``fallback: [...]`` models on any provider fault left after that
   (402, exhausted 429/5xx, timeouts, auth, bad bodies) — never on a merely bad answer, which
   ``sdd_harness.graph.core.llm.ask_structured`` repairs by re-asking;
4. a per-provider ``InMemoryRateLimiter`` (``requests_per_second``).

Every attempt that reaches a model (failed or served) is a separate LLM run, so ``graph.core.usage.CallRecorder``
records it. Keys come from the environment (or a ``.env`` file, see ``graph.infra.dotenv``), never from configs.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from functools import cache, wraps
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.rate_limiters import InMemoryRateLimiter
from langchain_core.runnables import Runnable
from langchain_core.runnables.retry import RunnableRetry

from sdd_harness.graph.core.config import ConfigError, HarnessConfig, ModelBinding
from sdd_harness.graph.infra.chat_http import (
    MalformedResponseError,
    chat_http_clients,
    keep_reasoning,
    raw_field,
    scrub_exception,
    secret_of,
)
from sdd_harness.graph.infra.dotenv import EnvWithDotenv
from sdd_harness.graph.infra.providers import Provider

ModelOverride = BaseChatModel | str
ESCALATE = "#escalate"  # the role suffix of a role's escalation model
DEFAULT_TIMEOUT_S = 600.0
DEFAULT_MAX_RETRIES = 4
BODY_RETRY_ATTEMPTS = 3  # attempts (not retries) for a 200 with a broken body
BODY_RETRY_WAIT: dict[str, float] = {"multiplier": 0.5, "max": 8.0, "jitter": 0.5}  # tenacity wait_exponential_jitter


@cache
def provider_faults() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the provider failed" (fallback material), as opposed to "the answer was bad"."""
    import openai
    from langchain_core.exceptions import ModelError

    transport: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):  # streams surface raw transport errors mid-body
        try:
            transport.append(__import__(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return (
        openai.APIError,
        ModelError,
        json.JSONDecodeError,
        MalformedResponseError,
        TimeoutError,
        *transport,
    )


def body_faults() -> tuple[type[BaseException], ...]:
    """Faults the openai SDK does not retry but a second request usually cures."""
    return (json.JSONDecodeError, MalformedResponseError)


def reasoning_kwargs(provider: Provider, binding: ModelBinding) -> dict[str, Any]:
    """Express reasoning/thinking settings the way each provider's API expects them (see graph.infra.providers).

    Nothing configured -> nothing sent (the provider's default applies).
    """
    effort, thinking = binding.reasoning, binding.mode == "thinking"
    style = provider.reasoning_style
    if style == "none" or (effort is None and binding.mode is None):
        return {}
    off = effort == "none" or binding.mode == "fast"
    if style == "openai":
        if thinking and effort is None:
            effort = "medium"
        return {"reasoning_effort": effort} if effort and effort != "none" else {}
    if style == "ollama":  # Ollama's /v1 only turns thinking off with reasoning_effort "none"
        return {"reasoning_effort": "none" if off else effort or "medium"}
    if style == "chat_template":  # vLLM / llama.cpp: Qwen3-style templates read enable_thinking
        return {"extra_body": {"chat_template_kwargs": {"enable_thinking": not off}}}
    if style == "openrouter":
        if off:
            return {"extra_body": {"reasoning": {"enabled": False}}}
        return {"extra_body": {"reasoning": {"effort": effort or "medium", "exclude": False}}}
    enabled = thinking or effort not in (None, "none")
    body: dict[str, Any] = {"thinking": {"type": "enabled" if enabled else "disabled"}}
    if style == "deepseek" and enabled and effort in ("low", "medium", "high"):
        return {"extra_body": body, "reasoning_effort": effort}
    return {"extra_body": body}


# ChatOpenAI methods HarnessChatOpenAI extends that LangChain does not document: reasoning text has no public
# hook (ChatOpenAI drops non-standard response fields by design; langchain-deepseek, -moonshot and -openrouter
# override these same methods). Checked when the class is built, so a rename fails loudly, not silently.
PRIVATE_HOOKS = ("_create_chat_result", "_convert_chunk_to_generation_chunk", "_get_request_payload")


def missing_hooks(base: type) -> list[str]:
    """The ``PRIVATE_HOOKS`` that ``base`` no longer has (empty on every langchain-openai we support)."""
    return [name for name in PRIVATE_HOOKS if not callable(getattr(base, name, None))]


@cache
def chat_openai_class() -> type[BaseChatModel]:
    """``ChatOpenAI`` that keeps reasoning text, echoes it where the provider wants it, refuses malformed
    bodies and hides its key.

    Public hooks where they exist: malformed 200 bodies are caught by an httpx response hook on the model's own
    HTTP clients (``graph.infra.chat_http``); keys are scrubbed from errors in ``_generate`` / ``_stream`` and
    their async twins, the extension points LangChain documents for chat models. Reasoning uses
    ``PRIVATE_HOOKS``. Built lazily: importing langchain_openai costs ~2 s and the CLI must start fast.
    """
    from langchain_openai import ChatOpenAI
    from pydantic import model_validator

    if missing := missing_hooks(ChatOpenAI):
        raise ImportError(f"langchain-openai no longer has {', '.join(missing)}; reasoning text would be lost")

    class HarnessChatOpenAI(ChatOpenAI):
        reasoning_echo: str | None = None
        """Assistant-message field that carries earlier reasoning back (``reasoning_content`` for
        DeepSeek/Kimi/GLM, ``reasoning_details`` for OpenRouter); None = never sent back."""

        @model_validator(mode="before")
        @classmethod
        def _checked_http_clients(cls, values: Any) -> Any:
            """Unless the caller brings its own, HTTP clients that refuse a 200 that is not a chat completion."""
            if isinstance(values, dict) and not values.get("http_client") and not values.get("http_async_client"):
                label = values.get("model") or values.get("model_name") or "model"
                key = values.get("api_key") or values.get("openai_api_key")
                secret = key.get_secret_value() if hasattr(key, "get_secret_value") else key
                sync, async_ = chat_http_clients(str(label), [secret] if isinstance(secret, str) else [])
                values = {**values, "http_client": sync, "http_async_client": async_}
            return values

        def _create_chat_result(self, response: Any, generation_info: dict | None = None) -> Any:
            result = super()._create_chat_result(response, generation_info)
            for generation, choice in zip(result.generations, raw_field(response, "choices") or [], strict=False):
                keep_reasoning(generation.message, raw_field(choice, "message"))
            return result

        def _convert_chunk_to_generation_chunk(
            self, chunk: dict, default_chunk_class: type, base_generation_info: dict | None
        ) -> Any:
            generation = super()._convert_chunk_to_generation_chunk(chunk, default_chunk_class, base_generation_info)
            choices = chunk.get("choices") or (chunk.get("chunk") or {}).get("choices") or []
            if generation is not None and choices:
                keep_reasoning(generation.message, choices[0].get("delta"))
            return generation

        def _get_request_payload(self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any) -> dict:
            payload = super()._get_request_payload(input_, stop=stop, **kwargs)
            field = self.reasoning_echo
            if field and isinstance(payload.get("messages"), list):
                messages = self._convert_input(input_).to_messages()
                for source, wire in zip(messages, payload["messages"], strict=False):
                    value = source.additional_kwargs.get(field) if isinstance(source, AIMessage) else None
                    if value and wire.get("role") == "assistant":
                        wire[field] = value
            return payload

        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super()._generate(*args, **kwargs)
            except Exception as err:
                scrub_exception(err, secret_of(self))
                raise

        async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return await super()._agenerate(*args, **kwargs)
            except Exception as err:
                scrub_exception(err, secret_of(self))
                raise

        def _stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from super()._stream(*args, **kwargs)
            except Exception as err:
                scrub_exception(err, secret_of(self))
                raise

        async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            try:
                async for chunk in super()._astream(*args, **kwargs):
                    yield chunk
            except Exception as err:
                scrub_exception(err, secret_of(self))
                raise

    return HarnessChatOpenAI


class ResilientModel(RunnableRetry):
    """``RunnableRetry`` for body faults that still offers the chat model's builders (``bind_tools``...),
    so ``with_fallbacks`` and tool-calling phases can use it like the model itself."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            return super().__getattr__(name)  # type: ignore[misc]  # pydantic private attributes
        attr = getattr(self.bound, name)
        if not callable(attr) or isinstance(attr, type):
            return attr

        @wraps(attr)
        def rewrap(*args: Any, **kwargs: Any) -> Any:
            out = attr(*args, **kwargs)
            return self.model_copy(update={"bound": out}) if isinstance(out, Runnable) else out

        return rewrap


def resilient(model: Runnable) -> ResilientModel:
    """Retry ``model`` on body faults (bounded, exponential backoff with jitter)."""
    return ResilientModel(
        bound=model,
        kwargs={},
        config={},
        retry_exception_types=body_faults(),
        max_attempt_number=BODY_RETRY_ATTEMPTS,
        wait_exponential_jitter=True,
        exponential_jitter_params=dict(BODY_RETRY_WAIT),  # type: ignore[arg-type]
    )


class ModelRegistry:
    """Builds and caches the chat model for each role (phase name or ``orchestrator``)."""

    def __init__(
        self,
        config: HarnessConfig,
        overrides: Mapping[str, ModelOverride] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        max_retries: int | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self.config = config
        self.env = EnvWithDotenv() if env is None else env  # os.environ first, then .env files (lazily)
        self.max_retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
        self.timeout_s = timeout_s
        self._instances: dict[str, BaseChatModel] = {}
        self._bindings: dict[str, ModelBinding] = {}
        self._limiters: dict[str, InMemoryRateLimiter] = {}
        self._ids: dict[str, tuple[str, str | None]] = {}
        self._fakes: set[str] = set()
        for role, value in (overrides or {}).items():
            if isinstance(value, BaseChatModel):
                self._instances[role] = value
                self._fakes.add(role)
                name = _fake_name(value)
                self._ids.setdefault(name, (name, None))
            else:
                self._bindings[role] = self._parse_override(role, value)

    def _parse_override(self, role: str, value: str) -> ModelBinding:
        base = self.config.binding(role)
        source, _, model = value.partition(":")
        if model and source in self.config.providers:
            return base.model_copy(update={"model": model, "source": source})
        return base.model_copy(update={"model": value})

    def binding(self, role: str) -> ModelBinding:
        return self._bindings.get(role) or self.config.binding(role)

    def describe(self, role: str) -> tuple[str, str]:
        """(requested model id, provider) for the report — what we will ask for."""
        if role in self._fakes:
            return _fake_name(self._instances[role]), "fake"
        binding = self.binding(role)
        provider = self.config.provider_name(binding)
        return self.config.model_id(binding.model, provider), provider

    def check_keys(self) -> None:
        """Fail before anything runs if a role's provider key is missing (names the variable)."""
        for role in self.config.roles():
            if role in self._fakes:
                continue
            binding = self.binding(role)
            name = self.config.provider_name(binding)
            self._api_key(name, self.config.providers[name], role)
            for fallback in binding.fallback:
                source, _, model = fallback.partition(":")
                if model and source in self.config.providers:
                    self._api_key(source, self.config.providers[source], role)

    def check_ready(self) -> None:
        """Fail before anything runs or is written: missing keys, or local models that are not installed."""
        self.check_keys()
        self.check_local_models()

    def check_local_models(self) -> None:
        """``LocalModelsMissing`` when a role is served by an embedded model whose packages are not installed."""
        from sdd_harness.graph.core.readiness import check_local_models

        check_local_models(self.config, {r: self.binding(r) for r in self.config.roles() if r not in self._fakes})

    def lookup(self, model_id: str) -> tuple[str, str | None]:
        """Map a provider model id back to (catalogue short name, provider)."""
        return self._ids.get(model_id, (model_id, None))

    def chat_model(self, role: str) -> BaseChatModel:
        if role not in self._instances:
            self._instances[role] = self._build(self.binding(role), role)
        return self._instances[role]

    def runnable(self, role: str, **bind_kwargs: Any) -> Runnable:
        """The role's model bound to call options, retried on body faults, with its configured fallbacks."""
        binding = self.binding(role)
        primary = self._resilient(role, self.chat_model(role))
        bound = primary.bind(**bind_kwargs) if bind_kwargs else primary
        fallbacks = [self._resilient(None, self._fallback(role, binding, name)) for name in binding.fallback]
        if not fallbacks:
            return bound
        bound_fallbacks = [fb.bind(**bind_kwargs) if bind_kwargs else fb for fb in fallbacks]
        return bound.with_fallbacks(bound_fallbacks, exceptions_to_handle=provider_faults())

    def escalation(self, role: str, **bind_kwargs: Any) -> Runnable | None:
        """The stronger model a role names under ``escalate:``, for the retry after a failed first answer
        (a fake registered as ``<role>#escalate`` stands in for it in tests); None when there is none."""
        key = f"{role}{ESCALATE}"
        if key not in self._instances:
            name = self.binding(role).escalate
            if not name:
                return None
            source, _, model = name.partition(":")
            update = (
                {"model": model, "source": source} if model and source in self.config.providers else {"model": name}
            )
            self._instances[key] = self._build(self.binding(role).model_copy(update=update | {"fallback": []}), role)
        model = self._resilient(key, self._instances[key])
        return model.bind(**bind_kwargs) if bind_kwargs else model

    def escalated_name(self, role: str) -> str | None:
        key = f"{role}{ESCALATE}"
        if key in self._fakes:
            return _fake_name(self._instances[key])
        return self.binding(role).escalate

    def _resilient(self, role: str | None, model: BaseChatModel) -> Runnable:
        return model if role in self._fakes else resilient(model)

    def _fallback(self, role: str, binding: ModelBinding, name: str) -> BaseChatModel:
        key = f"{role}#fallback:{name}"
        if key not in self._instances:
            source, _, model = name.partition(":")
            update = (
                {"model": model, "source": source} if model and source in self.config.providers else {"model": name}
            )
            self._instances[key] = self._build(binding.model_copy(update=update | {"fallback": []}), role)
        return self._instances[key]

    def _build(self, binding: ModelBinding, role: str) -> BaseChatModel:
        provider_name = self.config.provider_name(binding)
        provider = self.config.providers[provider_name]
        model_id = self.config.model_id(binding.model, provider_name)
        self._ids[model_id] = (binding.model, provider_name)
        kwargs: dict[str, Any] = {
            "model": model_id,
            "base_url": self._base_url(provider_name, provider, model_id),
            "api_key": self._api_key(provider_name, provider, role),
            "temperature": binding.temperature if binding.temperature is not None else 0.0,
            "timeout": self.timeout_s or binding.timeout_s or DEFAULT_TIMEOUT_S,  # the model has its own clients
            "max_retries": self.max_retries,
            "stream_usage": True,
            "streaming": provider.embedded,  # a local call takes minutes: stream it, so progress can be shown
            "use_responses_api": False,
            "reasoning_echo": provider.echo_field(),
            **reasoning_kwargs(provider, binding),
        }
        if binding.max_tokens:
            kwargs["max_tokens"] = binding.max_tokens
        limiter = self._limiter(provider_name, provider)
        if limiter:
            kwargs["rate_limiter"] = limiter
        return chat_openai_class()(**kwargs)

    def _base_url(self, name: str, provider: Provider, model_id: str) -> str:
        if provider.embedded:
            from sdd_harness.graph.infra.embedded import get_servers

            servers = get_servers()
            url = servers.base_url(model_id, provider.server_options(model_id))
            servers.warm(self._local_models())  # the run's other local models load while this one answers
            return url
        if not provider.base_url:
            raise ConfigError(self.config.source_file, f"providers.{name}.base_url", None, "a base_url is required")
        return provider.base_url

    def _local_models(self) -> dict[str, Any]:
        """Embedded model id -> its server options, for each role of the run bound to one."""
        ids = [self.describe(role) for role in self.config.roles() if role not in self._fakes]
        return {m: self.config.providers[p].server_options(m) for m, p in ids if self.config.providers[p].embedded}

    def _api_key(self, name: str, provider: Provider, role: str) -> str:
        if not provider.api_key_env:
            return "not-needed"
        key = self.env.get(provider.api_key_env)
        if not key:
            base_role = role.split("#", 1)[0]
            raise ConfigError(
                self.config.source_file,
                "orchestrator.source" if base_role == "orchestrator" else f"phases.{base_role}.source",
                name,
                f"environment variable {provider.api_key_env} is not set; export it to use {name}",
            )
        return key

    def _limiter(self, name: str, provider: Provider) -> InMemoryRateLimiter | None:
        if not provider.requests_per_second:
            return None
        if name not in self._limiters:
            self._limiters[name] = InMemoryRateLimiter(
                requests_per_second=provider.requests_per_second,
                check_every_n_seconds=0.05,
                max_bucket_size=max(1, int(provider.requests_per_second)),
            )
        return self._limiters[name]

    def close(self) -> None:
        self._instances.clear()


def _fake_name(model: BaseChatModel) -> str:
    for attr in ("model_name", "model", "name"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__
