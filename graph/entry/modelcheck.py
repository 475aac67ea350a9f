"""`sdd models --check`: one tiny call per configured role, to see who actually answers and what it costs.

A routing check, not a benchmark: each role's primary model gets one short prompt (``max_tokens`` ~8) through
the same registry path a run uses (provider base URL, key, reasoning switches, rate limiter, SDK retries), and
the call record tells requested vs served model, latency and the price of that call. Fallbacks are not
exercised — the point is to see whether the configured model is the one serving. Missing keys fail before any
call, naming the variables.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping

from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from sdd_harness.graph.core.config import ConfigError, HarnessConfig, require_keys
from sdd_harness.graph.core.models import ModelRegistry
from sdd_harness.graph.core.usage import CallRecorder, Pricer
from sdd_harness.graph.infra.dotenv import EnvWithDotenv, redact

CHECK_PROMPT = "Reply with the single word OK."
CHECK_MAX_TOKENS = 8
CHECK_TIMEOUT_S = 60.0
CHECK_RETRIES = 1
CHECK_CONCURRENCY = 4


class ModelCheck(BaseModel):
    """One role's check result."""

    role: str
    provider: str
    requested: str
    served: str | None = None
    ok: bool = False
    seconds: float = 0.0
    cost_usd: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None
    routing_mismatch: bool = False  # served id is not the requested one, modulo the catalogue's aliases


def _require_all_keys(config: HarnessConfig, registry: ModelRegistry, env: Mapping[str, str]) -> None:
    """Every missing variable named at once (primary models), then fallbacks' providers."""
    require_keys(config, env)
    registry.check_keys()


async def acheck_models(
    config: HarnessConfig,
    env: Mapping[str, str] | None = None,
    *,
    roles: Iterable[str] | None = None,
    timeout_s: float = CHECK_TIMEOUT_S,
    max_retries: int = CHECK_RETRIES,
) -> list[ModelCheck]:
    """Check each role (default: all, orchestrator last). Raises ``ConfigError`` for missing keys."""
    env = EnvWithDotenv() if env is None else env
    registry = ModelRegistry(config, env=env, max_retries=max_retries, timeout_s=timeout_s)
    _require_all_keys(config, registry, env)
    wanted = list(roles) if roles is not None else list(config.roles())
    unknown = [r for r in wanted if r not in config.roles()]
    if unknown:
        raise ConfigError(config.source_file, "roles", unknown[0], f"allowed: {', '.join(config.roles())}")
    pricer = Pricer(config)
    gate = asyncio.Semaphore(CHECK_CONCURRENCY)

    async def one(role: str) -> ModelCheck:
        requested, provider = registry.describe(role)
        check = ModelCheck(role=role, provider=provider, requested=requested)
        recorder = CallRecorder(role, pricer, registry.lookup)
        started = time.perf_counter()
        async with gate:
            try:
                model = registry.chat_model(role).bind(max_tokens=CHECK_MAX_TOKENS)
                await model.ainvoke([HumanMessage(CHECK_PROMPT)], config={"callbacks": [recorder]})
                check.ok = True
            except ConfigError:
                raise
            except Exception as err:  # noqa: BLE001 - every failure is a row in the table, not a crash
                check.error = f"{type(err).__name__}: {redact(str(err))[:300]}"
        check.seconds = round(time.perf_counter() - started, 3)
        record = recorder.records[-1] if recorder.records else None
        if record is not None:
            check.served = record.served_model
            check.routing_mismatch = record.routing_mismatch
            check.cost_usd = record.cost_usd if record.ok else 0.0
            check.input_tokens, check.output_tokens = record.input_tokens, record.output_tokens
            check.seconds = record.seconds or check.seconds
        return check

    try:
        return list(await asyncio.gather(*(one(role) for role in wanted)))
    finally:
        _stop_embedded(config, wanted)


def check_models(config: HarnessConfig, env: Mapping[str, str] | None = None, **kwargs: object) -> list[ModelCheck]:
    """Synchronous ``acheck_models``."""
    return asyncio.run(acheck_models(config, env, **kwargs))  # type: ignore[arg-type]


def _stop_embedded(config: HarnessConfig, roles: list[str]) -> None:
    if any(config.provider_of(config.binding(role)).embedded for role in roles):
        from sdd_harness.graph.infra.embedded import get_servers

        get_servers().stop_all()


def render_rows(checks: list[ModelCheck]) -> list[list[str]]:
    """Table rows: role, provider, requested, served, ok, latency, $ (for the CLI)."""
    rows = []
    for c in checks:
        served = (c.served or "-") + (" ⚠ mismatch" if c.routing_mismatch else "")
        ok = "ok" if c.ok else f"FAIL {c.error or ''}"[:120]
        cost = "-" if not c.ok else "?" if c.cost_usd is None else f"{c.cost_usd:.6f}"
        rows.append([c.role, c.provider, c.requested, served, ok, f"{c.seconds:.2f}s", cost])
    return rows


CHECK_COLUMNS = ["role", "provider", "requested", "served", "ok", "latency", "$"]
