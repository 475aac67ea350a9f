"""Undo history for the editor: every edit records the new document state."""

from collections import deque
from typing import Generic, TypeVar

State = TypeVar("State")


class History(Generic[State]):
    """The states a document went through; ``current`` is the one on screen.

    Only the last ``limit`` undo steps are kept (the oldest states are forgotten).
    """

    def __init__(self, initial: State, limit: int = 50) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self._states: deque[State] = deque([initial], maxlen=limit + 1)
        self._undone: list[State] = []

    @property
    def current(self) -> State:
        return self._states[-1]

    def can_undo(self) -> bool:
        return len(self._states) > 1

    def record(self, state: State) -> None:
        """Make ``state`` current; ``undo()`` goes back to the previous one. Clears what could be redone."""
        self._states.append(state)
        self._undone.clear()

    def undo(self) -> State:
        """Go back one state and return it; at the oldest kept state nothing changes."""
        if self.can_undo():
            self._undone.append(self._states.pop())
        return self.current

    def redo(self) -> State:
        """Re-apply the state most recently undone and return it; with nothing to redo nothing changes."""
        if self._undone:
            self._states.append(self._undone.pop())
        return self.current
