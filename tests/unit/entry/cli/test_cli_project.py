"""Which config applies (flag, .sdd.yaml, [tool.sdd], $SDD_CONFIG, default), `sdd config init`, `--dry-run`, and the
local-models check that runs before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sdd_harness.graph.core.config import ConfigError, load_config
from sdd_harness.graph.core.models import ModelRegistry
from sdd_harness.graph.core.readiness import LocalModelsMissing
from sdd_harness.graph.entry.cli import app
from sdd_harness.graph.entry.cli.estimate import TYPICAL_TOKENS
from sdd_harness.graph.entry.cli.project import discover
from sdd_harness.graph.infra import embedded
from tests.fakes.http_team import http_config

ROOT = Path(__file__).resolve().parents[4]


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), env={"SDD_CONFIG": "", **(env or {})})


def test_discovery_order_flag_project_file_pyproject_env_default(tmp_path: Path):
    env = {"SDD_CONFIG": "openrouter"}
    assert (discover(None, tmp_path, {}).ref, discover(None, tmp_path, {}).why) == ("local", "default")
    assert discover(None, tmp_path, env).why == "$SDD_CONFIG" and discover(None, tmp_path, env).ref == "openrouter"
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.sdd]\nconfig = "single-model"\n')
    assert discover(None, tmp_path, env).ref == "single-model"
    (tmp_path / ".sdd.yaml").write_text("extends: opencode-go\n")
    chosen = discover(None, tmp_path, env)
    assert chosen.why == ".sdd.yaml" and chosen.load().phases["sdd-apply"].model == "deepseek-v4-pro"
    assert discover("local", tmp_path, env).why == "--config"


def test_pyproject_inline_table_is_a_config_and_its_paths_are_relative_to_the_repo(tmp_path: Path):
    (tmp_path / "team.yaml").write_text("extends: opencode-go\nrun: {budget_usd: 3.5}\n")
    (tmp_path / "pyproject.toml").write_text('[tool.sdd]\nextends = "team.yaml"\n[tool.sdd.run]\nmax_attempts = 5\n')
    cfg = discover(None, tmp_path, {}).load()
    assert (cfg.run.budget_usd, cfg.run.max_attempts) == (3.5, 5) and "[tool.sdd]" in cfg.source_file
    (tmp_path / "pyproject.toml").write_text('[tool.sdd]\nconfig = "team.yaml"\n')
    assert discover(None, tmp_path, {}).load().run.budget_usd == 3.5


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ('[tool.sdd]\nconfig = "opencode-go"\n[tool.sdd.run]\nmax_attempts = 2\n', "not both"),
        ("[tool.sdd]\nconfig = 3\n", "tool.sdd.config"),
        ("[tool.sdd\nconfig = 1\n", "valid TOML"),
        ('[tool.sdd]\nphazes = {}\nextends = "local"\n', "phazes"),
    ],
)
def test_a_bad_tool_sdd_table_exits_2_naming_the_key(tmp_path: Path, toml: str, says: str):
    (tmp_path / "pyproject.toml").write_text(toml)
    result = invoke("models", "--repo", str(tmp_path))
    assert result.exit_code == 2 and says in result.stderr and "pyproject.toml" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_the_cli_honours_sdd_config_and_says_where_the_config_came_from(tmp_path: Path):
    result = invoke("models", "--repo", str(tmp_path), "--json", env={"SDD_CONFIG": "openrouter"})
    data = json.loads(result.stdout)
    assert data["config"].endswith("openrouter.yaml") and data["config_from"] == "$SDD_CONFIG"
    (tmp_path / ".sdd.yaml").write_text("extends: single-model\n")
    text = invoke("models", "--repo", str(tmp_path), env={"SDD_CONFIG": "openrouter"}).stdout
    assert text.splitlines()[0] == f"config: {(tmp_path / '.sdd.yaml').resolve()} (from .sdd.yaml)"


def test_config_init_writes_a_commented_starter_that_loads_and_never_overwrites(tmp_path: Path):
    result = invoke("config", "init", "--repo", str(tmp_path), "--from", "opencode-go")
    assert result.exit_code == 0, result.output
    text = (tmp_path / ".sdd.yaml").read_text()
    assert text.count("\n#") > 10 and yaml.safe_load(text) == {"extends": "opencode-go"}
    assert discover(None, tmp_path, {}).load().phases["sdd-spec"].model == "deepseek-v4-pro"
    (tmp_path / ".sdd.yaml").write_text("extends: local\n# mine\n")
    again = invoke("config", "init", "--repo", str(tmp_path))
    assert again.exit_code == 2 and "--force" in again.stderr
    assert (tmp_path / ".sdd.yaml").read_text() == "extends: local\n# mine\n"
    assert invoke("config", "init", "--repo", str(tmp_path), "--force").exit_code == 0
    assert "extends: local" in (tmp_path / ".sdd.yaml").read_text()
    other = tmp_path / "other"
    other.mkdir()
    bad = invoke("config", "init", "--repo", str(other), "--from", "nosuch")
    assert bad.exit_code == 2 and "nosuch" in bad.stderr and not any(other.iterdir())


def test_dry_run_prices_the_map_estimates_a_range_and_touches_nothing(tmp_path: Path, fake_openai_server):
    repo = tmp_path / "repo"
    repo.mkdir()
    config = http_config(tmp_path, fake_openai_server.base_url, max_attempts=3)
    data = yaml.safe_load(config.read_text())
    data["prices"] = {f"m-{role}": {"input_per_mtok": 1.0, "output_per_mtok": 2.0} for role in TYPICAL_TOKENS}
    config.write_text(yaml.safe_dump(data))
    result = invoke("run", "Add slugify", "--repo", str(repo), "-c", str(config), "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    estimate = json.loads(result.stdout)["estimate"]
    low = sum(tokens_in * 1.0 + tokens_out * 2.0 for _, tokens_in, tokens_out in TYPICAL_TOKENS.values()) / 1e6
    assert estimate["cost_low_usd"] == pytest.approx(low) and estimate["cost_high_usd"] == pytest.approx(3 * low)
    assert "demo-run.json" in estimate["tokens_source"]
    human = invoke("run", "--repo", str(repo), "-c", str(config), "--dry-run", "--max-attempts", "2")
    assert f"estimated cost: ${low:.4f} – ${2 * low:.4f}" in human.stdout and "$1.000 / $2.000" in human.stdout
    assert not any(repo.iterdir()) and not fake_openai_server.requests


def test_typical_tokens_are_the_recorded_runs():
    """The estimate's table stays equal to the recordings it names (regenerate both together)."""
    recorded = {}
    for name in ("fake-run.json", "demo-run.json"):  # the real demo run wins where it has the phase
        for row in json.loads((ROOT / "bench" / "recorded" / name).read_text())["phases"]:
            recorded[row["phase"]] = (row["calls"], row["input_tokens"], row["output_tokens"])
    assert recorded == TYPICAL_TOKENS


