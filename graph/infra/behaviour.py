"""Behaviour agreement between candidates (as in MBR-exec and AlphaCode's clustering): each candidate is also
run on calls next to the scenarios' own, and candidates that answer alike back each other up.

A spec's few scenarios can be passed by wrong code (a remainder handed out whole where it should go one unit
at a time passes every scenario whose remainder is 0 or 1). Wrong samples tend to be wrong in different ways
while right ones agree, so among candidates that pass as much of the contract, the one whose answers the
others share most often is written (a graded count: one untested corner does not split otherwise equal code).
The probe calls only vary the literal arguments of the scenarios' calls, one at a time: no model, nothing
about the task's domain."""

from __future__ import annotations

import ast
import asyncio
import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field

from sdd_harness.graph.infra.contract import Example
from sdd_harness.graph.infra.workspace import Workspace

PROBE_FILE = "_sdd_probe_calls.py"  # written only into a candidate's throwaway copy
_MARK = "@@sdd-probe@@"
_PER_CALL_S = 0.2  # a call that runs longer answers "timeout" (an endless loop on a nearby input is behaviour too)
_ALL_CALLS_S = 3.0  # past this, the remaining calls answer "skipped": a looping candidate costs seconds, not minutes


class Probe(BaseModel):
    """One call a candidate is asked to answer: the scenario's imports and setup, a varied call."""

    imports: list[str] = Field(default_factory=list)
    setup: list[str] = Field(default_factory=list)
    call: str


def _literal_variants(node: ast.expr) -> list[ast.expr]:
    """Nearby values of one literal argument: small and off-by-one integers, emptied or trimmed strings."""
    if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
        return []
    value = node.value
    if isinstance(value, int):
        values: list[object] = [0, 1, 2, 3, value - 1, value + 1, 2 * value]
    elif isinstance(value, float):
        values = [0.0, 1.0, value / 2, value + 0.5, -value]
    elif isinstance(value, str) and not value.startswith((".", "~")) and not {"/", "\\", ":"} & set(value):
        values = ["", value[:-1], value[1:], value.upper(), f" {value} ", value * 2]  # never a path or address
    else:
        return []
    return [ast.Constant(v) for v in dict.fromkeys(values) if v != value]


def variants(call: str) -> list[str]:
    """``call`` with one literal argument (positional or keyword) changed at a time, the arguments taking turns
    so a cut-off list still varies each of them."""
    try:
        tree = ast.parse(call, mode="eval")
    except SyntaxError:
        return []
    if not isinstance(tree.body, ast.Call):
        return []
    body = tree.body
    slots: list[tuple[list[Any], int]] = [(body.args, i) for i in range(len(body.args))]
    slots += [(body.keywords, i) for i in range(len(body.keywords))]
    options = []
    for holder, index in slots:
        original = holder[index]
        keyword = isinstance(original, ast.keyword)
        literals = _literal_variants(original.value if keyword else original)
        options.append([ast.keyword(arg=original.arg, value=v) if keyword else v for v in literals])
    found: list[str] = []
    for rank in range(max((len(o) for o in options), default=0)):
        for (holder, index), replacements in zip(slots, options, strict=True):
            if rank < len(replacements):
                original, holder[index] = holder[index], replacements[rank]
                found.append(ast.unparse(tree))
                holder[index] = original
    return list(dict.fromkeys(found))


def probes(examples: list[Example], limit: int = 40) -> list[Probe]:
    """Probe calls for the contract's examples, taken round-robin so every scenario gets some."""
    per_example = [
        [Probe(imports=e.import_lines(), setup=e.setup, call=v) for v in variants(e.call)]
        for e in examples
        if e.call and (e.module or e.imports)
    ]
    chosen: list[Probe] = []
    seen: set[str] = set()
    for rank in range(max((len(p) for p in per_example), default=0)):
        for options in per_example:
            if rank < len(options) and len(chosen) < limit:
                probe = options[rank]
                key = "\n".join([*probe.setup, probe.call])
                if key not in seen:
                    seen.add(key)
                    chosen.append(probe)
    return chosen


def script(calls: list[Probe]) -> str:
    """A stand-alone program that answers each probe (repr of the result, or the exception's class name)."""
    return f"""import json, re, signal, sys, time
sys.path[:0] = [".", "src"]
class _Slow(BaseException):
    pass
def _alarm(*_):
    raise _Slow()
def _plain(value, depth=0):
    if depth > 4:
        return value
    if isinstance(value, (set, frozenset)):  # string hashing differs between processes: sorted
        return sorted((_plain(v, depth + 1) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v, depth + 1) for v in value) if type(value) in (list, tuple) else value
    if type(value) is dict:
        return {{k: _plain(v, depth + 1) for k, v in value.items()}}
    return value
_timed = hasattr(signal, "SIGALRM")  # elsewhere only the whole run's timeout bounds a call
if _timed:
    signal.signal(signal.SIGALRM, _alarm)
answers = []
_end = time.monotonic() + {_ALL_CALLS_S}
for imports, setup, call in json.loads({json.dumps(json.dumps([[p.imports, p.setup, p.call] for p in calls]))}):
    space = {{}}
    if time.monotonic() > _end:
        answers.append("skipped")
        continue
    _timed and signal.setitimer(signal.ITIMER_REAL, {_PER_CALL_S})
    try:
        for line in [*imports, *setup]:
            exec(line, space)
        text = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(_plain(eval(call, space))))  # no memory addresses
        answers.append("= " + text[:300])
    except _Slow:
        answers.append("timeout")
    except Exception as err:
        answers.append("raises " + type(err).__name__)
    finally:
        _timed and signal.setitimer(signal.ITIMER_REAL, 0)
print({_MARK!r} + json.dumps(answers))
"""


def signature(output: str) -> list[str]:
    """A short fingerprint of each answer printed by ``script`` (none when the program printed none)."""
    for line in output.splitlines():
        if line.startswith(_MARK):
            return [hashlib.sha256(a.encode()).hexdigest()[:8] for a in json.loads(line.removeprefix(_MARK))]
    return []


def agreement(mine: list[str], theirs: list[str]) -> int:
    """How many probe calls two candidates answered the same way (0 when they did not answer the same calls)."""
    return sum(a == b for a, b in zip(mine, theirs, strict=True)) if len(mine) == len(theirs) else 0


async def answers(copy: Workspace, calls: list[Probe], timeout_s: float) -> list[str]:
    """Run the probes in a candidate's throwaway copy; its answers' fingerprints, none when it gave none."""
    if not calls:
        return []
    await asyncio.to_thread(copy.write, PROBE_FILE, script(calls))
    result = await copy.run(f"python {PROBE_FILE}", timeout_s)
    return [] if result.timed_out else signature(result.output)
