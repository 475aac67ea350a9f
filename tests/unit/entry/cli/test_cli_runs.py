"""Runs from the terminal and from scripts: `--json` documents, the exact resume command, `sdd runs` / `sdd models`
tables with headers, and Studio runs listed beside CLI runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from sdd_harness.graph.core.config import load_config
from sdd_harness.graph.entry.api import RunIndex, register_current_run
from sdd_harness.graph.entry.cli import app
from tests.fakes.http_team import http_config, serve_demo
from tests.fakes.openai_server import Fault

ROOT = Path(__file__).resolve().parents[4]


def sdd(*args: str, cwd: Path = ROOT, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SDD_CONFIG": ""}
    return subprocess.run(
        [sys.executable, "-m", "sdd_harness.graph.entry.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_run_json_is_one_document_on_stdout_and_runs_json_lists_it(
    fake_openai_server, tmp_path: Path, demo_repo: Path, slugify_request: str
):
    serve_demo(fake_openai_server)
    config = http_config(tmp_path, fake_openai_server.base_url)
    out = sdd("run", slugify_request, "--repo", str(demo_repo), "-c", str(config), "--auto", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)  # nothing but the document on stdout
    assert doc["status"] == "done" and doc["exit_code"] == 0 and doc["resume_command"] is None
    assert doc["config"] == str(config) and doc["config_from"] == "--config" and doc["verdict"] == "PASS"
    assert [p["phase"] for p in doc["phases"]][:2] == ["sdd-init", "sdd-explore"]
    assert doc["totals"]["calls"] == sum(p["calls"] for p in doc["phases"]) > 0
    assert doc["totals"]["cached_tokens"] == sum(p["cached_tokens"] for p in doc["phases"])  # the key is there
    assert "▶ sdd-init" in out.stderr and "✓ sdd-archive" in out.stderr  # progress went to stderr
    listed = json.loads(sdd("runs", "--repo", str(demo_repo), "--json").stdout)
    entry = next(r for r in listed["runs"] if r["run_id"] == doc["run_id"])
    assert entry["status"] == "done" and entry["source"] == "cli" and entry["request"].startswith("# ")


def test_a_paused_run_prints_the_exact_resume_command_which_works_from_elsewhere(
    fake_openai_server, tmp_path: Path, demo_repo: Path, slugify_request: str
):
    serve_demo(fake_openai_server)
    config = http_config(tmp_path, fake_openai_server.base_url, approval_gates=["sdd-propose"])
    out = sdd("run", slugify_request, "--repo", str(demo_repo), "-c", str(config), "--json")
    doc = json.loads(out.stdout)
    assert out.returncode == 3 and doc["status"] == "awaiting_approval" and doc["awaiting_approval"] == "sdd-propose"
    command = doc["resume_command"]
    expected = f"sdd resume {doc['run_id']} --repo {demo_repo.resolve()} --config {config.resolve()} --answer "
    assert command.startswith(expected)
    human = sdd("resume", doc["run_id"], "--repo", str(demo_repo))  # no answer: asks the same question again
    assert human.returncode == 3 and f"sdd resume {doc['run_id']} --repo {demo_repo.resolve()}" in human.stdout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    argv = command.split(" --answer ")[0].split()[1:]  # the printed command, run from another folder
    done = sdd(*argv, "--answer", "approve", cwd=elsewhere)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "status: done" in done.stdout


def test_runs_and_models_are_tables_with_headers(tmp_path: Path):
    index = RunIndex(tmp_path)
    request = "Add slugify() to textkit/strings.py\n\nIt must lowercase, strip accents and join words with '-'. " * 3
    index.save("abc123", request=request, status="failed", started="2026-01-02T03:04:05", config="/x/opencode-go.yaml",
               reason="sdd-apply failed its gate 2 time(s)")  # fmt: skip
    runner = CliRunner()
    runs = runner.invoke(app, ["runs", "--repo", str(tmp_path)])
    header = next(line for line in runs.stdout.splitlines() if "run id" in line)
    for column in ("status", "source", "started", "config", "request"):
        assert column in header
    row = next(line for line in runs.stdout.splitlines() if "abc123" in line)
    assert "Add slugify() to textkit/strings.py" in row and "It must" not in row and "opencode-go" in row
    models = runner.invoke(app, ["models", "-c", "opencode-go", "--repo", str(tmp_path)], env={"SDD_CONFIG": ""})
    header = next(line for line in models.stdout.splitlines() if "role" in line)
    assert "provider" in header and "model" in header and "$/Mtok in / out" in header
    assert any("sdd-verify" in line and "qwen/qwen3-coder" in line for line in models.stdout.splitlines())


def test_a_run_started_in_studio_lands_in_the_repos_index(tmp_path: Path):
    """A node calls register_current_run with LangGraph's thread id; `sdd runs` lists it as a studio run."""
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    cfg = load_config("opencode-go")

    class State(TypedDict):
        request: str

    def init(state: State) -> dict:
        register_current_run(tmp_path, state["request"], cfg)
        register_current_run(tmp_path, "a second call changes nothing", cfg)
        return {}

    graph = StateGraph(State)
    graph.add_node("init", init)
    graph.add_edge(START, "init")
    graph.add_edge("init", END)
    graph.compile().invoke({"request": "Add slugify from Studio"}, {"configurable": {"thread_id": "studio-thread-1"}})
    listed = CliRunner().invoke(app, ["runs", "--repo", str(tmp_path), "--json"])
    entry = next(r for r in json.loads(listed.stdout)["runs"] if r["run_id"] == "studio-thread-1")
    assert entry["source"] == "studio" and entry["request"] == "Add slugify from Studio"
    assert entry["config"].endswith("opencode-go.yaml")
    resumed = CliRunner().invoke(app, ["resume", "studio-thread-1", "--repo", str(tmp_path)])
    assert resumed.exit_code == 2 and "started in studio" in resumed.stderr
    assert not RunIndex(tmp_path).register("studio-thread-1", request="x", config=cfg, source="studio")


