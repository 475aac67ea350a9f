"""A change's scenarios as cases: each one's example, its test, how the test did before any code, where it
came from (the user's own words or the model), and how the set covers the request's items.

The request is the authority: its worked examples and stated error bounds become scenarios word for word and
win over a model's scenario of the same call; an item the scenarios never touch is a gap the spec phase is
told about.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from sdd_harness.graph.infra.contract import ContractTest, Example, normal_code, render_test, same_value, test_name
from sdd_harness.graph.infra.error_bounds import error_calls, error_gaps, stated_raise, value_calls
from sdd_harness.graph.infra.modulemap import ModuleMap
from sdd_harness.graph.infra.openspec.models import CapabilityDelta, Requirement, Scenario
from sdd_harness.graph.infra.pyparse import parse_python
from sdd_harness.graph.infra.request_items import RequestItems, written_calls
from sdd_harness.graph.infra.returntypes import request_returns, wrong_shape

RedStatus = Literal["new", "kept", "broken", "untested"]


class ScenarioCase(BaseModel):
    """One scenario of the change: its ids, its example, its test and how that test did before any code."""

    id: str
    requirement_id: str
    capability: str
    requirement: str
    name: str
    example: Example | None = None
    test: str = ""
    red: RedStatus = "untested"
    note: str = ""
    origin: Literal["request", "model"] = Field("model", description="request: the user's own words, as code")
    confirmed: bool = Field(False, description="re-checked by spec after every candidate failed it")

    def says(self) -> tuple[Any, ...]:
        """What the scenario checks (its steps, call and outcome), not where its names are imported from."""
        e = self.example
        return (tuple(e.setup), e.key(), e.expect, e.raises) if e else ()


NO_WORKING_TEST = "no scenario has a working test: write scenarios whose call is valid code"


class Revision(BaseModel):
    """What spec's re-check of suspect scenarios gave: where the run goes next is decided from this."""

    rechecked: list[str] = Field(default_factory=list, description="test ids the spec model re-checked")
    changed: list[str] = Field(default_factory=list, description="those whose call or expected result changed")
    green: bool = Field(False, description="every contract test passes on the code as it is now")


def trusted(cases: list[ScenarioCase]) -> set[str]:
    """Tests never suspect: the user's own examples and error cases."""
    return {c.test for c in cases if c.test and c.origin == "request"}


def rechecked(cases: list[ScenarioCase]) -> set[str]:
    """Tests the spec re-checked after every candidate failed them (and kept or corrected)."""
    return {c.test for c in cases if c.test and c.confirmed and c.origin == "model"}


def as_raising(data: dict[str, Any]) -> dict[str, Any]:
    """``expect: "ValueError"`` (an exception name where a value belongs) means the call must raise it."""
    expect = str(data.get("expect") or "").strip().strip("`").removesuffix("()")
    expect = re.sub(r"^(?:raises?|raised|throws?)\s*:?\s+", "", expect, flags=re.IGNORECASE)  # "raises ValueError"
    if not data.get("raises") and re.fullmatch(r"(?:[A-Za-z_]\w*\.)?[A-Z]\w*(?:Error|Exception)", expect):
        return {**data, "expect": None, "raises": expect}
    return data


def number(cases: list[ScenarioCase]) -> list[ScenarioCase]:
    return [c.model_copy(update={"id": f"S{i}"}) for i, c in enumerate(cases, 1)]


