"""Smoke test: every benchmark in bench/ runs end to end on tiny inputs and writes its outputs (~20 s)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")


def test_skeleton_has_the_harness_topology(tmp_path: Path) -> None:
    import asyncio

    from bench.skeleton import run_skeleton

    phases = ["a", "b", "c"]
    replay = {("b", 1): [["hi"]], ("orchestrator", 1): [["judge?"]]}
    route = ["b", "a", "b", "c", "__end__"]  # b's first gate sends the run back to a, like a loop-back
    values = asyncio.run(run_skeleton(tmp_path / "cp.sqlite", phases, replay, {}, route))
    assert values["visits"] == {"a": 2, "b": 2, "c": 1}
    assert [c["phase"] for c in values["calls"]] == ["b", "orchestrator"]


def test_generated_repo_has_the_requested_size(tmp_path: Path) -> None:
    from bench.genrepo import generate
    from sdd_harness.graph.infra.repomap import iter_files

    repo = generate(tmp_path / "gen", files=40)
    assert len(iter_files(repo)) == 40
    assert (repo / "textkit" / "strings.py").is_file()


def test_cost_prices_each_phase_under_each_map() -> None:
    from bench.cost import compare

    calls = [
        {"phase": "sdd-apply", "input_tokens": 1_000_000, "output_tokens": 0},
        {"phase": "orchestrator", "input_tokens": 1_000_000, "output_tokens": 0},
    ]
    result = compare(calls, "synthetic", Path("synthetic.json"), "done")
    assert result["scenarios"]["a"]["per_phase"]["sdd-apply"] == 0.0  # OpenCode Go is flat
    assert result["scenarios"]["c"]["per_phase"]["sdd-apply"] == pytest.approx(3.0)  # Sonnet 4.6 $3/M in
    assert result["scenarios"]["b"]["orchestrator"] == pytest.approx(3.0)


def test_every_benchmark_runs_on_tiny_inputs(tmp_path: Path) -> None:
    from bench.run import METRICS, main

    code = main(["--quick", "--out", str(tmp_path)])
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert results["errors"] == {}, results["errors"]
    assert code == 0
    assert set(METRICS) <= set(results)
    assert (tmp_path / "cost_per_phase.png").stat().st_size > 1000
    table = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| metric | value | goal | result |" in table
    assert results["resume"]["respent_tokens_finished"] == 0
    assert results["concurrency"]["skeleton"]["speedup"] > 1  # the floor is measured beside the harness
    assert "7. the floor: bare skeleton" in table


def test_an_overhead_ratio_that_overlapping_checks_made_negative_is_not_a_pass() -> None:
    """The harness's checks run side by side, so their summed time can exceed the run's: a negative 'net'
    ratio says nothing about orchestration and must not read as meeting the goal."""
    from bench.run import table

    overhead = {
        "harness_s": 2.2,
        "harness_subprocess_s": 2.9,
        "skeleton_s": 0.04,
        "ratio_net": -16.8,
        "ratio_gross": 52.0,
    }
    net = next(r for r in table({"overhead": overhead}) if "net of subprocess" in r["metric"])
    assert net["result"] == "n/a" and "not measurable" in net["value"]
