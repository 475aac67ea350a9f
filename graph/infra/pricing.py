"""What one model call cost: config overrides, flat subscriptions, else genai-prices for the real provider.

Every call is priced with ``genai_prices.calc_price`` and that call's own usage, so tiered prices (a rate that
changes once the prompt crosses a threshold, e.g. 200k tokens) come out right; a flat per-token rate derived
from a 1M-token call would charge every small call the top tier. The provider is the one that served the call:
our provider names map to genai-prices provider ids (``GENAI_PROVIDER_IDS``), other providers are recognised
by their base URL. Prices are offline (the package's bundled snapshot).

This module takes plain data (rates, provider names and URLs, price refs) so the config layer stays out.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

PER_MTOK = 1_000_000

# Built-in provider names -> genai-prices provider ids (0.2.x). Other providers (custom ones) are recognised by
# base URL (e.g. a `groq` entry pointing at api.groq.com); flat-billed ones never reach genai-prices. OpenCode Go
# and the local servers have no genai-prices entry.
GENAI_PROVIDER_IDS: dict[str, str] = {
    "openrouter": "openrouter",
    "deepseek": "deepseek",
    "openai": "openai",
    "moonshot": "moonshotai",
    "zai": "zai",
}
CATALOGUE_PROVIDER = "openrouter"  # where catalogue ``price_ref``s are listed


@dataclass(frozen=True)
class Rates:
    """USD per token: fresh input, cached (cache-read) input, output."""

    input: float
    cached_input: float
    output: float

    @classmethod
    def per_mtok(cls, input: float, output: float, cached_input: float | None = None) -> Rates:
        cached = input if cached_input is None else cached_input
        return cls(input / PER_MTOK, cached / PER_MTOK, output / PER_MTOK)

    @property
    def peak(self) -> float:
        return max(self.input, self.cached_input, self.output)


FREE = Rates(0.0, 0.0, 0.0)


@dataclass(frozen=True)
class TokenUsage:
    """One call's billable tokens. ``input_tokens`` includes ``cached_tokens``; ``output_tokens`` is billed
    output (reasoning included)."""

    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class PriceSource:
    """Where a price was found: genai-prices provider id and the model ref it matched."""

    provider_id: str | None
    model_ref: str


@dataclass
class CallPricer:
    """Prices calls for one config.

    ``overrides``: model name -> rates (a flat subscription is ``FREE``); ``flat_providers``: providers billed
    by subscription (marginal cost 0); ``price_refs``: model name -> catalogue ref on OpenRouter, used when the
    real provider has no price; ``provider_urls``: provider name -> base URL, to recognise custom providers.
    """

    overrides: Mapping[str, Rates] = field(default_factory=dict)
    flat_providers: Collection[str] = ()
    price_refs: Mapping[str, str] = field(default_factory=dict)
    provider_urls: Mapping[str, str | None] = field(default_factory=dict)

    def price(
        self, model: str, provider: str | None, usage: TokenUsage, model_ids: Iterable[str | None] = ()
    ) -> float | None:
        """USD for one call, or None when no price is known. ``model`` is the config's name for the model (an
        override or catalogue key); ``model_ids`` are the ids the provider served / was asked for."""
        fixed = self._fixed(model, provider)
        if fixed is not None:
            return _round(
                max(usage.input_tokens - usage.cached_tokens, 0) * fixed.input
                + min(usage.cached_tokens, usage.input_tokens) * fixed.cached_input
                + usage.output_tokens * fixed.output
            )
        source = self.source(model, provider, model_ids)
        if source is None:
            return None
        return _round(float(_calc(source, usage).total_price))

    def rates(self, model: str, provider: str | None, model_ids: Iterable[str | None] = ()) -> Rates | None:
        """Per-token rates for display: the base tier where prices are tiered."""
        fixed = self._fixed(model, provider)
        if fixed is not None:
            return fixed
        source = self.source(model, provider, model_ids)
        return _model_rates(source, tier="base") if source else None

    def peak_rate(self, model: str, provider: str | None, model_ids: Iterable[str | None] = ()) -> float | None:
        """The highest USD per token this model can cost (any tier, input or output); None if unknown."""
        fixed = self._fixed(model, provider)
        if fixed is not None:
            return fixed.peak
        source = self.source(model, provider, model_ids)
        return _model_rates(source, tier="top").peak if source else None

    def is_priced(self, model: str, provider: str | None, model_ids: Iterable[str | None] = ()) -> bool:
        return self._fixed(model, provider) is not None or self.source(model, provider, model_ids) is not None

    def _fixed(self, model: str, provider: str | None) -> Rates | None:
        if model in self.overrides:
            return self.overrides[model]
        if provider is not None and provider in self.flat_providers:
            return FREE
        return None

    def source(self, model: str, provider: str | None, model_ids: Iterable[str | None] = ()) -> PriceSource | None:
        """The genai-prices entry for this call: the real provider first (served id, requested id, catalogue
        ref, each also without an ``org/`` prefix), then the catalogue ref on OpenRouter, then — for a provider
        genai-prices does not know — the provider genai-prices infers from the model id."""
        ids = _unique([*model_ids, model])
        ref = self.price_refs.get(model)
        provider_id = genai_provider_id(provider, self.provider_urls.get(provider or ""))
        candidates: list[PriceSource] = []
        if provider_id:
            refs = _unique([*ids, ref, *(_without_org(i) for i in ids)])
            candidates += [PriceSource(provider_id, r) for r in refs]
        if ref:
            candidates.append(PriceSource(CATALOGUE_PROVIDER, ref))
        if provider_id is None:
            candidates += [PriceSource(None, r) for r in _unique([*ids, *(_without_org(i) for i in ids)])]
        return next((c for c in candidates if _known(c)), None)


def genai_provider_id(provider: str | None, base_url: str | None = None) -> str | None:
    """The genai-prices provider id for one of our providers: by name, else by its base URL, else None."""
    if provider and provider.lower() in GENAI_PROVIDER_IDS:
        return GENAI_PROVIDER_IDS[provider.lower()]
    return _provider_by_url(base_url) if base_url else None


@lru_cache(maxsize=64)
def _provider_by_url(base_url: str) -> str | None:
    from genai_prices import data_snapshot

    try:
        return data_snapshot.get_snapshot().find_provider(None, None, base_url).id
    except LookupError:
        return None


@lru_cache(maxsize=1024)
def _known(source: PriceSource) -> bool:
    try:
        _calc(source, TokenUsage(input_tokens=1))
    except LookupError:
        return False
    return True


def _calc(source: PriceSource, usage: TokenUsage) -> Any:
    from genai_prices import Usage, calc_price

    cached = min(usage.cached_tokens, usage.input_tokens)  # genai-prices refuses cache reads above input
    return calc_price(
        Usage(input_tokens=usage.input_tokens, cache_read_tokens=cached, output_tokens=usage.output_tokens),
        model_ref=source.model_ref,
        provider_id=source.provider_id,
    )


def _model_rates(source: PriceSource, tier: Literal["base", "top"]) -> Rates:
    """Per-token rates of a genai-prices entry: its base tier, or its most expensive one."""
    prices = _calc(source, TokenUsage(input_tokens=1)).model_price

    def per_token(key: str) -> float | None:
        value = getattr(prices, key, None)
        if value is None:
            return None
        if hasattr(value, "tiers"):  # TieredPrices: a base rate plus thresholds
            value = value.base if tier == "base" else max([value.base, *(t.price for t in value.tiers)])
        return float(value) / PER_MTOK

    inp = per_token("input_mtok") or 0.0
    cached = per_token("cache_read_mtok")
    return Rates(inp, inp if cached is None else cached, per_token("output_mtok") or 0.0)


_ORG = re.compile(r"^[^/]+/")


def _without_org(model_id: str | None) -> str | None:
    return _ORG.sub("", model_id) if model_id and "/" in model_id else None


def _unique(values: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _round(cost: float) -> float:
    return round(cost, 8)
