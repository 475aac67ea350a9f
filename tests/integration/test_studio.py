"""LangGraph Studio's server (`langgraph dev`) runs the real graph offline, pauses at a human gate and resumes.

The server is a subprocess on a free loopback port, fed the project's langgraph.json (paths made absolute, so
its in-memory state lands in a temp dir, not in the repo). Every role's model is a FakeOpenAIServer started in
this process that answers from the DemoScript by requested model name, so the run makes the real slugify change
in a copy of the demo repo. Driven with langgraph_sdk exactly as Studio drives it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sdd_harness.graph.core.phases import BUILTIN_PHASES, ORCHESTRATOR, PROPOSE
from tests.fakes.openai_server import ChatRequest, FakeOpenAIServer, Reply
from tests.fakes.scripted import DemoScript

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LANGGRAPH = Path(sys.executable).with_name("langgraph")
FEEDBACK = "add an error case"
READY_TIMEOUT_S = 60


def _missing() -> str | None:
    for module, what in (("langgraph_api", "langgraph-cli[inmem]"), ("langgraph_sdk", "langgraph-sdk")):
        if importlib.util.find_spec(module) is None:
            return f"{what} not installed: pip install 'langgraph-cli[inmem]>=0.4,<0.5' 'langgraph-sdk>=0.4,<0.5'"
    if not LANGGRAPH.exists() and shutil.which("langgraph") is None:
        return "the `langgraph` CLI is not on PATH: pip install 'langgraph-cli[inmem]>=0.4,<0.5'"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_config(folder: Path, base_url: str) -> Path:
    """Every role on one keyless custom provider, each asking for its own model ``m-<role>``."""
    data = {
        "default_provider": "fake-http",
        "providers": {"fake-http": {"base_url": base_url, "api_key_env": None, "reasoning_style": "openai"}},
        "phases": {phase: {"model": f"m-{phase}"} for phase in BUILTIN_PHASES},
        "orchestrator": {"model": f"m-{ORCHESTRATOR}"},
    }
    path = folder / "studio-config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def studio_project(folder: Path) -> Path:
    """The repo's langgraph.json with its relative paths made absolute, written to ``folder``."""
    spec = json.loads((ROOT / "langgraph.json").read_text(encoding="utf-8"))
    file, _, attr = spec["graphs"]["sdd"].partition(":")
    spec["graphs"]["sdd"] = f"{(ROOT / file).resolve()}:{attr}"
    spec["dependencies"] = [str((ROOT / dep).resolve()) for dep in spec["dependencies"]]
    spec["env"] = str((ROOT / spec["env"]).resolve())
    path = folder / "langgraph.json"
    path.write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return path


class DevServer:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path, ready_s: float) -> None:
        self.proc, self.port, self.log, self.ready_s = proc, port, log, ready_s
        self.url = f"http://127.0.0.1:{port}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def start_dev_server(folder: Path, sdd_config: Path) -> DevServer:
    port = free_port()
    env = {
        **os.environ,
        "SDD_CONFIG": str(sdd_config),
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "LANGGRAPH_NO_VERSION_CHECK": "true",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",  # verify's pytest in the demo repo needs no plugins
    }
    env.pop("LANGSMITH_API_KEY", None)
    cli = str(LANGGRAPH) if LANGGRAPH.exists() else "langgraph"
    cmd = [cli, "dev", "--no-browser", "--host", "127.0.0.1", "--port", str(port), "--no-reload"]
    cmd += ["--config", str(studio_project(folder))]
    log = folder / "langgraph-dev.log"
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = DevServer(proc, port, log, 0.0)
    deadline = started + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"langgraph dev exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/ok", timeout=1) as response:
                if response.status == 200:
                    server.ready_s = time.monotonic() - started
                    return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise AssertionError(f"langgraph dev not ready after {READY_TIMEOUT_S}s:\n{server.log_tail()}")


@pytest.fixture
def dev_server(tmp_path: Path, fake_openai_server: FakeOpenAIServer) -> Iterator[tuple[DevServer, DemoScript]]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    script = DemoScript()

    def responder(req: ChatRequest) -> Reply:
        role = req.model.removeprefix("m-")
        return Reply(content=script.reply(role, req.last_user_text))

    fake_openai_server.responder = responder
    server = start_dev_server(tmp_path, http_config(tmp_path, fake_openai_server.base_url))
    try:
        yield server, script
    finally:
        server.stop()


def test_factory_reads_sdd_config_and_exposes_described_schemas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sdd_harness.graph.entry import studio

    config = http_config(tmp_path, "http://127.0.0.1:9/v1")
    monkeypatch.setenv("SDD_CONFIG", str(config))
    graph = studio.make_graph({})
    assert graph.checkpointer is None  # langgraph dev refuses graphs compiled with their own
    assert graph.harness.config.source_file == str(config)
    assert studio.make_graph({}) is graph  # cached while the file is unchanged
    monkeypatch.setenv("SDD_CONFIG", "opencode-go")  # a bundled name
    assert studio.make_graph().harness.config.source_file.endswith("opencode-go.yaml")

    props = graph.get_context_jsonschema()["properties"]
    assert set(props) == {
        "repo",
        "auto_approve",
        "approval_gates",
        "budget_usd",
        "token_budget",
        "time_budget_s",
        "max_attempts",
        "git",
    }
    assert all(p.get("description") for p in props.values())
    schema = graph.get_input_jsonschema()  # Studio's input form (needs typing_extensions.TypedDict on 3.11)
    assert "request" in schema["properties"]


