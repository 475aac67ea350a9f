"""`sdd run --dry-run` and `sdd models`: who serves each phase, at what price, and what a run may cost.

The typical token counts are one recorded run of an earlier demo change (add `slugify()` plus tests to the
bundled demo repo): init … apply from a real run on the local models (`bench/recorded/demo-run.json`);
verify, archive and the orchestrator, which that run did not reach, from the scripted fake run
(`bench/recorded/fake-run.json`, tokens = characters ÷ 4). Reasoning tokens are not in them, and a bigger
repository or request costs more: the range is a first guess, not a quote. A test keeps the table equal to
those recordings.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

# phase -> (calls, input tokens, output tokens) of one pass, from the recordings named above
TYPICAL_TOKENS: dict[str, tuple[int, int, int]] = {
    "sdd-init": (1, 390, 36),
    "sdd-explore": (2, 1137, 125),
    "sdd-propose": (1, 343, 306),
    "sdd-spec": (1, 446, 408),
    "sdd-design": (1, 629, 196),
    "sdd-tasks": (1, 524, 372),
    "sdd-apply": (6, 4874, 1535),
    "sdd-verify": (2, 456, 98),
    "sdd-archive": (1, 237, 14),
    "orchestrator": (1, 202, 16),
}
TOKENS_SOURCE = (
    "typical tokens per phase: one run of the bundled demo change — init…apply from the local models "
    "(bench/recorded/demo-run.json), verify/archive/orchestrator from the scripted fake run "
    "(bench/recorded/fake-run.json, characters ÷ 4); reasoning tokens not included"
)


class RoleRow(BaseModel):
    """One role of the phase map, priced."""

    role: str
    provider: str
    model: str
    input_per_mtok: float | None  # USD; None = price unknown
    output_per_mtok: float | None
    flat: bool
    reasoning: str | None = None
    mode: str | None = None
    skipped: bool = False  # the run's profile does not run it
    typical_input_tokens: int = 0
    typical_output_tokens: int = 0
    typical_is_guess: bool = False  # a custom phase: the built-in phases' mean
    cost_low_usd: float | None = None
    cost_high_usd: float | None = None


def role_rows(config: Any, overrides: dict[str, str] | None = None) -> list[RoleRow]:
    """The phase map with prices per million tokens and the estimated cost of each role."""
    from sdd_harness.graph.core.models import ModelRegistry
    from sdd_harness.graph.core.usage import Pricer

    registry = ModelRegistry(config, overrides or {}, env={})
    pricer = Pricer(config)
    skipped = set(config.profiles[config.run.profile].skip) if config.run.profile else set()
    attempts = config.run.max_attempts
    rows = []
    for role in config.roles():
        binding = registry.binding(role)
        provider = config.provider_name(binding)
        rates = pricer.rates(binding.model, provider)
        calls_in_out = TYPICAL_TOKENS.get(role)
        guess = calls_in_out is None
        _, tokens_in, tokens_out = calls_in_out or _mean_pass()
        row = RoleRow(
            role=role,
            provider=provider,
            model=config.model_id(binding.model, provider),
            input_per_mtok=None if rates is None else round(rates[0] * 1e6, 6),
            output_per_mtok=None if rates is None else round(rates[2] * 1e6, 6),
            flat=config.providers[provider].billing == "flat" or (rates is not None and rates == (0.0, 0.0, 0.0)),
            reasoning=binding.reasoning,
            mode=binding.mode,
            skipped=role in skipped,
            typical_input_tokens=0 if role in skipped else tokens_in,
            typical_output_tokens=0 if role in skipped else tokens_out,
            typical_is_guess=guess,
        )
        if rates is not None:
            once = tokens_in * rates[0] + tokens_out * rates[2]
            row.cost_low_usd = 0.0 if row.skipped else round(once, 6)
            row.cost_high_usd = 0.0 if row.skipped else round(once * attempts, 6)
        rows.append(row)
    return rows


def _mean_pass() -> tuple[int, int, int]:
    phases = [v for k, v in TYPICAL_TOKENS.items() if k != "orchestrator"]
    return 1, sum(v[1] for v in phases) // len(phases), sum(v[2] for v in phases) // len(phases)


def estimate(rows: list[RoleRow], max_attempts: int) -> dict[str, Any]:
    """The run's cost range: low = every phase once; high = every phase rerun up to ``max_attempts`` times."""
    unknown = [r.role for r in rows if r.cost_low_usd is None and not r.skipped]
    return {
        "cost_low_usd": round(sum(r.cost_low_usd or 0.0 for r in rows), 6),
        "cost_high_usd": round(sum(r.cost_high_usd or 0.0 for r in rows), 6),
        "max_attempts": max_attempts,
        "unpriced_roles": unknown,
        "method": f"low: every phase once; high: every phase rerun up to run.max_attempts ({max_attempts}) times",
        "tokens_source": TOKENS_SOURCE,
    }


def price_text(row: RoleRow) -> str:
    if row.input_per_mtok is None:
        return "unknown"
    if row.flat:
        return "flat (0 per call)"
    return f"${row.input_per_mtok:.3f} / ${row.output_per_mtok:.3f}"


def extras_text(row: RoleRow) -> str:
    return ", ".join(f"{k}={v}" for k, v in (("reasoning", row.reasoning), ("mode", row.mode)) if v)


def models_table(rows: list[RoleRow], title: str, with_estimate: bool) -> Any:
    """The phase map as a rich table (`sdd models`, and with the estimate columns `sdd run --dry-run`)."""
    from rich.table import Table

    table = Table(title=title)
    for col in ("role", "provider", "model", "$/Mtok in / out", "settings"):
        table.add_column(col)
    if with_estimate:
        for col in ("typical tok in / out", "est. $ low – high"):
            table.add_column(col, justify="right")
    for row in rows:
        cells = [row.role, row.provider, row.model, price_text(row), extras_text(row)]
        if with_estimate:
            if row.skipped:
                cells += ["skipped (profile)", "-"]
            else:
                guess = " *" if row.typical_is_guess else ""
                cells.append(f"{row.typical_input_tokens:,} / {row.typical_output_tokens:,}{guess}")
                low, high = row.cost_low_usd, row.cost_high_usd
                cells.append("unknown" if low is None else f"{low:.4f} – {high:.4f}")
        table.add_row(*cells)
    return table