def coverage_gaps(items: RequestItems, cases: list[ScenarioCase]) -> list[str]:
    """Request items no scenario covers: a named callable never called, a builtin on an instance
    (``len(buffer)``) never used, an error case never raised, a re-export never imported from its package."""
    examples = [c.example for c in cases if c.example]
    code = " ".join(" ".join([*e.setup, e.call]) for e in examples)
    gaps = [
        f"`{item.signature or item.name}` is never called in a scenario"
        for item in items.callables
        if not re.search(rf"\b{re.escape(item.name)}\b", code)
    ]
    gaps += [
        f"`{span}` is never checked in a scenario"
        for span in items.protocols
        if not re.search(rf"\b{re.escape(span.split('(')[0])}\(", code)
    ]
    gaps += error_gaps(items, list(dict.fromkeys((e.raises, e.key()) for e in examples if e.raises)))
    for export in items.reexports:
        imported = {n for e in examples if e.module == export.package for n in e.names()}
        missing = [n for n in export.names if n not in imported]
        if missing:
            gaps.append(f"no scenario imports {', '.join(missing)} from package `{export.package}` (re-export)")
    return gaps


def with_request_examples(items: RequestItems, cases: list[ScenarioCase]) -> list[ScenarioCase]:
    """The user's worked examples and stated error bounds as scenarios, word for word: a model scenario with the
    same call but another outcome is corrected; a missing one is added to the requirement that uses that
    callable. The model's scenarios that repeat a call are dropped (the first one stays)."""
    out = _distinct(_within_stated_bounds(items, cases))
    stated = [(w.call, w.expect, None, w.source) for w in items.examples]
    stated += [(call, None, exception, f"raise {exception} when {why}") for call, exception, why in error_calls(items)]
    stated += [(call, expect, None, source) for call, expect, source in value_calls(items)]
    for call, expect, raises, source in stated:
        probe = Example(call=call, expect=expect, raises=raises)
        same = [c for c in out if c.example and c.example.key() == probe.key()]
        for case in same:
            agrees = (
                (case.example.raises == raises)
                if raises
                else (not case.example.raises and same_value(case.example.expect or "", expect or ""))
            )
            if not agrees:
                case.example = case.example.model_copy(update={"expect": expect, "raises": raises})
                case.note = f"outcome taken from the request ({source})"
            case.origin = "request"
        if same:
            continue
        called = re.match(r"\s*([A-Za-z_]\w*)", call)
        home = next(
            (c for c in out if called and c.example and called.group(1) in c.example.call), out[0] if out else None
        )
        if home is None:
            continue
        calls_it = bool(called and home.example and called.group(1) in home.example.names())
        module = home.example.module if calls_it else None  # another callable's module is no clue: placed later
        out.append(
            _beside(
                home, f"From the request: {source}", Example(call=call, expect=expect, raises=raises, module=module)
            )
        )
    return out + _reexport_cases(items, out)


def placed(cases: list[ScenarioCase], modules: ModuleMap, items: RequestItems) -> list[ScenarioCase]:
    """Cases whose example has no module yet (a request example no model scenario shared a callable with) get
    the one the module map gives: the file the request puts that name in, else the code that defines it."""
    reexported = {r.package: set(r.names) for r in items.reexports}
    return [
        c.model_copy(update={"example": modules.place(c.example, reexported)})
        if c.example and not c.example.module
        else c
        for c in cases
    ]


def _beside(home: ScenarioCase, name: str, example: Example) -> ScenarioCase:
    """A scenario in the user's own words, in the same requirement as ``home``."""
    return ScenarioCase(
        id="",
        requirement_id=home.requirement_id,
        capability=home.capability,
        requirement=home.requirement,
        name=name[:80],
        example=example,
        origin="request",
    )


def compares_new_object(example: Example, items: RequestItems) -> str:
    """Why an example is not a test ('' if it is): it compares a new instance of a class the request names with
    a plain value (``RingBuffer(2)`` == ``[1]``) — a constructor returns the object, never a list or a number.
    Small models write the state they expect after some calls that way (seen in a real run)."""
    try:
        call = parse_python(example.call, mode="eval").body
        expect = parse_python(example.expect, mode="eval").body if example.expect else None
    except SyntaxError:
        return ""
    classes = {c.name for c in items.callables if c.name[:1].isupper() and not c.name.endswith(("Error", "Exception"))}
    made = isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in classes
    plain = isinstance(expect, ast.List | ast.Tuple | ast.Dict | ast.Set | ast.Constant) and not (
        isinstance(expect, ast.Constant) and expect.value is None
    )
    if made and plain:
        return f"`{example.call}` makes a new object and never equals `{example.expect}`: check what a method returns"
    return ""


