"""Apply as the precise-spec workflow: one task, its check at once, targeted fixes, minimal context."""

from __future__ import annotations

from pathlib import Path

from sdd_harness.graph.core.phases import APPLY
from sdd_harness.graph.entry.api import run_change
from tests.fakes.scripted import SLUGIFY_BUGGY, SLUGIFY_OK, DemoScript, team

SLUGIFY_UNDEFINED = SLUGIFY_OK.replace('.rstrip("-")', ".rstrip(suffix)")


def test_a_failing_check_is_fixed_with_a_targeted_prompt(demo_repo: Path, demo_request: str):
    models = team(DemoScript(impl_versions=[SLUGIFY_UNDEFINED, SLUGIFY_OK]))
    events: list[dict] = []
    result = run_change(
        demo_request, demo_repo, "opencode-go", models=models, auto_approve=True, on_event=events.append
    )

    assert result.status == "done", result.reason
    steps = [(e["task"], e["step"], e["ok"]) for e in result.report["apply_log"]]
    assert steps[:2] == [(1, "generate", False), (1, "fix", True)]
    assert "undefined name(s) `suffix`" in result.report["apply_log"][0]["error"]
    fix_prompt = str(models[APPLY].calls[1][-1].content)
    assert "The check failed" in fix_prompt and "`suffix`" in fix_prompt
    assert "textkit/strings.py" in fix_prompt and "def word_count" not in fix_prompt  # only the lines involved
    assert any(e.get("event") == "task" and e.get("step") == "fix" for e in events)  # streamed progress
    assert "| 1 | fix | 2 |" in result.report_path.read_text()  # and in the run report


def test_an_apply_step_sees_only_its_task_its_files_and_dependency_signatures(demo_repo: Path, demo_request: str):
    models = team()
    run_change(demo_request, demo_repo, "opencode-go", models=models, auto_approve=True)
    first = str(models[APPLY].calls[0][-1].content)
    assert "file: textkit/strings.py" in first and "def truncate" in first  # its task and its file
    assert "counting.py" not in first and "def top_words" not in first  # not the rest of the repository
    second = str(models[APPLY].calls[1][-1].content)
    assert "file: tests/test_strings.py" in second
    assert "def slugify(text: str, max_length: int=50) -> str" in second  # signatures of what it tests
    assert "unicodedata.normalize" not in second  # ...not the implementation body


def test_verbosity_rules_come_from_config_per_phase_and_per_model(tmp_path: Path, demo_repo: Path, demo_request: str):
    config = tmp_path / "c.yaml"
    config.write_text(
        "extends: opencode-go\n"
        "verbosity:\n"
        "  sdd-apply: ['Functions under 12 lines.']\n"
        "  deepseek-v4-flash: ['No tutorial comments.']\n"
        "phases:\n  sdd-spec: {verbosity: ['Assume the reader knows Python.']}\n"
    )
    models = team()
    run_change(demo_request, demo_repo, str(config), models=models, auto_approve=True)
    system = {role: str(models[role].calls[0][0].content) for role in ("sdd-apply", "sdd-tasks", "sdd-spec")}
    assert "Functions under 12 lines." in system["sdd-apply"] and "Functions under 12" not in system["sdd-spec"]
    assert "No tutorial comments." in system["sdd-tasks"]  # sdd-tasks runs on deepseek-v4-flash in this map
    assert "Assume the reader knows Python." in system["sdd-spec"]
    assert all("## Output rules" in text for text in system.values())


def test_the_task_loop_can_be_switched_off(tmp_path: Path, demo_repo: Path, demo_request: str):
    config = tmp_path / "c.yaml"
    config.write_text("extends: opencode-go\nrun: {task_loop: false}\n")
    result = run_change(demo_request, demo_repo, str(config), models=team(), auto_approve=True)
    assert result.status == "done", result.reason
    assert {e["step"] for e in result.report["apply_log"]} == {"generate"}
    assert all("check" not in e for e in result.report["apply_log"])  # no per-task checks, verify does it all


class NewTestsExposeACodeBug(DemoScript):
    """Task 1 ships buggy code that passes the old tests; task 2's new tests catch it; the fix is in the code."""

    def __init__(self) -> None:
        super().__init__(impl_versions=[SLUGIFY_BUGGY])
        self.fix_prompts: list[str] = []

    def sdd_apply(self, user: str) -> dict:
        if "The check failed" in user and "textkit/strings.py" in user.rsplit("Edit only:", 1)[-1]:
            self.fix_prompts.append(user)
            buggy = '"-".join(words)[:max_length]\n'
            return {
                "edits": [
                    {
                        "op": "search_replace",
                        "path": "textkit/strings.py",
                        "search": buggy,
                        "replace": '"-".join(words)[:max_length].rstrip("-")\n',
                    }
                ]
            }
        return super().sdd_apply(user)


