"""The gate every request passes: a concurrency cap and a rate limit, in arrival order.

Rate limit. The default ``burst`` is 1: starts follow a schedule ``1 / rate_limit``
seconds apart, so the service sees a steady stream rather than bursts that network
jitter can push into its own, differently aligned, window. The schedule is kept even
when a timer fires late (a late start does not push every later one back). A larger
``burst`` is a sliding window instead: at most ``burst`` starts in any
``burst / rate_limit`` seconds. Either way, a log of the last second's starts is the
hard bound: no one-second window ever holds more than ``rate_limit`` starts.

First come, first served: waiters form one queue, and a freed slot is handed to the
head of the queue directly, so nobody can overtake, and a task that sends many
requests queues each one behind everybody else's.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Gate"]


class Gate:
    """Admit requests under a concurrency cap and a requests-per-second limit.

    Args:
        max_concurrency: requests in flight at once.
        rate_limit: requests per second; None for no limit.
        burst: requests that may start together (default 1: evenly spaced).
    """

    def __init__(
        self,
        *,
        max_concurrency: int,
        rate_limit: float | None,
        burst: int | None = None,
    ) -> None:
        self._free = max_concurrency
        self._burst = 0 if rate_limit is None else burst or 1
        self._window = self._burst / rate_limit if rate_limit else 0.0
        self._starts: deque[float] = deque(maxlen=self._burst or None)
        # Spacing follows a schedule, not the last actual start: a timer that fires late
        # must not push every later start back (at 450/s that cost a quarter of the rate).
        # Catching up is bounded by the one-second log, which keeps the hard guarantee.
        self._next_start = float("-inf")
        self._second: deque[float] = deque(maxlen=max(1, int(rate_limit)) if rate_limit else None)
        self._paused_until = float("-inf")
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        #: Requests admitted so far.
        self.admitted = 0

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    async def __aenter__(self) -> None:
        """Wait for a turn: ``async with gate:`` holds a slot while its body runs."""
        await self._acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self._free += 1
        self._dispatch()

    async def _acquire(self) -> None:
        if not self._waiters and self._free:
            now = self._now()
            if self._ready_at(now) is None:
                self._admit(now)
                return
        turn = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        self._dispatch()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                # Admitted, then cancelled before running: give the slot back.
                self._free += 1
                self._dispatch()
            raise

    def _dispatch(self) -> None:
        """Hand free slots to the queue's head while the rate allows."""
        while self._waiters and self._free:
            if self._waiters[0].done():  # cancelled while waiting
                self._waiters.popleft()
                continue
            now = self._now()
            ready = self._ready_at(now)
            if ready is not None:
                self._wake_at(ready)
                return
            self._admit(now)
            self._waiters.popleft().set_result(None)

    def _ready_at(self, now: float) -> float | None:
        """When the next request may start, or None if it may start now."""
        ready = self._paused_until
        if self._burst == 1:
            ready = max(ready, self._next_start)
        elif self._burst and len(self._starts) == self._burst:
            ready = max(ready, self._starts[0] + self._window)
        if self._burst and len(self._second) == self._second.maxlen:
            ready = max(ready, self._second[0] + 1.0)
        return ready if ready > now else None

    def _admit(self, now: float) -> None:
        self._free -= 1
        if self._burst == 1:
            if now > self._next_start + self._window:  # idle: the schedule restarts
                self._next_start = now + self._window
            else:  # on time or a little late (a timer fires late): stay on schedule
                self._next_start += self._window
        elif self._burst:
            self._starts.append(now)
        if self._burst:
            self._second.append(now)
        self.admitted += 1

    def _wake_at(self, when: float) -> None:
        if self._timer is not None:
            if self._timer.when() <= when:
                return
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._dispatch()

    def pause(self, seconds: float) -> None:
        """Admit nothing for ``seconds`` from now (the service said to slow down)."""
        self._paused_until = max(self._paused_until, self._now() + seconds)
