"""Concurrency bins: powers of two of the observed in-flight count, merged until each holds enough requests."""

from __future__ import annotations

from collections.abc import Iterable

# A bin needs this many requests: a p95 of fewer samples is little more than their maximum.
MIN_REQUESTS_PER_BIN = 20


def choose_bin_lows(histogram: Iterable[tuple[int, int]], min_requests: int = MIN_REQUESTS_PER_BIN) -> list[int]:
    """The lowest concurrency of each bin, ascending; bin ``i`` runs up to ``lows[i + 1] - 1``.

    Requests are grouped by the power of two below their concurrency (1, 2-3, 4-7, 8-15, ...), so each bin
    doubles the load of the one before; a group with fewer than ``min_requests`` requests joins the next one
    up, and a short last group joins the bin below it. The first bin starts at 1 and is the "unloaded"
    reference.

    Args:
        histogram: ``(concurrency, requests)`` pairs (concurrency >= 1).
        min_requests: The fewest requests a bin may hold.

    Returns:
        The bins' lowest concurrency; empty when the run has fewer than ``min_requests`` requests.

    Example:
        >>> choose_bin_lows([(1, 30), (2, 5), (3, 20), (9, 40)], min_requests=20)
        [1, 2, 8]
    """
    groups: dict[int, int] = {}
    for concurrency, requests in histogram:
        if concurrency >= 1 and requests > 0:
            low = 1 << (int(concurrency).bit_length() - 1)
            groups[low] = groups.get(low, 0) + requests
    lows: list[int] = []
    pending_low, pending = 0, 0
    for low in sorted(groups):
        if pending == 0:
            pending_low = low
        pending += groups[low]
        if pending >= min_requests:
            lows.append(pending_low)
            pending = 0
    # A short last group joins the bin below it (it keeps that bin's low); alone it is no bin at all.
    if lows:
        lows[0] = 1
    return lows
