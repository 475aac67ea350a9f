import pytest

from palette import blend

BLACK = (0, 0, 0)
WHITE = (255, 255, 255)


def test_blend_halfway():
    assert blend(BLACK, WHITE) == (128, 128, 128)
    assert blend((200, 0, 100), (0, 200, 100)) == (100, 100, 100)


def test_blend_ends():
    assert blend(BLACK, WHITE, 0) == BLACK
    assert blend(BLACK, WHITE, 1) == WHITE


def test_blend_rejects_ratio_outside_zero_to_one():
    with pytest.raises(ValueError):
        blend(BLACK, WHITE, 1.5)
