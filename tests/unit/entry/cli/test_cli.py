"""The `sdd` command as a user runs it: a real subprocess, a fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.http_team import http_config, serve_demo

ROOT = Path(__file__).resolve().parents[4]


def sdd(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "sdd_harness.graph.entry.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_help_is_fast_and_does_not_import_langgraph():
    probe = (
        "import sys, runpy; sys.argv=['sdd','--help']\n"
        "try:\n    runpy.run_module('sdd_harness.graph.entry.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "print('LOADED' if any(m.startswith(('langgraph', 'langchain', 'rich')) for m in sys.modules) else 'LEAN')"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "run" in out.stdout and out.stdout.strip().endswith("LEAN")


def test_graph_prints_every_phase_the_orchestrator_and_loop_backs():
    out = sdd("graph", "--config", "opencode-go")
    assert out.returncode == 0, out.stderr
    for phase in ("sdd-init", "sdd-spec", "sdd-apply", "sdd-verify", "sdd-archive"):
        assert f"{phase} --> orchestrator" in out.stdout
    assert "orchestrator -.-> sdd-spec" in out.stdout and "orchestrator -.-> sdd-apply" in out.stdout


def test_bad_config_exits_2_naming_the_key(tmp_path: Path, demo_repo: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "configs/opencode-go.yaml").read_text().replace("reasoning: high", "reasoning: ultra", 1))
    out = sdd("run", "x", "--repo", str(demo_repo), "--config", str(bad))
    assert out.returncode == 2
    assert "phases.sdd-spec.reasoning" in out.stderr and "none, low, medium, high" in out.stderr
    assert not (demo_repo / ".sdd").exists() and not (demo_repo / "openspec").exists()


def test_missing_key_exits_2_naming_the_variable(demo_repo: Path):
    env = {k: "" for k in ("OPENCODE_API_KEY", "OPENROUTER_API_KEY")}
    out = sdd("run", "x", "--repo", str(demo_repo), "--config", "opencode-go", env=env)
    assert out.returncode == 2 and "OPENCODE_API_KEY" in out.stderr


def test_run_streams_phases_and_ends_with_the_table(
    fake_openai_server, tmp_path: Path, demo_repo: Path, slugify_request: str
):
    serve_demo(fake_openai_server)
    config = http_config(tmp_path, fake_openai_server.base_url)
    request = tmp_path / "request.md"
    request.write_text(slugify_request)
    out = sdd("run", str(request), "--repo", str(demo_repo), "--config", str(config), "--auto")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "▶ sdd-init" in out.stdout and "◆ gate sdd-verify: advance" in out.stdout
    assert "status: done" in out.stdout and "verdict: PASS" in out.stdout
    for phase in ("sdd-init", "sdd-apply", "sdd-archive"):
        assert f"m-{phase}" in out.stdout  # the per-phase table shows requested and served models
    listed = sdd("runs", "--repo", str(demo_repo))
    assert "done" in listed.stdout


def test_resume_of_an_unknown_run_exits_2(demo_repo: Path):
    out = sdd("resume", "nope123", "--repo", str(demo_repo))
    assert out.returncode == 2 and "nope123" in out.stderr


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("file: a.py\nrequirements: [x]\n", "task"),
        ("task: Add x\nrequirements: [x]\n", "file"),
        ("task: Add x\nfile: a.py\n", "requirements"),
        ("task: Add x\nfile: a.py\nrequirements: [x]\ncolour: red\n", "colour"),
        ("task: [unclosed\n", "valid YAML"),
    ],
)
def test_malformed_spec_file_exits_2_naming_the_field(tmp_path: Path, demo_repo: Path, body: str, says: str):
    spec = tmp_path / "change.yaml"
    spec.write_text(body)
    out = sdd(
        "run",
        "--spec-file",
        str(spec),
        "--repo",
        str(demo_repo),
        "--config",
        "opencode-go",
        env={"OPENCODE_API_KEY": "k", "OPENROUTER_API_KEY": "k"},
    )
    assert out.returncode == 2 and says in out.stderr and str(spec) in out.stderr


def test_spec_file_seeds_propose_and_spec(fake_openai_server, tmp_path: Path, demo_repo: Path):
    serve_demo(fake_openai_server)
    spec = tmp_path / "change.yaml"
    spec.write_text(
        "task: Add slugify\nfile: textkit/strings.py\nrequirements:\n  - lowercase ASCII words joined by '-'\n"
        "  - ValueError when max_length < 1\ninput: 'text: str, max_length: int = 50'\noutput: str\n"
        "error_handling: raise ValueError for max_length < 1\nstyle: type hints\n"
    )
    config = http_config(tmp_path, fake_openai_server.base_url)
    out = sdd("run", "--spec-file", str(spec), "--repo", str(demo_repo), "--config", str(config), "--auto")
    assert out.returncode == 0, out.stdout + out.stderr
    for phase in ("sdd-propose", "sdd-spec"):
        prompt = fake_openai_server.requests_for(f"m-{phase}")[0].last_user_text
        assert "Filled spec template" in prompt and "ValueError when max_length < 1" in prompt


class _Display:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_an_unexpected_error_mid_run_is_one_line_with_the_resume_command(capsys, monkeypatch):
    import typer

    from sdd_harness.graph.entry.cli.run_cmd import guarded

    monkeypatch.delenv("SDD_DEBUG", raising=False)
    display = _Display()

    def broken() -> None:
        raise ValueError("a phase\nwent wrong")

    with pytest.raises(typer.Exit) as stop:
        guarded(broken, display, "sdd resume r1 --repo /x")
    err = capsys.readouterr().err
    assert stop.value.exit_code == 1 and display.closed
    assert err.count("\n") == 1 and "ValueError: a phase went wrong" in err and "sdd resume r1 --repo /x" in err
    assert "Traceback" not in err
