"""Reading a config file: the error type, a YAML loader that refuses what a config never needs, `extends:`.

YAML accepts things a hand-written config should not: a second ``model:`` under one phase silently wins, an
alias bomb (a few lines of ``&a`` / ``*a``) expands into gigabytes once validated or printed, deep nesting
overflows the parser's recursion. ``GuardedLoader`` refuses all three while composing the node graph — before
anything is built — and the file must be UTF-8 and at most ``MAX_CONFIG_BYTES``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sdd_harness.graph.core.errors import ConfigError

CONFIGS_DIR = Path(str(resources.files("sdd_harness.configs")))
MAX_CONFIG_BYTES = 1 << 20  # the bundled configs are about 3 KB
MAX_YAML_VALUES = 50_000  # values after expanding every alias (bundled configs: about 200)
MAX_YAML_DEPTH = 50  # nesting levels, counted through aliases (bundled configs: 4)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class RefusedYaml(yaml.YAMLError):
    """Valid YAML the harness will not load; carries the key path, value and rule for a ConfigError."""

    def __init__(self, key: str, value: Any, allowed: str) -> None:
        super().__init__(f"{key}: {allowed}")
        self.key, self.value, self.allowed = key, value, allowed


class GuardedLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, recursive aliases, alias bombs and deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._depth += 1  # the composer recurses once per level: refuse before Python's recursion limit
        try:
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise RefusedYaml(
                    f"line {mark.line + 1}", f"{self._depth} levels", f"nesting is limited to {MAX_YAML_DEPTH}"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        _NodeCheck().size(node, "", 1)
        return node


class _NodeCheck:
    """One walk over the composed node graph: duplicate keys, recursive aliases, expanded size and depth.

    Aliases share nodes, so (size, height) is memoised per node: the walk costs the file's size, not the size of
    its expansion, and a chain of aliases each nesting the last is measured by its expanded height."""

    def __init__(self) -> None:
        self.measured: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded values, expanded levels)
        self.open: set[int] = set()

    def size(self, node: yaml.Node, path: str, depth: int) -> int:
        return self._measure(node, path, depth)[0]

    def _measure(self, node: yaml.Node, path: str, depth: int) -> tuple[int, int]:
        ident, key = id(node), path or "<root>"
        if ident in self.open:
            raise RefusedYaml(key, f"line {node.start_mark.line + 1}", "an alias refers to a value that contains it")
        total, height = self.measured.get(ident, (1, 1))
        if depth + height - 1 > MAX_YAML_DEPTH:
            levels = depth + height - 1
            raise RefusedYaml(key, f"{levels} levels", f"nesting (through aliases) is limited to {MAX_YAML_DEPTH}")
        if ident in self.measured:
            return total, height
        self.open.add(ident)
        if isinstance(node, yaml.MappingNode):
            _refuse_duplicates(node, path)
            children = [(v, _join(path, k.value if isinstance(k, yaml.ScalarNode) else "?")) for k, v in node.value]
            children += [(k, path) for k, _ in node.value]
        elif isinstance(node, yaml.SequenceNode):
            children = [(item, _join(path, str(i))) for i, item in enumerate(node.value)]
        else:
            children = []
        for child, child_path in children:
            child_total, child_height = self._measure(child, child_path, depth + 1)
            total, height = total + child_total, max(height, child_height + 1)
            if total > MAX_YAML_VALUES:
                raise RefusedYaml(
                    key,
                    f"more than {MAX_YAML_VALUES:,} values",
                    "aliases (*name) expand to far more values than any config needs (an alias bomb?); "
                    "write the values out or use fewer aliases",
                )
        self.open.discard(ident)
        self.measured[ident] = (total, height)
        return total, height


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _refuse_duplicates(node: yaml.MappingNode, path: str) -> None:
    """YAML would keep the last of two equal keys; a config with both is a mistake to point at, not guess."""
    seen: dict[tuple[str, str], tuple[int, yaml.Node]] = {}
    for index, (key_node, _value) in enumerate(node.value):
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
            continue
        first_index, first = seen.setdefault((key_node.tag, key_node.value), (index, key_node))
        if first_index != index:
            raise RefusedYaml(
                _join(path, key_node.value),
                key_node.value,
                f"duplicate key (line {first.start_mark.line + 1} and line {key_node.start_mark.line + 1}); "
                "each key may appear once — YAML would silently keep the last one, so remove or rename one",
            )


def resolve_config_path(name_or_path: str | os.PathLike[str]) -> Path:
    """Accept a path or a bundled config name such as ``local`` or ``opencode-go``."""
    path = Path(name_or_path)
    if str(name_or_path).strip() and path.exists():
        return path
    bundled = CONFIGS_DIR / f"{path.stem if path.suffix in ('.yaml', '.yml') else path.name}.yaml"
    if bundled.exists() and len(path.parts) == 1:
        return bundled
    available = ", ".join(sorted(p.stem for p in CONFIGS_DIR.glob("*.yaml")))
    raise ConfigError(str(name_or_path), "<file>", str(name_or_path), f"file not found; bundled configs: {available}")


def deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        return {k: deep_merge(base.get(k), v) if k in base else v for k, v in override.items()} | {
            k: v for k, v in base.items() if k not in override
        }
    return override


def _text_of(path: Path) -> str:
    """The file's text: a regular file, at most MAX_CONFIG_BYTES, UTF-8 (a BOM is fine)."""
    file = str(path)
    if not path.is_file():
        raise ConfigError(file, "<file>", file, "not a regular file; give the path of a YAML config file")
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise ConfigError(file, "<file>", file, f"the file cannot be read: {err.strerror or err}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            file, "<file>", f"over {MAX_CONFIG_BYTES:,} bytes", f"a config file is at most {MAX_CONFIG_BYTES:,} bytes"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise ConfigError(
            file,
            f"line {line}, column {column}",
            f"byte 0x{raw[err.start]:02x}",
            "the file must be UTF-8 text; save it as UTF-8",
        ) from None


def parse_yaml(text: str, file: str) -> Any:
    """YAML data from a config's text, through GuardedLoader; any problem is a ConfigError."""
    loader = GuardedLoader(text)
    try:
        return loader.get_single_data()
    except RefusedYaml as err:
        raise ConfigError(file, err.key, err.value, err.allowed) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<yaml>"
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(file, where, problem, "the file must be valid YAML") from None
    finally:
        loader.dispose()


def read_config_data(path: Path, seen: tuple[Path, ...] = ()) -> Any:
    """YAML data with `extends:` resolved (a bundled name or a path relative to the file)."""
    data = parse_yaml(_text_of(path), str(path))
    if not isinstance(data, Mapping) or "extends" not in data:
        return data
    data = dict(data)
    parent_name = data.pop("extends")
    if not isinstance(parent_name, str) or not parent_name.strip():
        raise ConfigError(str(path), "extends", parent_name, "name a bundled config or a YAML file next to this one")
    candidate = path.parent / parent_name
    try:
        parent = candidate if candidate.is_file() else resolve_config_path(parent_name)
    except ConfigError:
        raise ConfigError(str(path), "extends", parent_name, "no such config file or bundled config") from None
    if parent.resolve() in seen:
        raise ConfigError(str(path), "extends", parent_name, "configs extend each other in a cycle")
    return deep_merge(read_config_data(parent, (*seen, path.resolve())), data)
