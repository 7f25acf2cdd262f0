"""A waiter's side of polling: its checked options and deadline, and its subscription.

``wait``, ``watch``, ``stream``, ``as_completed`` and ``wait_all`` take the same
polling options; :meth:`Schedule.check` is the one place they are checked and their
deadline set. :class:`Follow` is one waiter on one task: it subscribes to the client's
poller at its first wait (a waiter that never waits costs nothing) and unsubscribes
on exit; the news it wakes to is read from its subscription (``Follow.news``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from . import _arguments as check
from ._models import TaskState
from ._outage import DEFAULT_MAX_OUTAGE
from ._polling import Listening, Notify, Poller, Subscription

__all__ = ["DEFAULT_POLL_INTERVAL", "Expired", "Follow", "Schedule"]

#: Seconds between status reads: tasks take minutes, and the vendor's own tools poll
#: every 5-10 s.
DEFAULT_POLL_INTERVAL = 5.0


class Expired(Exception):
    """A waiter's deadline passed (the handle raises ``WaitTimeoutError`` for it)."""


class Schedule:
    """A waiter's polling options, checked, and its deadline on the loop clock."""

    __slots__ = ("ceiling", "deadline", "interval", "max_outage", "timeout")

    def __init__(self, interval: float, ceiling: float, timeout: float | None,
                 max_outage: float | None) -> None:
        self.interval = interval
        self.ceiling = ceiling
        self.timeout = timeout
        self.max_outage = max_outage
        loop = asyncio.get_running_loop()
        self.deadline = None if timeout is None else loop.time() + timeout

    @classmethod
    def check(
        cls, poll_interval: object, max_poll_interval: object, timeout: object,
        max_outage: object = DEFAULT_MAX_OUTAGE,
    ) -> Schedule:
        """The options as given to a waiting call, checked (errors name the argument)."""
        interval = check.number("poll_interval", poll_interval)
        ceiling = interval
        if max_poll_interval is not None:
            ceiling = max(interval, check.number("max_poll_interval", max_poll_interval))
        limit = None if timeout is None else check.number("timeout", timeout, positive=False)
        outage = (None if max_outage is None
                  else check.number("max_outage", max_outage, positive=False))
        return cls(interval, ceiling, limit, outage)

    def remaining(self) -> float | None:
        """Seconds to the deadline (None: no deadline)."""
        if self.deadline is None:
            return None
        return self.deadline - asyncio.get_running_loop().time()

    def subscribe(self, poller: Poller, task_id: str, state: TaskState, *,
                  notify: Notify | None = None, group: Listening | None = None) -> Subscription:
        """Follow a task on the poller with these options."""
        return poller.subscribe(
            task_id, state, interval=self.interval, max_interval=self.ceiling,
            max_outage=self.max_outage, notify=notify, group=group,
        )


class Follow:
    """One waiter on one task: subscribes on the first wait, unsubscribes on exit.

    Args:
        schedule: the waiter's options.
        poller: the client's poller.
        task_id: the task followed.
    """

    __slots__ = ("_poller", "_schedule", "_task_id", "news")

    def __init__(self, schedule: Schedule, poller: Poller, task_id: str) -> None:
        self._schedule = schedule
        self._poller = poller
        self._task_id = task_id
        #: The subscription, once the first wait made it: the poller's news of the task.
        self.news: Subscription | None = None

    async def __aenter__(self) -> Follow:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.news is not None:
            await self.news.aclose()

    def next_update(self, state: TaskState) -> Awaitable[None]:
        """Wait for the task's next refresh or failed read; raise when the wait must end.

        ``state`` is the waiter's latest (it subscribes with it). Returns the
        subscription's own awaitable when there is no deadline: no coroutine frame of
        its own for each of thousands of waiters.

        Raises:
            Expired: the deadline passed.
            ExtructError: the failure that ends the wait (see ``_polling``).
        """
        schedule = self._schedule
        if self.news is None:
            self.news = schedule.subscribe(self._poller, self._task_id, state)
        remaining = schedule.remaining()
        if remaining is None:
            return self.news.updated()
        if remaining <= 0:
            raise Expired
        return _until(self.news, remaining)


async def _until(subscription: Subscription, remaining: float) -> None:
    try:
        await asyncio.wait_for(subscription.updated(), remaining)
    except asyncio.TimeoutError:
        raise Expired from None
