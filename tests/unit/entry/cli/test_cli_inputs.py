"""Bad CLI input: exit 2, one line naming the argument and what is allowed, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sdd_harness.graph.core.config import load_config
from sdd_harness.graph.entry.cli import app
from sdd_harness.graph.entry.cli.app import BadInput
from sdd_harness.graph.entry.cli.inputs import parse_overrides, read_request

ROOT = Path(__file__).resolve().parents[4]
KEYS = {"OPENCODE_API_KEY": "k", "OPENROUTER_API_KEY": "k"}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10"


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), env={**KEYS, **(env or {})})


def one_error_line(result) -> str:
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0]


def untouched(repo: Path, before: list[str]) -> bool:
    return sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*")) == before


@pytest.fixture
def repo(demo_repo: Path) -> tuple[Path, list[str]]:
    return demo_repo, sorted(p.relative_to(demo_repo).as_posix() for p in demo_repo.rglob("*"))


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("logo.png", PNG, "binary data (NUL bytes)"),
        ("request.md", "Füge slugify hinzu".encode("latin-1"), "not UTF-8 text (byte 0xfc at offset 1)"),
        ("request.txt", b"Add slugify\x00 please", "binary data (NUL bytes)"),
        ("data.bin", bytes(range(256)), "binary data"),
    ],
)
def test_a_binary_or_non_utf8_request_file_is_refused(tmp_path: Path, repo, name: str, data: bytes, says: str):
    folder, before = repo
    request = tmp_path / name
    request.write_bytes(data)
    line = one_error_line(invoke("run", str(request), "--repo", str(folder), "--config", "opencode-go"))
    assert str(request) in line and says in line
    assert untouched(folder, before)


def test_a_request_with_nul_bytes_or_a_missing_request_file_never_runs(tmp_path: Path):
    with pytest.raises(BadInput, match="NUL bytes"):
        read_request("Add slugify\x00")
    with pytest.raises(BadInput, match="change.md not found"):
        read_request(str(tmp_path / "change.md"))
    with pytest.raises(BadInput, match="is a folder"):
        read_request(str(tmp_path))
    assert read_request("Add a --json flag to export") == "Add a --json flag to export"
    (tmp_path / "ok.md").write_bytes("\ufeffAdd slugify — with accents: café".encode())
    assert read_request(str(tmp_path / "ok.md")) == "Add slugify — with accents: café"


def test_an_unknown_provider_prefix_is_refused_naming_the_allowed_providers(repo):
    folder, before = repo
    line = one_error_line(
        invoke("run", "x", "--repo", str(folder), "-c", "opencode-go", "-m", "sdd-apply=nosuch:model")
    )
    assert "unknown provider 'nosuch'" in line and "openrouter" in line and "opencode-go" in line
    assert untouched(folder, before)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("sdd-apply", "expected ROLE=MODEL"),
        ("sdd-apply=", "expected ROLE=MODEL"),
        ("sdd-aply=glm-5.1", "unknown role 'sdd-aply'; allowed: sdd-init"),
        ("sdd-apply=openrouter:", "no model after openrouter:"),
    ],
)
def test_malformed_model_overrides_are_refused(value: str, says: str):
    with pytest.raises(BadInput, match=says):
        parse_overrides([value], load_config("opencode-go"))


def test_model_overrides_accept_custom_phases_and_provider_prefixed_ids_with_colons():
    cfg = load_config(ROOT / "examples" / "extend" / "with-review.yaml")
    overrides = parse_overrides(["sdd-review=glm-5.1", "sdd-apply=ollama:qwen2.5-coder:7b"], cfg)
    assert overrides == {"sdd-review": "glm-5.1", "sdd-apply": "ollama:qwen2.5-coder:7b"}


def test_a_custom_phase_override_reaches_the_phase_map(tmp_path: Path):
    result = invoke(
        "run", "--dry-run", "--json", "--repo", str(tmp_path), "-c", str(ROOT / "examples/extend/with-review.yaml"),
        "-m", "sdd-review=openrouter:qwen3-coder-480b",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    import json

    roles = {r["role"]: r for r in json.loads(result.stdout)["roles"]}
    assert roles["sdd-review"]["provider"] == "openrouter" and roles["sdd-review"]["model"] == "qwen/qwen3-coder"


def test_a_repo_that_is_not_a_folder_is_refused(tmp_path: Path):
    line = one_error_line(invoke("run", "x", "--repo", str(tmp_path / "nope"), "-c", "opencode-go"))
    assert "--repo" in line and "not a folder" in line
