"""A config file that YAML would accept but the harness must not: not UTF-8, duplicate keys, alias bombs,
recursive aliases, deep nesting, huge files. Each is one ConfigError naming the file, the key (or line), the
value and the rule — fast, in little memory, and as exit 2 with one line from the CLI."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sdd_harness.graph.core.config import CONFIGS_DIR, ConfigError, load_config
from sdd_harness.graph.core.configfile import MAX_CONFIG_BYTES
from sdd_harness.graph.entry.cli import app

BASE_TEXT = (CONFIGS_DIR / "opencode-go.yaml").read_text(encoding="utf-8")


def write(tmp_path: Path, text: str | bytes, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: "), str(err.value)
    assert "\n" not in str(err.value)
    return err.value


def billion_laughs(levels: int = 9) -> str:
    """A `run.verify_commands` list whose last item expands to 10**levels strings: a value that, once validated
    and echoed in an error message, used to cost minutes and gigabytes."""
    items = ['&a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    items += [f"&a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "run:\n  verify_commands: [" + ", ".join(items) + "]\n"


# --------------------------------------------------------------------------- encoding and size


def test_a_file_that_is_not_utf8_names_the_line_and_the_byte(tmp_path: Path) -> None:
    text = BASE_TEXT.replace("deepseek-v4-pro", "deepseek-v4-pr\xe9", 1).encode("latin-1")
    path = write(tmp_path, text)
    err = refused(path)
    line = BASE_TEXT[: BASE_TEXT.index("deepseek-v4-pro")].count("\n") + 1
    assert err.key.startswith(f"line {line}, column ") and err.value == "byte 0xe9"
    assert "UTF-8" in err.allowed


def test_a_binary_file_is_refused_cleanly(tmp_path: Path) -> None:
    err = refused(write(tmp_path, bytes(range(256)) * 4, "model.gguf"))
    assert "UTF-8" in str(err) or "valid YAML" in str(err)


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "\ufeff" + BASE_TEXT)).default_provider == "opencode-go"


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = write(tmp_path, BASE_TEXT + "#" * MAX_CONFIG_BYTES + "\n")
    err = refused(path)
    assert err.key == "<file>" and f"at most {MAX_CONFIG_BYTES:,} bytes" in err.allowed


def test_a_folder_given_as_the_config_is_refused(tmp_path: Path) -> None:
    err = refused(tmp_path)
    assert "not a regular file" in err.allowed


# --------------------------------------------------------------------------- duplicate keys


@pytest.mark.parametrize(
    "text, key",
    [
        (BASE_TEXT.replace("  sdd-spec:", "  sdd-spec:\n    model: glm-5.1", 1), "phases.sdd-spec.model"),
        (BASE_TEXT + "\norchestrator: {model: glm-5.1}\n", "orchestrator"),
        (BASE_TEXT + "\nphases:\n  sdd-init: {model: glm-5.1}\n", "phases"),
        (BASE_TEXT + "\nrun: {max_attempts: 2, max_attempts: 5}\n", "run.max_attempts"),
    ],
)
def test_duplicate_keys_are_refused_with_both_lines(tmp_path: Path, text: str, key: str) -> None:
    err = refused(write(tmp_path, text))
    assert err.key == key and err.value == key.rsplit(".", 1)[-1]
    assert "duplicate key" in err.allowed and err.allowed.count("line ") == 2


def test_a_key_may_still_override_what_a_merge_key_brought_in(tmp_path: Path) -> None:
    text = BASE_TEXT.replace("  sdd-init:", "  sdd-init: &fast", 1).replace(
        "  sdd-archive:\n    model: deepseek-v4-flash", "  sdd-archive:\n    <<: *fast\n    model: glm-5.1", 1
    )
    cfg = load_config(write(tmp_path, text))
    assert cfg.phases["sdd-archive"].model == "glm-5.1" and cfg.phases["sdd-archive"].reasoning == "none"


# --------------------------------------------------------------------------- aliases


def test_an_alias_bomb_is_refused_fast_and_in_little_memory(tmp_path: Path) -> None:
    path = write(tmp_path, BASE_TEXT + billion_laughs())
    tracemalloc.start()
    started = time.perf_counter()
    try:
        err = refused(path)
    finally:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"refusing the bomb took {elapsed:.2f}s"
    assert peak < 20 * 1024 * 1024, f"refusing the bomb used {peak / 1e6:.0f} MB"
    assert "alias" in err.allowed and len(str(err)) < 500


def test_a_merge_key_bomb_is_refused_too(tmp_path: Path) -> None:
    merged = ["&m0 {k0: v, k1: v, k2: v, k3: v, k4: v, k5: v, k6: v, k7: v, k8: v, k9: v}"]
    merged += [f"&m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 10)}], k{i}: w}}" for i in range(1, 9)]
    err = refused(
        write(tmp_path, BASE_TEXT + "prices: {" + ", ".join(f"p{i}: {m}" for i, m in enumerate(merged)) + "}\n")
    )
    assert "alias" in err.allowed


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    err = refused(write(tmp_path, BASE_TEXT + "\nverbosity: &loop {'*': [*loop]}\n"))
    assert "contains it" in err.allowed


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    err = refused(write(tmp_path, "run: " + "[" * 5000 + "]" * 5000 + "\n"))
    assert "nesting" in err.allowed


def test_ordinary_aliases_still_work(tmp_path: Path) -> None:
    text = BASE_TEXT.replace("  sdd-init:", "  sdd-init: &fast", 1)
    text = text.replace("  sdd-archive:\n    model: deepseek-v4-flash\n    reasoning: none", "  sdd-archive: *fast", 1)
    assert "sdd-archive: *fast" in text
    cfg = load_config(write(tmp_path, text))
    assert cfg.phases["sdd-archive"].model == cfg.phases["sdd-init"].model


# --------------------------------------------------------------------------- extends and the CLI


def test_an_empty_extends_is_refused(tmp_path: Path) -> None:
    err = refused(write(tmp_path, "extends: ''\nphases: {}\n"))
    assert err.key == "extends"


@pytest.mark.parametrize(
    "text",
    [
        BASE_TEXT.encode("utf-16"),
        BASE_TEXT + billion_laughs(),
        BASE_TEXT + "\norchestrator: {model: glm-5.1}\n",
        BASE_TEXT.replace("phases:", "phazes:", 1),
        BASE_TEXT.replace("model: glm-5.1", "model: ''", 1),
    ],
    ids=["utf-16", "alias-bomb", "duplicate", "typo", "empty-model"],
)
def test_the_cli_exits_2_with_one_line_for_each(tmp_path: Path, text: str | bytes) -> None:
    path = write(tmp_path, text)
    result = CliRunner().invoke(app, ["models", "--config", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), result.stderr
    assert "Traceback" not in result.output


def test_a_chain_of_aliases_that_nests_deeper_than_the_file_looks_is_refused(tmp_path: Path) -> None:
    """Echoing such a value in the error message used to end in a RecursionError."""
    chain = ["&c0 [x]"] + [f"&c{i} [*c{i - 1}]" for i in range(1, 2000)]  # each one shallow, c1999 is 2000 deep
    text = BASE_TEXT.replace("    model: deepseek-v4-flash\n", "    model: [" + ", ".join(chain) + "]\n", 1)
    err = refused(write(tmp_path, text))
    assert "nesting (through aliases)" in err.allowed
