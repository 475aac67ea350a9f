"""sensors: helpers for streams of sensor readings."""

from sensors.smoothing import moving_average

__all__ = ["moving_average"]
