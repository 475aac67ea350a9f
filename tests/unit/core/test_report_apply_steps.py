"""run.md's apply table says, per candidate, how many scenario tests it passed and which one won."""

from __future__ import annotations

from sdd_harness.graph.core.report import build_report, render_markdown


def test_apply_steps_show_scores_errors_and_the_winner() -> None:
    log = [
        {"tasks": [1, 2], "step": "sample 1", "ok": False, "passed": 3, "failed": 2, "regressions": 0, "error": ""},
        {
            "tasks": [1, 2],
            "step": "sample 2 (t=0.8)",
            "ok": False,
            "passed": 0,
            "failed": 0,
            "regressions": 0,
            "error": "a code block does not say which file it is for",
        },
        {"tasks": [1, 2], "step": "selected", "ok": False, "winner": "sample 1", "suspect": ["t.py::test_cut"]},
    ]
    state = {"change_id": "c", "status": "failed", "status_reason": "", "calls": [], "apply_log": log}
    md = render_markdown(build_report(state))
    assert "| 1.1, 1.2 | sample 1 | 3/5 | 0 | no |" in md
    assert "a code block does not say which file it is for |" in md
    assert "| 1.1, 1.2 | selected |  |  | no |  | winner: sample 1; suspect: test_cut |" in md
    assert "None" not in md.split("## Apply steps")[1]


def test_apply_steps_show_each_candidates_time_and_keep_the_start_of_a_long_note() -> None:
    """Where apply's minutes went (the model call, then the candidate's test run), and a long note cut at its
    end: the winner's name comes first and must stay readable."""
    suspects = [f"t.py::test_scenario_number_{i}" for i in range(12)]
    log = [
        {
            "tasks": [1],
            "step": "sample 1",
            "ok": True,
            "passed": 2,
            "failed": 0,
            "regressions": 0,
            "error": "",
            "seconds": 41.25,
            "run_seconds": 2.5,
        },
        {
            "tasks": [1],
            "step": "selected",
            "ok": True,
            "winner": "sample 4 (whole request, t=0.8)",
            "suspect": suspects,
        },
    ]
    state = {"change_id": "c", "status": "done", "status_reason": "", "calls": [], "apply_log": log}
    md = render_markdown(build_report(state))
    assert "| 1.1 | sample 1 | 2/2 | 0 | yes | 41.2 s (run 2.5 s) |  |" in md
    selected = next(line for line in md.splitlines() if "| selected |" in line)
    assert "| winner: sample 4 (whole request, t=0.8); suspect: test_scenario_number_0" in selected
    assert selected.endswith("… |")
