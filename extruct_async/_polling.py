"""One polling schedule per client, shared by everything that waits on tasks.

However many coroutines wait, stream or watch, and on however many tasks, a single
background loop reads task status, so the number of status requests follows the
poll interval and the rate limit, not the number of waiters. A task is read only
while somebody is actually waiting for news of it: a ``stream()`` or ``watch()``
left open but not iterated costs nothing.

**Choosing reads by cost.** Each cycle refreshes the tasks that are due, by list pages
where a page holds several of them and directly where not (``_placement`` plans the
pages). Whatever the pages did not refresh is read directly, stalest first, a few at a
time, so the poller never floods the gate ahead of the client's other requests. A list
entry older than what is already known (``_models.older``) is ignored and the task
read directly: a stale list must never make a resumed task look finished.

**Publishing.** The poller keeps each followed task's latest state, the request id
that brought it and its :class:`PollFailure`, and publishes them through the
:class:`Subscription` it handed out: a waiter reads ``subscription.state`` /
``failure`` when woken and updates its own handle. The poller knows task ids and
states, never the handles.

**Failures.** Each read already went through the pipeline's retries. A *fatal*
failure, which asking again cannot fix, ends the waits at once: an
:class:`AuthenticationError` (401, 403) every wait of the client; any other (404,
other 4xx, an answer that cannot be used) the waits of that task; a non-API error
(the client was closed, a bug) every wait. A *transient* one (``_outage``) does not:
the poller stops the cycle, marks the due tasks as failing (:class:`PollFailure`;
waiters are woken to show it) and backs off, one probe read per step
(``_outage.probe_wait``). The first read that works ends the outage. A waiter gives
up only when its task's reads have been failing for its ``max_outage``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Callable, Iterable

import attrs

from ._endpoints import Endpoints
from ._errors import APIError, AuthenticationError, ClientStateError, ExtructError, StoreError
from ._models import TaskState, older
from ._outage import (
    DEFAULT_MAX_OUTAGE,
    MAX_OUTAGE_WAIT,
    Failing,
    PollFailure,
    is_transient,
    probe_wait,
)
from ._placement import Placement, Plan, Spot

__all__ = ["Listening", "Notify", "Poller", "Subscription", "arrival"]

#: A transient failure of a read, and when the read began.
_Failure = tuple["APIError | StoreError", float]

#: Tasks due this soon (a fraction of their interval) are refreshed with the due ones.
_BATCH_FRACTION = 0.25
_GROWTH = 1.5

#: Called with a subscription each time it has news (a refresh, a failed poll) and the
#: error that ends its wait, if any: ``as_completed``'s one queue for many tasks.
Notify = Callable[["Subscription", "BaseException | None"], None]


#: A number that grows with each state (or failure) that arrives in this process: of
#: two pieces of news, the one with the larger number came later. Handles stamp the
#: states they read themselves with it too, so a waiter that wakes late never puts an
#: earlier state of the poller's over a later one of the handle's.
arrival = itertools.count(1).__next__


class Listening:
    """Whether a group of subscriptions is waiting for news (``as_completed``'s)."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        #: True while the group's consumer waits for the next update.
        self.now: bool = False


class Subscription:
    """Interest in one task's updates, and the poller's news of it; close it when done.

    The news is the poller's latest: :attr:`state` (with :attr:`request_id`) and
    :attr:`failure`. Every subscription of a task sees the same news at the same time.
    """

    # Thousands of these can wait at once: slots and one lazily made future keep each small.
    __slots__ = ("_error", "_group", "_news", "_notify", "_poller", "_tracked", "_waiter",
                 "interval", "max_interval", "max_outage")

    def __init__(self, poller: Poller, tracked: _Tracked, *, interval: float,
                 max_interval: float, max_outage: float | None, notify: Notify | None,
                 group: Listening | None) -> None:
        #: Seconds until this task is due for a read again (grows up to ``max_interval``).
        self.interval: float = interval
        #: The most ``interval`` can grow to.
        self.max_interval: float = max(interval, max_interval)
        #: Seconds the task's reads may keep failing before its wait ends.
        self.max_outage: float | None = max_outage
        self._poller = poller
        self._tracked = tracked
        self._notify = notify
        self._group = group
        self._news = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    @property
    def task_id(self) -> str:
        """The id of the task followed."""
        return self._tracked.state.id

    @property
    def state(self) -> TaskState:
        """The task's latest state the poller knows (as subscribed, before any read)."""
        return self._tracked.state

    @property
    def request_id(self) -> str | None:
        """The ``x-request-id`` of the answer that brought :attr:`state`."""
        return self._tracked.request_id

    @property
    def stamp(self) -> int:
        """When :attr:`state` arrived (:func:`arrival`; 0: as subscribed)."""
        return self._tracked.stamp

    @property
    def failure(self) -> PollFailure | None:
        """Why the task's status reads are failing now, or None while they work."""
        return self._tracked.failure

    @property
    def failure_stamp(self) -> int:
        """When :attr:`failure` was last set (:func:`arrival`)."""
        return self._tracked.failure_stamp

    @property
    def listening(self) -> bool:
        """Whether somebody is waiting for this task's next update right now."""
        if self._error is not None:
            return False  # its wait is over
        if self._group is not None:
            return self._group.now
        return self._waiter is not None

    def deliver(self, error: BaseException | None, *, refreshed: bool = True) -> None:
        """Tell the subscriber there is news, or the error that ends the wait."""
        if refreshed:
            self.interval = min(self.interval * _GROWTH, self.max_interval)
        self._error = error
        self._news = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if self._notify is not None:
            self._notify(self, error)

    async def updated(self) -> None:
        """Wait for the next refresh (or failed poll); raise the error that ends the wait."""
        if not self._news:
            self._waiter = asyncio.get_running_loop().create_future()
            self._poller.wake()
            try:
                await self._waiter
            finally:
                self._waiter = None
        self._news = False
        error, self._error = self._error, None
        if error is not None:
            raise error

    async def aclose(self) -> None:
        """Stop following the task; the poller stops when nobody follows anything."""
        await self._poller.unsubscribe(self)


class _Tracked:
    """A task somebody follows: its latest news, when it is due, where it sits."""

    __slots__ = ("due", "failing", "failure", "failure_stamp", "refreshed", "request_id", "spot",
                 "stamp", "state", "subscriptions")

    def __init__(self, state: TaskState, due: float, spot: Spot) -> None:
        self.state: TaskState = state
        self.stamp: int = 0
        self.request_id: str | None = None
        self.failure_stamp: int = 0
        #: Set while its reads fail (with ``failing``, the run of failures).
        self.failure: PollFailure | None = None
        self.failing: Failing | None = None
        self.subscriptions: list[Subscription] = []
        self.due: float = due
        self.refreshed: float = float("-inf")
        self.spot: Spot = spot

    @property
    def interval(self) -> float:
        return min(sub.interval for sub in self.subscriptions)

    @property
    def listening(self) -> bool:
        return any(sub.listening for sub in self.subscriptions)


@attrs.define
class _Outage:
    """Status reads are failing: probe once per step."""

    steps: int
    retry_at: float


class Poller:
    """Refresh followed tasks on one schedule (see the module docstring).

    Args:
        endpoints: typed calls to the service.
        workers: direct status reads in flight at once.
    """

    def __init__(self, endpoints: Endpoints, *, workers: int) -> None:
        self._endpoints = endpoints
        self._workers = max(1, workers)
        self._tracked: dict[str, _Tracked] = {}
        self._wakeup = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._closed = False
        self._placement = Placement()
        #: False once the service refused a list read for good: read tasks one by one.
        self._list_usable = True
        self._outage: _Outage | None = None
        #: Counts the times every wait was ended at once (a refused key, a closed client).
        self._ended = 0
        #: Requests sent so far, by kind: "list" pages and direct "get" reads.
        self.requests: dict[str, int] = {"list": 0, "get": 0}

    @property
    def running(self) -> bool:
        """Whether the background loop is running (somebody follows a task)."""
        return self._runner is not None

    @property
    def following(self) -> int:
        """How many tasks are followed."""
        return len(self._tracked)

    def subscribe(self, task_id: str, state: TaskState, *, interval: float,
                  max_interval: float, max_outage: float | None = DEFAULT_MAX_OUTAGE,
                  notify: Notify | None = None, group: Listening | None = None) -> Subscription:
        """Follow the task ``task_id`` (last seen as ``state``) while the subscription is open.

        The task is refreshed every ``interval`` seconds while somebody waits on the
        subscription (or ``group.now`` is set), the interval growing 1.5x per refresh up
        to ``max_interval``. Its waiters give up once its reads have failed for
        ``max_outage`` seconds (None: never).

        Raises:
            ClientStateError: the client is closed.
        """
        if self._closed:
            raise ClientStateError("the client is closed")
        loop = asyncio.get_running_loop()
        tracked = self._tracked.get(task_id)
        if tracked is None:
            tracked = self._tracked[task_id] = _Tracked(
                state, loop.time() + interval, self._placement.new_spot()
            )
        else:
            tracked.due = min(tracked.due, loop.time() + interval)
        sub = Subscription(self, tracked, interval=interval, max_interval=max_interval,
                           max_outage=max_outage, notify=notify, group=group)
        tracked.subscriptions.append(sub)
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._loop(), name="extruct-async poller")
        self._wakeup.set()
        return sub

    def wake(self) -> None:
        """Somebody started waiting: look again at what is due."""
        self._wakeup.set()

    async def unsubscribe(self, sub: Subscription) -> None:
        """Stop following; when nothing is followed any more, stop the loop at once."""
        tracked = sub._tracked
        if sub in tracked.subscriptions:
            tracked.subscriptions.remove(sub)
            if not tracked.subscriptions and self._tracked.get(tracked.state.id) is tracked:
                del self._tracked[tracked.state.id]
        if not self._tracked:
            await self._stop()

    async def aclose(self) -> None:
        """Stop polling and fail every open subscription."""
        self._closed = True
        self._fail_all(ClientStateError("the client was closed while waiting"))
        self._tracked.clear()
        await self._stop()

    async def _stop(self) -> None:
        runner, self._runner = self._runner, None
        self._outage = None
        if runner is not None and runner is not asyncio.current_task():
            runner.cancel()
            # Wait for it to end, so no stray task outlives its last waiter.
            await asyncio.wait([runner])

    async def _loop(self) -> None:
        try:
            await self._cycle()
        except Exception as exc:  # a bug must not leave waiters hanging forever
            self._fail_all(exc)

    async def _cycle(self) -> None:
        loop = asyncio.get_running_loop()
        while self._tracked:
            now = loop.time()
            wake_at = self._outage.retry_at if self._outage is not None else now
            due = [] if wake_at > now else [
                t for t in self._tracked.values()
                if t.due <= now + _BATCH_FRACTION * t.interval and t.listening
            ]
            if not due:
                self._wakeup.clear()
                timeout: float | None = wake_at - now
                if wake_at <= now:  # nobody due: sleep until the next one is, if anyone listens
                    listened = [t.due for t in self._tracked.values() if t.listening]
                    timeout = min(listened) - now if listened else None
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout)
                continue
            await self._refresh(due)

    async def _refresh(self, due: list[_Tracked]) -> None:
        started = _now()
        ended = self._ended  # changes when every wait is ended: then stop at once
        pending = {t.state.id: t for t in due}
        if self._outage is not None:
            # One probe while the service fails; the rest only once it answers again.
            probe = min(due, key=lambda t: t.refreshed)
            del pending[probe.state.id]
            failure = await self._read(probe)
            if self._ended != ended:
                return
            if failure is not None:
                self._failed(*failure, due)
                return
            self._outage = None
        careful = False
        if len(pending) >= 2 and self._list_usable:
            try:
                await self._scan(pending)
            except StoreError:
                careful = True  # the store (the shared rate limit) failed: as an outage
            except APIError as exc:
                if isinstance(exc, AuthenticationError):
                    self._fail_all(exc)
                    return
                if is_transient(exc):
                    careful = True  # the service may be down: one read first, not many
                else:
                    self._list_usable = False  # refused for good: read tasks one by one
        stalest_first = sorted(pending.values(), key=lambda t: t.refreshed)
        failure = await self._read_directly(deque(stalest_first), careful=careful)
        if failure is not None:
            self._failed(*failure, [t for t in stalest_first if t.refreshed < started])

    # -- list pages ----------------------------------------------------------------

    async def _scan(self, pending: dict[str, _Tracked]) -> None:
        """Refresh what list pages can (see ``_placement``); ``pending`` shrinks."""
        request_id: str | None = None

        def accept(tracked: _Tracked, state: TaskState) -> bool:
            """Take a list entry, unless it is older than what is known (a lagging list)."""
            if older(state, tracked.state):
                return False
            self._deliver(tracked, state, request_id)
            return True

        async def fetch(offset: int, limit: int) -> list[TaskState]:
            nonlocal request_id
            self.requests["list"] += 1
            reply = await self._endpoints.list_page(offset=offset, limit=limit)
            request_id = reply.request_id
            return reply.value

        await Plan(self._placement, pending, self._tracked.get, accept).read(fetch)

    # -- direct reads --------------------------------------------------------------

    async def _read_directly(self, queue: deque[_Tracked], *, careful: bool) -> _Failure | None:
        """Read each task in ``queue``; stop at the first transient failure and return it.

        With ``careful``, one read goes first, alone: the service may be down.
        """
        ended = self._ended
        failed: list[_Failure] = []

        async def worker() -> None:
            while queue and not failed and self._ended == ended:
                failure = await self._read(queue.popleft())
                if failure is not None:
                    failed.append(failure)

        if careful and queue:
            failure = await self._read(queue.popleft())
            if failure is not None:
                return failure
        await asyncio.gather(*(worker() for _ in range(self._workers)))
        return failed[0] if failed else None

    async def _read(self, tracked: _Tracked) -> _Failure | None:
        """Refresh one task directly; return a transient failure, deliver a fatal one.

        A transient failure comes with the time the read began (its first attempt).
        """
        task_id = tracked.state.id
        if self._tracked.get(task_id) is not tracked:
            return None  # nobody follows it any more
        self.requests["get"] += 1
        started = _now()
        try:
            reply = await self._endpoints.get(task_id)
        except StoreError as exc:  # the shared rate limit's store: waited out as an outage
            return exc, started
        except APIError as exc:
            if is_transient(exc):
                return exc, started
            if isinstance(exc, AuthenticationError):
                self._fail_all(exc)  # the key, not the task: nothing will work
            else:
                self._end(tracked, exc)
            return None
        except ExtructError as exc:  # closed, or used from another loop: nothing will work
            self._fail_all(exc)
            return None
        if self._tracked.get(task_id) is tracked:
            self._deliver(tracked, reply.value, reply.request_id)
        return None

    # -- publishing ----------------------------------------------------------------

    def _deliver(self, tracked: _Tracked, state: TaskState, request_id: str | None) -> None:
        now = _now()
        tracked.state = state
        tracked.stamp = arrival()
        tracked.request_id = request_id
        tracked.refreshed = now
        tracked.failure = tracked.failing = None
        for sub in tracked.subscriptions:
            sub.deliver(None)
        tracked.due = now + tracked.interval

    def _failed(
        self, error: APIError | StoreError, since: float, tasks: Iterable[_Tracked]
    ) -> None:
        """Transient failure: mark ``tasks`` failing, back off; end waits past their bound.

        ``since`` is when the failed read began: an outage is timed from its first
        failed attempt, not from the end of that read's own retries.
        """
        now = _now()
        failed = [t for t in tasks if self._tracked.get(t.state.id) is t]
        steps = 0 if self._outage is None else self._outage.steps + 1
        wait = probe_wait(steps, min((t.interval for t in failed), default=MAX_OUTAGE_WAIT), error)
        for tracked in failed:
            if tracked.failing is None:
                tracked.failing = Failing(since)
        bound = self._next_bound()
        if now < bound < now + wait:
            wait = bound - now  # a wait's last chance: probe when its max_outage passes
        self._outage = _Outage(steps, now + wait)
        for tracked in failed:
            failing = tracked.failing
            assert failing is not None
            failing_for = failing.failed(now)
            tracked.failure = PollFailure(error, failing.count, failing_for, wait)
            tracked.failure_stamp = arrival()
            for sub in list(tracked.subscriptions):
                ends = failing.over(sub.max_outage, now)
                sub.deliver(error if ends else None, refreshed=False)

    def _next_bound(self) -> float:
        """When the next failing wait reaches its ``max_outage`` (inf: none will).

        The probe then is that wait's last: if it fails, the wait ends with its error.
        """
        bounds = [
            t.failing.since + sub.max_outage
            for t in self._tracked.values() if t.failing is not None
            for sub in t.subscriptions if sub.max_outage is not None
        ]
        return min(bounds, default=float("inf"))

    def _end(self, tracked: _Tracked, error: BaseException) -> None:
        """A fatal failure: every wait on this task ends with ``error``."""
        for sub in list(tracked.subscriptions):
            sub.deliver(error, refreshed=False)

    def _fail_all(self, error: BaseException) -> None:
        """End every wait of the client with ``error``; the cycle under way stops."""
        self._ended += 1
        for tracked in list(self._tracked.values()):
            self._end(tracked, error)


def _now() -> float:
    return asyncio.get_running_loop().time()
