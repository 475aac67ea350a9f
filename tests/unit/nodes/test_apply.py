"""Apply as sample → run → select → repair, against the scenario tests, with fake models answering in code blocks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from sdd_harness.graph.core.config import CONFIGS_DIR
from sdd_harness.graph.core.phases import APPLY
from sdd_harness.graph.entry.api import run_change
from sdd_harness.graph.infra import candidates as candidates_module
from tests.fakes.chat import Cut, FakeChatModel
from tests.fakes.scripted import SLUGIFY_BUGGY, SLUGIFY_BUGGY_ALT, SLUGIFY_OK, DemoScript, team

SLUGIFY_UNDEFINED = SLUGIFY_OK.replace('.rstrip("-")', ".rstrip(suffix)")


def config(tmp_path: Path, apply: dict[str, Any] | None = None, run: dict[str, Any] | None = None) -> Path:
    data = yaml.safe_load((CONFIGS_DIR / "opencode-go.yaml").read_text(encoding="utf-8"))
    data["phases"]["sdd-apply"].update(apply or {})
    data["run"] = {**(data.get("run") or {}), **(run or {})}
    path = tmp_path / "apply.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def candidates(result: Any) -> list[dict[str, Any]]:
    return [e for e in result.report["apply_log"] if e.get("step", "").startswith(("sample", "repair", "escalated"))]


def test_the_candidate_that_passes_the_scenario_tests_is_the_one_written(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    models = team(DemoScript(impl_versions=[SLUGIFY_BUGGY, SLUGIFY_OK, SLUGIFY_BUGGY]))
    result = run_change(slugify_request, demo_repo, config(tmp_path, {"samples": 3}), models=models, auto_approve=True)
    assert result.status == "done", result.reason
    scores = {e["step"].split(" (")[0]: (e["passed"], e["failed"]) for e in candidates(result)}
    assert scores == {"sample 1": (5, 1), "sample 2": (6, 0), "sample 3": (5, 1)}  # the buggy one keeps a dash
    selected = next(e for e in result.report["apply_log"] if e.get("step") == "selected")
    assert selected["winner"].startswith("sample 2") and selected["candidates"][0]["label"] == "current code"
    calls = models[APPLY].calls
    full, whole, sampled = (str(call[-1].content) for call in calls)  # greedy, the one-shot call, its sample
    assert "making one whole change" in str(calls[1][0].content)  # the one-shot baseline's own system prompt
    assert "## Repository map" in whole and slugify_request.strip() in whole  # and its own user prompt
    assert "scenario tests" not in whole and "Tasks:" not in whole  # no scenario list, no tasks (tests: in a file)
    assert "scenario tests" in full and sampled == whole  # the one-shot call is sampled first
    assert selected["winner"] == "sample 2 (whole request)"
    assert 'rstrip("-")' in (demo_repo / "textkit/strings.py").read_text()


SLUGIFY_THIN = SLUGIFY_OK.replace("if max_length < 1:", "if max_length == 0:")  # -1 goes through: no scenario says
SLUGIFY_OK_AGAIN = SLUGIFY_OK.replace('"""Lowercase ASCII slug', '"""ASCII slug, lowercase,')


def test_of_candidates_passing_every_scenario_the_one_others_answer_alike_is_written(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    models = team(DemoScript(impl_versions=[SLUGIFY_THIN, SLUGIFY_OK, SLUGIFY_OK_AGAIN]))
    result = run_change(slugify_request, demo_repo, config(tmp_path, {"samples": 3}), models=models, auto_approve=True)
    assert result.status == "done", result.reason
    assert all(e["ok"] for e in candidates(result))  # the contract alone cannot tell them apart
    selected = next(e for e in result.report["apply_log"] if e.get("step") == "selected")
    assert selected["winner"] != "sample 1" and selected["backers"] == 2  # the first sample alone says -1 is fine
    assert "if max_length < 1:" in (demo_repo / "textkit/strings.py").read_text()
    assert "2 candidates gave the same answers to the probe calls" in result.report_path.read_text()


def test_after_two_greedy_answers_and_a_sample_of_each_comes_the_focused_prompt_then_all_three_in_turn(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    models = team(DemoScript(impl_versions=[SLUGIFY_BUGGY] * 5 + [SLUGIFY_OK]))
    settings = config(tmp_path, {"samples": 6, "sample_temperature": 0.6}, {"fix_attempts": 0})
    result = run_change(slugify_request, demo_repo, settings, models=models, auto_approve=True)
    assert result.status == "done", result.reason
    labels = sorted(e["step"] for e in candidates(result))  # run concurrently on a cloud config
    assert labels == [
        "sample 1",
        "sample 2 (whole request)",
        "sample 3 (whole request, t=0.6)",
        "sample 4 (t=0.6)",
        "sample 5 (focused)",
        "sample 6 (focused, t=0.6)",
    ]
    calls, kwargs = models[APPLY].calls, models[APPLY].call_kwargs
    assert "making one whole change" in str(calls[2][0].content) and "Tasks:" not in str(calls[2][-1].content)
    assert [k.get("temperature") for k in kwargs[:6]] == [None, None, 0.6, 0.6, None, 0.6]
    assert len({k.get("seed") for k in kwargs[:6]}) == 6  # six different draws
    assert [k.get("seed") for k in kwargs[2:4]] == [3, 2]  # each kind's sample draws what it drew before
    focused_system, focused_user = (str(m.content) for m in calls[4])
    assert focused_system.startswith("You are a precise Python programmer") and "Output rules" not in focused_system
    assert slugify_request.strip() in focused_user and "textkit/strings.py" in focused_user
    assert "def normalize_whitespace" in focused_user  # the file whole, not an outline
    assert (
        "scenario tests" not in focused_user and "Tasks:" not in focused_user and "Repository map" not in focused_user
    )
    selected = next(e for e in result.report["apply_log"] if e.get("step") == "selected")
    assert selected["winner"] == "sample 6 (focused, t=0.6)"


class WritesTestsToo(DemoScript):
    """Asked for the whole change, the model writes the code and then tests for it, as the one-shot call does."""

    def sdd_apply(self, user: str) -> str:
        tests = "### tests/test_strings.py\n```python\ndef test_slug():\n    assert slugify('a b') == 'a-b'\n```\n"
        return super().sdd_apply(user) + "\n" + tests * 20


def test_on_a_local_model_the_whole_request_reply_stops_before_the_tests_it_may_not_write(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    data = yaml.safe_load((CONFIGS_DIR / "local.yaml").read_text(encoding="utf-8"))
    data["run"]["approval_gates"] = []
    settings = tmp_path / "local.yaml"
    settings.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    models = team(WritesTestsToo(impl_versions=[SLUGIFY_BUGGY, SLUGIFY_OK]))
    result = run_change(slugify_request, demo_repo, settings, models=models, auto_approve=True)
    assert result.status == "done", result.reason
    whole = [i for i, c in enumerate(models[APPLY].calls) if "making one whole change" in str(c[0].content)]
    kwargs = models[APPLY].call_kwargs
    assert whole and all("\n### tests/" in kwargs[i]["stop"] for i in whole)
    assert all("stop" not in k for i, k in enumerate(kwargs) if i not in whole)  # the full prompt writes no tests
    outputs = [c["output_tokens"] for c in result.report["calls"] if c["phase"] == APPLY]
    assert outputs[whole[0]] < outputs[0] / 4  # the twenty refused test blocks were never generated
    assert "def test_slug" not in (demo_repo / "tests/test_strings.py").read_text(encoding="utf-8")


def local_config(tmp_path: Path, samples: int = 4) -> Path:
    data = yaml.safe_load((CONFIGS_DIR / "local.yaml").read_text(encoding="utf-8"))
    data["run"].update(approval_gates=[], fix_attempts=0)
    data["phases"]["sdd-apply"]["samples"] = samples
    settings = tmp_path / "local.yaml"
    settings.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return settings


def test_on_a_local_model_sampling_goes_past_a_lone_perfect_candidate_until_another_answers_alike(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    models = team(DemoScript(impl_versions=[SLUGIFY_THIN, SLUGIFY_OK, SLUGIFY_OK_AGAIN, SLUGIFY_THIN]))
    result = run_change(slugify_request, demo_repo, local_config(tmp_path), models=models, auto_approve=True)
    assert result.status == "done", result.reason
    assert [e["ok"] for e in candidates(result)] == [True, True, True]  # the fourth sample was never drawn
    selected = next(e for e in result.report["apply_log"] if e.get("step") == "selected")
    assert selected["winner"] != "sample 1" and selected["backers"] == 2
    assert "if max_length < 1:" in (demo_repo / "textkit/strings.py").read_text()


class EchoesTheWholeRequest(DemoScript):
    """Asked for the whole change, the model copies the file back unchanged (the 1.5B does on some repos)."""

    original: str = ""

    def sdd_apply(self, user: str) -> str:
        if "## Repository map" in user:
            return f"### textkit/strings.py\n```python\n{self.original}```\n"
        return super().sdd_apply(user)


def test_on_a_local_model_a_prompt_whose_greedy_answer_changed_nothing_is_not_sampled_again(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    script = EchoesTheWholeRequest(impl_versions=[SLUGIFY_BUGGY] * 3 + [SLUGIFY_OK])
    script.original = (demo_repo / "textkit/strings.py").read_text(encoding="utf-8")
    models = team(script)
    result = run_change(slugify_request, demo_repo, local_config(tmp_path, samples=5), models=models, auto_approve=True)
    assert result.status == "done", result.reason
    steps = [(e["step"], e["diff"] > 0) for e in candidates(result)]
    assert steps == [
        ("sample 1", True),
        ("sample 2 (whole request)", False),  # an echo: the one-shot prompt does not work on this repo
        ("sample 3 (focused)", True),  # in place of a sample of the one-shot prompt
        ("sample 4 (t=0.8)", True),
        ("sample 5 (focused, t=0.8)", True),
    ]
    assert 'rstrip("-")' in (demo_repo / "textkit/strings.py").read_text()


def test_a_failing_candidate_is_repaired_from_its_real_test_output(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    models = team(DemoScript(impl_versions=[SLUGIFY_UNDEFINED, SLUGIFY_OK]))
    settings = config(tmp_path, {"samples": 1}, {"fix_attempts": 1})
    result = run_change(slugify_request, demo_repo, settings, models=models, auto_approve=True)
    assert result.status == "done", result.reason
    assert [(e["step"], e["ok"]) for e in candidates(result)] == [("sample 1", False), ("repair 1", True)]
    repair_prompt = str(models[APPLY].calls[1][-1].content)
    assert "It fails:" in repair_prompt and "NameError" in repair_prompt and "suffix" in repair_prompt  # real output
    assert "rstrip(suffix)" in repair_prompt  # and the code that produced it
    assert "Wrong results:\n- `slugify(" in repair_prompt  # each failing scenario as its call and expectation


def test_a_candidate_that_slipped_on_a_name_is_mended_in_code_and_run(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    slipped = SLUGIFY_OK.replace('"-".join(words)', '"-".join(_words)')  # NameError: the local is `words`
    models = team(DemoScript(impl_versions=[slipped]))
    settings = config(tmp_path, {"samples": 1}, {"fix_attempts": 0})
    result = run_change(slugify_request, demo_repo, settings, models=models, auto_approve=True)
    assert result.status == "done", result.reason
    assert [(e["step"], e["ok"]) for e in candidates(result)] == [("sample 1", False), ("sample 1, names mended", True)]
    assert len(models[APPLY].calls) == 1  # mended without another model call
    assert '"-".join(words)' in (demo_repo / "textkit/strings.py").read_text()


def test_a_candidate_that_cannot_even_be_imported_for_a_missing_import_is_mended_and_wins(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    unimported = SLUGIFY_OK.replace("max_length: int = 50) -> str:", "max_length: int = 50) -> Optional[str]:")
    models = team(DemoScript(impl_versions=[unimported]))  # NameError while the module loads: nothing collects
    settings = config(tmp_path, {"samples": 1}, {"fix_attempts": 0})
    result = run_change(slugify_request, demo_repo, settings, models=models, auto_approve=True)
    assert result.status == "done", result.reason
    steps = [(e["step"], e["ok"], e["error"][:17]) for e in candidates(result)]
    assert steps == [("sample 1", False, "collection failed"), ("sample 1, names mended", True, "")]
    assert "from typing import Optional" in (demo_repo / "textkit/strings.py").read_text()


def test_a_reply_cut_at_the_output_limit_keeps_its_whole_definitions_as_a_candidate(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    cut = Cut(f"{SLUGIFY_OK}\n\ndef _dashes(text: str) -> str:\n    return re.sub(")  # the limit hit mid-helper
    models = team(DemoScript(impl_versions=[cut]))
    settings = config(tmp_path, {"samples": 1}, {"fix_attempts": 0})
    result = run_change(slugify_request, demo_repo, settings, models=models, auto_approve=True)
    assert result.status == "done", result.reason
    assert [(e["step"], e["ok"]) for e in candidates(result)] == [("sample 1", True)]
    written = (demo_repo / "textkit/strings.py").read_text()
    assert 'rstrip("-")' in written and "_dashes" not in written


def test_a_complete_reply_that_forgot_its_closing_fence_loses_nothing(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    models = team(DemoScript())
    models[APPLY].replies = [f"### textkit/strings.py\n```python\nimport re\nimport unicodedata\n{SLUGIFY_OK}"]
    settings = config(tmp_path, {"samples": 1}, {"fix_attempts": 0})
    result = run_change(slugify_request, demo_repo, settings, models=models, auto_approve=True)
    assert result.status == "done", result.reason
    assert [(e["step"], e["ok"]) for e in candidates(result)] == [("sample 1", True)]  # not read as cut
    assert 'rstrip("-")' in (demo_repo / "textkit/strings.py").read_text()


def test_a_candidate_that_special_cases_a_tests_input_does_not_pass_that_test(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    lookup = 'if text == "hello world" and max_length == 6:\n        return "hello"\n    '
    gamed = SLUGIFY_BUGGY.replace("ascii_text = ", lookup + "ascii_text = ", 1)  # the buggy code, the test looked up
    models = team(DemoScript(impl_versions=[gamed, SLUGIFY_OK]))
    settings = config(tmp_path, {"samples": 1}, {"fix_attempts": 1})
    result = run_change(slugify_request, demo_repo, settings, models=models, auto_approve=True)
    assert result.status == "done", result.reason
    steps = [(e["step"], e["passed"], e["ok"]) for e in candidates(result)]
    assert steps[0] == ("sample 1", 5, False) and steps[-1][2]  # 5/6 counted, not 6/6: repaired, not written
    assert "special-cas" not in (demo_repo / "textkit/strings.py").read_text()
    assert 'return "hello"' not in (demo_repo / "textkit/strings.py").read_text()
    repair = str(models[APPLY].calls[1][-1].content)
    assert "passes only by returning the expected value for this exact input" in repair


def test_a_slip_mended_in_code_saves_the_models_repair_round(tmp_path: Path, demo_repo: Path, slugify_request: str):
    slipped = SLUGIFY_OK.replace('"-".join(words)', '"-".join(_words)')  # NameError: the local is `words`
    models = team(DemoScript(impl_versions=[slipped, SLUGIFY_OK]))
    settings = config(tmp_path, {"samples": 1}, {"fix_attempts": 1})
    result = run_change(slugify_request, demo_repo, settings, models=models, auto_approve=True)
    assert result.status == "done", result.reason
    assert [(e["step"], e["ok"]) for e in candidates(result)] == [("sample 1", False), ("sample 1, names mended", True)]
    assert len(models[APPLY].calls) == 1  # the repair round a model would have spent on the slip is not asked


def test_code_repairs_run_again_on_what_the_models_repair_wrote(tmp_path: Path, demo_repo: Path, slugify_request: str):
    slipped = SLUGIFY_OK.replace('"-".join(words)', '"-".join(_words)')
    models = team(DemoScript(impl_versions=[SLUGIFY_BUGGY, slipped]))  # the repair fixes the bug, slips a name
    settings = config(tmp_path, {"samples": 1}, {"fix_attempts": 1})
    result = run_change(slugify_request, demo_repo, settings, models=models, auto_approve=True)
    assert result.status == "done", result.reason
    steps = [(e["step"], e["ok"]) for e in candidates(result)]
    assert steps[:2] == [("sample 1", False), ("repair 1", False)] and steps[-1][1] is True
    assert steps[-1][0].endswith(", after repair") and len(models[APPLY].calls) == 2


def test_a_candidate_that_never_returns_is_stopped_long_before_the_command_timeout(
    tmp_path: Path, demo_repo: Path, slugify_request: str, monkeypatch
):
    monkeypatch.setattr(candidates_module, "CANDIDATE_TIMEOUT_FLOOR_S", 3.0)  # the unchanged code's run takes ~1 s
    endless = SLUGIFY_OK.replace("    ascii_text = ", "    while max_length:\n        pass\n    ascii_text = ")
    models = team(DemoScript(impl_versions=[endless, SLUGIFY_OK]))
    settings = config(tmp_path, {"samples": 2}, {"fix_attempts": 0, "command_timeout_s": 900})
    result = run_change(slugify_request, demo_repo, settings, models=models, auto_approve=True)
    assert result.status == "done", result.reason  # within pytest's own 600 s limit: not the 900 s bound
    steps = {e["step"]: e for e in candidates(result)}
    assert steps["sample 1"]["error"] == "the test run timed out" and steps["sample 2 (whole request)"]["ok"]
    assert steps["sample 1"]["seconds"] >= steps["sample 1"]["run_seconds"] >= 3.0  # run.md shows where time went


def test_a_repair_that_gives_the_same_code_back_is_sampled_again(tmp_path: Path, demo_repo: Path, slugify_request: str):
    models = team(DemoScript(impl_versions=[SLUGIFY_BUGGY, SLUGIFY_BUGGY, SLUGIFY_OK]))
    settings = config(tmp_path, {"samples": 1, "sample_temperature": 0.7}, {"fix_attempts": 1})
    result = run_change(slugify_request, demo_repo, settings, models=models, auto_approve=True)
    assert result.status == "done", result.reason
    steps = [(e["step"], e["ok"]) for e in candidates(result)]
    assert steps == [("sample 1", False), ("repair 1", False), ("repair 1 (t=0.7)", True)]
    temperatures = [kwargs.get("temperature") for kwargs in models[APPLY].call_kwargs[1:3]]
    assert temperatures[0] is None and temperatures[1] == 0.7


def test_the_escalation_model_answers_only_after_the_cheap_one_failed(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    models = team(DemoScript(impl_versions=[SLUGIFY_BUGGY]))
    stronger = DemoScript(impl_versions=[SLUGIFY_OK])
    models[f"{APPLY}#escalate"] = FakeChatModel(model="fake-stronger", responder=stronger.responder(APPLY))
    settings = config(tmp_path, {"samples": 1, "escalate": "stronger-model"}, {"fix_attempts": 0})
    result = run_change(slugify_request, demo_repo, settings, models=models, auto_approve=True)
    assert result.status == "done", result.reason
    assert [(e["step"], e["ok"]) for e in candidates(result)] == [("sample 1", False), ("escalated", True)]
    served = [c["served_model"] for c in result.report["calls"] if c["phase"] == APPLY]
    assert served == ["fake-sdd-apply", "fake-stronger"]  # the report shows which model made the accepted code


def test_an_apply_prompt_carries_the_request_the_scenarios_and_the_files(demo_repo: Path, slugify_request: str):
    models = team()
    run_change(slugify_request, demo_repo, "opencode-go", models=models, auto_approve=True)
    prompt = str(models[APPLY].calls[0][-1].content)
    assert slugify_request.strip() in prompt  # the user's words, verbatim
    assert "`slugify('x', max_length=0)` raises `ValueError`" in prompt  # the scenarios as code
    assert "### textkit/strings.py" in prompt and "def truncate" in prompt  # the file it changes
    assert "return text[: width - len(suffix)] + suffix" not in prompt  # bodies the change does not name are folded
    assert "_WHITESPACE = re.compile" in prompt  # module-level code it may use stays
    assert prompt.endswith("Write the new definitions `slugify` with the imports they need.")
    assert "counting.py" not in prompt  # not the rest of the repository
    whole = next(str(c[-1].content) for c in models[APPLY].calls if "Tasks:" not in str(c[-1].content))
    assert "return text[: width - len(suffix)] + suffix" in whole  # the one-shot candidate sees whole files


def test_verbosity_rules_come_from_config_per_phase_and_per_model(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    config_file = tmp_path / "c.yaml"
    config_file.write_text(
        "extends: opencode-go\n"
        "verbosity:\n"
        "  sdd-apply: ['Functions under 12 lines.']\n"
        "  deepseek-v4-flash: ['No tutorial comments.']\n"
        "phases:\n  sdd-spec: {verbosity: ['Assume the reader knows Python.']}\n"
    )
    models = team()
    run_change(slugify_request, demo_repo, str(config_file), models=models, auto_approve=True)
    system = {role: str(models[role].calls[0][0].content) for role in ("sdd-apply", "sdd-tasks", "sdd-spec")}
    assert "Functions under 12 lines." in system["sdd-apply"] and "Functions under 12" not in system["sdd-spec"]
    assert "No tutorial comments." in system["sdd-tasks"]  # sdd-tasks runs on deepseek-v4-flash in this map
    assert "Assume the reader knows Python." in system["sdd-spec"]
    assert all("## Output rules" in text for text in system.values())


def test_a_task_is_not_done_while_its_scenario_tests_fail(tmp_path: Path, demo_repo: Path, slugify_request: str):
    models = team(DemoScript(impl_versions=[SLUGIFY_UNDEFINED]))
    settings = config(tmp_path, {"samples": 2}, {"fix_attempts": 0, "max_attempts": 1})
    result = run_change(slugify_request, demo_repo, settings, models=models, auto_approve=True)
    assert result.status == "failed" and "scenario tests still failing: test_basic_slug" in result.reason
    tasks_md = next((demo_repo / "openspec/changes").glob("*/tasks.md"))
    assert "- [ ] 1.1" in tasks_md.read_text()  # never ticked


def test_a_test_every_plausible_candidate_fails_is_suspect_and_goes_back_to_spec(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    models = team(DemoScript(impl_versions=[SLUGIFY_BUGGY, SLUGIFY_BUGGY_ALT]))
    settings = config(tmp_path, {"samples": 2}, {"fix_attempts": 0, "max_attempts": 1})
    result = run_change(slugify_request, demo_repo, settings, models=models, auto_approve=True)
    selected = next(e for e in result.report["apply_log"] if e.get("step") == "selected")
    assert selected["suspect"] == ["tests/test_strings.py::test_cut_without_a_trailing_dash"]
    back = [d for d in result.report["decisions"] if d["action"] == "back_to_spec"]
    assert back and back[0]["by"] == "gate" and "test_cut_without_a_trailing_dash" in back[0]["reason"]


@dataclass
class ExtraPackageTask(DemoScript):
    """The task list also asks to change the package face, which the change does not need."""

    def sdd_design(self, user: str) -> dict:
        design = super().sdd_design(user)
        design["file_changes"].append({"path": "textkit/__init__.py", "action": "modify", "description": "expose"})
        return design

    def sdd_tasks(self, user: str) -> dict:
        plan = super().sdd_tasks(user)
        plan["tasks"].append({"task": "Expose slugify", "file": "textkit/__init__.py", "requirements": ["R1"]})
        return plan


def test_a_task_whose_file_needed_no_change_is_set_aside_only_when_every_scenario_test_passes(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    settings = config(tmp_path, {"samples": 1}, {"fix_attempts": 0, "max_attempts": 1})
    result = run_change(slugify_request, demo_repo, settings, models=team(ExtraPackageTask()), auto_approve=True)
    assert result.status == "done", result.reason
    tasks_md = next((demo_repo / "openspec/changes").rglob("tasks.md")).read_text()  # archived by now
    line = "- 1.2 Expose slugify (`textkit/__init__.py`) (not needed: every scenario test passes without changing"
    assert line in tasks_md and "- [x] 1.2" not in tasks_md  # not ticked as work done, not counted as open
    assert result.state["apply_results"]["2"]["changed"] == []


def test_a_task_whose_file_did_not_change_is_not_ticked_while_a_scenario_test_fails(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    settings = config(tmp_path, {"samples": 1}, {"fix_attempts": 0, "max_attempts": 1})
    script = ExtraPackageTask(impl_versions=[SLUGIFY_BUGGY])
    result = run_change(slugify_request, demo_repo, settings, models=team(script), auto_approve=True)
    tasks_md = next((demo_repo / "openspec/changes").rglob("tasks.md")).read_text()
    assert result.status == "failed" and "- [ ] 1.2 Expose slugify" in tasks_md, tasks_md


TRUNCATE_BROKEN = """

