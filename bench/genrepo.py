"""A generated Python repository of a fixed size (packages, modules with functions/classes/docstrings, tests).

The demo repo's ``textkit`` package and its tests are kept, so the scripted fake team makes its usual
slugify change; the rest is deterministic filler that shares some vocabulary with the request (text, words,
length, characters...) so file ranking has to work.
"""

from __future__ import annotations

import random
from pathlib import Path

from bench.common import DEMO_REPO, copy_demo

PACKAGES = [
    "billing",
    "catalog",
    "shipping",
    "accounts",
    "reports",
    "search",
    "notify",
    "storage",
    "pricing",
    "textual",
    "routing",
    "metrics",
]
NOUNS = [
    "order",
    "item",
    "invoice",
    "customer",
    "label",
    "title",
    "record",
    "message",
    "query",
    "token",
    "slug",
    "word",
    "line",
    "name",
    "address",
    "amount",
    "report",
    "entry",
    "batch",
    "rule",
]
VERBS = [
    "build",
    "parse",
    "format",
    "count",
    "merge",
    "split",
    "clean",
    "render",
    "validate",
    "normalise",
    "collect",
    "trim",
    "score",
    "encode",
    "group",
]
PHRASES = [
    "text of the {n}",
    "characters in the {n}",
    "words of each {n}",
    "length of the {n}",
    "lowercase form of the {n}",
    "the {n} as ASCII",
    "a short {n} summary",
    "every {n} in the batch",
]


def _function(rng: random.Random, name: str) -> str:
    noun = rng.choice(NOUNS)
    doc = rng.choice(PHRASES).format(n=noun)
    arg = f"{noun}s" if rng.random() < 0.5 else noun
    body = rng.choice(
        [
            f"    return [str(x).strip() for x in {arg}]\n"
            if arg.endswith("s")
            else f"    return str({arg}).strip()\n",
            f"    total = 0\n    for part in str({arg}).split():\n        total += len(part)\n    return total\n",
            f'    if not {arg}:\n        raise ValueError("empty {noun}")\n    return {arg}\n',
        ]
    )
    head = f"def {name}({arg}, limit: int = {rng.randint(5, 80)}):\n"
    return f'{head}    """Return the {doc}, at most ``limit`` long."""\n{body}'


def _class(rng: random.Random, name: str, funcs: list[str]) -> str:
    noun = rng.choice(NOUNS)
    methods = "\n".join(
        f'    def {f}(self, value):\n        """{rng.choice(VERBS).capitalize()} the {noun} value."""\n'
        f"        self.items.append(value)\n        return len(self.items)\n"
        for f in funcs
    )
    return (
        f'class {name}:\n    """Keeps {rng.choice(PHRASES).format(n=noun)} for later use."""\n\n'
        f"    def __init__(self):\n        self.items = []\n\n{methods}"
    )


def generate(dest: Path, files: int = 200, seed: int = 7) -> Path:
    """Copy the demo repo to ``dest`` and add generated modules and tests until it has ``files`` text files."""
    from sdd_harness.graph.infra.repomap import iter_files

    rng = random.Random(seed)
    copy_demo(dest, DEMO_REPO)
    count = len(iter_files(dest))
    index = 0
    while count < files:
        package = PACKAGES[index % len(PACKAGES)]
        pkg_dir = dest / package
        if not pkg_dir.exists():
            pkg_dir.mkdir()
            (pkg_dir / "__init__.py").write_text(f'"""The {package} package."""\n', encoding="utf-8")
            count += 1
            if count >= files:
                break
        module = f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}_{index}"
        names = [f"{rng.choice(VERBS)}_{rng.choice(NOUNS)}_{index}_{k}" for k in range(rng.randint(3, 6))]
        cls = f"{rng.choice(NOUNS).capitalize()}{rng.choice(VERBS).capitalize()}{index}"
        source = (
            f'"""{module.replace("_", " ").capitalize()}: helpers for the {package} service."""\n\n'
            + "\n\n".join(_function(rng, n) for n in names)
            + "\n\n"
            + _class(rng, cls, [f"add_{rng.choice(NOUNS)}_{k}" for k in range(rng.randint(2, 4))])
        )
        (pkg_dir / f"{module}.py").write_text(source, encoding="utf-8")
        count += 1
        if count < files:
            test = (
                f"from {package}.{module} import {cls}\n\n\n"
                f"def test_{module}_collects():\n    box = {cls}()\n    assert box.items == []\n"
            )
            (dest / "tests" / f"test_{package}_{module}.py").write_text(test, encoding="utf-8")
            count += 1
        index += 1
    return dest
