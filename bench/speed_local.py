"""Local model speed on recorded real phase prompts: speculative decoding, prompt-cache reuse, parallel slots.

    flock /tmp/real-model.lock python bench/speed_local.py          # ~25 min on 2 cores -> bench/speed-local.{md,json}
    python bench/speed_local.py --reps 1 --only speculation          # a quicker look
    python bench/speed_local.py --skip-if-missing                    # what `make bench` runs: exit 0 without [local]

Replays `bench/recorded/speed-prompts.json` (every chat call of one real `configs/local.yaml` demo run, recorded
by `bench/record_prompts.py`) against the embedded llama.cpp servers, started through `EmbeddedServers` exactly as a
run starts them, each time with one set of `ModelServerOptions`. Requests go over the OpenAI API with the
recorded messages, response_format and max_tokens at temperature 0; the numbers come from the server's own
`timings` (generation tok/s = `predicted_per_second`, prompt tokens evaluated = `prompt_n`, served from cache =
`cache_n`, drafts = `draft_n` / `draft_n_accepted`), wall time from the client.

1. speculation: 1.5B generation tok/s on the recorded apply (and spec/tasks) prompts, per option set; a fresh
   server for every option set and repetition (n-gram pools and caches start empty), repetitions interleaved so
   background load hits every cell alike; each reply compared with the one decoded without speculation.
2. prompt cache: the whole recorded demo sequence replayed in order on both models; prompt tokens evaluated vs
   served from cache, with the current defaults and with the adopted options.
3. parallel slots: k = 2 and 3 sampled candidates (temperature 0.7, fixed seeds) of one apply prompt, sent at
   once to a server with `parallel` slots, vs one slot (the server queues them).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.speed_report import machine, render  # noqa: E402
from sdd_harness.graph.infra.embedded import (  # noqa: E402
    EmbeddedModelError,
    EmbeddedServers,
    ModelServerOptions,
    ServerSettings,
    Speculation,
    ensure_gguf,
)

RECORDED = common.ROOT / "bench" / "recorded" / "speed-prompts.json"
OUT_MD = common.ROOT / "bench" / "speed-local.md"
SMALL, LARGE = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"
GENERATION_PHASES = ("sdd-apply", "sdd-spec", "sdd-tasks")
EXPERIMENTS = ("speculation", "speculation-busy", "cache", "parallel")


def speculation_variants() -> dict[str, ModelServerOptions]:
    """(a) none, (b) n-gram prompt lookup, (c) the 0.5B drafting, (d) both."""
    ngram = {"ngram": "simple", "ngram_size_n": 4, "ngram_size_m": 16}
    draft = {"draft_model": SMALL, "draft_max": 8, "draft_p_min": 0.75}
    return {
        "none": ModelServerOptions(),
        "ngram": ModelServerOptions(speculation=Speculation(**ngram)),
        "draft-0.5b": ModelServerOptions(speculation=Speculation(**draft)),
        "draft+ngram": ModelServerOptions(speculation=Speculation(**draft, **ngram)),
    }


def adopted_options() -> dict[str, ModelServerOptions]:
    """The per-model options `configs/local.yaml` ships (what the "after" columns run)."""
    from sdd_harness.graph.core.config import load_config

    provider = load_config("local").providers["embedded"]
    return {m: provider.server_options(m) or ModelServerOptions() for m in (SMALL, LARGE)}


# ---------------------------------------------------------------------------------------------------------------
# talking to a server
# ---------------------------------------------------------------------------------------------------------------


def ask(base_url: str, call: dict[str, Any], **override: Any) -> dict[str, Any]:
    """One chat completion with a recorded call's payload; returns timings, usage, text and wall seconds."""
    body = {
        "model": call["model"],
        "messages": call["messages"],
        "temperature": 0.0,
        "max_completion_tokens": call.get("max_completion_tokens"),
        **({"response_format": call["response_format"]} if call.get("response_format") else {}),
        **override,
    }
    request = urllib.request.Request(
        base_url + "/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=1800) as response:
        data = json.load(response)
    timings = data.get("timings") or {}
    usage = data.get("usage") or {}
    return {
        "wall": time.perf_counter() - t0,
        "text": data["choices"][0]["message"].get("content") or "",
        "finish": data["choices"][0].get("finish_reason"),
        "prompt_tokens": usage.get("prompt_tokens", 0),
        "cached_tokens": (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0),
        "completion_tokens": usage.get("completion_tokens", 0),
        **{k: timings.get(k, 0) for k in ("prompt_n", "prompt_ms", "cache_n", "predicted_n", "predicted_ms")},
        **{k: timings.get(k, 0) for k in ("draft_n", "draft_n_accepted")},
    }


@contextmanager
def servers(options: dict[str, ModelServerOptions]) -> Iterator[dict[str, str]]:
    """Fresh embedded servers for the given models, started and stopped the way a run does it."""
    with EmbeddedServers(ServerSettings()) as mgr:
        yield {name: mgr.base_url(name, opts) for name, opts in options.items()}


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def cpu_busy(seconds: float = 1.0) -> float:
    """Share of the machine's CPU time spent busy over the next `seconds` (every process, /proc/stat)."""

    def snapshot() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    total, idle = snapshot()
    time.sleep(seconds)
    total2, idle2 = snapshot()
    return 1 - (idle2 - idle) / max(total2 - total, 1)


QUIET_BUSY = 0.25  # at most a quarter of the cores busy with other work before a timed request
QUIET_WAIT_S = 300.0


def wait_for_quiet() -> float:
    """Wait (at most QUIET_WAIT_S) until other work leaves the CPU mostly idle: on 2 shared cores a timed request
    that runs beside someone else's test suite measures the neighbour, not the option. Returns the busy share
    seen last (kept with each result, so a noisy cell is visible)."""
    deadline = time.monotonic() + QUIET_WAIT_S
    while True:
        busy = cpu_busy()
        if busy <= QUIET_BUSY or time.monotonic() > deadline or not Path("/proc/stat").exists():
            return round(busy, 2)
        time.sleep(4.0)


@contextmanager
def one_core_busy(active: bool = True) -> Iterator[None]:
    """A busy loop in a child process for the duration: the "something else is running" regime (a test run, the
    editor, apply's check of a parallel task) under which a 2-core machine mostly works."""
    if not active:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def recorded_calls(path: Path = RECORDED) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["calls"]


def rate(results: list[dict[str, Any]]) -> float:
    """Generated tokens per second over a set of calls (server-side decode time only)."""
    ms = sum(r["predicted_ms"] for r in results)
    return sum(r["predicted_n"] for r in results) / (ms / 1000) if ms else float("nan")


# ---------------------------------------------------------------------------------------------------------------
# 1. speculation
# ---------------------------------------------------------------------------------------------------------------


def measure_speculation(
    calls: list[dict[str, Any]],
    reps: int,
    variants: dict[str, ModelServerOptions],
    phases: tuple[str, ...],
    busy: bool = False,
) -> dict[str, Any]:
    """Every variant runs on its own 1.5B server, all started up front; for each prompt the variants take turns
    (in a rotated order each repetition), each after waiting for the machine to go quiet, so background load lands
    on every variant alike. `busy`: with one core kept busy by `one_core_busy` during each request."""
    targets = [c for c in calls if c["model"] == LARGE and c["phase"] in phases and "error" not in c]
    names = list(variants)
    runs: dict[str, list[list[dict[str, Any]]]] = {name: [[] for _ in range(reps)] for name in names}
    with contextlib.ExitStack() as stack:
        urls = {name: stack.enter_context(servers({LARGE: options}))[LARGE] for name, options in variants.items()}
        for rep in range(reps):
            order = names[rep % len(names) :] + names[: rep % len(names)]
            for call in targets:
                for name in order:
                    quiet = wait_for_quiet()
                    with one_core_busy(busy):
                        result = ask(urls[name], call) | {"phase": call["phase"], "index": call["index"]}
                    runs[name][rep].append(result | {"load": load_average(), "busy_before": quiet})
                    tps = result["predicted_n"] / max(result["predicted_ms"], 1) * 1000
                    print(f"  rep {rep + 1} call {call['index']} {name}: {tps:.1f} tok/s", flush=True)
    for name in names:  # calls in recorded order, whatever order the variants took
        for rep in runs[name]:
            rep.sort(key=lambda r: r["index"])
    return {"targets": [c["index"] for c in targets], "runs": runs}


def summarize_speculation(data: dict[str, Any]) -> list[dict[str, Any]]:
    runs = data["runs"]
    names = list(runs)
    baseline = runs[names[0]]
    rows = []
    for name, reps in runs.items():
        row: dict[str, Any] = {"variant": name}
        for label, phases in (("apply", ("sdd-apply",)), ("spec+tasks", ("sdd-spec", "sdd-tasks"))):
            rates = [rate([r for r in rep if r["phase"] in phases]) for rep in reps]
            row[f"{label}_tok_s"] = statistics.median(rates) if rates else float("nan")
            row[f"{label}_tok_s_all"] = [round(x, 1) for x in rates]
        pairs = [(r, b) for rep, base in zip(reps, baseline, strict=True) for r, b in zip(rep, base, strict=True)]
        apply_pairs = [(r, b) for r, b in pairs if r["phase"] == "sdd-apply"]
        row["apply_speedup"] = statistics.median(_tps(r) / _tps(b) for r, b in apply_pairs) if apply_pairs else None
        drafted = sum(r["draft_n"] for r, _ in pairs)
        row["acceptance"] = sum(r["draft_n_accepted"] for r, _ in pairs) / drafted if drafted else None
        row["wall_s"] = statistics.median(sum(r["wall"] for r in rep) for rep in reps)
        row["identical"] = f"{sum(r['text'] == b['text'] for r, b in pairs)}/{len(pairs)}"
        row["differs"] = sorted({r["index"] for r, b in pairs if r["text"] != b["text"]})
        rows.append(row)
    return rows


def _tps(result: dict[str, Any]) -> float:
    return result["predicted_n"] / max(result["predicted_ms"], 1e-3) * 1000


# ---------------------------------------------------------------------------------------------------------------
# 2. prompt cache over the demo sequence
# ---------------------------------------------------------------------------------------------------------------


def cache_variants() -> dict[str, dict[str, ModelServerOptions]]:
    today = ModelServerOptions()
    reuse = ModelServerOptions(cache_reuse=256)
    return {
        "today (llama.cpp defaults)": {SMALL: today, LARGE: today},
        "cache_reuse 256": {SMALL: reuse, LARGE: reuse},
        "adopted (configs/local.yaml)": adopted_options(),
    }


def measure_cache(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Replay the demo's calls in order on both models; then a second candidate and a repair round of one apply
    call, the two follow-ups that should pay only for their new tokens."""
    sequence = [c for c in calls if "error" not in c]
    follow = max((c for c in sequence if c["phase"] == "sdd-apply"), key=lambda c: len(json.dumps(c["messages"])))
    repair = follow | {
        "messages": [
            *follow["messages"],
            {"role": "assistant", "content": follow.get("reply", "")[:2000]},
            {
                "role": "user",
                "content": "That reply was invalid: edits.0.path: not allowed. Reply again with only "
                "the corrected JSON object.",
            },
        ]
    }
    out: dict[str, Any] = {}
    for label, options in cache_variants().items():
        t0 = time.perf_counter()
        with servers(options) as urls:
            results = [ask(urls[c["model"]], c) | {"phase": c["phase"], "index": c["index"]} for c in sequence]
            wall = time.perf_counter() - t0
            again = ask(urls[LARGE], follow, temperature=0.7, seed=7)
            fixed = ask(urls[LARGE], repair)
        out[label] = {"results": results, "wall": wall, "candidate": again, "repair": fixed}
        evaluated = sum(r["prompt_n"] for r in results)
        print(f"  cache {label}: {evaluated} prompt tokens evaluated of {sum(r['prompt_tokens'] for r in results)}")
    return out


def summarize_cache(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    base = next(iter(data.values()))["results"]
    for label, run in data.items():
        results = run["results"]
        rows.append(
            {
                "settings": label,
                "calls": len(results),
                "prompt_tokens": sum(r["prompt_tokens"] for r in results),
                "evaluated": sum(r["prompt_n"] for r in results),
                "cached": sum(r["cache_n"] for r in results),
                "prompt_s": sum(r["prompt_ms"] for r in results) / 1000,
                "wall_s": run["wall"],
                "identical": f"{sum(r['text'] == b['text'] for r, b in zip(results, base, strict=True))}/{len(base)}",
                "per_call": [(r["index"], r["phase"], r["prompt_tokens"], r["prompt_n"]) for r in results],
                "candidate": (run["candidate"]["prompt_tokens"], run["candidate"]["prompt_n"]),
                "repair": (run["repair"]["prompt_tokens"], run["repair"]["prompt_n"]),
            }
        )
    return rows


# ---------------------------------------------------------------------------------------------------------------
# 3. parallel slots
# ---------------------------------------------------------------------------------------------------------------


def measure_parallel(calls: list[dict[str, Any]], reps: int, max_tokens: int = 256) -> dict[str, Any]:
    """k candidates of one apply prompt at once; servers with 1, 2 and 3 slots take turns each repetition."""
    call = next(c for c in calls if c["model"] == LARGE and c["phase"] == "sdd-apply" and "error" not in c)
    slot_counts = (1, 2, 3)
    cells: dict[str, list[dict[str, Any]]] = {}
    with contextlib.ExitStack() as stack:
        urls = {n: stack.enter_context(servers({LARGE: ModelServerOptions(parallel=n)}))[LARGE] for n in slot_counts}
        for url in urls.values():
            ask(url, call, max_completion_tokens=1)  # the prompt is in every server's cache alike
        for rep in range(reps):
            for k in (2, 3):
                order = slot_counts[rep % 3 :] + slot_counts[: rep % 3]
                for slots in order:
                    if slots > k:
                        continue
                    busy = wait_for_quiet()
                    cell = _candidates(urls[slots], call, k, max_tokens)
                    cells.setdefault(f"k={k} slots={slots}", []).append(cell | {"busy_before": busy})
                    print(f"  rep {rep + 1} k={k} slots={slots}: {cell['wall']:.1f} s, {cell['tokens']} tokens")
    return {"call": call["index"], "max_tokens": max_tokens, "cells": cells}


def _candidates(url: str, call: dict[str, Any], k: int, max_tokens: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(k) as pool:
        futures = [
            pool.submit(ask, url, call, temperature=0.7, seed=100 + i, max_completion_tokens=max_tokens)
            for i in range(k)
        ]
        results = [f.result() for f in futures]
    return {"wall": time.perf_counter() - t0, "tokens": sum(r["completion_tokens"] for r in results)}


def summarize_parallel(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for cell, samples in data["cells"].items():
        k, slots = (int(part.split("=")[1]) for part in cell.split())
        rows.append(
            {
                "k": k,
                "slots": slots,
                "wall_s": statistics.median(s["wall"] for s in samples),
                "tok_s": statistics.median(s["tokens"] / s["wall"] for s in samples),
                "walls": [round(s["wall"], 1) for s in samples],
            }
        )
    return sorted(rows, key=lambda r: (r["k"], r["slots"]))


# ---------------------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------------------


def missing_local() -> str | None:
    if importlib.util.find_spec("xllamacpp") is None:
        return "xllamacpp is not installed (pip install 'sdd-harness[local]')"
    try:
        for name in (SMALL, LARGE):
            ensure_gguf(name)
    except EmbeddedModelError as err:
        return str(err)
    if not RECORDED.exists():
        return f"{RECORDED} is missing (python bench/record_prompts.py)"
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", default=",".join(EXPERIMENTS), help=f"comma-separated subset of {EXPERIMENTS}")
    ap.add_argument("--variants", type=Path, default=None, help="JSON {name: ModelServerOptions} to compare")
    ap.add_argument("--phases", default=",".join(GENERATION_PHASES), help="phases whose 1.5B prompts are replayed")
    ap.add_argument("--out", type=Path, default=OUT_MD)
    ap.add_argument("--skip-if-missing", action="store_true", help="exit 0 when the [local] extra is missing")
    args = ap.parse_args(argv)
    missing = missing_local()
    if missing:
        print(f"speed_local: skipped: {missing}" if args.skip_if_missing else f"speed_local: {missing}")
        return 0 if args.skip_if_missing else 2
    only = [x for x in args.only.split(",") if x]
    calls = recorded_calls()
    raw: dict[str, Any] = {}
    loads = [load_average()]
    results: dict[str, Any] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "reps": args.reps,
        "recorded_calls": len(calls),
    }
    variants = speculation_variants()
    if args.variants:
        data = json.loads(args.variants.read_text(encoding="utf-8"))
        variants = {name: ModelServerOptions.model_validate(options) for name, options in data.items()}
    phases = tuple(args.phases.split(","))
    for key, busy in (("speculation", False), ("speculation-busy", True)):
        if key in only:
            raw[key] = measure_speculation(calls, args.reps, variants, phases, busy=busy)
            results[key] = summarize_speculation(raw[key])
            loads.append(load_average())
    if "cache" in only:
        raw["cache"] = measure_cache(calls)
        results["cache"] = summarize_cache(raw["cache"])
        loads.append(load_average())
    if "parallel" in only:
        raw["parallel"] = measure_parallel(calls, args.reps)
        results["parallel"] = summarize_parallel(raw["parallel"])
        loads.append(load_average())
    results["load"] = f"{min(loads)}–{max(loads)}"
    command = "python bench/speed_local.py " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.write_text(render(results, command.strip()), encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps({"summary": results, "raw": raw}, indent=1) + "\n")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
