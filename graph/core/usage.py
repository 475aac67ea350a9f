"""Every model call, recorded: who asked, which model was requested, which one answered, tokens, time, cost.

The recorder is a LangChain callback handler, so it sees the real underlying calls — including each
fallback attempt — without nodes having to remember to log anything.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage
from langchain_core.outputs import LLMResult
from pydantic import BaseModel

from sdd_harness.graph.core.config import HarnessConfig, ModelBinding, PriceOverride, RunSettings
from sdd_harness.graph.infra.dotenv import redact
from sdd_harness.graph.infra.pricing import FREE, CallPricer, Rates, TokenUsage
from sdd_harness.graph.infra.providers import BUILTIN_CATALOG, CatalogEntry

REASONING_CHARS = 16_000  # reasoning text kept per call in the run log


class CallRecord(BaseModel):
    """One model request as the run report shows it. ``cost_usd`` is None when no price is known."""

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
    routing_mismatch: bool = False
    ok: bool = True
    error: str | None = None
    reasoning: str | None = None
    capped: bool = False  # the reply stopped at max_tokens: cut off, and usually asked again (wasted tokens)


# Routing tags a provider may append (``model:free``) that do not change the model.
ROUTING_TAGS = frozenset({"free", "nitro", "floor", "online", "beta", "extended", "thinking", "exacto", "latest"})
# Date/version suffixes: -2024-08-06, -20240806, -0613 (MMDD), -2507 (YYMM), -001, -latest.
_VERSION_SUFFIX = re.compile(
    r"-(\d{4}-\d{2}-\d{2}|\d{8}|(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])|2[3-9](0[1-9]|1[0-2])|0\d\d|latest)$"
)


def normalise_model_id(model_id: str) -> str:
    """The part of a model id that names the model: lower case, without an ``org/`` prefix, ``@…`` and
    ``:free``-style routing tags, or date/version suffixes. ``:7b``-style size tags stay (they name a model)."""
    name = model_id.strip().lower().split("@", 1)[0].rsplit("/", 1)[-1].lstrip("~")
    while True:
        base, colon, tag = name.rpartition(":")
        stripped = base if colon and tag in ROUTING_TAGS else _VERSION_SUFFIX.sub("", name)
        if stripped == name or not stripped:
            return name
        name = stripped


class ModelNames:
    """Which ids name the same model: a catalogue entry's short name, provider ids, price ref and aliases."""

    def __init__(self, catalogue: Mapping[str, CatalogEntry]) -> None:
        self._groups: dict[str, frozenset[str]] = {}
        for short, entry in catalogue.items():
            names = (short, *entry.ids.values(), entry.price_ref, *entry.aliases)
            group = frozenset(normalise_model_id(n) for n in names if n)
            for name in group:
                self._groups[name] = self._groups.get(name, frozenset()) | group

    def same(self, requested: str, served: str) -> bool:
        """Exact after normalising, or a documented alias — never a prefix (``gpt-4o-mini`` is not ``gpt-4o``)."""
        want, got = normalise_model_id(requested), normalise_model_id(served)
        return got == want or got in self._groups.get(want, frozenset())


BUILTIN_NAMES = ModelNames(BUILTIN_CATALOG)


def same_model(requested: str, served: str, names: ModelNames | None = None) -> bool:
    """Whether ``served`` is the model that was requested (built-in catalogue aliases unless ``names``)."""
    return (names or BUILTIN_NAMES).same(requested, served)


