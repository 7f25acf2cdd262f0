"""The gate every request passes: a concurrency cap and a rate limit, in arrival order.

Rate limit: a sliding window. At most ``burst`` requests start within any
``burst / rate_limit`` seconds; with the default ``burst = rate_limit`` (rounded
down, at least 1) that is "no more than ``rate_limit`` requests in any one-second
window", with up to ``burst`` of them allowed at once.

First come, first served: waiters queue on one FIFO lock; only the head of the
queue waits for a free connection and a rate slot, so nobody can overtake, and a
task that sends many requests queues each one behind everybody else's.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

__all__ = ["Gate"]


class Gate:
    """Admit requests under a concurrency cap and a requests-per-second limit.

    Args:
        max_concurrency: requests in flight at once.
        rate_limit: requests per second; None for no limit.
        burst: requests that may start together; defaults to ``rate_limit``.
        clock: seconds on the event loop's clock (injectable for tests).
    """

    def __init__(
        self,
        *,
        max_concurrency: int,
        rate_limit: float | None,
        burst: int | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._queue = asyncio.Lock()
        self._in_flight = asyncio.Semaphore(max_concurrency)
        if rate_limit is None:
            self._burst, self._window = 0, 0.0
        else:
            self._burst = burst or max(1, math.floor(rate_limit))
            self._window = self._burst / rate_limit
        self._starts: deque[float] = deque(maxlen=self._burst or None)
        self._paused_until = 0.0
        self._clock = clock
        #: Requests admitted so far.
        self.admitted = 0

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a turn, hold a connection slot while the body runs."""
        async with self._queue:
            await self._in_flight.acquire()
            try:
                await self._wait_for_rate()
            except BaseException:
                self._in_flight.release()
                raise
        try:
            yield
        finally:
            self._in_flight.release()

    async def _wait_for_rate(self) -> None:
        while True:
            now = self._now()
            ready = self._paused_until
            if self._burst and len(self._starts) == self._burst:
                ready = max(ready, self._starts[0] + self._window)
            if ready <= now:
                break
            await asyncio.sleep(ready - now)
        if self._burst:
            self._starts.append(now)
        self.admitted += 1

    def pause(self, seconds: float) -> None:
        """Admit nothing for ``seconds`` from now (the service said to slow down)."""
        self._paused_until = max(self._paused_until, self._now() + seconds)
