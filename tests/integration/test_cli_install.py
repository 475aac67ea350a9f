"""A plain install, as a new user gets it: the wheel built from this tree, in a fresh venv, without extras.

The venv gets the wheel (`--no-deps`) plus the core dependencies only — the closure of the wheel's own
`Requires-Dist` without extras, linked from this test environment — so no network is needed and the local
model packages are absent even on a machine where `[local]` is installed. `SDD_CACHE_DIR` points at an empty
folder so a model joined earlier on this machine does not count either.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.fakes.http_team import http_config, serve_demo
from tests.fakes.scripted import DemoRequestScript

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
HINT = "pip install 'sdd-harness[local]'"


def core_closure(requirements: list[str]) -> list[metadata.Distribution]:
    """The installed distributions the given requirements pull in (markers evaluated, extras not taken)."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = re.sub(r"[-_.]+", "-", req.name).lower()
        if key in seen:
            continue
        dist = metadata.distribution(req.name)
        seen[key] = dist
        for extra in req.extras:  # e.g. psycopg[binary]: follow the extra's own requirements
            todo += [Requirement(r) for r in dist.requires or [] if f'extra == "{extra}"' in r]
        todo += [Requirement(r) for r in dist.requires or [] if "extra ==" not in r]
    return list(seen.values())


def link_dist(dist: metadata.Distribution, target: Path) -> None:
    tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
    base = Path(str(dist.locate_file("")))
    for top in tops:
        source, link = base / top, target / top
        if source.exists() and not link.exists():
            link.symlink_to(source)


@pytest.fixture(scope="module")
def plain_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv holding the wheel of this tree and the core dependencies, no extras."""
    work = tmp_path_factory.mktemp("plain-install")
    wheels = work / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(wheels)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(wheels.glob("sdd_harness-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        requires = [
            line.split(":", 1)[1].strip()
            for line in archive.read(meta).decode().splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line
        ]
    deps = work / "deps"
    deps.mkdir()
    for dist in core_closure(requires):
        link_dist(dist, deps)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "core-deps.pth").write_text(str(deps) + "\n")
    return venv / "bin"


def sdd(bin_dir: Path, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180):
    clean = {
        k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k not in ("PYTHONPATH", "SDD_CONFIG")
    }
    return subprocess.run(
        [str(bin_dir / "sdd"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean, **(env or {})},
    )


@pytest.fixture
def scratch(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / name for name in ("repo", "tmp", "cache", "cwd")}
    for path in paths.values():
        path.mkdir()
    (paths["repo"] / "app.py").write_text("print('hi')\n")
    return paths


def env_for(paths: dict[str, Path]) -> dict[str, str]:
    return {"SDD_CACHE_DIR": str(paths["cache"]), "TMPDIR": str(paths["tmp"])}


def test_the_wheel_has_no_extras_and_reports_its_version(plain_install: Path, scratch: dict[str, Path]):
    out = sdd(plain_install, "--version", cwd=scratch["cwd"])
    assert out.returncode == 0 and out.stdout.strip() == "sdd-harness 0.2.0"
    probe = subprocess.run(
        [str(plain_install / "python"), "-c", "import importlib.util as u; print(u.find_spec('xllamacpp'))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.strip() == "None"  # a plain install indeed


@pytest.mark.parametrize(
    "args",
    [("run", "Add a --json flag", "--repo", "{repo}"), ("demo",), ("eval", "--out", "{cwd}/eval-out")],
    ids=["run", "demo", "eval"],
)
def test_local_config_without_local_models_exits_2_with_the_hint_and_writes_nothing(
    plain_install: Path, scratch: dict[str, Path], args: tuple[str, ...]
):
    argv = [a.format(repo=scratch["repo"], cwd=scratch["cwd"]) for a in args]
    out = sdd(plain_install, *argv, cwd=scratch["cwd"], env=env_for(scratch))
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert HINT in out.stderr and "--config opencode-go" in out.stderr
    assert sorted(p.name for p in scratch["repo"].iterdir()) == ["app.py"]  # no .sdd/, no openspec/
    assert not any(scratch["tmp"].iterdir()) and not any(scratch["cwd"].iterdir())  # no demo copy, no eval-out


def test_demo_runs_from_the_installed_wheel(
    plain_install: Path, scratch: dict[str, Path], fake_openai_server, tmp_path: Path
):
    """The demo repo and request come from the package itself (not this checkout): a whole run on a fake team."""
    serve_demo(fake_openai_server, DemoRequestScript())
    config = http_config(tmp_path, fake_openai_server.base_url)
    keep = scratch["tmp"] / "demo"
    out = sdd(plain_install, "demo", "--config", str(config), "--keep", str(keep), cwd=scratch["cwd"], timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "status: done" in out.stdout and "verdict: PASS" in out.stdout
    repo = keep / "demo-repo"
    assert "def reading_time" in (repo / "textkit" / "counting.py").read_text()
    assert "reading_time" in (repo / "textkit" / "__init__.py").read_text()  # the request's re-export
    assert "def test_" in (repo / "tests" / "test_counting.py").read_text()  # the scenario tests, kept
