"""Which config a command uses, and why: `--config`, the repo's `.sdd.yaml`, `[tool.sdd]` in its pyproject.toml,
`$SDD_CONFIG`, then the bundled `local`. Plus the starter file `sdd config init` writes.

`[tool.sdd]` takes one of two forms (never both):

    [tool.sdd]                       # point at a config: a bundled name or a path relative to the repo
    config = "opencode-go"

    [tool.sdd]                       # or the config itself, inline, same keys as a YAML config
    extends = "opencode-go"
    [tool.sdd.run]
    budget_usd = 2.0
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_FILE = ".sdd.yaml"
ENV_CONFIG = "SDD_CONFIG"  # the same variable Studio reads (graph/entry/studio.py)
DEFAULT_CONFIG = "local"
BUNDLED = ("local", "opencode-go", "openrouter", "single-model")


@dataclass(frozen=True)
class ChosenConfig:
    """The config a command will load, where that choice came from, and how to name it again."""

    ref: str  # a bundled name or a path (for inline tables: the pyproject.toml path)
    why: str  # "--config", ".sdd.yaml", "pyproject.toml [tool.sdd]", "$SDD_CONFIG", "default"
    inline: Mapping[str, Any] | None = None
    base_dir: Path | None = None

    @property
    def is_default(self) -> bool:
        return self.why == "default"

    def describe(self) -> str:
        where = f"{self.ref} [tool.sdd] (inline)" if self.inline is not None else self.ref
        return f"config: {where} (from {self.why})"

    def load(self) -> Any:
        """The validated HarnessConfig (raises ConfigError naming file, key, value and what is allowed)."""
        from sdd_harness.graph.core.config import load_config, load_inline_config

        if self.inline is not None:
            return load_inline_config(self.inline, f"{self.ref} [tool.sdd]", self.base_dir or Path("."))
        return load_config(self.ref)

    def resume_flag(self) -> str:
        """`--config ...` for a resume hint, usable from any folder (empty for the default)."""
        if self.is_default or self.inline is not None:
            return ""
        path = Path(self.ref)
        shown = self.ref if self.ref in BUNDLED and not path.exists() else str(path.resolve())
        return f" --config {_quote(shown)}"


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def discover(flag: str | None, repo: Path | None, env: Mapping[str, str] | None = None) -> ChosenConfig:
    """The config to use: the flag, else the project's own file, else the environment, else the default."""
    from sdd_harness.graph.core.config import ConfigError

    env = os.environ if env is None else env
    if flag:
        return ChosenConfig(flag, "--config")
    if repo is not None:
        project_file = repo / PROJECT_FILE
        if project_file.is_file():
            return ChosenConfig(str(project_file.resolve()), PROJECT_FILE)
        pyproject = repo / "pyproject.toml"
        if pyproject.is_file():
            table = _tool_sdd(pyproject)
            if table is not None:
                return _from_table(table, pyproject.resolve(), repo.resolve())
    if env.get(ENV_CONFIG):
        value = env[ENV_CONFIG]
        if "\x00" in value:
            raise ConfigError(f"${ENV_CONFIG}", "<env>", value, "a config path or bundled name")
        return ChosenConfig(value, f"${ENV_CONFIG}")
    return ChosenConfig(DEFAULT_CONFIG, "default")


def _tool_sdd(pyproject: Path) -> Mapping[str, Any] | None:
    import tomllib

    from sdd_harness.graph.core.config import ConfigError

    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(pyproject), "<file>", "non-UTF-8 bytes", "the file must be UTF-8 TOML") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(str(pyproject), "<toml>", str(err), "the file must be valid TOML") from None
    table = (data.get("tool") or {}).get("sdd")
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise ConfigError(str(pyproject), "tool.sdd", table, 'a table: config = "<name or path>", or an inline config')
    return table


def _from_table(table: Mapping[str, Any], pyproject: Path, repo: Path) -> ChosenConfig:
    from sdd_harness.graph.core.config import ConfigError

    why = "pyproject.toml [tool.sdd]"
    if "config" not in table:
        return ChosenConfig(str(pyproject), why, inline=table, base_dir=repo)
    value = table["config"]
    if len(table) > 1:
        others = ", ".join(sorted(k for k in table if k != "config"))
        raise ConfigError(
            str(pyproject), "tool.sdd", others, 'either config = "<name or path>" or an inline config, not both'
        )
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(str(pyproject), "tool.sdd.config", value, "a bundled config name or a path to a YAML file")
    relative = repo / value
    return ChosenConfig(str(relative) if relative.is_file() else value, why)


STARTER = """\
# sdd-harness project config. `sdd run`, `sdd models`, `sdd graph` and `sdd eval` in this repository use it
# (unless --config is given); `sdd run --dry-run` shows the phase map, prices and an estimated cost.
# Reference: the Configuration section of the sdd-harness README.

# Start from a bundled config: local (offline, needs `pip install 'sdd-harness[local]'`),
# opencode-go (OPENCODE_API_KEY + OPENROUTER_API_KEY), openrouter (OPENROUTER_API_KEY),
# single-model (Claude Sonnet 4.6 everywhere, OPENROUTER_API_KEY).
extends: {base}

# Override any phase's model (model / source / reasoning / max_tokens / fallback), e.g.:
# phases:
#   sdd-apply: {{model: deepseek-v4-pro, reasoning: high, fallback: [openrouter:qwen3-coder-480b]}}
#   sdd-verify: {{model: qwen3-coder-480b, source: openrouter}}
# orchestrator: {{model: claude-sonnet-4.6, source: openrouter}}

# Per-run knobs (each also a flag of `sdd run`):
# run:
#   budget_usd: 2.0                           # stop cleanly (resumable) above this
#   time_budget_s: 900                        # ... or after this much phase time, apply's best code kept
#   max_attempts: 3                           # reruns per phase and verify loop-backs
#   approval_gates: [sdd-propose, sdd-tasks]  # `--auto` skips them
#   verify_commands: ["pytest -q"]            # default: the test command init detects

# Your own endpoint or private prices:
# providers:
#   mybox: {{base_url: "http://127.0.0.1:8000/v1", api_key_env: null}}
# prices:
#   deepseek-v4-pro: {{input_per_mtok: 1.2, output_per_mtok: 3.6}}
"""


def write_starter(repo: Path, base: str, force: bool) -> Path:
    """Write `<repo>/.sdd.yaml`; refuse to overwrite one unless ``force`` (then the old one is replaced)."""
    from sdd_harness.graph.core.config import ConfigError, load_inline_config

    target = repo / PROJECT_FILE
    if target.exists() and not force:
        raise FileExistsError(str(target))
    text = STARTER.format(base=base)
    import yaml

    load_inline_config(yaml.safe_load(text), str(target), repo)  # the starter must load as written
    tmp = target.with_name(f".sdd.yaml.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ConfigError(str(target), "<file>", str(err), "a writable repository folder") from None
    return target
