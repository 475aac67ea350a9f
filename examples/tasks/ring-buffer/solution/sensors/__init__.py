"""sensors: helpers for streams of sensor readings."""

from sensors.ring import RingBuffer
from sensors.smoothing import moving_average

__all__ = ["RingBuffer", "moving_average"]
