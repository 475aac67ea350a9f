"""A fixed-size buffer of the latest readings."""

from collections import deque


class RingBuffer:
    """Holds at most ``capacity`` readings; pushing onto a full buffer drops the oldest."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._readings: deque[float] = deque(maxlen=capacity)

    def push(self, value: float) -> None:
        """Add a reading, dropping the oldest one if the buffer is full."""
        self._readings.append(value)

    def values(self) -> list[float]:
        """The held readings, oldest first."""
        return list(self._readings)

    def is_full(self) -> bool:
        return len(self._readings) == self._readings.maxlen

    def __len__(self) -> int:
        return len(self._readings)
