"""Every model call, recorded: who asked, which model was requested, which one answered, tokens, time, cost.

The recorder is a LangChain callback handler, so it sees the real underlying calls — including each
fallback attempt — without nodes having to remember to log anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage
from langchain_core.outputs import LLMResult
from pydantic import BaseModel

from sdd_harness.graph.core.config import HarnessConfig
from sdd_harness.graph.infra.dotenv import redact

REASONING_CHARS = 16_000  # reasoning text kept per call in the run log


class CallRecord(BaseModel):
    """One model request as the run report shows it."""

    phase: str
    requested_model: str
    served_model: str | None = None
    provider: str | None = None
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    seconds: float = 0.0
    cost_usd: float | None = 0.0
    ok: bool = True
    error: str | None = None
    reasoning: str | None = None

    @property
    def routing_mismatch(self) -> bool:
        return bool(self.served_model) and not _same_model(self.requested_model, self.served_model or "")


def _same_model(requested: str, served: str) -> bool:
    """Providers decorate ids (``org/model``, date suffixes); compare the meaningful part."""
    req, srv = requested.lower().split("/")[-1], served.lower().split("/")[-1]
    return srv == req or srv.startswith(req) or req.startswith(srv)


@lru_cache(maxsize=256)
def _catalog_price(price_ref: str) -> tuple[float, float, float] | None:
    """(input, cached input, output) USD per token from genai-prices, offline."""
    from genai_prices import Usage, calc_price

    try:
        million = 1_000_000
        full = calc_price(
            Usage(input_tokens=million, output_tokens=million), model_ref=price_ref, provider_id="openrouter"
        )
        cached = calc_price(
            Usage(input_tokens=million, cache_read_tokens=million),
            model_ref=price_ref,
            provider_id="openrouter",
        )
    except LookupError:
        return None
    return (
        float(full.input_price) / million,
        float(cached.input_price) / million,
        float(full.output_price) / million,
    )


class Pricer:
    """Prices calls from the catalogue, config overrides and flat-rate providers."""

    def __init__(self, config: HarnessConfig, flat_providers: bool = True) -> None:
        self.config = config
        self.flat_providers = flat_providers

    def rates(self, model: str, provider: str | None) -> tuple[float, float, float] | None:
        override = self.config.prices.get(model)
        if override:
            if override.flat:
                return 0.0, 0.0, 0.0
            cached = override.cached_input_per_mtok
            per = 1_000_000
            return (
                override.input_per_mtok / per,
                (cached if cached is not None else override.input_per_mtok) / per,
                override.output_per_mtok / per,
            )
        prov = self.config.providers.get(provider or "")
        if self.flat_providers and prov is not None and prov.billing == "flat":
            return 0.0, 0.0, 0.0
        entry = self.config.models.get(model)
        return _catalog_price(entry.price_ref) if entry and entry.price_ref else None

    def cost(self, model: str, provider: str | None, record: CallRecord) -> float | None:
        rates = self.rates(model, provider)
        if rates is None:
            return None
        inp, cached, out = rates
        fresh = max(record.input_tokens - record.cached_tokens, 0)
        return round(fresh * inp + record.cached_tokens * cached + billed_output(record) * out, 8)


def billed_output(record: CallRecord) -> int:
    """Output tokens to bill. OpenAI-style usage counts reasoning inside ``completion_tokens``; a provider that
    reports more reasoning than completion tokens evidently counts them apart, so add them."""
    if record.reasoning_tokens > record.output_tokens:
        return record.output_tokens + record.reasoning_tokens
    return record.output_tokens


ModelLookup = Callable[[str], tuple[str, str | None]]


class CallRecorder(BaseCallbackHandler):
    """Collects ``CallRecord``s for one phase execution."""

    raise_error = False
    run_inline = True  # cheap bookkeeping, no I/O: in async runs LangChain would otherwise hop to a thread per event

    def __init__(self, phase: str, pricer: Pricer | None, lookup: ModelLookup) -> None:
        self.phase = phase
        self.pricer = pricer
        self.lookup = lookup
        self.records: list[CallRecord] = []
        self._started: dict[UUID, tuple[float, str]] = {}

    def on_chat_model_start(self, serialized: dict[str, Any], messages: Any, *, run_id: UUID, **kw: Any) -> None:
        params = kw.get("invocation_params") or {}
        requested = params.get("model") or params.get("model_name") or (serialized or {}).get("name", "unknown")
        self._started[run_id] = (time.perf_counter(), str(requested))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kw: Any) -> None:
        start, requested = self._started.pop(run_id, (time.perf_counter(), "unknown"))
        message = _first_message(response)
        record = CallRecord(phase=self.phase, requested_model=requested, seconds=round(time.perf_counter() - start, 3))
        if message is not None:
            _fill_from_message(record, message)
        if not record.served_model and response.llm_output:
            record.served_model = response.llm_output.get("model_name") or response.llm_output.get("model")
        self._price(record)
        self.records.append(record)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> None:
        start, requested = self._started.pop(run_id, (time.perf_counter(), "unknown"))
        record = CallRecord(
            phase=self.phase,
            requested_model=requested,
            ok=False,
            error=f"{type(error).__name__}: {redact(str(error))[:300]}",
            seconds=round(time.perf_counter() - start, 3),
        )
        _fill_from_failed(record, error)
        self._price(record)
        self.records.append(record)

    def _price(self, record: CallRecord) -> None:
        short, provider = self.lookup(record.requested_model)
        record.provider = provider
        record.cost_usd = self.pricer.cost(short, provider, record) if self.pricer else 0.0


def _fill_from_failed(record: CallRecord, error: BaseException) -> None:
    """A reply cut at max_tokens is billed in full: openai's LengthFinishReasonError carries its usage."""
    usage = getattr(getattr(error, "completion", None), "usage", None)
    if usage is None:
        return
    record.served_model = getattr(error.completion, "model", None)  # type: ignore[attr-defined]
    record.input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    record.output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    record.cached_tokens = int(getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", 0) or 0)
    record.reasoning_tokens = int(
        getattr(getattr(usage, "completion_tokens_details", None), "reasoning_tokens", 0) or 0
    )


def _first_message(response: LLMResult) -> AIMessage | None:
    for generations in response.generations:
        for gen in generations:
            message = getattr(gen, "message", None)
            if isinstance(message, AIMessage):
                return message
    return None


def _fill_from_message(record: CallRecord, message: AIMessage) -> None:
    meta = message.response_metadata or {}
    record.served_model = meta.get("model_name") or meta.get("model")
    usage = message.usage_metadata or {}
    record.input_tokens = int(usage.get("input_tokens", 0) or 0)
    record.output_tokens = int(usage.get("output_tokens", 0) or 0)
    record.cached_tokens = int((usage.get("input_token_details") or {}).get("cache_read", 0) or 0)
    record.reasoning_tokens = int((usage.get("output_token_details") or {}).get("reasoning", 0) or 0)
    reasoning = message.additional_kwargs.get("reasoning_content") or message.additional_kwargs.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        cut = len(reasoning) - REASONING_CHARS
        record.reasoning = reasoning if cut <= 0 else f"{reasoning[:REASONING_CHARS]}… [{cut} more chars]"


def totals(calls: list[dict[str, Any]]) -> dict[str, float]:
    """Run totals over recorded calls (dicts as stored in state)."""
    return {
        "calls": len(calls),
        "input_tokens": sum(c.get("input_tokens", 0) for c in calls),
        "cached_tokens": sum(c.get("cached_tokens", 0) for c in calls),
        "output_tokens": sum(c.get("output_tokens", 0) for c in calls),
        "reasoning_tokens": sum(c.get("reasoning_tokens", 0) for c in calls),
        "cost_usd": round(sum(c.get("cost_usd") or 0.0 for c in calls), 6),
        "seconds": round(sum(c.get("seconds", 0.0) for c in calls), 3),
    }
