"""Provider faults, injected at the HTTP level, through the real ChatOpenAI path, on full pipeline runs.

Every case runs the whole SDD pipeline against a copy of the demo repo with all roles on one custom provider
served by FakeOpenAIServer (answers from the DemoScript, routed by the model each role asks for, so a fallback
model answers for the phase it stands in for). One fault is injected per run; the run must either complete
(SDK retry, body retry, fallback or repair) with artifacts identical to a clean run's, or stop with a clear
message and finish on resume. A faults x outcomes table is printed at the end of the module.

Backoff is shrunk (openai's INITIAL/MAX_RETRY_DELAY, our BODY_RETRY_WAIT) to keep the file fast; Retry-After
is honoured as sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from sdd_harness.graph.core.config import parse_config
from sdd_harness.graph.core.llm import ModelOutputError, ask_structured
from sdd_harness.graph.core.models import ModelRegistry
from sdd_harness.graph.core.phases import BUILTIN_PHASES, ORCHESTRATOR
from sdd_harness.graph.core.usage import CallRecorder
from sdd_harness.graph.entry.api import RunResult, resume_run, run_change
from tests.fakes.openai_server import ChatRequest, FakeOpenAIServer, Fault, Reply
from tests.fakes.scripted import SLUGIFY_REQUEST, DemoScript, role_of

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
IMPOSTOR = "other-vendor/impostor-model"
SKIP_PARTS = {".sdd", "__pycache__", ".pytest_cache"}
SKIP_NAMES = {"run.json", "run.md"}
OUTCOMES: list[tuple[str, str, str, str]] = []  # (fault, mechanism, outcome, evidence)


# --------------------------------------------------------------------------- plumbing


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    import openai._base_client as base

    import sdd_harness.graph.core.models as models

    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # the demo repo's pytest needs no plugins
    monkeypatch.setattr(base, "INITIAL_RETRY_DELAY", 0.01)
    monkeypatch.setattr(base, "MAX_RETRY_DELAY", 0.05)
    monkeypatch.setattr(models, "BODY_RETRY_WAIT", {"multiplier": 0.01, "max": 0.05, "jitter": 0.01})


@pytest.fixture(scope="module", autouse=True)
def outcome_table(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not OUTCOMES:
        return
    width = [max(len(row[i]) for row in [("fault", "mechanism", "outcome", "evidence"), *OUTCOMES]) for i in range(4)]
    lines = ["", "faults x outcomes (tests/unit/core/test_llm_faults.py)"]
    for row in [("fault", "mechanism", "outcome", "evidence"), *OUTCOMES]:
        lines.append(" | ".join(cell.ljust(w) for cell, w in zip(row, width, strict=True)))
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n".join(lines))  # noqa: T201 - the table is part of this file's output


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        script = DemoScript()

        def responder(req: ChatRequest) -> Reply:
            phase = role_of(req.model)
            return Reply(content=script.reply(phase, req.last_user_text))

        srv.responder = responder
        yield srv


def write_config(folder: Path, base_url: str, **phase_extra: dict[str, Any]) -> Path:
    phases = {p: {"model": f"m-{p}", **phase_extra.get(p, {})} for p in BUILTIN_PHASES}
    data = {
        "default_provider": "fake-http",
        "providers": {"fake-http": {"base_url": base_url, "api_key_env": None, "reasoning_style": "deepseek"}},
        "phases": phases,
        "orchestrator": {"model": f"m-{ORCHESTRATOR}"},
    }
    path = folder / "faults.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def snapshot(repo: Path) -> dict[str, str]:
    """Every file the run leaves in the repo except run bookkeeping; timings in verify-report normalised."""
    files = {}
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo)
        if path.is_file() and not SKIP_PARTS & set(rel.parts) and path.name not in SKIP_NAMES:
            text = path.read_text(encoding="utf-8", errors="replace")
            files[rel.as_posix()] = re.sub(r"\b\d+(\.\d+)?s\b", "<t>s", text)
    return files


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Artifacts of a fault-free run (the reference every faulty run must reproduce)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    folder = tmp_path_factory.mktemp("clean")
    repo = folder / "demo-repo"
    shutil.copytree(EXAMPLES / "demo-repo", repo, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    try:
        with FakeOpenAIServer() as srv:
            script = DemoScript()
            srv.responder = lambda req: Reply(content=script.reply(role_of(req.model), req.last_user_text))
            result = run_change(request_text(), repo, write_config(folder, srv.base_url), auto_approve=True)
    finally:
        mp.undo()
    assert result.status == "done", result.reason
    files = snapshot(repo)
    assert any(k.endswith("proposal.md") for k in files) and "textkit/strings.py" in files
    return files


def request_text() -> str:
    return SLUGIFY_REQUEST


def calls_of(result: RunResult, phase: str) -> list[dict[str, Any]]:
    return [c for c in result.report["calls"] if c["phase"] == phase]


def assert_same_artifacts(repo: Path, clean: dict[str, str]) -> None:
    got = snapshot(repo)
    assert sorted(got) == sorted(clean)
    differing = [rel for rel in clean if got[rel] != clean[rel]]
    assert differing == [], differing


@dataclass
class Case:
    name: str
    mechanism: str
    inject: Callable[[FakeOpenAIServer], None]
    check: Callable[[RunResult, FakeOpenAIServer], str]  # returns evidence for the table
    phase_extra: dict[str, dict[str, Any]] = field(default_factory=dict)


def _retry_after(model: str) -> Callable[[RunResult, FakeOpenAIServer], str]:
    def check(result: RunResult, srv: FakeOpenAIServer) -> str:
        times = [r.time for r in srv.requests_for(model)]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert len(times) >= 3 and gaps[0] >= 0.25 and gaps[1] >= 0.25, gaps  # Retry-After: 0.3 honoured twice
        return f"{len(times)} requests, gaps {gaps[0]:.2f}s/{gaps[1]:.2f}s >= Retry-After 0.3s"

    return check


def _count(model: str, at_least: int) -> Callable[[RunResult, FakeOpenAIServer], str]:
    def check(result: RunResult, srv: FakeOpenAIServer) -> str:
        assert srv.count(model) >= at_least, srv.count(model)
        phase = model.removeprefix("m-")
        assert all(c["ok"] for c in calls_of(result, phase))  # SDK retries happen inside one recorded call
        return f"{srv.count(model)} requests to {model}, 1 recorded call"

    return check


def _body_retry(phase: str) -> Callable[[RunResult, FakeOpenAIServer], str]:
    def check(result: RunResult, srv: FakeOpenAIServer) -> str:
        calls = calls_of(result, phase)
        failed = [c for c in calls if not c["ok"]]
        assert len(failed) == 1 and "JSONDecodeError" in failed[0]["error"], calls
        assert calls[-1]["ok"] and calls[-1]["served_model"] == f"m-{phase}"
        return "failed call (JSONDecodeError) + served call recorded"

    return check


def _repaired(phase: str, problem: str) -> Callable[[RunResult, FakeOpenAIServer], str]:
    def check(result: RunResult, srv: FakeOpenAIServer) -> str:
        requests = srv.requests_for(f"m-{phase}")
        assert len(calls_of(result, phase)) == len(requests) >= 2
        reask = requests[1].last_user_text
        assert "invalid" in reask or "cut off" in reask, reask
        assert problem in reask, reask
        return f"re-ask #1 told the model: {problem!r}"

    return check


def _mismatch(phase: str) -> Callable[[RunResult, FakeOpenAIServer], str]:
    def check(result: RunResult, srv: FakeOpenAIServer) -> str:
        rows = {row["phase"]: row for row in result.report["phases"]}
        assert rows[phase]["routing_mismatch"] is True and IMPOSTOR in rows[phase]["served"]
        assert [p for p, row in rows.items() if row["routing_mismatch"]] == [phase]
        assert result.report_path is not None
        assert "routing mismatch" in result.report_path.read_text(encoding="utf-8")
        return "routing_mismatch flagged in run.json / run.md"

    return check


def _fell_back(phase: str, status: int) -> Callable[[RunResult, FakeOpenAIServer], str]:
    def check(result: RunResult, srv: FakeOpenAIServer) -> str:
        calls = calls_of(result, phase)
        failed = [c for c in calls if not c["ok"]]
        served = [c for c in calls if c["ok"]]
        assert failed and all(f"{status}" in c["error"] and c["requested_model"] == f"m-{phase}" for c in failed)
        assert served and all(c["served_model"] == f"m-backup-{phase}" for c in served)
        assert len(failed) == len(served)  # each primary failure followed by exactly one fallback call
        row = next(r for r in result.report["phases"] if r["phase"] == phase)
        assert row["failed_calls"] == len(failed) and f"m-backup-{phase}" in row["requested"]
        return f"{len(failed)} failed + {len(served)} fallback call(s) recorded"

    return check


def _inject(fault: Fault, phase: str, times: int = 1) -> Callable[[FakeOpenAIServer], None]:
    return lambda srv: srv.inject(fault, model=f"m-{phase}", times=times)


def _script_first(phase: str, reply: Reply) -> Callable[[FakeOpenAIServer], None]:
    return lambda srv: srv.script(f"m-{phase}", [reply])


def _impostor(phase: str) -> Callable[[FakeOpenAIServer], None]:
    def inject(srv: FakeOpenAIServer) -> None:
        answer = srv.responder

        def responder(req: ChatRequest) -> Reply:
            reply = answer(req)
            if req.model == f"m-{phase}":
                reply.served_model = IMPOSTOR
            return reply

        srv.responder = responder

    return inject


# One run per group; within a group every fault hits a different phase's model, so each is observed alone.
GROUPS: dict[str, list[Case]] = {
    "transport": [
        Case(
            "429 + Retry-After: 0.3",
            "SDK retry, waits Retry-After",
            _inject(Fault.rate_limit(0.3), "sdd-spec", 2),
            _retry_after("m-sdd-spec"),
        ),
        Case(
            "500", "SDK retry (backoff)", _inject(Fault.server_error(500), "sdd-design", 2), _count("m-sdd-design", 3)
        ),
        Case("502", "SDK retry (backoff)", _inject(Fault.bad_gateway(), "sdd-tasks"), _count("m-sdd-tasks", 2)),
        Case("503", "SDK retry (backoff)", _inject(Fault.unavailable(), "sdd-archive"), _count("m-sdd-archive", 2)),
        Case(
            "connection reset",
            "SDK retry (APIConnectionError)",
            _inject(Fault.connection_reset(), "sdd-propose", 2),
            _count("m-sdd-propose", 3),
        ),
        Case(
            "timeout (timeout_s 0.5, server 3 s)",
            "SDK retry (APITimeoutError)",
            _inject(Fault.slow(3), "sdd-init"),
            _count("m-sdd-init", 2),
            {"sdd-init": {"timeout_s": 0.5}},
        ),
        Case(
            "truncated body (half JSON + RST)",
            "SDK retry (RemoteProtocolError)",
            _inject(Fault.truncated_stream(), "sdd-archive"),
            _count("m-sdd-archive", 2),
        ),
        Case(
            "invalid JSON body (HTTP 200)",
            "RunnableRetry(JSONDecodeError)",
            _inject(Fault.invalid_json_body(), "sdd-explore"),
            _body_retry("sdd-explore"),
        ),
    ],
    "answers": [
        Case(
            "invalid JSON content",
            "bounded re-ask",
            _script_first("sdd-propose", Reply(content="Sure! Here it is: {why: 'users need slugs'}")),
            _repaired("sdd-propose", "Expecting property name"),
        ),
        Case(
            "schema-violating content",
            "bounded re-ask",
            _script_first("sdd-tasks", Reply(content='{"tasks": "add slugify"}')),
            _repaired("sdd-tasks", "tasks"),
        ),
        Case(
            "empty content",
            "bounded re-ask",
            _script_first("sdd-design", Reply(content="")),
            _repaired("sdd-design", "the reply was empty"),
        ),
        Case(
            "cut at max_tokens (finish_reason length)",
            "bounded re-ask (shorter)",
            _script_first("sdd-archive", Reply(content='{"summary": "Added', finish_reason="length")),
            _repaired("sdd-archive", "output token limit"),
        ),
        Case("served model != requested", "recorded + flagged", _impostor("sdd-explore"), _mismatch("sdd-explore")),
    ],
    "fallbacks": [
        Case(
            "402 on primary",
            "with_fallbacks (no retry)",
            _inject(Fault.payment_required(), "sdd-archive"),
            _fell_back("sdd-archive", 402),
            {"sdd-archive": {"fallback": ["m-backup-sdd-archive"]}},
        ),
        Case(
            "primary always 500",
            "SDK retries exhausted -> with_fallbacks",
            _inject(Fault.server_error(500), "sdd-apply", 1000),
            _fell_back("sdd-apply", 500),
            {"sdd-apply": {"fallback": ["m-backup-sdd-apply"]}},
        ),
    ],
}


@pytest.mark.parametrize("group", list(GROUPS))
def test_faults_are_absorbed_and_artifacts_match_a_clean_run(
    group: str, server: FakeOpenAIServer, demo_repo: Path, tmp_path: Path, clean_run: dict[str, str]
) -> None:
    cases = GROUPS[group]
    extra: dict[str, dict[str, Any]] = {}
    for case in cases:
        extra.update(case.phase_extra)
        case.inject(server)
    config = write_config(tmp_path, server.base_url, **extra)
    started = time.perf_counter()
    result = run_change(request_text(), demo_repo, config, auto_approve=True)
    seconds = time.perf_counter() - started
    assert result.status == "done", result.reason
    assert server.errors == []
    assert_same_artifacts(demo_repo, clean_run)
    for case in cases:
        evidence = case.check(result, server)
        OUTCOMES.append((case.name, case.mechanism, f"done, artifacts = clean (run {group}, {seconds:.1f}s)", evidence))


def test_persistent_outage_stops_cleanly_and_resumes(
    server: FakeOpenAIServer, demo_repo: Path, tmp_path: Path, clean_run: dict[str, str]
) -> None:
    """No fallback, the design model down for good: gate retries, then a clear stop; resume finishes the run."""
    config = write_config(tmp_path, server.base_url)
    server.inject(Fault.unavailable(), model="m-sdd-design", times=10_000)
    result = run_change(request_text(), demo_repo, config, auto_approve=True)
    assert result.status == "failed"
    assert result.state["pending_phase"] == "sdd-design"
    assert "model provider failed after retries and fallbacks" in result.reason and "503" in result.reason
    assert not any("design.md" in p for p in snapshot(demo_repo))  # nothing half-written
    attempts = [d for d in result.report["decisions"] if d["phase"] == "sdd-design"]
    assert [d["action"] for d in attempts] == ["retry", "retry", "stop"]
    failed = [c for c in calls_of(result, "sdd-design") if not c["ok"]]
    assert len(failed) == 3 and all("503" in c["error"] for c in failed)

    server.faults.clear()  # the provider is back
    resumed = resume_run(result.run_id, demo_repo)
    assert resumed.status == "done", resumed.reason
    assert_same_artifacts(demo_repo, clean_run)
    OUTCOMES.append(
        (
            "503 forever, no fallback",
            "SDK retries -> ProviderError -> gate retry x3",
            "stopped: failed, pending sdd-design; resume -> done, artifacts = clean",
            f"reason: {result.reason[:60]}...",
        )
    )


# --------------------------------------------------------------------------- streaming (partial: one call)


class Answer(BaseModel):
    answer: str


def _stream_registry(srv: FakeOpenAIServer, fallback: bool) -> ModelRegistry:
    data = {
        "default_provider": "fake-http",
        "providers": {"fake-http": {"base_url": srv.base_url, "api_key_env": None}},
        "phases": {p: {"model": f"m-{p}", "fallback": [f"m-backup-{p}"] if fallback else []} for p in BUILTIN_PHASES},
        "orchestrator": {"model": "m-orchestrator"},
    }
    registry = ModelRegistry(parse_config(data), env={})
    registry.chat_model("sdd-spec").streaming = True  # as under Studio's "messages" stream mode
    if fallback:
        registry._fallback("sdd-spec", registry.binding("sdd-spec"), "m-backup-sdd-spec").streaming = True
    return registry


def test_truncated_stream_falls_back_or_is_repaired(server: FakeOpenAIServer) -> None:
    """We call non-streaming (ainvoke), where a cut body is a connection error the SDK retries. A streaming
    caller sees the cut mid-body: dropped connection -> provider fault -> fallback; clean early end (no
    finish_reason) -> partial JSON -> bounded re-ask."""
    server.responder = lambda req: Reply(content='{"answer": "forty-two"}')
    messages = [HumanMessage("What is the answer?")]

    registry = _stream_registry(server, fallback=True)
    recorder = CallRecorder("sdd-spec", None, registry.lookup)
    server.inject(Fault.truncated_stream(after=2), model="m-sdd-spec")
    got = asyncio.run(ask_structured(registry.runnable("sdd-spec"), Answer, messages, config={"callbacks": [recorder]}))
    assert got.answer == "forty-two"
    assert [(r.requested_model, r.ok) for r in recorder.records] == [("m-sdd-spec", False), ("m-backup-sdd-spec", True)]
    assert all(r.stream for r in server.requests)
    OUTCOMES.append(("truncated stream (dropped)", "with_fallbacks", "answered by fallback", "failed + served"))

    server.reset()
    registry = _stream_registry(server, fallback=False)
    recorder = CallRecorder("sdd-spec", None, registry.lookup)
    server.inject(Fault.truncated_stream(after=3, clean=True), model="m-sdd-spec")
    got = asyncio.run(ask_structured(registry.runnable("sdd-spec"), Answer, messages, config={"callbacks": [recorder]}))
    assert got.answer == "forty-two" and server.count("m-sdd-spec") == 2
    assert "invalid" in server.last.last_user_text
    OUTCOMES.append(("truncated stream (clean end)", "bounded re-ask", "repaired", "2 calls"))


def test_a_provider_fault_without_fallback_is_a_model_output_error(server: FakeOpenAIServer) -> None:
    """What phases see when nothing is left to try: a ModelOutputError (gate feedback), never a raw SDK error."""
    registry = _stream_registry(server, fallback=False)
    registry.chat_model("sdd-spec").streaming = False
    server.inject(Fault.payment_required(), model="m-sdd-spec")
    with pytest.raises(ModelOutputError, match="402"):
        asyncio.run(ask_structured(registry.runnable("sdd-spec"), Answer, [HumanMessage("hi")]))


def test_rate_limit_per_provider_spaces_requests(server: FakeOpenAIServer) -> None:
    """requests_per_second is one InMemoryRateLimiter per provider, shared by every role on it."""
    data = {
        "default_provider": "fake-http",
        "providers": {"fake-http": {"base_url": server.base_url, "api_key_env": None, "requests_per_second": 10}},
        "phases": {p: {"model": f"m-{p}"} for p in BUILTIN_PHASES},
        "orchestrator": {"model": "m-orchestrator"},
    }
    registry = ModelRegistry(parse_config(data), env={})
    assert registry.chat_model("sdd-spec").rate_limiter is registry.chat_model("sdd-design").rate_limiter

    async def burst() -> None:
        roles = ["sdd-spec", "sdd-design", "sdd-tasks", "sdd-apply", "sdd-archive", "sdd-init"]
        await asyncio.gather(*(registry.chat_model(r).ainvoke([HumanMessage("hi")]) for r in roles))

    started = time.perf_counter()
    asyncio.run(burst())
    assert time.perf_counter() - started >= 0.4  # 6 requests at 10/s with a bucket of 1: >= ~0.5 s
    times = sorted(r.time for r in server.requests)
    assert times[-1] - times[0] >= 0.35


def test_a_reply_cut_at_max_tokens_is_recorded_with_the_tokens_it_cost(server: FakeOpenAIServer) -> None:
    """The provider bills a truncated reply in full; the run report must not show it as free."""
    registry = _stream_registry(server, fallback=False)
    registry.chat_model("sdd-spec").streaming = False
    long_cut = '{"answer": "' + "forty-two " * 60
    server.script(
        "m-sdd-spec",
        [Reply(content=long_cut, finish_reason="length"), Reply(content='{"answer": "forty-two"}')],
    )
    recorder = CallRecorder("sdd-spec", None, registry.lookup)
    messages = [HumanMessage("What is the answer?")]
    got = asyncio.run(ask_structured(registry.runnable("sdd-spec"), Answer, messages, config={"callbacks": [recorder]}))
    assert got.answer == "forty-two"
    cut, good = recorder.records
    assert (cut.ok, good.ok) == (False, True)
    assert "LengthFinishReasonError" in (cut.error or "")
    assert cut.output_tokens > good.output_tokens > 0 and cut.input_tokens > 0
