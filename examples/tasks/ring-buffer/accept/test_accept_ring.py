import pytest

import sensors
from sensors.ring import RingBuffer


def test_new_buffer_is_empty():
    buffer = RingBuffer(3)
    assert buffer.values() == []
    assert len(buffer) == 0
    assert buffer.is_full() is False


def test_readings_kept_in_order_until_full():
    buffer = RingBuffer(3)
    buffer.push(1.0)
    buffer.push(2.0)
    assert buffer.values() == [1.0, 2.0]
    assert len(buffer) == 2
    assert buffer.is_full() is False
    buffer.push(3.0)
    assert buffer.is_full() is True


def test_oldest_reading_dropped_when_full():
    buffer = RingBuffer(3)
    for value in (1.0, 2.0, 3.0, 4.0, 5.0):
        buffer.push(value)
    assert buffer.values() == [3.0, 4.0, 5.0]
    assert len(buffer) == 3
    assert buffer.is_full() is True


def test_capacity_one_keeps_only_the_last_reading():
    buffer = RingBuffer(1)
    buffer.push(20.5)
    buffer.push(21.0)
    assert buffer.values() == [21.0]


@pytest.mark.parametrize("capacity", [0, -2])
def test_capacity_below_one_rejected(capacity):
    with pytest.raises(ValueError):
        RingBuffer(capacity)


def test_buffers_are_independent():
    first, second = RingBuffer(2), RingBuffer(2)
    first.push(1.0)
    assert second.values() == []


def test_reexported_from_package():
    assert sensors.RingBuffer is RingBuffer
    assert {"RingBuffer", "moving_average"} <= set(sensors.__all__)
    assert sensors.moving_average([1, 2, 3], 3) == [2.0]
