from __future__ import annotations

import numpy as np
import pytest

from agenttrace.report import bootstrap


@pytest.mark.parametrize("n", [1, 2, 5, 20, 2000])
def test_statistics_over_counts_equal_those_of_the_resampled_values(n: int) -> None:
    rng = np.random.default_rng(n)
    values = rng.random(n)
    counts = bootstrap.resample_counts(bootstrap.generator(7, "x"), n, 50)
    assert counts.sum(axis=1).tolist() == [n] * 50
    resampled = [np.repeat(values, row.astype(int)) for row in counts]
    np.testing.assert_allclose(bootstrap.percentile(values, counts, 0.95), [np.quantile(r, 0.95) for r in resampled])
    np.testing.assert_allclose(bootstrap.mean(values, counts), [r.mean() for r in resampled])
    np.testing.assert_allclose(bootstrap.percentile(values, bootstrap.original(n), 0.95), [np.quantile(values, 0.95)])


def test_generator_is_deterministic_per_name() -> None:
    first = bootstrap.resample_counts(bootstrap.generator(1, "a", "b"), 30, 10)
    assert (first == bootstrap.resample_counts(bootstrap.generator(1, "a", "b"), 30, 10)).all()
    assert not (first == bootstrap.resample_counts(bootstrap.generator(1, "a", "c"), 30, 10)).all()


def test_change_interval_from_zero() -> None:
    zeros = np.zeros(100)
    assert bootstrap.change_interval(zeros, zeros, 0.95) == (0.0, 0.0)
    assert bootstrap.change_interval(zeros, np.ones(100), 0.95) == (float("inf"), float("inf"))
    mixed = np.array([0.0] * 10 + [1.0] * 90)
    assert bootstrap.change_interval(zeros, mixed, 0.95) == (0.0, float("inf"))