def test_a_new_test_that_exposes_a_code_bug_gets_the_code_fixed_not_the_test(demo_repo: Path, demo_request: str):
    script = NewTestsExposeACodeBug()
    result = run_change(demo_request, demo_repo, "opencode-go", models=team(script), auto_approve=True)

    assert result.status == "done", result.reason
    steps = [(e["task"], e["step"], e["ok"]) for e in result.report["apply_log"]]
    assert steps == [(1, "generate", True), (2, "generate", False), (2, "fix", True)]
    assert "test_slugify_trims_without_trailing_dash" in script.fix_prompts[0]  # the failing test's output
    assert "Edit only: tests/test_strings.py, textkit/strings.py." in script.fix_prompts[0]
    assert 'rstrip("-")' in (demo_repo / "textkit" / "strings.py").read_text(encoding="utf-8")
    assert "test_slugify_trims_without_trailing_dash" in (demo_repo / "tests" / "test_strings.py").read_text()


def test_the_tasks_prompt_lists_every_file_the_request_names(tmp_path: Path, demo_repo: Path):
    request = "Add `celsius()` in a new module textkit/units.py and re-export it from textkit/__init__.py."
    models = team()
    run_change(request, demo_repo, "opencode-go", models=models, auto_approve=True)
    prompt = str(models["sdd-tasks"].calls[0][-1].content)
    assert "Files the request names: textkit/units.py (new), textkit/__init__.py (exists)." in prompt


def test_a_rejected_edit_is_reported_as_not_applied(demo_repo: Path, demo_request: str):
    broken = SLUGIFY_OK.replace("if max_length < 1:", "if max_length < 1")  # a real syntax error
    models = team(DemoScript(impl_versions=[broken, SLUGIFY_OK]))
    result = run_change(demo_request, demo_repo, "opencode-go", models=models, auto_approve=True)

    assert result.status == "done", result.reason
    assert "SyntaxError" in result.report["apply_log"][0]["error"]
    fix = str(models[APPLY].calls[1][-1].content)
    assert "rejected and NOT applied" in fix and "def truncate" in fix  # the unchanged file is shown


def test_a_mangled_path_is_mapped_to_the_one_file_the_step_may_edit():
    from sdd_harness.nodes.apply import meant_path

    allowed = {"shop/cart.py", "tests/test_cart.py"}
    assert meant_path("/cart.py", allowed) == "shop/cart.py"
    assert meant_path("/cart", allowed) == "shop/cart.py"
    assert meant_path("./shop/cart.py", allowed) == "shop/cart.py"
    assert meant_path("test_cart.py", allowed) == "tests/test_cart.py"
    assert meant_path("shop/pricing.py", allowed) == "shop/pricing.py"  # another file: left as is, then refused
    assert meant_path("/", allowed) == "/"
    assert meant_path("/total", allowed) == "/total"  # two files allowed: which one is not plain
    assert meant_path("/total", {"shop/cart.py"}) == "shop/cart.py"  # a method name as the path of the one file
    assert meant_path("shop/pricing.py", {"shop/cart.py"}) == "shop/pricing.py"


class ImportForgotten(DemoScript):
    def sdd_apply(self, user: str) -> dict:
        answer = super().sdd_apply(user)
        for edit in answer["edits"]:
            if edit["path"].startswith("tests/"):
                edit["content"] = edit["content"].replace(", slugify, truncate", ", truncate")
        return answer


def test_a_forgotten_import_of_a_function_the_change_defines_is_added(demo_repo: Path, demo_request: str):
    models = team(ImportForgotten())
    result = run_change(demo_request, demo_repo, "opencode-go", models=models, auto_approve=True)

    assert result.status == "done", result.reason
    assert [(e["task"], e["ok"]) for e in result.report["apply_log"]] == [(1, True), (2, True)]  # no fix round
    tests = (demo_repo / "tests" / "test_strings.py").read_text(encoding="utf-8")
    assert "from textkit.strings import slugify" in tests
    assert len(models[APPLY].calls) == 2
