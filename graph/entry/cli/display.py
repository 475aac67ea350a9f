"""What a person sees while a run runs: one live line per running phase on a terminal, plain lines elsewhere.

Built on the core's custom stream events (see `RunDisplay.__call__`). A phase that ended is not a phase that
passed: its ✓ is printed only when the orchestrator's gate advances past it; a retry or a loop-back shows ✗ with
the gate's reason.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

PLAIN_HEARTBEAT_S = 30.0  # non-TTY: a "still running" line at most this often while tokens stream


def console(stream: TextIO | None = None) -> Any:
    """A rich console on terminals; plain, wide, unwrapped lines without escape codes when piped."""
    from rich.console import Console

    stream = stream or sys.stdout
    if stream.isatty():
        return Console(file=stream, highlight=False)
    return Console(file=stream, highlight=False, width=160, soft_wrap=True, no_color=True, force_terminal=False)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


@dataclass
class PhaseLine:
    """The running state of one phase: what the live line shows."""

    phase: str
    attempt: int = 1
    model: str = ""
    started: float = field(default_factory=time.monotonic)
    calls: int = 0
    tokens_done: int = 0  # output tokens of finished calls
    tokens_current: int = 0  # running count of the call in flight
    input_tokens: int = 0
    ended: dict[str, Any] | None = None  # the phase_end event, until the gate speaks
    streamed: bool = False  # token or call events seen (a core that sends none shows no token count)

    @property
    def tokens(self) -> int:
        return self.tokens_done + self.tokens_current

    def elapsed(self) -> float:
        return (self.ended or {}).get("seconds") or (time.monotonic() - self.started)

    def summary(self) -> str:
        model = f" · {self.model}" if self.model else ""
        attempt = f" (attempt {self.attempt})" if self.attempt > 1 else ""
        tokens = f" · {self.tokens} tok out" if self.streamed else ""
        return f"{self.phase}{attempt}{model} · {_clock(self.elapsed())} · {self.calls} call(s){tokens}"


class RunDisplay:
    """Consumes the run's events. Event kinds (the core's contract):

    phase_start {phase, attempt, model} · tokens {phase, model, count} (running output tokens of the current call)
    · call_end {phase, model, input_tokens, output_tokens, seconds, ok} · phase_end {phase, seconds, error,
    cost_usd, calls} · gate {phase, action, next, reason, by} · task {task, step, attempt, ok, ...} ·
    warning {message} · approval {phase, ...} (from the script API, before a prompt).
    """

    def __init__(self, out: Any = None, live: bool | None = None) -> None:
        self.out = out if out is not None else console()
        self.live_mode = self.out.is_terminal if live is None else live
        self.phases: dict[str, PhaseLine] = {}
        self.cost = 0.0
        self._live: Any = None
        self._last_beat = time.monotonic()

    # ----------------------------------------------------------------------------------------- events
    def __call__(self, event: dict[str, Any]) -> None:
        handler = getattr(self, f"_on_{event.get('event')}", None)
        if handler is not None:
            handler(event)
            self._refresh()

    def _on_phase_start(self, event: dict[str, Any]) -> None:
        line = PhaseLine(event["phase"], int(event.get("attempt") or 1), str(event.get("model") or ""))
        self.phases[line.phase] = line
        if not self.live_mode:
            self._print(f"▶ {line.summary().split(' · ')[0]}" + (f" · {line.model}" if line.model else ""))
        self._start_live()

    def _on_tokens(self, event: dict[str, Any]) -> None:
        line = self._line(event)
        line.tokens_current = int(event.get("count") or 0)
        line.streamed = True
        if event.get("model"):
            line.model = str(event["model"])
        if not self.live_mode and time.monotonic() - self._last_beat >= PLAIN_HEARTBEAT_S:
            self._last_beat = time.monotonic()
            self._print(f"  … {line.summary()}")

    def _on_call_end(self, event: dict[str, Any]) -> None:
        line = self._line(event)
        line.calls += 1
        line.streamed = True
        line.tokens_done += int(event.get("output_tokens") or 0)
        line.input_tokens += int(event.get("input_tokens") or 0)
        line.tokens_current = 0
        if event.get("model"):
            line.model = str(event["model"])
        if event.get("ok") is False:
            self._print(f"  ! {line.phase}: a call to {event.get('model') or line.model} failed", style="yellow")

    def _on_phase_end(self, event: dict[str, Any]) -> None:
        line = self._line(event)
        line.ended = event
        line.calls = max(line.calls, int(event.get("calls") or 0))
        line.tokens_current = 0
        self.cost += float(event.get("cost_usd") or 0.0)
        if event.get("error"):
            self._print(f"  ! {line.phase}: {str(event['error'])[:200]}", style="red")
        if not self.live_mode:
            self._print(f"  {line.summary()}, running cost ${self.cost:.4f}; waiting for the gate")

    def _on_gate(self, event: dict[str, Any]) -> None:
        phase, action = str(event.get("phase")), str(event.get("action"))
        line = self.phases.pop(phase, None)
        done = line.summary() if line else phase
        reason = str(event.get("reason") or "")[:200]
        if action in ("advance", "done"):
            self._print(f"✓ {done}", style="green")
        elif action == "continue":  # a batch of tasks done, more to go: neither passed nor failed
            self._print(f"↻ {done} — continues: {reason}")
        elif action == "stop":
            self._print(f"✗ {done} — stopped: {reason}", style="red")
        elif action.startswith("skip_to"):  # spec's re-check passed its gate; design and tasks stand
            self._print(f"✓ {done} — on to {event.get('next')}: {reason}", style="green")
        elif action.startswith("back_to"):
            self._print(f"✗ {done} — sent back to {event.get('next')}: {reason}", style="yellow")
        else:
            self._print(f"✗ {done} — {action}: {reason}", style="yellow")
        self._print(f"  ◆ gate {phase}: {action} → {event.get('next')} ({event.get('by')})", style="dim")
        if not self.phases:
            self._stop_live()

    def _on_task(self, event: dict[str, Any]) -> None:
        mark = "ok" if event.get("ok") else "failed"
        if event.get("passed") is not None and event.get("failed") is not None:
            mark += f" ({event['passed']}/{event['passed'] + event['failed']} scenario tests)"
        if event.get("error"):
            mark += f": {' '.join(str(event['error']).split())[:80]}"
        step = str(event.get("step") or "")
        title = f" {str(event.get('title'))[:60]}" if event.get("title") and event.get("title") != step else ""
        attempt = f" #{event['attempt']}" if event.get("attempt") is not None else ""
        self._print(
            f"    task {event.get('task')}{title} · {step}{attempt}: {mark}",
            style="green" if event.get("ok") else "red",
        )

    def _on_warning(self, event: dict[str, Any]) -> None:
        self._print(f"  warning: {event.get('message')}", style="yellow")

    def _on_approval(self, event: dict[str, Any]) -> None:
        self._stop_live()  # the prompt needs the terminal
        self._print(f"  ? approval needed after {event.get('phase')}")

    def _line(self, event: dict[str, Any]) -> PhaseLine:
        phase = str(event.get("phase"))
        if phase not in self.phases:  # events of a phase we did not see start (resume mid-phase)
            self.phases[phase] = PhaseLine(phase, model=str(event.get("model") or ""))
        return self.phases[phase]

    # ----------------------------------------------------------------------------------------- output
    def _print(self, text: str, style: str | None = None) -> None:
        self.out.print(text, style=style, markup=False, highlight=False)

    def _start_live(self) -> None:
        if not self.live_mode or self._live is not None:
            return
        from rich.live import Live

        self._live = Live(_LiveLines(self), console=self.out, refresh_per_second=4, transient=True)
        self._live.start()

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def close(self) -> None:
        """Stop the live area (call when the run ends or fails)."""
        self._stop_live()


class _LiveLines:
    """A renderable that recomputes elapsed times at every refresh: one spinner line per running phase."""

    def __init__(self, display: RunDisplay) -> None:
        self.display = display
        self.spinners: dict[str, Any] = {}

    def __rich__(self) -> Any:
        from rich.spinner import Spinner
        from rich.table import Table

        grid = Table.grid(padding=(0, 1))
        for phase, line in list(self.display.phases.items()):
            spinner = self.spinners.setdefault(phase, Spinner("dots", style="cyan"))
            state = " · gate…" if line.ended else ""
            grid.add_row(spinner, line.summary() + state)
        grid.add_row("", f"running cost ${self.display.cost:.4f}")
        return grid


def terminal_approver() -> Any:
    """An approver that asks in the terminal (prompts on stderr, so `--json` stdout stays clean).

    End of input (Ctrl-D, a closed stdin) answers `stop`: the run pauses resumably instead of asking forever.
    """
    stream = sys.stderr

    def read(prompt: str) -> str | None:
        stream.write(prompt)
        stream.flush()
        raw = sys.stdin.readline()
        return None if raw == "" else raw.strip()

    def ask(payload: dict[str, Any]) -> str:
        print(f"\n--- review {payload['phase']}: {payload.get('artifact', '')}", file=stream)
        lines = str(payload.get("content", "")).splitlines()
        print("\n".join(lines[:60]) + ("\n..." if len(lines) > 60 else ""), file=stream)
        while (answer := read("[a]pprove / [r]eject <feedback> / [s]top > ")) is not None:
            word, _, rest = answer.partition(" ")
            word = {"a": "approve", "r": "reject", "s": "stop"}.get(word.lower(), word.lower())
            if word in ("approve", "stop"):
                return word
            if word == "reject":
                feedback = rest or read("feedback > ")
                return "stop" if feedback is None else f"reject: {feedback}"
            print("please answer a, r <feedback> or s", file=stream)
        return "stop"

    return ask


def print_summary(result: Any, out: Any, resume_hint: str | None) -> None:
    """The per-phase table, gate decisions that were not advances, the status and where the report is."""
    from rich.table import Table

    table = Table(title=f"run {result.run_id} · change {result.change_id}")
    numeric = ("calls", "in tok", "cached", "out tok", "cost $", "sec")
    for col in ("phase", "requested", "served", *numeric):
        table.add_column(col, justify="right" if col in numeric else "left")
    phases = result.report.get("phases", [])
    for row in phases:
        served = row["served"] + (" ⚠ mismatch" if row["routing_mismatch"] else "")
        table.add_row(
            row["phase"],
            row["requested"],
            served,
            str(row["calls"]),
            str(row["input_tokens"]),
            str(row.get("cached_tokens", 0)),
            str(row["output_tokens"]),
            f"{row['cost_usd']:.4f}",
            f"{row['seconds']:.1f}",
        )
    totals = result.report.get("totals", {})
    table.add_row(
        "total",
        "",
        "",
        str(totals.get("calls", 0)),
        str(totals.get("input_tokens", 0)),
        str(totals.get("cached_tokens", 0)),
        str(totals.get("output_tokens", 0)),
        f"{totals.get('cost_usd', 0):.4f}",
        f"{sum(r['seconds'] for r in phases):.1f}",
    )
    out.print(table)
    for d in result.report.get("decisions", []):
        if d["action"] != "advance":
            out.print(f"  gate {d['phase']} → {d['action']} ({d['by']}): {d['reason'][:200]}", markup=False)
    out.print(f"status: {result.status} {result.reason[:400]}", markup=False, style="bold")
    if result.report.get("verdict"):
        out.print(f"verdict: {result.report['verdict']}", markup=False)
    if result.report_path:
        out.print(f"report: {result.report_path}", markup=False)
    if resume_hint:
        out.print(resume_hint, markup=False)