def test_version_and_boolean_flags_without_a_value_type():
    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.stdout.strip() == "sdd-harness 0.2.0"
    help_text = runner.invoke(app, ["run", "--help"]).stdout
    for flag in ("--auto", "--dry-run", "--json", "--no-task-loop"):
        line = next(line for line in help_text.splitlines() if line.strip().startswith(flag))
        assert "<bool>" not in line and "BOOLEAN" not in line


def test_eval_json_is_one_document_on_stdout(tmp_path: Path, capsys) -> None:
    from sdd_harness.graph.entry.evaluate import eval_command
    from tests.fakes.scripted import DemoScript, team

    class Crash(DemoScript):
        def __call__(self, phase, messages, kwargs):
            raise RuntimeError("model exploded")

    tasks = ROOT / "examples" / "tasks"
    code = eval_command(
        tasks, ["opencode-go"], False, 1, tmp_path, only=["split-amount"], models=team(Crash()), json_out=True
    )
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert code == doc["exit_code"] == 1 and doc["tasks"] == ["split-amount"]
    assert doc["results_json"] == str(tmp_path / "eval-results.json")
    run = doc["runs"][0]
    assert run["task"] == "split-amount" and run["error"] == "RuntimeError: model exploded" and not run["resolved"]
    assert doc["summaries"]["opencode-go/pipeline"]["errors"] == 1
    assert "eval: 1 task(s)" in captured.err  # the human lines went to stderr


def test_a_run_out_of_time_stops_resumably_and_resume_with_more_time_finishes(
    fake_openai_server, tmp_path: Path, demo_repo: Path, slugify_request: str
):
    serve_demo(fake_openai_server)
    fake_openai_server.inject(Fault(delay=1.2), model="m-sdd-init")  # the first phase alone outlasts the budget
    config = http_config(tmp_path, fake_openai_server.base_url)
    out = sdd(
        "run", slugify_request, "--repo", str(demo_repo), "-c", str(config), "--auto", "--json", "--time-budget", "1"
    )
    doc = json.loads(out.stdout)
    assert out.returncode == 1 and doc["status"] == "budget_exceeded", out.stderr
    assert "exceed the time budget of 1 s" in doc["reason"] and doc["resume_command"]
    assert fake_openai_server.count("m-sdd-explore") == 0  # nothing after the budget ran out
    done = sdd("resume", doc["run_id"], "--repo", str(demo_repo), "--time-budget", "3600", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "done", done.stderr
    assert fake_openai_server.count("m-sdd-init") == 1  # the finished phase was not paid for again
