"""API keys never leave the environment: not into artifacts, reports, checkpoints, the run index, logs, terminal
output or error messages — not even when a provider echoes the key back in an error body."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest
import yaml
from langchain_core.messages import HumanMessage
from typer.testing import CliRunner

from sdd_harness.graph.core.config import ConfigError, load_config, parse_config
from sdd_harness.graph.core.models import ModelRegistry
from sdd_harness.graph.core.phases import BUILTIN_PHASES, ORCHESTRATOR
from sdd_harness.graph.entry.api import run_change
from sdd_harness.graph.infra.dotenv import (
    EnvWithDotenv,
    dotenv_values,
    env_with_dotenv,
    load_dotenv,
    parse_dotenv,
    redact,
)
from tests.fakes.openai_server import ChatRequest, FakeOpenAIServer, Fault, Reply
from tests.fakes.scripted import DemoScript, role_of

KEY_VAR = "SDD_CANARY_API_KEY"


@pytest.fixture
def canary() -> str:
    return f"sk-canary-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def quiet_demo_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    import openai._base_client as base

    monkeypatch.setattr(base, "INITIAL_RETRY_DELAY", 0.01)
    monkeypatch.setattr(base, "MAX_RETRY_DELAY", 0.02)


def scripted(server: FakeOpenAIServer) -> None:
    script = DemoScript()

    def responder(req: ChatRequest) -> Reply:
        phase = role_of(req.model)
        return Reply(content=script.reply(phase, req.last_user_text))

    server.responder = responder


def write_config(folder: Path, base_url: str) -> Path:
    data = {
        "default_provider": "keyed",
        "providers": {"keyed": {"base_url": base_url, "api_key_env": KEY_VAR}},
        "phases": {p: {"model": f"m-{p}"} for p in BUILTIN_PHASES},
        "orchestrator": {"model": f"m-{ORCHESTRATOR}"},
    }
    path = folder / "keyed.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def files_with(root: Path, secret: str) -> list[str]:
    """Every file under ``root`` (bytes: sqlite, WAL, json, markdown, code) that contains ``secret``."""
    needle = secret.encode()
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def assert_nowhere(secret: str, *texts: str) -> None:
    for i, text in enumerate(texts):
        assert secret not in text, f"secret found in text #{i}"


def test_a_full_run_leaves_no_trace_of_the_key(
    canary: str,
    demo_repo: Path,
    slugify_request: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # openai/httpx debug logging included
    monkeypatch.setenv(KEY_VAR, canary)
    with FakeOpenAIServer() as server:
        scripted(server)
        result = run_change(slugify_request, demo_repo, write_config(tmp_path, server.base_url), auto_approve=True)
        assert {r.authorization for r in server.requests} == {f"Bearer {canary}"}  # the key was really used
    assert result.status == "done", result.reason
    assert (demo_repo / ".sdd" / "checkpoints.sqlite").is_file() and (demo_repo / ".sdd" / "runs.json").is_file()
    assert files_with(demo_repo, canary) == []
    out, err = capfd.readouterr()
    assert_nowhere(canary, out, err, caplog.text, json.dumps(result.report, default=str), repr(result.state))


def test_failures_and_their_messages_never_show_the_key(
    canary: str,
    demo_repo: Path,
    slugify_request: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A provider that echoes the key in its 401 body (some do), then one that keeps failing with 500."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(KEY_VAR, canary)
    with FakeOpenAIServer() as server:
        scripted(server)
        config = write_config(tmp_path, server.base_url)
        server.inject(Fault.http(401, f"Incorrect API key provided: {canary}"), times=1000)
        denied = run_change(slugify_request, demo_repo, config, auto_approve=True)
        assert server.count() >= 3 and all(r.authorization == f"Bearer {canary}" for r in server.requests)
        server.reset()
        server.inject(Fault.server_error(500), times=1000)
        broken = run_change(slugify_request, demo_repo, config, auto_approve=True, run_id="broken-run")

        # the same failure through the CLI (its summary table and status line)
        server.reset()
        server.inject(Fault.http(401, f"Incorrect API key provided: {canary}"), times=1000)
        from sdd_harness.graph.entry.cli import app

        cli = CliRunner().invoke(app, ["run", slugify_request, "--repo", str(demo_repo), "-c", str(config), "--auto"])

    assert denied.status == "failed" and "401" in denied.reason and "Incorrect API key provided" in denied.reason
    assert broken.status == "failed" and "500" in broken.reason
    assert cli.exit_code == 1, cli.output
    errors = [c["error"] for r in (denied, broken) for c in r.report["calls"] if not c["ok"]]
    assert errors and all(e for e in errors)
    assert files_with(demo_repo, canary) == []
    out, err = capfd.readouterr()
    assert_nowhere(
        canary,
        denied.reason,
        broken.reason,
        *errors,
        json.dumps(denied.report, default=str),
        repr(denied.state),
        cli.output,
        out,
        err,
        caplog.text,
    )


def test_config_errors_name_the_variable_never_a_value(canary: str, tmp_path: Path) -> None:
    data = yaml.safe_load((Path(__file__).resolve().parents[3] / "configs" / "openrouter.yaml").read_text())
    with pytest.raises(ConfigError) as missing:
        ModelRegistry(parse_config(data), env={"UNRELATED_API_KEY": canary}).check_keys()
    assert "OPENROUTER_API_KEY" in str(missing.value) and canary not in str(missing.value)

    data["providers"] = {"openrouter": {"api_key": canary}}  # keys never live in config files
    path = tmp_path / "leaky.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as leaky:
        load_config(path)
    assert leaky.value.key == "providers.openrouter.api_key" and "unknown key" in str(leaky.value)
    assert canary not in str(leaky.value) and canary not in repr(leaky.value.value)


def test_a_dot_env_file_supplies_a_missing_key_without_overriding_the_environment(
    canary: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(KEY_VAR, raising=False)
    (tmp_path / ".env").write_text(f"# keys\nexport {KEY_VAR}='{canary}'\nOTHER=1\n", encoding="utf-8")
    with FakeOpenAIServer() as server:
        config = load_config(write_config(tmp_path, server.base_url))
        ModelRegistry(config).chat_model("sdd-spec").invoke([HumanMessage("hi")])
        assert server.last.authorization == f"Bearer {canary}"
        monkeypatch.setenv(KEY_VAR, "sk-from-the-environment")  # the environment wins
        ModelRegistry(config).chat_model("sdd-spec").invoke([HumanMessage("hi")])
        assert server.last.authorization == "Bearer sk-from-the-environment"
    assert canary not in repr(EnvWithDotenv())
    out, err = capfd.readouterr()
    assert_nowhere(canary, out, err)


def test_dotenv_parsing_and_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = 'A=1\nexport B="two words" # note\nC=\'x#y\'\nD=plain # comment\n  # c\nnot a line\nE="a\\nb"\nF=\n'
    assert parse_dotenv(text) == {"A": "1", "B": "two words", "C": "x#y", "D": "plain", "E": "a\nb", "F": ""}
    (tmp_path / ".env").write_text("SDD_X=from-file\nSDD_Y=from-file\n", encoding="utf-8")
    assert dotenv_values(tmp_path / ".env") == {"SDD_X": "from-file", "SDD_Y": "from-file"}
    assert dotenv_values(tmp_path / "missing.env") == {}
    assert env_with_dotenv({"SDD_X": "env"}, [tmp_path / ".env"]) == {"SDD_X": "env", "SDD_Y": "from-file"}
    environ = {"SDD_X": "env"}
    assert load_dotenv(tmp_path, environ=environ, defaults=False) == ["SDD_Y"]  # names only, never values
    assert environ == {"SDD_X": "env", "SDD_Y": "from-file"}


def test_dotenv_values_are_literal_and_bad_lines_are_never_echoed(
    tmp_path: Path, canary: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A key may contain ``$``; a malformed line is reported by number, never by its text (it may be a key)."""
    text = f"SDD_A=pa$$word${{HOME}}\n{canary} oops\nSDD_B='x'\n"
    with caplog.at_level(logging.DEBUG):
        assert parse_dotenv(text) == {"SDD_A": "pa$$word${HOME}", "SDD_B": "x"}
        (tmp_path / ".env").write_bytes(b"SDD_C=\xff\xfe\n")  # not UTF-8: unreadable, not a crash
        assert dotenv_values(tmp_path / ".env") == {}
    assert "line 2" in caplog.text and canary not in caplog.text


def test_redact_masks_known_values_and_key_shapes(canary: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_PROVIDER_API_KEY", "custom-secret-value")
    text = f"key {canary}; header Bearer abcdefgh12345; custom-secret-value; explicit-one"
    masked = redact(text, ["explicit-one"])
    assert canary not in masked and "abcdefgh12345" not in masked
    assert "custom-secret-value" not in masked and "explicit-one" not in masked
    assert masked == "key sk-***; header Bearer ***; ***; ***"
