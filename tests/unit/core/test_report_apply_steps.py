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
    assert "| 1.1, 1.2 | selected |  |  | no | winner: sample 1; suspect: test_cut |" in md
    assert "None" not in md.split("## Apply steps")[1]
