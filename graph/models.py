"""The model registry: one chat model per role, built from the config, cached, and swappable for fakes.

Data flows one way: config -> registry -> nodes. Nodes never build models themselves; tests and the script
API hand the registry ready-made models (fakes included) under the same role names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.rate_limiters import InMemoryRateLimiter
from langchain_core.runnables import Runnable

from graph.config import ConfigError, HarnessConfig, ModelBinding
from graph.providers import Provider

ModelOverride = BaseChatModel | str
DEFAULT_TIMEOUT_S = 600.0
DEFAULT_MAX_RETRIES = 4


def reasoning_kwargs(provider: Provider, binding: ModelBinding) -> dict[str, Any]:
    """Express reasoning/thinking settings the way each provider's API expects them."""
    effort, thinking = binding.reasoning, binding.mode == "thinking"
    style = provider.reasoning_style
    if style == "none" or (effort is None and binding.mode is None):
        return {}
    if style == "openai":
        if thinking and effort is None:
            effort = "medium"
        return {"reasoning_effort": effort} if effort and effort != "none" else {}
    if style == "openrouter":
        if effort == "none" or binding.mode == "fast":
            return {"extra_body": {"reasoning": {"enabled": False}}}
        return {"extra_body": {"reasoning": {"effort": effort or "medium", "exclude": False}}}
    enabled = thinking or effort not in (None, "none")
    body: dict[str, Any] = {"thinking": {"type": "enabled" if enabled else "disabled"}}
    if style == "deepseek" and effort in ("low", "medium", "high"):
        return {"extra_body": body, "reasoning_effort": effort}
    return {"extra_body": body}


class ModelRegistry:
    """Builds and caches the chat model for each role (phase name or ``orchestrator``)."""

    def __init__(
        self,
        config: HarnessConfig,
        overrides: Mapping[str, ModelOverride] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.env = os.environ if env is None else env
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

    def lookup(self, model_id: str) -> tuple[str, str | None]:
        """Map a provider model id back to (catalogue short name, provider)."""
        return self._ids.get(model_id, (model_id, None))

    def chat_model(self, role: str) -> BaseChatModel:
        if role not in self._instances:
            self._instances[role] = self._build(self.binding(role), role)
        return self._instances[role]

    def runnable(self, role: str, **bind_kwargs: Any) -> Runnable:
        """The role's model bound to call options, with its configured fallbacks."""
        primary = self.chat_model(role)
        bound = primary.bind(**bind_kwargs) if bind_kwargs else primary
        binding = self.binding(role)
        if role in self._fakes and not binding.fallback:
            return bound
        fallbacks = [self._fallback(role, binding, name) for name in binding.fallback]
        if not fallbacks:
            return bound
        bound_fallbacks = [fb.bind(**bind_kwargs) if bind_kwargs else fb for fb in fallbacks]
        return bound.with_fallbacks(bound_fallbacks)

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
        from langchain_openai import ChatOpenAI

        provider_name = self.config.provider_name(binding)
        provider = self.config.providers[provider_name]
        model_id = self.config.model_id(binding.model, provider_name)
        self._ids[model_id] = (binding.model, provider_name)
        kwargs: dict[str, Any] = {
            "model": model_id,
            "base_url": self._base_url(provider_name, provider, model_id),
            "api_key": self._api_key(provider_name, provider, role),
            "temperature": binding.temperature if binding.temperature is not None else 0.0,
            "timeout": binding.timeout_s or DEFAULT_TIMEOUT_S,
            "max_retries": DEFAULT_MAX_RETRIES,
            "stream_usage": True,
            "use_responses_api": False,
            **reasoning_kwargs(provider, binding),
        }
        if binding.max_tokens:
            kwargs["max_tokens"] = binding.max_tokens
        limiter = self._limiter(provider_name, provider)
        if limiter:
            kwargs["rate_limiter"] = limiter
        return ChatOpenAI(**kwargs)

    def _base_url(self, name: str, provider: Provider, model_id: str) -> str:
        if provider.embedded:
            from graph.embedded import get_servers

            return get_servers().base_url(model_id)
        if not provider.base_url:
            raise ConfigError(self.config.source_file, f"providers.{name}.base_url", None, "a base_url is required")
        return provider.base_url

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
