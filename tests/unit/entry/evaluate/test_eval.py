"""`sdd eval` with fake models on real example tasks: real copies, real pytest for verify and acceptance.

A scripted team either overlays the task's reference solution as apply edits (resolved) or rewrites files
unchanged (unresolved); every fake answer first checks that the work copy holds no acceptance tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

from sdd_harness.graph.core.phases import APPLY, BUILTIN_PHASES
from sdd_harness.graph.entry.evaluate import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Arm,
    EvalError,
    EvalTask,
    eval_command,
    load_task,
    load_tasks,
    parse_outcomes,
    run_eval,
    static_test_count,
)
from tests.fakes.chat import FakeChatModel
from tests.fakes.scripted import DemoScript, team

ROOT = Path(__file__).resolve().parents[4]
TASKS = ROOT / "examples" / "tasks"
CONFIG = "opencode-go"  # any map works: every role is a fake


@pytest.fixture(autouse=True)
def plain_pytest_in_subprocesses(monkeypatch: pytest.MonkeyPatch) -> None:
    """verify's own pytest runs need no plugins (autoloading langsmith costs ~1-2 s per start)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


# --------------------------------------------------------------------------------------------- fake teams


def solution_files(task: EvalTask) -> dict[str, str]:
    assert task.solution is not None
    return {
        p.relative_to(task.solution).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(task.solution.rglob("*.py"))
        if "__pycache__" not in p.parts
    }


@dataclass
class HiddenCheck:
    """Records, at every model call, whether the work copy shows any acceptance test or the solution."""

    work: Path
    seen: list[tuple[str, bool]] = field(default_factory=list)

    def __call__(self, who: str) -> None:
        leaked = (
            (self.work / "accept").exists() or any(self.work.rglob("test_accept_*")) or any(self.work.rglob("solution"))
        )
        self.seen.append((who, not leaked))


