"""The bootstrap behind ``agenttrace compare``: resampling weights, statistics over them, the interval.

A resample of ``n`` values is kept as counts (how often each value was drawn), a ``(resamples, n)`` matrix,
so every statistic of every resample is one vectorised step: a mean is a matrix product, a percentile is
found on the cumulative counts of the sorted values. The original sample is the one-row matrix of ones.
"""

from __future__ import annotations

import zlib

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Counts = npt.NDArray[np.float64]  # whole numbers; float for fast matrix products


def generator(seed: int, *names: str) -> np.random.Generator:
    """A random generator seeded from ``seed`` and ``names``: the same names always draw the same numbers."""
    return np.random.default_rng([seed, *(zlib.crc32(name.encode()) for name in names)])


def resample_counts(rng: np.random.Generator, n: int, resamples: int) -> Counts:
    """``resamples`` bootstrap resamples of ``n`` values, as draw counts (each row sums to ``n``)."""
    draws = rng.integers(0, n, size=(resamples, n)) + np.arange(resamples)[:, np.newaxis] * n
    return np.bincount(draws.ravel(), minlength=resamples * n).reshape(resamples, n).astype(np.float64)


def original(n: int) -> Counts:
    """The sample itself, as one resample."""
    return np.ones((1, n), dtype=np.float64)


def mean(values: Floats, counts: Counts) -> Floats:
    """The mean of each resample."""
    return np.asarray(counts @ values / len(values), dtype=np.float64)


def percentile(values: Floats, counts: Counts, q: float) -> Floats:
    """The ``q`` quantile of each resample, interpolated like numpy's and DuckDB's ``quantile_cont``."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    cumulative = np.cumsum(counts[:, order], axis=1)
    rank = (len(values) - 1) * q
    below = int(rank)
    above = min(below + 1, len(values) - 1)
    # The value of 0-based rank r in a resample is the first sorted value whose cumulative count exceeds r.
    low = ordered[np.argmax(cumulative > below, axis=1)]
    high = ordered[np.argmax(cumulative > above, axis=1)]
    return np.asarray(low + (high - low) * (rank - below), dtype=np.float64)


def change_interval(base: Floats, cand: Floats, confidence: float) -> tuple[float, float]:
    """The percentile interval of ``cand / base - 1`` over paired resample statistics (``inf`` from 0 to more)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        changes = np.where(base == 0, np.where(cand == 0, 0.0, np.inf), cand / base - 1)
    tail = (1 - confidence) / 2
    # No interpolation: an end of the interval is a resampled change, never an average with an infinite one.
    return float(np.quantile(changes, tail, method="lower")), float(np.quantile(changes, 1 - tail, method="higher"))
