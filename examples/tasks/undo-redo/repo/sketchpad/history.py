"""Undo history for the editor: every edit records the new document state."""

from typing import Generic, TypeVar

State = TypeVar("State")


class History(Generic[State]):
    """The states a document went through; ``current`` is the one on screen."""

    def __init__(self, initial: State) -> None:
        self._states: list[State] = [initial]

    @property
    def current(self) -> State:
        return self._states[-1]

    def can_undo(self) -> bool:
        return len(self._states) > 1

    def record(self, state: State) -> None:
        """Make ``state`` current; ``undo()`` goes back to the previous one."""
        self._states.append(state)

    def undo(self) -> State:
        """Go back one state and return it; at the initial state nothing changes."""
        if self.can_undo():
            self._states.pop()
        return self.current
