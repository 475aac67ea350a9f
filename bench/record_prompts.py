"""Record the real phase prompts of one local demo run, for `bench/speed_local.py` to replay.

    flock /tmp/real-model.lock python bench/record_prompts.py            # -> bench/recorded/speed-prompts.json

Runs `examples/demo-request.md` on a scratch copy of `examples/demo-repo` with `configs/local.yaml` (the
embedded Qwen models, `--auto`), and records every chat-model call as the OpenAI wire sees it: the phase
(LangGraph node), the model, the messages, `response_format`, `max_tokens`, `temperature`, and what came back
(text, usage, the error of a call cut at `max_tokens`). The hook is a LangChain callback handler registered for
every run through `register_configure_hook`, so nothing in the harness changes to be recorded.

The scratch path is replaced by `<repo>` so the fixture holds no machine paths; the prompts hold only the
demo's own code.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from uuid import UUID

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from langchain_core.callbacks import BaseCallbackHandler  # noqa: E402
from langchain_core.outputs import LLMResult  # noqa: E402
from langchain_core.tracers.context import register_configure_hook  # noqa: E402

from bench import common  # noqa: E402

OUT = common.ROOT / "bench" / "recorded" / "speed-prompts.json"
WIRE_PARAMS = ("model", "max_tokens", "max_completion_tokens", "temperature", "response_format")


class PromptRecorder(BaseCallbackHandler):
    """Keeps each chat call's wire payload and its answer, in call order."""

    raise_error = True
    run_inline = True

    def __init__(self, scrub: dict[str, str]) -> None:
        self.scrub = scrub
        self.calls: list[dict[str, Any]] = []
        self._open: dict[UUID, dict[str, Any]] = {}

    def _clean(self, text: str) -> str:
        for needle, replacement in self.scrub.items():
            text = text.replace(needle, replacement)
        return text

    def on_chat_model_start(self, serialized: dict[str, Any], messages: Any, *, run_id: UUID, **kw: Any) -> None:
        from langchain_openai.chat_models.base import _convert_message_to_dict

        params = kw.get("invocation_params") or {}
        wire = [_convert_message_to_dict(m) for m in messages[0]]
        for message in wire:
            if isinstance(message.get("content"), str):
                message["content"] = self._clean(message["content"])
        call = {
            "index": len(self.calls) + len(self._open),
            "phase": (kw.get("metadata") or {}).get("langgraph_node"),
            "messages": wire,
            **{k: params[k] for k in WIRE_PARAMS if k in params},
            "started": time.time(),
        }
        self._open[run_id] = call

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kw: Any) -> None:
        call = self._open.pop(run_id, None)
        if call is None:
            return
        gen = response.generations[0][0] if response.generations and response.generations[0] else None
        message = getattr(gen, "message", None)
        call["reply"] = self._clean(str(getattr(message, "content", "") or ""))
        call["usage"] = dict(getattr(message, "usage_metadata", None) or {})
        call["seconds"] = round(time.time() - call.pop("started"), 3)
        self.calls.append(call)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kw: Any) -> None:
        call = self._open.pop(run_id, None)
        if call is None:
            return
        call["error"] = f"{type(error).__name__}: {self._clean(str(error))[:300]}"
        call["seconds"] = round(time.time() - call.pop("started"), 3)
        self.calls.append(call)


_recorder: ContextVar[PromptRecorder | None] = ContextVar("sdd_bench_prompt_recorder", default=None)
register_configure_hook(_recorder, inheritable=True)


def record(out: Path, config: str = "local") -> dict[str, Any]:
    from sdd_harness.graph.entry.api import run_change

    scratch = common.scratch_dir("sdd-record-")
    repo = common.copy_demo(scratch / "demo-repo")
    recorder = PromptRecorder({str(repo.resolve()): "<repo>", str(scratch.resolve()): "<scratch>"})
    token = _recorder.set(recorder)
    t0 = time.monotonic()
    try:
        result = run_change(common.REQUEST, repo=repo, config=config, auto_approve=True)
    finally:
        _recorder.reset(token)
    calls = sorted(recorder.calls, key=lambda c: c["index"])
    data = {
        "what": "every chat call of one `sdd run examples/demo-request.md --config local --auto` on examples/demo-repo",
        "command": "python bench/record_prompts.py",
        "status": result.status,
        "wall_seconds": round(time.monotonic() - t0, 1),
        "calls": calls,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--config", default="local")
    args = ap.parse_args(argv)
    data = record(args.out, args.config)
    phases = [c["phase"] for c in data["calls"]]
    print(f"{len(phases)} calls recorded ({data['status']}, {data['wall_seconds']} s) -> {args.out}")
    print(" ".join(phases))
    return 0


if __name__ == "__main__":
    sys.exit(main())
