"""Replies cut off at max_tokens are counted per phase: they are wasted tokens, the first thing to fix for speed."""

from __future__ import annotations

from uuid import uuid4

import openai
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from openai.types.chat import ChatCompletion

from sdd_harness.graph.core.report import build_report, render_markdown
from sdd_harness.graph.core.usage import CallRecorder


def finished(recorder: CallRecorder, finish_reason: str) -> None:
    run_id = uuid4()
    recorder.on_chat_model_start({}, [[]], run_id=run_id, invocation_params={"model": "m"})
    message = AIMessage(content="{", response_metadata={"model_name": "m", "finish_reason": finish_reason})
    recorder.on_llm_end(LLMResult(generations=[[ChatGeneration(message=message)]]), run_id=run_id)


def test_a_reply_stopped_by_max_tokens_is_recorded_as_capped() -> None:
    recorder = CallRecorder("sdd-spec", None, lambda model: (model, None))
    finished(recorder, "length")
    finished(recorder, "stop")
    run_id = uuid4()
    recorder.on_chat_model_start({}, [[]], run_id=run_id, invocation_params={"model": "m"})
    completion = ChatCompletion.model_validate(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "{"}}],
        }
    )
    recorder.on_llm_error(openai.LengthFinishReasonError(completion=completion), run_id=run_id)
    assert [r.capped for r in recorder.records] == [True, False, True]


def test_the_run_report_counts_capped_replies_per_phase_and_in_total() -> None:
    calls = [
        {"phase": "sdd-spec", "requested_model": "m", "served_model": "m", "capped": True},
        {"phase": "sdd-spec", "requested_model": "m", "served_model": "m", "capped": False},
        {"phase": "sdd-tasks", "requested_model": "m", "served_model": "m", "capped": True},
    ]
    report = build_report({"change_id": "c", "status": "done", "status_reason": "", "calls": calls})
    rows = {r["phase"]: r for r in report["phases"]}
    assert rows["sdd-spec"]["capped_calls"] == 1 and rows["sdd-tasks"]["capped_calls"] == 1
    assert report["totals"]["capped_calls"] == 2
    md = render_markdown(report)
    assert "| Out tok | Capped | Cost $ |" in md
    assert "| **total** | | | 3 | 0 | 0 | 0 | 2 |" in md
