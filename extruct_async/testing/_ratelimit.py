"""Per-key request rate limiting in a sliding window, and the peak rate of a request log."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

__all__ = ["SlidingWindowLimiter", "peak_in_window"]

# Times are floats: ten steps of exactly 0.1 s can add up to a hair less than a second
# (8.100017 - 7.100017 == 0.9999999999999991). This slack keeps such rounding from
# counting as an extra request in the window.
_SLACK = 1e-9


class SlidingWindowLimiter:
    """Admits at most ``rate`` requests per second per key, counted in a sliding window.

    The window is one second when ``rate`` is a whole number; otherwise it holds
    ``max(1, floor(rate))`` requests and lasts that many requests' worth of time (a rate of
    0.5 admits one request per two seconds).
    """

    def __init__(self, rate: float) -> None:
        if not rate > 0:
            raise ValueError(f"rate_limit must be positive, not {rate!r}")
        self._capacity = max(1, math.floor(rate))
        self._window = self._capacity / rate
        self._admitted: dict[str, deque[float]] = {}

    def admit(self, key: str, now: float) -> float | None:
        """Admit a request of ``key`` at ``now``, or return the seconds until a slot frees."""
        times = self._admitted.setdefault(key, deque())
        while times and times[0] <= now - self._window + _SLACK:
            times.popleft()
        if len(times) < self._capacity:
            times.append(now)
            return None
        return times[0] + self._window - now


def peak_in_window(times: Iterable[float], window: float = 1.0) -> int:
    """Return the most ``times`` that fall in any half-open window ``[t, t + window)``."""
    ordered = sorted(times)
    peak = 0
    first = 0
    for last, time in enumerate(ordered):
        while ordered[first] <= time - window + _SLACK:
            first += 1
        peak = max(peak, last - first + 1)
    return peak