def stream_leg(client: Any, thread_id: str, assistant_id: str, context: dict[str, Any], **kwargs: Any) -> dict:
    """One streamed run: node names from 'updates', progress events from 'custom', the interrupt if it paused."""
    seen: dict[str, Any] = {"nodes": [], "custom": [], "interrupt": None, "errors": []}
    for part in client.runs.stream(
        thread_id, assistant_id, context=context, stream_mode=["updates", "custom"], **kwargs
    ):
        if part.event == "updates" and isinstance(part.data, dict):
            for key, value in part.data.items():
                if key == "__interrupt__":
                    seen["interrupt"] = value[0]["value"]
                else:
                    seen["nodes"].append(key)
        elif part.event == "custom":
            seen["custom"].append(part.data)
        elif part.event == "error":
            seen["errors"].append(part.data)
    return seen


def test_langgraph_dev_runs_the_graph_pauses_for_approval_and_resumes(
    dev_server: tuple[DevServer, DemoScript],
    fake_openai_server: FakeOpenAIServer,
    demo_repo: Path,
    slugify_request: str,
) -> None:
    from langgraph_sdk import get_sync_client

    server, _ = dev_server
    print(f"\nlanggraph dev ready in {server.ready_s:.2f}s on port {server.port}")
    client = get_sync_client(url=server.url, api_key=None)

    assistants = client.assistants.search(graph_id="sdd")
    assert len(assistants) == 1, assistants
    assistant_id = assistants[0]["assistant_id"]
    schemas = client.assistants.get_schemas(assistant_id)
    context_schema = schemas["context_schema"]
    props = context_schema["properties"]
    assert {"repo", "auto_approve", "approval_gates", "budget_usd", "token_budget", "max_attempts"} <= set(props)
    assert all(props[name].get("description") for name in props), props  # Studio's form shows these
    assert "target repository" in props["repo"]["description"]
    if schemas["input_schema"] is not None:  # None while graph/core/state.py uses typing.TypedDict (see below)
        assert "request" in schemas["input_schema"]["properties"]

    thread = client.threads.create()
    thread_id = thread["thread_id"]
    context = {"repo": str(demo_repo), "approval_gates": [PROPOSE], "auto_approve": False}

    first = stream_leg(client, thread_id, assistant_id, context, input={"request": slugify_request})
    assert first["errors"] == [], (first["errors"], server.log_tail())
    assert first["interrupt"] is not None, server.log_tail()
    assert first["interrupt"]["phase"] == PROPOSE
    assert "proposal.md" in first["interrupt"]["artifact"] and "Why" in first["interrupt"]["content"]
    assert client.threads.get(thread_id)["status"] == "interrupted"
    assert fake_openai_server.count("m-sdd-spec") == 0  # paused before spec

    second = stream_leg(client, thread_id, assistant_id, context, command={"resume": f"reject: {FEEDBACK}"})
    assert second["errors"] == [], (second["errors"], server.log_tail())
    assert second["nodes"][:2] == [ORCHESTRATOR, PROPOSE], second["nodes"]  # the gate decided, propose reran
    assert second["interrupt"] is not None and second["interrupt"]["phase"] == PROPOSE  # asked again
    propose_prompts = [r.last_user_text for r in fake_openai_server.requests_for("m-sdd-propose")]
    assert len(propose_prompts) == 2
    assert FEEDBACK not in propose_prompts[0] and FEEDBACK in propose_prompts[1]  # the model saw the feedback

    third = stream_leg(client, thread_id, assistant_id, context, command={"resume": "approve"})
    assert third["errors"] == [], (third["errors"], server.log_tail())
    assert third["interrupt"] is None

    nodes = set(first["nodes"] + second["nodes"] + third["nodes"])
    assert nodes == {*BUILTIN_PHASES, ORCHESTRATOR}, nodes
    events = [e.get("event") for leg in (first, second, third) for e in leg["custom"]]
    assert {"phase_start", "phase_end", "gate"} <= set(events)

    done = client.threads.get(thread_id)
    assert done["status"] == "idle"
    state = client.threads.get_state(thread_id)
    values = state["values"]
    assert values["status"] == "done", values.get("status_reason")
    assert values["attempts"][PROPOSE] == 2
    assert any(d["by"] == "human" and d["action"] == "retry" for d in values["decisions"])

    archive = demo_repo / values["outputs"]["sdd-archive"]["archive_dir"]
    assert archive.parent == demo_repo / "openspec" / "changes" / "archive"
    for name in ("proposal.md", "design.md", "tasks.md", "verify-report.md", "run.md"):
        assert (archive / name).is_file(), name
    assert "Slugify Text" in (demo_repo / "openspec" / "specs" / "text-slugs" / "spec.md").read_text(encoding="utf-8")
    assert "def slugify(" in (demo_repo / "textkit" / "strings.py").read_text(encoding="utf-8")

    history = client.threads.get_history(thread_id, limit=200)
    assert len(history) > 2 * len(BUILTIN_PHASES)  # a checkpoint per phase and per gate, at least
    assert history[0]["values"]["status"] == "done" and history[0]["next"] == []
    paused = [h for h in history if any(t.get("interrupts") for t in h.get("tasks", []))]
    assert paused and all(h["next"] == [ORCHESTRATOR] for h in paused)
    assert {p for h in history for p in h["values"].get("step_phases") or []} >= set(BUILTIN_PHASES)

    server.stop()
    assert server.proc.returncode is not None
    assert not port_open(server.port), "langgraph dev still listens after SIGTERM to its process group"
