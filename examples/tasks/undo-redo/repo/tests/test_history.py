from sketchpad.history import History


def test_record_and_undo():
    history = History("empty")
    history.record("circle")
    history.record("circle+square")
    assert history.current == "circle+square"
    assert history.undo() == "circle"
    assert history.undo() == "empty"


def test_undo_at_initial_state_keeps_it():
    history = History(0)
    assert history.can_undo() is False
    assert history.undo() == 0
    assert history.current == 0
