from scores import mean, median


def test_mean():
    assert mean([70, 80, 90]) == 80
    assert mean([1, 2]) == 1.5


def test_median_of_odd_count():
    assert median([3, 1, 2]) == 2
    assert median([7]) == 7