def invented_method(
    example: Example,
    items: RequestItems,
    request: str,
    existing: set[str],
    members: Mapping[str, set[str]] | None = None,
) -> str:
    """Why an example is not a test ('' if it is): it calls a method on an instance of a class the request
    creates and the request never names that method (`cart.size()` where it names `add` and `total`), or on a
    class that exists already, which has no such method and the request adds none of that name
    (``members``: an existing class -> its methods). A small model's guess at an API — or the prompt's own
    example copied — fails for every candidate that follows the request (seen in real runs)."""
    methods = {c.name for c in items.callables if c.name[:1].islower()}
    new = {c.name for c in items.callables if c.name[:1].isupper() and c.name not in existing}
    allowed = {name: methods for name in new} if methods else {}  # a request that names no method: no basis
    allowed |= {name: methods | have for name, have in (members or {}).items() if name in existing}
    instances: dict[str, str] = {}
    for node in _steps(example):
        if isinstance(node, ast.Assign) and (made := _made(node.value, allowed)):
            instances |= {t.id: made for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner, method = node.func.value, node.func.attr
            cls = _made(owner, allowed) or (instances.get(owner.id, "") if isinstance(owner, ast.Name) else "")
            if cls and not method.startswith("_") and method not in allowed[cls] and not _named(method, request):
                if cls in new:
                    return (
                        f"`{method}()` is not a method the request names (it names {', '.join(sorted(methods))}): "
                        "call only those"
                    )
                have = ", ".join(sorted(allowed[cls]))
                return f"`{cls}` has no method `{method}()` and the request adds none: call {have}"
    return ""


def _made(node: ast.expr, classes: Mapping[str, set[str]]) -> str:
    """The class ``node`` makes an instance of (``Cart()``), or ''."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in classes:
        return node.func.id
    return ""


def _steps(example: Example) -> Iterator[ast.AST]:
    """Every syntax node of the example's setup and call, in order (a line that does not parse is skipped)."""
    for line in [*example.setup, example.call]:
        try:
            yield from ast.walk(parse_python(line))
        except SyntaxError:
            continue


def invented_name(example: Example, items: RequestItems, request: str, existing: set[str]) -> str:
    """Why an example is not a test ('' if it is): its expected value names something nothing defines (a
    string value written bare: `"_x"` as `_x`), or, where the request names its API, it calls a function neither
    the request nor the code has (`tokens(text)` where it asks for `render(text, width)`). Each candidate that
    follows the request fails such a test (seen in real runs). A request that names no function describes
    its API in prose: the model's function names are then the spec's."""
    named = {c.name for c in items.callables}
    unquoted = re.sub(r"'[^'\n]*'|\"[^\"\n]*\"", "''", request)  # a word inside a quoted value defines nothing
    mine = set(example.names()) - set(example.stdlib_modules()) - existing - named - set(example.imports)
    value = Example(call=example.expect, expect="None", setup=example.setup) if example.expect else None
    for name in value.names() if value else []:
        if name in mine and not re.search(rf"\b{re.escape(name)}\b", unquoted):
            return f"the expected value uses `{name}`, which nothing defines: write the value itself"
    if not any(name[:1].islower() for name in named):
        return ""
    for node in _steps(example):
        called = node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else ""
        if called in mine and not re.search(rf"\b{re.escape(called)}\b", request):
            return (
                f"`{called}()` is neither in the request nor in the code: call what the request names "
                f"({', '.join(sorted(named))})"
            )
    return ""


def not_a_test(
    example: Example, items: RequestItems, request: str, existing: set[str], modules: ModuleMap | None = None
) -> str:
    """Why a model's example is not a test of this request ('' if it is); ``modules``: what the code declares
    (its classes' methods, its return annotations; the request's signatures override the latter)."""
    modules = modules or ModuleMap()
    returns = {**modules.returns, **request_returns(c.signature for c in items.callables if c.signature)}
    return (
        compares_new_object(example, items)
        or invented_method(example, items, request, existing, modules.members)
        or invented_name(example, items, request, existing)
        or wrong_shape(example, returns, modules.plain)
    )


def _named(name: str, request: str) -> bool:
    return bool(re.search(rf"`[^`]*\b{re.escape(name)}\b[^`]*`|\b{re.escape(name)}\(", request))


def _reexport_cases(items: RequestItems, cases: list[ScenarioCase]) -> list[ScenarioCase]:
    """A re-export the request asks for and no scenario imports from its package, as a scenario of its own:
    import the name from the package and read its ``__name__`` (re-exports are read for the request's classes,
    functions and exceptions) — right for any correct code, so it is the user's word, not a model's guess,
    and needs no second ask."""
    out = []
    for export in items.reexports:
        imported = {n for c in cases if c.example and c.example.module == export.package for n in c.example.names()}
        for name in (n for n in export.names if n not in imported):
            home = next((c for c in cases if c.example and name in c.example.names()), cases[0] if cases else None)
            if home is None:
                continue
            example = Example(call=f"{name}.__name__", expect=repr(name), module=export.package)
            out.append(_beside(home, f"From the request: {name} is re-exported from {export.package}", example))
    return out


def against_bounds(example: Example, items: RequestItems) -> bool:
    """Whether the request's own error bounds decide ``example``'s call otherwise than the example says."""
    raises, decided = stated_raise(example.call, items)
    if not decided:
        return False
    return example.raises != raises if raises else example.raises in {e.exception for e in items.errors}


def _within_stated_bounds(items: RequestItems, cases: list[ScenarioCase]) -> list[ScenarioCase]:
    """A model's scenario that the request's own error bounds decide otherwise: one that raises where the
    bounds say the call is fine is dropped; one that returns a value where they say it raises is made to raise;
    a setup line that makes a call the bounds say raises is taken out."""
    errors = {e.exception for e in items.errors}
    raising = {normal_code(call) for call, _, _ in error_calls(items)}
    out = []
    for case in cases:
        if case.example is None or case.origin == "request":
            out.append(case)
            continue
        kept = [line for line in case.example.setup if normal_code(line) not in raising]
        if kept != case.example.setup:  # a setup call the request says raises: the check is never reached
            case = case.model_copy(update={"example": case.example.model_copy(update={"setup": kept})})
        raises, decided = stated_raise(case.example.call, items)
        if decided and raises and case.example.raises != raises:
            case = case.model_copy(
                update={
                    "example": case.example.model_copy(update={"raises": raises, "expect": None}),
                    "note": f"the request's bounds say it raises {raises}",
                }
            )
        elif decided and not raises and case.example.raises in errors:
            continue  # the request's bounds say this call does not raise: the scenario contradicts them
        out.append(case)
    return out


def against_kept_tests(cases: list[ScenarioCase], kept: list[Example], request: str) -> list[ScenarioCase]:
    """The model's scenarios without those that give a call the user's own tests check (``kept``, same setup)
    another outcome, where the request never writes that call: the change keeps what the request leaves
    alone, so every candidate that keeps it fails such a scenario (seen in a real run: a new function's error
    case put on an existing function the user's tests check)."""
    told = written_calls(request)
    checked: dict[tuple[str, tuple[str, ...]], Example] = {}
    for example in kept:
        checked.setdefault((example.key(), tuple(example.setup)), example)
    out = []
    for case in cases:
        example = case.example
        old = checked.get((example.key(), tuple(example.setup))) if example and case.origin == "model" else None
        if old is not None and example and example.key() not in told and not _same_outcome(example, old):
            continue
        out.append(case)
    return out


def _same_outcome(a: Example, b: Example) -> bool:
    if a.raises or b.raises:
        return a.raises == b.raises
    return same_value(a.expect or "", b.expect or "")


def _distinct(cases: list[ScenarioCase]) -> list[ScenarioCase]:
    seen: set[tuple[str, tuple[str, ...]]] = set()
    out = []
    for case in cases:
        key = (case.example.key(), tuple(case.example.setup)) if case.example else ("", (case.name,))
        if key not in seen:
            seen.add(key)
            out.append(case)
    return out


def scenario_lines(cases: list[ScenarioCase], ids: set[str] | None = None) -> str:
    """The tested scenarios (those in ``ids``, if given) as prompt lines: setup, call, what must come out."""
    lines = []
    for case in cases:
        if case.example is None or not case.test or (ids is not None and case.id not in ids):
            continue
        outcome = f"raises `{case.example.raises}`" if case.example.raises else f"== `{case.example.expect}`"
        setup = f"`{'; '.join(case.example.setup)}`; " if case.example.setup else ""
        source = f" (from {case.example.module})" if case.example.module else ""
        lines.append(f"- {case.id} {case.name}: {setup}`{case.example.call}` {outcome}{source}")
    return "\n".join(lines)


def checklist(items: RequestItems) -> str:
    """What the request says must hold, for the prompt: the spec must cover each line."""
    lines = [
        f"- callable: `{c.signature or c.name}`" + (f" (method of {c.owner})" if c.owner else "")
        for c in items.callables
    ]
    lines += [f"- error: raise `{e.exception}` — {e.when}" for e in items.errors]
    lines += [f"- on an instance: `{span}` must work" for span in items.protocols]
    lines += [f"- example (use exactly): `{x.call}` == `{x.expect}`" for x in items.examples]
    lines += [f"- re-export: `from {r.package} import {', '.join(r.names)}` must work" for r in items.reexports]
    return "\n".join(lines) or "(nothing the code could read; cover the request's behaviour)"


def scenario_steps(case: ScenarioCase) -> dict[str, Any]:
    """The case as an OpenSpec scenario: its example's WHEN/THEN (a case left as prose: just its name)."""
    if case.example:
        return {"name": case.name, "when": [case.example.when()], "then": [case.example.then()]}
    return {"name": case.name, "when": [case.name], "then": ["the behaviour holds"]}


def restated(deltas: list[CapabilityDelta], cases: list[ScenarioCase]) -> list[CapabilityDelta]:
    """``deltas`` with each scenario's WHEN/THEN taken from its case as it is now: after spec's re-check
    corrected a case, the spec.md that archive merges into the project's specs says what the test checks."""
    current = {(c.requirement, c.name): c for c in cases if c.example}

    def steps(requirement: Requirement) -> Requirement:
        scenarios = [
            Scenario.model_validate({**scenario_steps(c), "given": s.given})
            if (c := current.get((requirement.name, s.name)))
            else s
            for s in requirement.scenarios
        ]
        return requirement.model_copy(update={"scenarios": scenarios})

    return [
        d.model_copy(update={"added": [steps(r) for r in d.added], "modified": [steps(r) for r in d.modified]})
        for d in deltas
    ]


def rendered(cases: list[ScenarioCase], test_file: str) -> tuple[list[ScenarioCase], list[ContractTest]]:
    """Each case with its test id in ``test_file``, and the tests to write (a case without an example has none)."""
    taken: set[str] = set()
    tests, out = [], []
    for case in cases:
        if case.example is None:
            out.append(case.model_copy(update={"test": "", "red": "untested"}))
            continue
        name = test_name(case.name, taken)
        source = render_test(name, case.requirement, case.name, case.example)
        tests.append(
            ContractTest(
                capability=case.capability, requirement=case.requirement, scenario=case.name, name=name, source=source
            )
        )
        out.append(case.model_copy(update={"test": f"{test_file}::{name}"}))
    return out, tests
