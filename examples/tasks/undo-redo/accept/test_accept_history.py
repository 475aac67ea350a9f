import pytest

from sketchpad.history import History


def test_redo_reapplies_undone_states_in_order():
    history = History("a")
    history.record("b")
    history.record("c")
    assert history.undo() == "b"
    assert history.undo() == "a"
    assert history.redo() == "b"
    assert history.redo() == "c"
    assert history.current == "c"


def test_redo_with_nothing_to_redo_keeps_current():
    history = History(0)
    assert history.redo() == 0
    history.record(1)
    assert history.redo() == 1
    assert history.current == 1


def test_record_after_undo_discards_undone_states():
    history = History(0)
    history.record(1)
    history.record(2)
    assert history.undo() == 1
    history.record(3)
    assert history.redo() == 3
    assert history.undo() == 1
    assert history.undo() == 0


def test_limit_keeps_only_the_last_undo_steps():
    history = History(0, limit=2)
    for state in (1, 2, 3):
        history.record(state)
    assert history.undo() == 2
    assert history.undo() == 1
    assert history.undo() == 1


def test_default_limit_is_50():
    history = History(0)
    for state in range(1, 61):
        history.record(state)
    for _ in range(50):
        history.undo()
    assert history.current == 10
    assert history.undo() == 10


@pytest.mark.parametrize("limit", [0, -1])
def test_limit_below_one_rejected(limit):
    with pytest.raises(ValueError):
        History(0, limit=limit)


def test_undo_without_limit_unchanged():
    history = History("empty")
    history.record("circle")
    assert history.undo() == "empty"
    assert history.undo() == "empty"
