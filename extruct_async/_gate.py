"""The gate every request passes: a concurrency cap and a rate limit, in arrival order.

Rate limit: the rule of ``_rate``, the same one every store runs. The default
``burst`` is 1: starts follow a schedule ``1 / rate_limit`` seconds apart, so the
service sees a steady stream rather than bursts that network jitter can push into its
own, differently aligned, window; the schedule is kept when a timer fires late. A
larger ``burst`` is a sliding window instead: at most ``burst`` starts in any
``burst / rate_limit`` seconds. Either way, no one-second window ever holds more than
``rate_limit`` starts.

First come, first served: waiters form one queue, and a freed slot is handed to the
head of the queue directly, so nobody can overtake, and a task that sends many
requests queues each one behind everybody else's.

Shared (:class:`SharedGate`, a client with a SQLite or Redis store): the concurrency
cap and the queue stay in the process; the rate limit and the 429 pause move to the
store, where every client of the same API key and base URL takes its starts from one
schedule (``Store.take_start``, asked for the queue's head only: one store operation
per start). The in-memory :class:`Gate` is untouched by that: no store call, no extra
await.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from ._rate import RateRule, RateState, ready_at, record
from ._store import Store

__all__ = ["SHARED_SECOND", "Gate", "SharedGate"]

log = logging.getLogger("extruct_async")

#: A shared limiter counts its second as this many seconds. Starts are decided on
#: the store's clock but counted by the service when they arrive, and the way from
#: each process to the service has its own delay: at most ``rate_limit`` starts in
#: any 1.07 s of the store's clock (so ``rate_limit / 1.07``, 93.5% of it, at full
#: load) keeps delays that differ by up to 70 ms from putting more than
#: ``rate_limit`` into one of the service's seconds.
SHARED_SECOND = 1.07


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
        #: Requests in flight at once, at most.
        self.max_concurrency = max_concurrency
        self._free = max_concurrency
        self._rule = None if rate_limit is None else RateRule(rate_limit, burst or 1)
        self._state = RateState()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        #: Requests admitted so far.
        self.admitted: int = 0

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    async def __aenter__(self) -> None:
        """Wait for a turn: ``async with gate:`` holds a slot while its body runs."""
        if not self.try_enter(self._now()):
            await self.enter()

    async def __aexit__(self, *exc_info: object) -> None:
        self.leave()

    def try_enter(self, now: float) -> bool:
        """Take a slot at once if nobody is queued and the rate allows; else False.

        The pipeline's fast path: no coroutine, no await, when the gate is open. A
        caller that gets False awaits :meth:`enter`; either way it calls :meth:`leave`.

        Args:
            now: the running loop's ``time()``.
        """
        if self._waiters or not self._free:
            return False
        rule = self._rule
        if rule is None:  # no rate limit: only a pause can hold it
            if self._state.paused_until > now:
                return False
        else:
            if ready_at(self._state, rule) > now:
                return False
            record(self._state, rule, now)
        self._free -= 1
        self.admitted += 1
        return True

    async def enter(self) -> None:
        """Wait in the queue for a slot (``try_enter`` first: this one always queues)."""
        await self._acquire()

    def leave(self) -> None:
        """Give the slot back, handing it to the queue's head."""
        self._free += 1
        if self._waiters:
            self._dispatch()

    async def _acquire(self) -> None:
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
            ready = ready_at(self._state, self._rule)
            if ready > now:
                self._wake_at(ready)
                return
            self._admit(now)
            self._waiters.popleft().set_result(None)

    def _admit(self, now: float) -> None:
        self._free -= 1
        if self._rule is not None:
            record(self._state, self._rule, now)
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
        state = self._state
        state.paused_until = max(state.paused_until, self._now() + seconds)

    async def aclose(self) -> None:
        """Finish what the gate still owes its store (nothing, in memory)."""


class SharedGate(Gate):
    """A gate whose rate limit and pause are shared through a store.

    The concurrency cap and the first-come-first-served queue stay per process (the
    base class, with no rate of its own); once a request has its slot, the head of
    the queue takes the earliest start the store allows and waits for it. A 429
    pauses this process at once and every client of the namespace through the store.

    Args:
        max_concurrency: requests in flight at once, in this client.
        rate_limit: requests per second for all clients of the namespace together;
            None for no limit (the shared pause still applies).
        burst: requests that may start together (default 1: evenly spaced).
        store: the shared store.
        namespace: the client's namespace in it.
    """

    def __init__(
        self,
        *,
        max_concurrency: int,
        rate_limit: float | None,
        burst: int | None = None,
        store: Store,
        namespace: str,
    ) -> None:
        super().__init__(max_concurrency=max_concurrency, rate_limit=None)
        self._store = store
        self._namespace = namespace
        self._rate = rate_limit
        self._shared_burst = burst or 1
        self._head: asyncio.Lock | None = None
        self._pausing: set[asyncio.Task[None]] = set()

    def try_enter(self, now: float) -> bool:
        """Always False: every start needs the store's word (:meth:`enter`)."""
        return False

    async def _acquire(self) -> None:
        if not super().try_enter(self._now()):  # a slot of this process, in arrival order
            await super()._acquire()
        try:
            if self._head is None:
                self._head = asyncio.Lock()
            async with self._head:  # the queue's head alone asks the store (FIFO lock)
                await self._start()
        except BaseException:
            self._free += 1
            self._dispatch()
            raise

    async def _start(self) -> None:
        while True:
            local = self._state.paused_until - self._now()  # a 429 here, not yet in the store
            if local > 0:
                await asyncio.sleep(local)
                continue
            # One store operation per start: the earliest start is taken, then waited
            # for (asking again and again would cost several per start under contention).
            wait = await self._store.take_start(
                self._namespace, rate=self._rate, burst=self._shared_burst, second=SHARED_SECOND
            )
            if wait > 0:
                await asyncio.sleep(wait)
            if self._rate is not None or not wait:
                return  # taken (or no pause): start; without a rate, ask after a pause

    def pause(self, seconds: float) -> None:
        """Pause this process at once, and every client of the namespace via the store."""
        super().pause(seconds)
        task = asyncio.get_running_loop().create_task(self._pause_all(seconds))
        self._pausing.add(task)
        task.add_done_callback(self._pausing.discard)

    async def _pause_all(self, seconds: float) -> None:
        try:
            await self._store.pause(self._namespace, seconds)
        except Exception as exc:  # this process stays paused; the others learn at their 429
            log.warning("could not share a %.1f s pause through the store: %s", seconds, exc)

    async def aclose(self) -> None:
        """Wait for the pauses still being written to the store."""
        if self._pausing:
            await asyncio.gather(*self._pausing, return_exceptions=True)
