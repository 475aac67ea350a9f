"""Checks of a config's ``providers:`` that field types cannot express: the names the harness connects with
(URL, key variable) and the llama.cpp server options of embedded models. Each problem is one ``ConfigError``."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from sdd_harness.graph.core.errors import ConfigError
from sdd_harness.graph.infra.providers import Provider


def check_connections(providers: Mapping[str, Provider], file: str) -> None:
    for name, provider in providers.items():
        _check_connection(name, provider, file)


def check_servers(providers: Mapping[str, Provider], file: str) -> None:
    for name, provider in providers.items():
        _check_servers(name, provider, file)


def _check_connection(name: str, provider: Provider, file: str) -> None:
    """A provider's URL and key variable are names the harness connects with: empty or scheme-less is refused."""
    if provider.base_url is not None:
        try:
            url = urlsplit(provider.base_url.strip())
            usable = url.scheme in ("http", "https") and bool(url.hostname)
        except ValueError:
            usable = False
        if not usable:
            raise ConfigError(
                file,
                f"providers.{name}.base_url",
                provider.base_url,
                "must be the http(s) URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8080/v1 "
                "(leave it out only for the embedded provider)",
            )
    if provider.api_key_env is not None and not provider.api_key_env.strip():
        raise ConfigError(
            file,
            f"providers.{name}.api_key_env",
            provider.api_key_env,
            "must not be empty: name the environment variable that holds the key, or null for no key",
        )


def _check_servers(name: str, provider: Provider, file: str) -> None:
    """Embedded server options name real embedded models, and no model drafts for itself."""
    key = f"providers.{name}.servers"
    if provider.servers and not provider.embedded:
        raise ConfigError(file, key, sorted(provider.servers), "only the embedded provider starts its own servers")
    for model, options in provider.servers.items():
        try:
            options.check_for(model)
        except ValueError as err:
            draft = options.speculation.draft_model if options.speculation else None
            where = f"{key}.{model}" if draft != model else f"{key}.{model}.speculation.draft_model"
            raise ConfigError(file, where, model, str(err)) from None
