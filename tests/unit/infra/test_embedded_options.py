"""Per-model server options of the embedded provider: config validation, the child's command line, and how the
child fills xllamacpp's CommonParams. No model is loaded."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from sdd_harness.graph.core.config import CONFIGS_DIR, ConfigError, load_config, parse_config
from sdd_harness.graph.infra.embedded import LaunchSpec, ModelServerOptions, ServerSettings, Speculation, serve_command
from sdd_harness.graph.infra.embedded.serve import configure, parser

SMALL, LARGE = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"
needs_xllamacpp = pytest.mark.skipif(importlib.util.find_spec("xllamacpp") is None, reason="xllamacpp not installed")


def local_with_servers(servers: object) -> dict:
    data = yaml.safe_load((CONFIGS_DIR / "local.yaml").read_text(encoding="utf-8"))
    data["providers"] = {"embedded": {"servers": servers}}
    return data


def config_error(tmp_path: Path, data: dict) -> ConfigError:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return err.value


def test_options_are_bounded() -> None:
    with pytest.raises(ValueError, match="draft_model, ngram or both"):
        Speculation()
    with pytest.raises(ValueError, match="less than or equal to 32"):
        Speculation(ngram="simple", draft_max=33)
    with pytest.raises(ValueError, match="draft_min 9 is above draft_max 8"):
        Speculation(draft_model=SMALL, draft_min=9)
    with pytest.raises(ValueError, match="unknown draft_model; embedded models: qwen2.5-coder-0.5b"):
        Speculation(draft_model="tiny")
    with pytest.raises(ValueError, match="less than or equal to 4"):
        ModelServerOptions(parallel=5)
    with pytest.raises(ValueError, match="less than or equal to 32768"):
        ModelServerOptions(n_ctx=1_000_000)


@pytest.mark.parametrize(
    ("servers", "key", "says"),
    [
        ({"qwen-9b": {"parallel": 2}}, "providers.embedded.servers.qwen-9b", "got 'qwen-9b'; unknown embedded model"),
        (
            {LARGE: {"speculation": {"draft_model": LARGE}}},
            f"providers.embedded.servers.{LARGE}.speculation.draft_model",
            "cannot draft for itself",
        ),
        (
            {LARGE: {"speculation": {"draft_model": "tiny"}}},
            f"providers.embedded.servers.{LARGE}.speculation.draft_model",
            "got 'tiny'; unknown draft_model",
        ),
        ({LARGE: {"paralel": 2}}, f"providers.embedded.servers.{LARGE}.paralel", "allowed keys: n_ctx, parallel"),
        (
            {LARGE: {"speculation": {"ngram": "fuzzy"}}},
            f"providers.embedded.servers.{LARGE}.speculation.ngram",
            "'simple', 'map-k' or 'mod'",
        ),
    ],
)
def test_bad_server_options_name_the_key(tmp_path: Path, servers: dict, key: str, says: str) -> None:
    err = config_error(tmp_path, local_with_servers(servers))
    assert err.file.endswith("bad.yaml") and err.key == key
    assert says in str(err)


def test_servers_only_for_the_embedded_provider(tmp_path: Path) -> None:
    data = local_with_servers({})
    data["providers"] = {"ollama": {"servers": {LARGE: {"parallel": 2}}}}
    err = config_error(tmp_path, data)
    assert err.key == "providers.ollama.servers" and "only the embedded provider" in str(err)


def test_serve_command_round_trips_the_options() -> None:
    options = ModelServerOptions(
        parallel=2, cache_reuse=256, speculation=Speculation(draft_model=SMALL, ngram="simple", ngram_size_n=3)
    )
    launch = LaunchSpec(LARGE, Path("/m/large.gguf"), ServerSettings(n_ctx=4096, threads=2), options, Path("/m/s.gguf"))
    cmd = serve_command(launch)
    assert cmd[1:4] == ["-m", "sdd_harness.graph.infra.embedded", "serve"]
    args = parser().parse_args(cmd[3:])
    assert (args.model_path, args.alias, args.ctx, args.draft_model_path) == ("/m/large.gguf", LARGE, 4096, "/m/s.gguf")
    assert ModelServerOptions.model_validate_json(args.options) == options
    plain = serve_command(LaunchSpec(SMALL, Path("/m/s.gguf"), ServerSettings()))
    assert "--draft-model-path" not in plain and plain[plain.index("--options") + 1] == "{}"


@needs_xllamacpp
def test_child_fills_common_params_for_ngram_and_draft() -> None:
    import xllamacpp as xlc

    options = ModelServerOptions(
        n_ctx=4096,
        parallel=2,
        cache_reuse=256,
        cache_ram_mib=512,
        speculation=Speculation(
            draft_model=SMALL, draft_max=6, draft_p_min=0.5, ngram="simple", ngram_size_n=4, ngram_size_m=24
        ),
    )
    launch = LaunchSpec(LARGE, Path("/m/l.gguf"), ServerSettings(threads=2), options, Path("/m/s.gguf"))
    args = parser().parse_args(serve_command(launch)[3:])
    p = configure(xlc.CommonParams(), xlc, args, ModelServerOptions.model_validate_json(args.options))
    kinds = xlc.common_speculative_type
    assert p.n_parallel == 2 and p.n_ctx == 8192  # 4096 per slot
    assert (p.n_cache_reuse, p.cache_ram_mib, p.model_alias) == (256, 512, {LARGE})
    spec = p.speculative
    assert spec.types == [kinds.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE, kinds.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
    assert (spec.ngram_simple.size_n, spec.ngram_simple.size_m) == (4, 24)
    assert (spec.draft.mparams.path, spec.draft.n_max, spec.draft.cpuparams.n_threads) == ("/m/s.gguf", 6, 2)
    assert spec.draft.p_min == pytest.approx(0.5)


@needs_xllamacpp
def test_child_without_options_runs_llama_cpp_defaults() -> None:
    import xllamacpp as xlc

    args = parser().parse_args(serve_command(LaunchSpec(SMALL, Path("/m/s.gguf"), ServerSettings(n_ctx=2048)))[3:])
    default = xlc.CommonParams()
    p = configure(xlc.CommonParams(), xlc, args, ModelServerOptions.model_validate_json(args.options))
    assert (p.n_parallel, p.n_ctx) == (1, 2048)
    assert p.speculative.types == [xlc.common_speculative_type.COMMON_SPECULATIVE_TYPE_NONE]
    assert (p.n_cache_reuse, p.cache_ram_mib) == (default.n_cache_reuse, default.cache_ram_mib)


def test_registry_starts_embedded_servers_with_the_configured_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from sdd_harness.graph.core.models import ModelRegistry
    from sdd_harness.graph.infra import embedded

    asked: list[tuple[str, ModelServerOptions | None]] = []

    warmed: dict[str, ModelServerOptions | None] = {}

    class Servers:
        def base_url(self, name: str, options: ModelServerOptions | None = None) -> str:
            asked.append((name, options))
            return "http://127.0.0.1:9/v1"

        def warm(self, wanted: dict[str, ModelServerOptions | None]) -> None:
            warmed.update(wanted)

    monkeypatch.setattr(embedded, "get_servers", lambda: Servers())
    data = local_with_servers({LARGE: {"parallel": 2}})
    registry = ModelRegistry(parse_config(data, "<memory>"), env={})
    registry.chat_model("sdd-apply")
    registry.chat_model("sdd-init")
    assert asked == [(LARGE, ModelServerOptions(parallel=2)), (SMALL, None)]
    assert warmed == {LARGE: ModelServerOptions(parallel=2), SMALL: None}  # a server warmed early: the same options
