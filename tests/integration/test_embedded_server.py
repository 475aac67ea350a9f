"""End-to-end: the embedded llama.cpp servers answer through ChatOpenAI. Needs the [local] extra.

Run with: pytest -m real_model tests/integration/test_embedded_server.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from sdd_harness.graph.infra import embedded as emb
from sdd_harness.graph.infra.embedded import EmbeddedModelError, EmbeddedServers, ServerSettings

pytestmark = [pytest.mark.real_model, pytest.mark.integration]

SMALL, LARGE = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"


class Animal(BaseModel):
    name: str = Field(max_length=40)
    legs: int


def _need(*names: str) -> None:
    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp not installed: pip install 'sdd-harness[local]'")
    for n in names:
        try:
            emb.ensure_gguf(n)  # shared default cache, reused across runs; a bad checksum fails loudly
        except EmbeddedModelError as e:
            if "not installed" in str(e):
                pytest.skip(str(e))
            raise


def _gone(pid: int, timeout: float = 15.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not Path(f"/proc/{pid}").exists():
            return True
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.1)
    return False


def _chat(url: str, name: str, **kw):
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=url, model=name, api_key="embedded", temperature=0, stream_usage=True, timeout=600, max_retries=0, **kw
    )


def _check_plain(url: str, name: str) -> None:
    r = _chat(url, name, max_tokens=40).invoke("Reply with one short sentence: what does len() do in Python?")
    assert r.content.strip()
    assert r.response_metadata["model_name"] == name
    assert r.usage_metadata["input_tokens"] > 0 and r.usage_metadata["output_tokens"] > 0


def test_small_model_chat_stream_and_json_schema(tmp_path):
    _need(SMALL)
    with EmbeddedServers(ServerSettings(), cache_dir=emb.default_cache_dir()) as mgr:
        url = mgr.base_url(SMALL)
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        info = mgr.info(SMALL)
        print(f"\n{SMALL}: started in {info.load_seconds:.1f} s, RSS {emb.rss_bytes(info.pid) / 1e6:.0f} MB")
        _check_plain(url, SMALL)

        # streaming with usage in the last chunk
        llm = _chat(url, SMALL, max_tokens=20)
        total = None
        for chunk in llm.stream("Say hello."):
            total = chunk if total is None else total + chunk
        assert total is not None and total.content
        assert total.usage_metadata and total.usage_metadata["output_tokens"] > 0

        # structured output through response_format json_schema
        schema_llm = _chat(url, SMALL, max_tokens=80).bind(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "animal", "schema": Animal.model_json_schema(), "strict": True},
            }
        )
        r = schema_llm.invoke("How many legs does a spider have? Reply as JSON with the animal name and legs.")
        animal = Animal.model_validate(json.loads(r.content))
        assert animal.legs >= 0 and r.response_metadata["model_name"] == SMALL
        pid = info.pid
    assert _gone(pid), "the server child is still running after stop_all()"
    assert mgr.pids() == []


def test_both_models_at_once():
    _need(SMALL, LARGE)
    with EmbeddedServers(cache_dir=emb.default_cache_dir()) as mgr:
        urls: dict[str, str] = {}
        errors: list[BaseException] = []

        def start(n: str) -> None:
            try:
                urls[n] = mgr.base_url(n)
            except BaseException as e:  # surfaced below
                errors.append(e)

        threads = [threading.Thread(target=start, args=(n,)) for n in (SMALL, LARGE)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert urls[SMALL] != urls[LARGE]
        for n in (SMALL, LARGE):
            info = mgr.info(n)
            print(f"\n{n}: started in {info.load_seconds:.1f} s, RSS {emb.rss_bytes(info.pid) / 1e6:.0f} MB")
            _check_plain(urls[n], n)
            mgr.check_alive(n)
        pids = mgr.pids()
        assert len(pids) == 2 and os.getpid() not in pids
    assert all(_gone(p) for p in pids), "server children still running after the context manager exited"


COPY_PROMPT = (
    "Return this Python function unchanged, then the same function renamed to `area2`.\n\n"
    "def area(width: float, height: float) -> float:\n"
    '    """Area of a rectangle; negative sides are an error."""\n'
    "    if width < 0 or height < 0:\n"
    '        raise ValueError("sides must be >= 0")\n'
    "    return width * height\n"
)


def _raw_chat(url: str, name: str, prompt: str, max_tokens: int) -> dict:
    import urllib.request

    body = {
        "model": name,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0,
        "max_tokens": max_tokens,
    }
    request = urllib.request.Request(
        url + "/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.load(response)


def test_speculation_options_reach_the_server_and_it_drafts():
    """n-gram drafting and the 0.5B drafting for the 1.5B: options from config reach llama.cpp, which drafts and
    accepts drafted tokens, and the reply is still a complete answer. Whether the text is byte-identical to plain
    decoding is measured on the recorded prompts by `make bench-speed` (bench/speed-local.md): on CPU llama.cpp's
    batched verification is not always bit-identical, so CI does not assert it."""
    _need(SMALL, LARGE)
    variants = {
        "none": emb.ModelServerOptions(),
        "ngram": emb.ModelServerOptions(speculation=emb.Speculation(ngram="simple", ngram_size_n=4, ngram_size_m=16)),
        "draft": emb.ModelServerOptions(speculation=emb.Speculation(draft_model=SMALL, draft_max=8)),
    }
    texts: dict[str, str] = {}
    for label, options in variants.items():
        with EmbeddedServers(ServerSettings(n_ctx=2048), cache_dir=emb.default_cache_dir()) as mgr:
            data = _raw_chat(mgr.base_url(LARGE, options), LARGE, COPY_PROMPT, 120)
            pid = mgr.info(LARGE).pid
        assert _gone(pid)
        texts[label] = data["choices"][0]["message"]["content"]
        drafted = data["timings"].get("draft_n", 0)
        assert (drafted > 0) == (label != "none"), (label, data["timings"])
        if label != "none":
            assert data["timings"]["draft_n_accepted"] > 0
    assert all("def area" in text for text in texts.values()), texts  # a real answer, not an empty or broken one


def test_cached_prompt_tokens_reach_the_usage_the_harness_records():
    """A repeated prompt is served from the server's prompt cache and usage says how much (the run report's
    cached_tokens)."""
    _need(SMALL)
    with EmbeddedServers(ServerSettings(n_ctx=2048), cache_dir=emb.default_cache_dir()) as mgr:
        llm = _chat(mgr.base_url(SMALL), SMALL, max_tokens=8)
        first = llm.invoke(COPY_PROMPT)
        again = llm.invoke(COPY_PROMPT)
    assert (first.usage_metadata.get("input_token_details") or {}).get("cache_read", 0) == 0
    cached = again.usage_metadata["input_token_details"]["cache_read"]
    assert again.usage_metadata["input_tokens"] - 2 <= cached < again.usage_metadata["input_tokens"]