class Pricer:
    """Prices calls for one config: ``prices:`` overrides, flat-billed providers, else genai-prices per call.

    ``flat_providers=False`` prices subscription providers' models at list price (cost comparisons).
    """

    def __init__(self, config: HarnessConfig, flat_providers: bool = True) -> None:
        self.config = config
        self.flat_providers = flat_providers
        self.names = ModelNames(config.models)
        self.prices = CallPricer(
            overrides={name: _override_rates(p) for name, p in config.prices.items()},
            flat_providers=[n for n, p in config.providers.items() if p.billing == "flat"] if flat_providers else (),
            price_refs={name: e.price_ref for name, e in config.models.items() if e.price_ref},
            provider_urls={name: p.base_url for name, p in config.providers.items()},
        )

    def _ids(self, model: str, provider: str | None, *extra: str | None) -> list[str | None]:
        return [*extra, self.config.model_id(model, provider) if provider else model]

    def rates(self, model: str, provider: str | None) -> tuple[float, float, float] | None:
        """(input, cached input, output) USD per token — the base tier of a tiered price; None if unknown."""
        rates = self.prices.rates(model, provider, self._ids(model, provider))
        return None if rates is None else (rates.input, rates.cached_input, rates.output)

    def peak_rate(self, model: str, provider: str | None) -> float | None:
        """The most a token of this model can cost (USD, any tier, input or output); None if unknown."""
        return self.prices.peak_rate(model, provider, self._ids(model, provider))

    def cost(self, model: str, provider: str | None, record: CallRecord) -> float | None:
        """This call's cost from its own usage (the served model's price first); None if no price is known."""
        usage = TokenUsage(record.input_tokens, record.cached_tokens, billed_output(record))
        ids = self._ids(model, provider, record.served_model, record.requested_model)
        return self.prices.price(model, provider, usage, ids)