def test_local_models_missing_is_refused_before_anything_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No llama.cpp bindings, no part packages, nothing cached: the hint names the extra and a cloud config."""
    monkeypatch.setattr(embedded.weights.importlib.util, "find_spec", lambda name: None)

    def not_installed(package: str, version: str) -> Path:
        raise embedded.PartNotFound(f"{package} is not installed")

    monkeypatch.setattr(embedded.weights, "locate_part", not_installed)
    monkeypatch.setenv("SDD_CACHE_DIR", str(tmp_path / "cache"))
    missing = embedded.missing_requirements(["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
    assert missing[0].startswith("xllamacpp==") and len(missing) == 1 + 6 + 22
    with pytest.raises(LocalModelsMissing) as caught:
        ModelRegistry(load_config("local")).check_ready()
    message = str(caught.value)
    assert "pip install 'sdd-harness[local]'" in message and "--config opencode-go" in message
    assert "configs/local.yaml" in message and "29 package(s)" in message
    repo = tmp_path / "repo"
    repo.mkdir()
    result = invoke("run", "Add slugify", "--repo", str(repo), env={"SDD_CACHE_DIR": str(tmp_path / "cache")})
    assert result.exit_code == 2 and "sdd-harness[local]" in result.stderr and not any(repo.iterdir())


def test_a_cached_model_needs_no_part_packages(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setattr(embedded.weights.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(
        embedded.weights, "locate_part", lambda package, version: (_ for _ in ()).throw(embedded.PartNotFound())
    )
    model = embedded.get_model("qwen2.5-coder-0.5b")
    with open(tmp_path / model.filename, "wb") as handle:
        handle.truncate(model.size)
    assert embedded.missing_requirements([model.name], tmp_path) == []
    with pytest.raises(ConfigError, match="unknown embedded model"):
        from sdd_harness.graph.core.readiness import check_local_models

        cfg = load_config("local")
        check_local_models(cfg, {"sdd-init": cfg.phases["sdd-init"].model_copy(update={"model": "nope-7b"})})
