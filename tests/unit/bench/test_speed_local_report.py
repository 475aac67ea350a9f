"""bench/speed_local.py without a model: the fixture is well formed, the summaries compute what the table says, and
`make bench` skips the bench cleanly when the local extra is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import speed_local as sl
from bench import speed_report


def result(index: int, phase: str, n: int, ms: float, text: str, drafted: int = 0, accepted: int = 0) -> dict:
    return {
        "index": index,
        "phase": phase,
        "text": text,
        "wall": ms / 1000,
        "predicted_n": n,
        "predicted_ms": ms,
        "draft_n": drafted,
        "draft_n_accepted": accepted,
    }


def test_recorded_prompts_are_real_demo_calls_without_machine_paths() -> None:
    calls = sl.recorded_calls()
    phases = [c["phase"] for c in calls]
    assert phases[0] == "sdd-init" and "sdd-spec" in phases and "sdd-tasks" in phases
    applies = [c for c in calls if c["phase"] == "sdd-apply"]
    assert len(applies) >= 3 and all(c["model"] == sl.LARGE for c in applies)
    for call in calls:
        assert call["messages"][0]["role"] == "system" and call["max_completion_tokens"] > 0
        assert call["response_format"]["type"] == "json_schema"
    text = sl.RECORDED.read_text(encoding="utf-8")
    assert "/tmp/" not in text and "/home/" not in text and "/root/" not in text


def test_speculation_summary_pairs_each_variant_with_the_baseline() -> None:
    base = [[result(1, "sdd-apply", 100, 10_000, "a"), result(2, "sdd-spec", 50, 5_000, "b")]] * 3
    fast = [
        [result(1, "sdd-apply", 100, 4_000, "a", 80, 60), result(2, "sdd-spec", 50, 5_000, "B", 10, 5)],
        [result(1, "sdd-apply", 100, 5_000, "a", 80, 60), result(2, "sdd-spec", 50, 5_000, "b", 10, 5)],
        [result(1, "sdd-apply", 100, 50_000, "a", 80, 60), result(2, "sdd-spec", 50, 5_000, "b", 10, 5)],
    ]
    rows = sl.summarize_speculation({"runs": {"none": base, "ngram": fast}})
    none, ngram = rows
    assert none["apply_tok_s"] == pytest.approx(10.0) and none["apply_speedup"] == pytest.approx(1.0)
    assert ngram["apply_tok_s"] == pytest.approx(20.0)  # median of 25, 20 and 2 tok/s: one noisy run does not count
    assert ngram["apply_speedup"] == pytest.approx(2.0)
    assert ngram["acceptance"] == pytest.approx(195 / 270)
    assert (ngram["identical"], ngram["differs"]) == ("5/6", [2])
    md = speed_report.render(
        {"machine": "m", "date": "d", "load": "1–2", "recorded_calls": 2, "reps": 3, "speculation": rows}, "c"
    )
    assert "| ngram | 20.0 | 2.00 | 10.0 | 72% |" in md


def test_skip_if_missing_exits_zero_and_says_why(monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setattr(sl, "missing_local", lambda: "xllamacpp is not installed")
    assert sl.main(["--skip-if-missing", "--out", str(tmp_path / "x.md")]) == 0
    assert "speed_local: skipped: xllamacpp is not installed" in capsys.readouterr().out
    assert sl.main(["--out", str(tmp_path / "x.md")]) == 2
    assert not (tmp_path / "x.md").exists()


def test_cpu_busy_is_a_share() -> None:
    if not Path("/proc/stat").exists():
        pytest.skip("no /proc/stat")
    assert 0.0 <= sl.cpu_busy(0.05) <= 1.0


def test_fixture_is_valid_json_for_the_replay() -> None:
    data = json.loads(sl.RECORDED.read_text(encoding="utf-8"))
    assert data["command"] == "python bench/record_prompts.py" and len(data["calls"]) == len(sl.recorded_calls())