def truncate(text: str, width: int, suffix: str = "...") -> str:
    return text[:width]
"""


def test_an_existing_test_an_earlier_winner_broke_still_counts_as_broken_in_the_next_visit(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    # every candidate writes slugify right and breaks truncate: the first visit writes the best of them (no task
    # is done), and the retry must not take the broken truncate tests as tests that never passed
    script = DemoScript(impl_versions=[SLUGIFY_OK + TRUNCATE_BROKEN])
    settings = config(tmp_path, {"samples": 1}, {"fix_attempts": 0, "max_attempts": 2})
    result = run_change(slugify_request, demo_repo, settings, models=team(script), auto_approve=True)
    assert result.status == "failed", result.reason
    assert "sdd-apply failed its gate 2 time(s)" in result.reason and "breaks tests/test_strings.py::" in result.reason
    selected = [e for e in result.report["apply_log"] if e.get("step") == "selected"]
    assert len(selected) == 2 and all(e["candidates"][-1]["regressions"] for e in selected)


def test_the_gate_feedback_names_failing_scenario_tests_and_broken_existing_tests_together(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    # the next visit is told both, not only the first: before, a broken existing test went unnamed
    script = DemoScript(impl_versions=[SLUGIFY_BUGGY + TRUNCATE_BROKEN])
    settings = config(tmp_path, {"samples": 1}, {"fix_attempts": 0, "max_attempts": 1})
    result = run_change(slugify_request, demo_repo, settings, models=team(script), auto_approve=True)
    assert "scenario tests still failing: " in result.reason, result.reason
    assert "; breaks tests/test_strings.py::" in result.reason, result.reason


@dataclass
class SpecCorrectsWrongly(DemoScript):
    """Asked to re-check the suspect trailing-dash scenario, the spec answers with another value no candidate
    gives."""

    def sdd_spec(self, user: str) -> dict:
        if "For each call below, work out" in user:
            fix = {"call": "slugify('ab cd', max_length=3)", "expect": "'ab'"}
            return {"scenarios": [{"name": "Cut without a trailing dash", "module": "textkit.strings", **fix}]}
        return super().sdd_spec(user)


def test_a_corrected_test_every_candidate_fails_again_ends_the_run_at_verify(
    tmp_path: Path, demo_repo: Path, slugify_request: str
):
    # two different buggy candidates make the trailing-dash test suspect; the spec corrects it; back in apply
    # both candidates are the same code and fail it again: that is settled, not retried, and verify ends the run
    script = SpecCorrectsWrongly(impl_versions=[SLUGIFY_BUGGY, SLUGIFY_BUGGY_ALT, SLUGIFY_BUGGY])
    settings = config(tmp_path, {"samples": 2}, {"fix_attempts": 0, "max_attempts": 3})
    result = run_change(slugify_request, demo_repo, settings, models=team(script), auto_approve=True)
    steps = [(d["phase"], d["action"]) for d in result.report["decisions"] if d["action"] != "continue"]
    assert ("sdd-spec", "skip_to_apply") in steps, steps
    assert steps[-2:] == [("sdd-apply", "advance"), ("sdd-verify", "stop")], steps
    assert "which the spec re-checked" in result.reason, result.reason


@dataclass
class SlowAnswers(DemoScript):
    """Each apply answer takes 200 s of (fake) wall-clock time, as a 1.5B model on a slow machine may."""

    clock: list[float] = field(default_factory=lambda: [0.0])

    def sdd_apply(self, user: str) -> str:
        self.clock[0] += 200.0
        return super().sdd_apply(user)


def test_once_the_time_budget_is_spent_apply_draws_no_more_samples_and_keeps_its_best_so_far(
    tmp_path: Path, demo_repo: Path, slugify_request: str, monkeypatch: pytest.MonkeyPatch
):
    script = SlowAnswers(impl_versions=[SLUGIFY_BUGGY, SLUGIFY_OK, SLUGIFY_OK])
    real = time.perf_counter  # the clock phase times are measured with
    monkeypatch.setattr(time, "perf_counter", lambda: real() + script.clock[0])
    settings = yaml.safe_load(local_config(tmp_path, samples=3).read_text(encoding="utf-8"))
    settings["run"].update(time_budget_s=150, fix_attempts=1)
    path = tmp_path / "budget.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    models = team(script)
    result = run_change(slugify_request, demo_repo, path, models=models, auto_approve=True)
    assert [e["step"] for e in candidates(result)] == ["sample 1"]  # samples 2-3 and the repair never drawn
    steps = [e["step"] for e in result.report["apply_log"]]
    assert "time budget spent: 1 of 3 samples drawn" in steps
    assert len(models[APPLY].calls) == 1
    assert result.status == "budget_exceeded" and "time budget of 150 s" in result.reason
    written = (demo_repo / "textkit/strings.py").read_text()
    assert "def slugify" in written and 'rstrip("-")' not in written  # the best so far (5 of 6) is written