def _override_rates(override: PriceOverride) -> Rates:
    if override.flat:
        return FREE
    return Rates.per_mtok(override.input_per_mtok, override.output_per_mtok, override.cached_input_per_mtok)


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

    def __init__(
        self,
        phase: str,
        pricer: Pricer | None,
        lookup: ModelLookup,
        emit: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.phase = phase
        self.pricer = pricer
        self.lookup = lookup
        self.emit = emit or (lambda event: None)  # progress for a live display: tokens streamed, calls ended
        self.records: list[CallRecord] = []
        self._started: dict[UUID, tuple[float, str]] = {}
        self._tokens: dict[UUID, int] = {}

    def on_llm_new_token(self, token: str, *, run_id: UUID, **kw: Any) -> None:
        count = self._tokens.get(run_id, 0) + 1
        self._tokens[run_id] = count
        if count % 8 == 0:  # a line a few times a second, not one per token
            model = self._started.get(run_id, (0.0, "unknown"))[1]
            self.emit({"event": "tokens", "phase": self.phase, "model": model, "count": count})

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
        self._tokens.pop(run_id, None)
        self._ended(record)

    def _ended(self, record: CallRecord) -> None:
        self.emit(
            {
                "event": "call_end",
                "phase": self.phase,
                "model": record.served_model or record.requested_model,
                "input_tokens": record.input_tokens,
                "output_tokens": record.output_tokens,
                "seconds": record.seconds,
                "ok": record.ok,
            }
        )

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
        self._tokens.pop(run_id, None)
        self._ended(record)

    def _price(self, record: CallRecord) -> None:
        short, provider = self.lookup(record.requested_model)
        record.provider = provider
        record.cost_usd = self.pricer.cost(short, provider, record) if self.pricer else 0.0
        if record.served_model:
            names = self.pricer.names if self.pricer else None
            record.routing_mismatch = not same_model(record.requested_model, record.served_model, names)


def _fill_from_failed(record: CallRecord, error: BaseException) -> None:
    """A reply cut at max_tokens is billed in full: openai's LengthFinishReasonError carries its usage."""
    completion = getattr(error, "completion", None)
    record.capped = any(
        getattr(c, "finish_reason", None) == "length" for c in getattr(completion, "choices", None) or []
    )
    usage = getattr(completion, "usage", None)
    if usage is None:
        return
    record.served_model = getattr(completion, "model", None)
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


def was_capped(message: Any) -> bool:
    """The reply stopped at max_tokens (OpenAI-style ``finish_reason`` or Anthropic-style ``stop_reason``)."""
    meta = getattr(message, "response_metadata", None) or {}
    return meta.get("finish_reason") == "length" or meta.get("stop_reason") == "max_tokens"


def _fill_from_message(record: CallRecord, message: AIMessage) -> None:
    meta = message.response_metadata or {}
    record.served_model = meta.get("model_name") or meta.get("model")
    record.capped = was_capped(message)
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
    """Run totals over recorded calls (dicts as stored in state).

    ``cost_usd`` sums the calls with a known price; calls without one are counted in ``unpriced_calls``, never
    as $0 — with any of them, ``cost_usd`` is a lower bound (see ``cost_text``).
    """
    priced = [c["cost_usd"] for c in calls if c.get("cost_usd") is not None]
    return {
        "calls": len(calls),
        "input_tokens": sum(c.get("input_tokens", 0) for c in calls),
        "cached_tokens": sum(c.get("cached_tokens", 0) for c in calls),
        "output_tokens": sum(c.get("output_tokens", 0) for c in calls),
        "reasoning_tokens": sum(c.get("reasoning_tokens", 0) for c in calls),
        "cost_usd": round(sum(priced), 6),
        "unpriced_calls": len(calls) - len(priced),
        "capped_calls": sum(1 for c in calls if c.get("capped")),
        "seconds": round(sum(c.get("seconds", 0.0) for c in calls), 3),
    }


def cost_text(total: Mapping[str, Any]) -> str:
    """ "$0.0123", or "≥ $0.0123 + 3 unpriced calls" when some calls have no known price."""
    cost, unpriced = float(total.get("cost_usd") or 0.0), int(total.get("unpriced_calls") or 0)
    if not unpriced:
        return f"${cost:.4f}"
    return f"≥ ${cost:.4f} + {unpriced} unpriced call{'s' if unpriced != 1 else ''}"


# ----------------------------------------------------------------------------------------- budgets and unknown prices

DEFAULT_UNPRICED_USD_PER_MTOK = 15.0
"""Rate (USD per million tokens) that turns a dollar budget into tokens when no configured model has a known
positive price: Claude Sonnet 4.6's output price, applied to every token (input included)."""

RoleBindings = Mapping[str, ModelBinding]


def role_models(config: HarnessConfig, roles: RoleBindings | None = None) -> list[tuple[str, str, str]]:
    """(label, model, provider) for every model a role may call: its own, then its fallbacks (as the registry
    resolves them: ``provider:model`` or a model on the role's provider). ``roles`` defaults to the config's."""
    found = []
    for role, binding in (roles if roles is not None else config.roles()).items():
        provider = config.provider_name(binding)
        found.append((role, binding.model, provider))
        for fallback in binding.fallback:
            source, _, model = fallback.partition(":")
            on_source = bool(model) and source in config.providers
            found.append((f"{role} (fallback)", model if on_source else fallback, source if on_source else provider))
    return found


def unpriced_roles(config: HarnessConfig, roles: RoleBindings | None = None) -> list[str]:
    """One line per role model (fallbacks included) whose price is unknown: ``"sdd-apply: foo-7b on mybox"``.

    Known means: a ``prices:`` entry, a flat-billed provider, or a genai-prices entry (see ``Pricer``).
    """
    pricer = Pricer(config)
    return [
        f"{label}: {config.model_id(model, provider)} on {provider}"
        for label, model, provider in role_models(config, roles)
        if pricer.rates(model, provider) is None
    ]


def token_rate(config: HarnessConfig, roles: RoleBindings | None = None) -> tuple[float, str]:
    """(USD per token, where it comes from) used to turn a dollar budget into tokens: the highest per-token
    price any configured model can cost (any tier, input or output), else ``DEFAULT_UNPRICED_USD_PER_MTOK``."""
    pricer = Pricer(config)
    peaks = [
        (rate, f"{config.model_id(model, provider)} on {provider}")
        for _, model, provider in role_models(config, roles)
        if (rate := pricer.peak_rate(model, provider))
    ]
    if not peaks:
        return DEFAULT_UNPRICED_USD_PER_MTOK / 1_000_000, "the default rate for unknown prices"
    rate, source = max(peaks)
    return rate, f"the highest known rate, {source}"


def effective_token_budget(
    config: HarnessConfig, settings: RunSettings | None = None, roles: RoleBindings | None = None
) -> int | None:
    """The token bound a run enforces (input + output tokens), None for none.

    The run's ``token_budget`` when set. Otherwise, when ``budget_usd`` is set but some role's model has no
    known price — so dollars cannot bound its calls — the dollar budget turned into tokens at ``token_rate``:
    every token is counted at the dearest known per-token price (or the default rate when nothing is priced),
    so an unpriced model is assumed to cost no more per token than that. ``settings`` defaults to the config's
    ``run:``; pass the run's own settings when the CLI or API overrode them.
    """
    settings = settings or config.run
    if settings.token_budget is not None:
        return settings.token_budget
    if settings.budget_usd is None or not unpriced_roles(config, roles):
        return None
    return int(settings.budget_usd / token_rate(config, roles)[0])


def budget_warnings(
    config: HarnessConfig, settings: RunSettings | None = None, roles: RoleBindings | None = None
) -> list[str]:
    """Lines to show once at run start when a dollar budget cannot bound every model; [] when it can."""
    settings = settings or config.run
    unpriced = unpriced_roles(config, roles)
    if settings.budget_usd is None or not unpriced:
        return []
    budget = settings.budget_usd
    tokens = effective_token_budget(config, settings, roles)
    lines = [f"budget ${budget:.2f} cannot bound these models in dollars (no known price; cost shown as unknown):"]
    lines += [f"  {line}" for line in unpriced]
    if settings.token_budget is not None:
        lines.append(f"enforcing the run's token budget instead: {tokens:,} tokens")
    else:
        rate, source = token_rate(config, roles)
        lines.append(
            f"enforcing a token budget of {tokens:,} tokens instead (${budget:.2f} at ${rate * 1e6:.2f} per Mtok, "
            f"{source}); set run.token_budget or add a prices: entry to change it"
        )
    return lines


def budget_event(
    config: HarnessConfig, settings: RunSettings | None = None, roles: RoleBindings | None = None
) -> dict[str, Any] | None:
    """The ``budget_warning`` progress event for run start, or None when the dollar budget bounds every model."""
    lines = budget_warnings(config, settings, roles)
    if not lines:
        return None
    return {
        "event": "budget_warning",
        "lines": lines,
        "unpriced": unpriced_roles(config, roles),
        "token_budget": effective_token_budget(config, settings, roles),
    }


def spend_problem(
    calls: list[dict[str, Any]], settings: RunSettings, token_budget: int | None, seconds: float = 0.0
) -> str | None:
    """Why the run must stop for money, tokens or time (None: go on). ``token_budget`` from
    ``effective_token_budget``; ``seconds``: the run's phase time so far (``state.phase_seconds``).

    Dollars count priced calls only (a lower bound when some are unpriced); tokens count every call.
    """
    spent = totals(calls)
    if settings.budget_usd is not None and spent["cost_usd"] > settings.budget_usd:
        return f"cost {cost_text(spent)} exceeds the budget ${settings.budget_usd:.4f}"
    tokens = int(spent["input_tokens"] + spent["output_tokens"])
    if token_budget is not None and tokens > token_budget:
        return f"{tokens} tokens exceed the token budget {token_budget}"
    if settings.time_budget_s is not None and seconds > settings.time_budget_s:
        return f"{seconds:.0f} s of phase time exceed the time budget of {settings.time_budget_s:g} s"
    return None
