"""Fakes that log every call to a file, for runs that a test or benchmark kills and resumes in a child process."""

from __future__ import annotations

import os
from typing import Any

from langchain_core.messages.utils import count_tokens_approximately

from tests.fakes.chat import FakeChatModel
from tests.fakes.scripted import team


def append_line(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())  # one write: a whole line or nothing, even under SIGKILL
    finally:
        os.close(fd)


class LoggedFake(FakeChatModel):
    """Logs each call's start and end (`start|end <leg> <role>[ <prompt tokens>]`); the latency sits between
    them, the window to kill in."""

    role: str = ""
    log: str = ""
    leg: str = ""
    with_tokens: bool = False

    def _line(self, kind: str, messages: Any) -> str:
        tail = f" {count_tokens_approximately(messages)}" if self.with_tokens else ""
        return f"{kind} {self.leg} {self.role}{tail}"

    async def _agenerate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        append_line(self.log, self._line("start", messages))
        result = await super()._agenerate(messages, stop, run_manager, **kwargs)
        append_line(self.log, self._line("end", messages))
        return result

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        append_line(self.log, self._line("start", messages))
        result = super()._generate(messages, stop, run_manager, **kwargs)
        append_line(self.log, self._line("end", messages))
        return result


def logged_team(
    log: str, leg: str, latency: dict[str, float] | None = None, with_tokens: bool = False
) -> dict[str, Any]:
    """The scripted team, every role logging to ``log`` under ``leg`` (run / resume)."""
    latency = latency or {}
    return {
        role: LoggedFake(
            model=fake.model,
            responder=fake.responder,
            role=role,
            log=log,
            leg=leg,
            with_tokens=with_tokens,
            latency_s=latency.get(role, 0.0),
        )
        for role, fake in team().items()
    }