@dataclass
class SolutionScript(DemoScript):
    """The demo team, pointed at one eval task: apply writes the reference solution (or nothing useful)."""

    files: dict[str, str] = field(default_factory=dict)
    repo_files: set[str] = field(default_factory=set)
    solve: bool = True
    hidden: HiddenCheck | None = None

    def __call__(self, phase: str, messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        if self.hidden:
            self.hidden("pipeline")
        return super().__call__(phase, messages, kwargs)

    def sdd_explore(self, user: str) -> dict:
        return {"current_state": "small package", "affected_files": sorted(self.files), "recommendation": "edit"}

    def sdd_propose(self, user: str) -> dict:
        answer = super().sdd_propose(user)
        return {**answer, "affected_files": sorted(self.files)}

    def sdd_design(self, user: str) -> dict:
        changes = [
            {"path": p, "action": "modify" if p in self.repo_files else "create", "description": "the change"}
            for p in sorted(self.files)
        ]
        return {"approach": "as asked", "file_changes": changes, "interfaces": [], "testing_strategy": "accept"}

    def sdd_spec(self, user: str) -> dict:
        """One scenario per solution module: a function the solution defines can be imported and called."""
        scenarios = []
        for path, text in sorted(self.files.items()):
            names = re.findall(r"^(?:def|class) (\w+)", text, re.MULTILINE)
            if path.endswith(".py") and names:
                module = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
                scenarios.append(
                    {"name": f"{names[0]} exists", "call": f"callable({names[0]})", "expect": "True", "module": module}
                )
        return {
            "capability": "eval-task",
            "purpose": "The behaviour the eval task asks for, as its request states it.",
            "requirements": [
                {"name": "As asked", "text": "The system SHALL do what the request asks.", "scenarios": scenarios}
            ],
        }

    def sdd_tasks(self, user: str) -> dict:
        return {"tasks": [{"task": f"Write {p}", "file": p, "requirements": ["R1"]} for p in sorted(self.files)]}

    def sdd_apply(self, user: str) -> str:
        if not self.solve:
            return "".join(f"### {p}\n```python\ndef _not_it():\n    return None\n```\n" for p in sorted(self.files))
        return "".join(f"### {p}\n```python\n{c}```\n" for p, c in sorted(self.files.items()))


def one_shot_responder(task: EvalTask, solve: bool, hidden: HiddenCheck):
    def respond(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        hidden("one-shot")
        assert "one whole change" in str(messages[0].content)  # the one-shot prompt, not a phase prompt
        if solve:
            return "".join(f"### {p}\n```python\n{c}```\n" for p, c in solution_files(task).items())
        # code that does not parse: refused, recorded, not fatal
        return "### helpers.py\n```python\ndef broken(:\n    pass\n```\n"

    return respond


@dataclass
class Factory:
    """``models=`` for the eval: per task a behaviour (solve / noop / crash / slow); remembers hidden checks."""

    behaviour: dict[str, str]
    checks: list[HiddenCheck] = field(default_factory=list)

    def __call__(self, task: EvalTask, arm: Arm, work: Path) -> dict[str, FakeChatModel]:
        how = self.behaviour[task.name]
        hidden = HiddenCheck(work)
        self.checks.append(hidden)
        if how == "crash":
            return team(_Crash())
        if arm.mode == "one-shot":
            fake = FakeChatModel(model="fake-one-shot", responder=one_shot_responder(task, how == "solve", hidden))
            return {APPLY: fake}
        repo_files = {p.relative_to(task.repo).as_posix() for p in task.repo.rglob("*") if p.is_file()}
        script = SolutionScript(files=solution_files(task), repo_files=repo_files, solve=how == "solve", hidden=hidden)
        return team(script)


class _Crash(DemoScript):
    def __call__(self, phase: str, messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        raise RuntimeError("model exploded")


# --------------------------------------------------------------------------------------------- the main run


@dataclass
class SuiteRun:
    code: int
    out: Path
    data: dict[str, Any]
    report: str
    printed: str
    factory: Factory

    def record(self, task: str, mode: str) -> dict[str, Any]:
        return next(r for r in self.data["results"] if r["task"] == task and r["mode"] == mode)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    """split-amount solved, temperature-units not, by the pipeline and the one-shot baseline, two at a time."""
    out = tmp_path_factory.mktemp("eval") / "out"
    factory = Factory({"split-amount": "solve", "temperature-units": "noop"})
    import io
    from contextlib import redirect_stdout

    buffer = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, redirect_stdout(buffer):
        mp.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        code = eval_command(TASKS, [CONFIG], True, 2, out, only=["split-amount", "temperature-units"], models=factory)
    data = json.loads((out / "eval-results.json").read_text(encoding="utf-8"))
    return SuiteRun(code, out, data, (out / "eval-report.md").read_text(encoding="utf-8"), buffer.getvalue(), factory)


def test_resolved_and_unresolved_are_told_apart(suite: SuiteRun) -> None:
    assert suite.code == EXIT_OK, suite.printed
    assert len(suite.data["results"]) == 4 and suite.data["complete"] and not suite.data["interrupted"]

    solved = suite.record("split-amount", "pipeline")
    assert solved["resolved"] and solved["status"] == "done", solved
    assert solved["accept_passed"] == solved["accept_total"] >= 4
    assert solved["repo_tests_ok"] and solved["accept_exit"] == 0
    assert set(solved["accept_outcomes"].values()) == {"PASSED"}
    assert solved["changed"] == ["money/amounts.py"]
    assert solved["loopbacks"] == 0 and solved["retries"] <= 1  # the fake spec names no error case: one gate retry

    unsolved = suite.record("temperature-units", "pipeline")
    assert not unsolved["resolved"] and unsolved["status"] == "failed"  # no candidate passed: nothing called done
    assert "scenario tests still failing" in unsolved["reason"] or "did not change" in unsolved["reason"]
    assert unsolved["accept_passed"] == 0 and unsolved["accept_total"] >= 5  # import error: counted from the files
    assert any("collection error" in n for n in unsolved["notes"]), unsolved["notes"]


def test_tokens_cost_and_time_are_recorded_per_phase(suite: SuiteRun) -> None:
    for task in ("split-amount", "temperature-units"):
        record = suite.record(task, "pipeline")
        finished = (
            set(BUILTIN_PHASES) if record["resolved"] else set(BUILTIN_PHASES[: BUILTIN_PHASES.index("sdd-apply") + 1])
        )
        assert finished <= set(record["phases"])
        assert record["input_tokens"] == sum(p["input_tokens"] for p in record["phases"].values()) > 0
        assert record["output_tokens"] > 0 and record["calls"] >= len(finished)
        assert record["seconds"] > 0 and record["attempts"]["sdd-apply"] == (1 if record["resolved"] else 3)
        assert record["run_id"].startswith("eval-") and record["report_path"]
        shot = suite.record(task, "one-shot")
        assert list(shot["phases"]) == ["one-shot"] and shot["calls"] == 1
        assert shot["input_tokens"] > 0 and shot["output_tokens"] > 0 and shot["seconds"] > 0


def test_one_shot_baseline_applies_edits_and_records_refusals(suite: SuiteRun) -> None:
    solved = suite.record("split-amount", "one-shot")
    assert solved["resolved"] and solved["status"] == "applied" and solved["changed"] == ["money/amounts.py"]
    refused = suite.record("temperature-units", "one-shot")
    assert not refused["resolved"] and refused["status"] == "refused" and refused["error"] is None
    assert "does not parse" in refused["refusals"][0] and not list(Path(refused["work_dir"]).rglob("helpers.py"))


def test_acceptance_tests_are_hidden_until_the_run_ends(suite: SuiteRun) -> None:
    seen = [entry for check in suite.factory.checks for entry in check.seen]
    assert {who for who, _ in seen} == {"pipeline", "one-shot"}
    assert len(seen) >= 2 * len(BUILTIN_PHASES)
    assert all(hidden for _, hidden in seen), [who for who, hidden in seen if not hidden]
    work = Path(suite.record("split-amount", "pipeline")["work_dir"])
    assert (work / "accept").is_dir()  # ... and copied in afterwards
    assert not (TASKS / "split-amount" / "repo" / "accept").exists()  # the task folder is never written


def test_two_jobs_run_in_parallel(suite: SuiteRun) -> None:
    assert suite.data["jobs"] == 2
    spans = sorted((r["started_at"], r["finished_at"]) for r in suite.data["results"])
    assert any(b_start < a_end for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False)), spans
    dirs = {r["work_dir"] for r in suite.data["results"]}
    assert len(dirs) == 4  # every run had its own copy (and so its own .sdd checkpoints)
    assert len({r["run_id"] for r in suite.data["results"]}) == 4


def test_outputs_json_markdown_and_terminal_table(suite: SuiteRun) -> None:
    summary = suite.data["summary"]
    assert set(summary) == {f"{CONFIG}/pipeline", f"{CONFIG}/one-shot"}
    for totals in summary.values():
        assert totals["tasks"] == 2 and totals["resolved"] == 1 and totals["resolve_rate"] == 0.5
        assert totals["accept_total"] > totals["accept_passed"] > 0
    assert "## Totals per config" in suite.report and "## Per task" in suite.report
    assert f"| {CONFIG} | pipeline | 1/2 | 50% |" in suite.report
    assert "## Tokens by phase" in suite.report and "| sdd-apply |" in suite.report
    assert "; capped 0/" in suite.report  # replies cut at max_tokens, per phase (none with these fakes)
    assert "temperature-units" in suite.report.split("## Failures and notes")[1]
    assert "totals per config" in suite.printed and "RESOLVED" in suite.printed


# --------------------------------------------------------------------------------------------- bad input


def make_task(folder: Path, *, request: bool = True, accept: bool = True, repo: bool = True) -> Path:
    folder.mkdir(parents=True)
    if repo:
        (folder / "repo" / "pkg").mkdir(parents=True)
        (folder / "repo" / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    if request:
        (folder / "task.md").write_text("Add f() to pkg/__init__.py returning 1.\n", encoding="utf-8")
    if accept:
        (folder / "accept").mkdir()
        (folder / "accept" / "test_accept_f.py").write_text(
            "from pkg import f\n\n\ndef test_f():\n    assert f() == 1\n", encoding="utf-8"
        )
    return folder


def test_bad_task_folders_are_named_with_what_is_missing(tmp_path: Path) -> None:
    make_task(tmp_path / "good")
    make_task(tmp_path / "no-request", request=False)
    make_task(tmp_path / "no-accept", accept=False)
    make_task(tmp_path / "no-repo", repo=False)
    empty = make_task(tmp_path / "empty-accept", accept=False)
    (empty / "accept").mkdir()
    (empty / "accept" / "helpers.py").write_text("", encoding="utf-8")
    with pytest.raises(EvalError) as caught:
        load_tasks(tmp_path)
    message = str(caught.value)
    assert f"{tmp_path / 'no-request'}: missing task.md" in message
    assert f"{tmp_path / 'no-accept'}: missing accept/" in message
    assert f"{tmp_path / 'no-repo'}: missing repo/" in message
    assert f"{tmp_path / 'empty-accept'}: accept/ has no test files" in message
    assert f"{tmp_path / 'good'}:" not in message

    with pytest.raises(EvalError, match=r"no-accept: missing accept/"):
        load_task(tmp_path / "no-accept")
    assert load_tasks(tmp_path, only=["good"])[0].accept_files == ("test_accept_f.py",)
    assert load_tasks(tmp_path / "good")[0].name == "good"  # a single task folder works too
    with pytest.raises(EvalError, match="unknown task"):
        load_tasks(tmp_path, only=["nope"])


def test_eval_command_reports_bad_input_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_task(tmp_path / "tasks" / "broken", accept=False)
    assert eval_command(tmp_path / "tasks", [CONFIG], False, 1, tmp_path / "out") == EXIT_BAD_INPUT
    assert "broken: missing accept/" in capsys.readouterr().err
    make_task(tmp_path / "ok" / "fine")
    assert eval_command(tmp_path / "ok", ["no-such-config"], False, 1, tmp_path / "out") == EXIT_BAD_INPUT
    assert "no-such-config" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------------------------- crashes


def test_a_crashing_task_is_recorded_and_the_suite_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    factory = Factory({"paginate-validation": "crash", "split-amount": "solve"})
    code = eval_command(
        TASKS, [CONFIG], False, 1, tmp_path, only=["paginate-validation", "split-amount"], models=factory
    )
    assert code == EXIT_FAILED
    data = json.loads((tmp_path / "eval-results.json").read_text(encoding="utf-8"))
    crashed = next(r for r in data["results"] if r["task"] == "paginate-validation")
    assert crashed["status"] == "error" and not crashed["resolved"]
    assert crashed["error"] == "RuntimeError: model exploded"
    assert crashed["accept_total"] > 0 and crashed["accept_passed"] < crashed["accept_total"]
    solved = next(r for r in data["results"] if r["task"] == "split-amount")
    assert solved["resolved"] and solved["error"] is None
    assert data["summary"][f"{CONFIG}/pipeline"]["errors"] == 1
    assert "RuntimeError: model exploded" in (tmp_path / "eval-report.md").read_text(encoding="utf-8")


def test_run_timeout_is_recorded_and_finished_phases_still_count(tmp_path: Path) -> None:
    """apply never answers: the run times out, and the phases that finished are counted from the checkpoint."""
    task = make_task(tmp_path / "tasks" / "slow")
    script = SolutionScript(files={"pkg/__init__.py": "def f():\n    return 1\n"}, repo_files={"pkg/__init__.py"})
    models = {**team(script), APPLY: FakeChatModel(model="slow", latency_s=30)}
    out = tmp_path / "out"
    run = run_eval(task, [CONFIG], baseline=True, out_dir=out, run_timeout_s=2, time_budget_s=60, models=models)
    records = {r.mode: r for r in run.results}
    assert {mode: r.status for mode, r in records.items()} == {"pipeline": "timeout", "one-shot": "timeout"}
    assert all(not r.resolved and "within 2 s" in (r.error or "") for r in run.results)
    pipeline = records["pipeline"]
    assert {"sdd-init", "sdd-explore", "sdd-tasks"} <= set(pipeline.phases) and APPLY not in pipeline.phases
    assert pipeline.input_tokens > 0 and any("last checkpoint" in n for n in pipeline.notes)
    assert records["one-shot"].input_tokens == 0


def test_a_time_budget_stops_each_pipeline_run_itself_before_the_hard_timeout(tmp_path: Path) -> None:
    """Init answers slowly: the run stops itself at init's gate, with time to spare, and the suite records why."""
    task = make_task(tmp_path / "tasks" / "slow")
    script = SolutionScript(files={"pkg/__init__.py": "def f():\n    return 1\n"}, repo_files={"pkg/__init__.py"})
    slow_init = FakeChatModel(model="slow-init", latency_s=1.2, responder=script.responder("sdd-init"))
    models = {**team(script), "sdd-init": slow_init}
    run = run_eval(task, [CONFIG], out_dir=tmp_path / "out", run_timeout_s=60, time_budget_s=1, models=models)
    record = run.results[0]
    assert record.status == "budget_exceeded" and "time budget of 1 s" in (record.reason or "")
    assert record.seconds < 30 and set(record.phases) == {"sdd-init"}


def test_a_hard_run_timeout_alone_lets_each_run_stop_itself_at_80_percent(tmp_path: Path, monkeypatch) -> None:
    """Killed at --run-timeout a run leaves its code unwritten; given 80 % of it as a budget it stops itself."""
    from sdd_harness.graph.entry.evaluate import runner

    budgets: list[float | None] = []

    async def change(task, arm, work, overrides, run_id, emit, budget):  # noqa: ANN001, ANN202 - a stand-in
        budgets.append(budget)
        return {"status": "done"}

    monkeypatch.setattr(runner, "_change", change)
    task = make_task(tmp_path / "tasks" / "t")
    for timeout, budget in ((600, None), (600, 100), (None, None)):
        run_eval(task, [CONFIG], out_dir=tmp_path / "out", run_timeout_s=timeout, time_budget_s=budget)
    assert budgets == [480.0, 100, None]


# --------------------------------------------------------------------------------------------- Ctrl-C

_INTERRUPTIBLE = """
import sys
from pathlib import Path
from sdd_harness.graph.entry.evaluate import eval_command
from tests.fakes.chat import FakeChatModel
from sdd_harness.graph.core.phases import BUILTIN_PHASES, ORCHESTRATOR

ROLES = [*BUILTIN_PHASES, ORCHESTRATOR]
EDIT = "### pkg/__init__.py\\n```python\\ndef f():\\n    return 1\\n```\\n"


def crash(messages, kwargs):
    raise RuntimeError("boom")


def factory(task, arm, work):
    if task.name == "b-slow":
        return {role: FakeChatModel(latency_s=120) for role in ROLES}
    if arm.mode == "one-shot":
        return {"sdd-apply": FakeChatModel(responder=lambda m, k: EDIT)}
    return {role: FakeChatModel(responder=crash) for role in ROLES}


sys.exit(eval_command(Path(sys.argv[1]), ["opencode-go"], True, 1, Path(sys.argv[2]), models=factory))
"""


def test_ctrl_c_stops_cleanly_and_writes_what_finished(tmp_path: Path) -> None:
    make_task(tmp_path / "tasks" / "a-fast")
    make_task(tmp_path / "tasks" / "b-slow")
    out = tmp_path / "out"
    script = tmp_path / "interruptible.py"
    script.write_text(_INTERRUPTIBLE, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "tasks"), str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not list((out / "work").glob("*/b-slow")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # let the slow run reach its first model call
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_INTERRUPTED, output
    data = json.loads((out / "eval-results.json").read_text(encoding="utf-8"))
    assert data["interrupted"] and not data["complete"]
    assert sorted((r["task"], r["mode"], r["resolved"]) for r in data["results"]) == [
        ("a-fast", "one-shot", True),
        ("a-fast", "pipeline", False),
    ]
    assert "interrupted (partial results)" in (out / "eval-report.md").read_text(encoding="utf-8")
    assert "interrupted: 2 finished run(s) written" in output


# --------------------------------------------------------------------------------------------- helpers


def test_outcomes_and_static_counts(tmp_path: Path) -> None:
    output = "PASSED accept/test_a.py::test_x\nFAILED accept/test_a.py::test_y - AssertionError\nERROR accept/b.py\n"
    assert parse_outcomes(output) == {"accept/test_a.py::test_x": "PASSED", "accept/test_a.py::test_y": "FAILED"}
    test_file = tmp_path / "test_c.py"
    test_file.write_text(
        "import pytest\n\n@pytest.mark.parametrize('a', [1, 2, 3])\ndef test_p(a):\n    pass\n\n"
        "class TestK:\n    def test_m(self):\n        pass\n\ndef helper():\n    pass\n",
        encoding="utf-8",
    )
    assert static_test_count(test_file) == 4


def test_cli_registers_eval_when_wired() -> None:
    from typer.testing import CliRunner

    from sdd_harness.graph.entry.cli import app

    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    if "eval" not in names:
        pytest.skip("`sdd eval` is not registered in graph/entry/cli.py yet")
    result = CliRunner().invoke(app, ["eval", "--help"])
    assert result.exit_code == 0 and "--baseline" in result.output and "--jobs" in result.output


def test_results_saved_from_several_threads_at_once_are_never_lost(tmp_path: Path) -> None:
    """Two jobs finishing together used to share one temp file: one rename failed (FileNotFoundError)."""
    from concurrent.futures import ThreadPoolExecutor

    from sdd_harness.graph.entry.evaluate import write_outputs
    from sdd_harness.graph.entry.evaluate.results import EvalRun

    run = EvalRun(tasks_dir="t", tasks=["a"], arms=["local/pipeline"], configs={}, jobs=2, started="now")
    out = tmp_path / "out"

    def save(_: int) -> None:
        write_outputs(run, out / "eval-results.json", out / "eval-report.md")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(save, range(200)))
    assert json.loads((out / "eval-results.json").read_text())["tasks"] == ["a"]
    assert sorted(p.name for p in out.iterdir()) == ["eval-report.md", "eval-results.json"]  # no temp files left
