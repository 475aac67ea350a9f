"""Rendering of `bench/speed_local.py`'s results: the machine line and the Markdown tables of speed-local.md."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def machine() -> str:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor() or "?",
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    import xllamacpp

    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}, xllamacpp {xllamacpp.__version__}"
    )


def render(results: dict[str, Any], command: str) -> str:
    lines = [
        "# Local model speed (embedded llama.cpp, recorded real phase prompts)",
        "",
        f"Command: `{command}`  ",
        f"Machine: {results['machine']}  ",
        f"Date: {results['date']}; load average during the runs: {results['load']}  ",
        f"Prompts: `bench/recorded/speed-prompts.json` ({results['recorded_calls']} calls of one real "
        "`configs/local.yaml` demo run, recorded by `bench/record_prompts.py`). Temperature 0, recorded max_tokens.",
        "",
    ]
    for key, regime in (("speculation", "machine otherwise idle"), ("speculation-busy", "one core kept busy")):
        if key in results:
            lines += _speculation_table(results[key], results["reps"], regime)
    if "cache" in results:
        lines += [
            "## Prompt cache over the demo sequence",
            "",
            "Every recorded call of the demo, in order, on both models (two servers); prompt tokens the server "
            "evaluated (`timings.prompt_n`) vs served from its cache (`timings.cache_n`). Then two follow-ups of the "
            "longest apply prompt: a second sampled candidate (same prompt) and a repair round (the prompt, the "
            "reply, one line saying what was wrong). Token counts do not depend on machine load.",
            "",
            "| Settings | Calls | Prompt tokens | Evaluated | From cache | Evaluated % | Prompt s | Identical "
            "| 2nd candidate evaluated | Repair round evaluated |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in results["cache"]:
            pct = r["evaluated"] / r["prompt_tokens"] if r["prompt_tokens"] else 0
            cand, fix = r["candidate"], r["repair"]
            lines.append(
                f"| {r['settings']} | {r['calls']} | {r['prompt_tokens']} | {r['evaluated']} | {r['cached']} | "
                f"{pct:.0%} | {r['prompt_s']:.1f} | {r['identical']} | {cand[1]} of {cand[0]} | {fix[1]} of {fix[0]} |"
            )
        first = results["cache"][0]["per_call"]
        lines += [
            "",
            "Per call ("
            + results["cache"][0]["settings"]
            + "): "
            + ", ".join(f"{phase.removeprefix('sdd-')} {n}/{total}" for _, phase, total, n in first)
            + " (evaluated/prompt tokens).",
            "",
        ]
    if "parallel" in results:
        lines += [
            "## Parallel slots — k sampled candidates of one apply prompt",
            "",
            f"Median of {results['reps']} runs. Temperature 0.7, fixed seeds, sent at once.",
            "",
            "| k | slots | wall s | tok/s (all candidates) | runs (wall s) |",
            "|---|---|---|---|---|",
        ]
        for r in results["parallel"]:
            walls = ", ".join(map(str, r["walls"]))
            lines.append(f"| {r['k']} | {r['slots']} | {r['wall_s']:.1f} | {r['tok_s']:.2f} | {walls} |")
        lines.append("")
    return "\n".join(lines + results.get("notes", [])) + "\n"


def _speculation_table(rows: list[dict[str, Any]], reps: int, regime: str) -> list[str]:
    lines = [
        f"## Speculative decoding — 1.5B generation, {regime}",
        "",
        f"{reps} runs per cell; every variant on its own server, taking turns prompt by prompt, each request after "
        "the machine went quiet. tok/s = server-side decode rate over the group's calls (`timings.predicted_n / "
        "predicted_ms`), median of the runs; × = median over (prompt, run) of the variant's tok/s over the first "
        "variant's in the same turn; identical = replies byte-identical to the first variant's.",
        "",
        "| Variant | apply tok/s | apply × | spec+tasks tok/s | accepted | wall s | identical | apply tok/s by run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        acc = f"{r['acceptance']:.0%}" if r["acceptance"] is not None else "-"
        speedup = f"{r['apply_speedup']:.2f}" if r["apply_speedup"] is not None else "-"
        lines.append(
            f"| {r['variant']} | {r['apply_tok_s']:.1f} | {speedup} | {r['spec+tasks_tok_s']:.1f} | {acc} | "
            f"{r['wall_s']:.0f} | {r['identical']} | {', '.join(map(str, r['apply_tok_s_all']))} |"
        )
    return [*lines, ""]
