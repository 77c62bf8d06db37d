import pytest

from handkit.utils.timing import median_time


def test_median_time_counts_calls_and_refuses_zero_repeats():
    calls = []
    wall, cpu = median_time(lambda: calls.append(1), 5, warmup=2)
    assert len(calls) == 7 and wall >= 0 and cpu >= 0
    with pytest.raises(ValueError, match="repeats"):
        median_time(lambda: None, 0)
