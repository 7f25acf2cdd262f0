"""One polling schedule per client, shared by everything that waits on tasks.

However many coroutines wait, stream or watch, and on however many tasks, a single
background loop reads task status, so the number of status requests follows the
poll interval and the rate limit, not the number of waiters.

Each cycle refreshes the tasks that are due, in the cheapest correct way:

- **List scan.** ``GET /v1/discovery_tasks`` returns many tasks' status per request,
  newest first; tasks being waited on are usually recent. While more than one due
  task is still unseen, the poller reads list pages from the top, taking every
  tracked task it finds (due or not). It stops at the end of the list, or at a
  page that holds none of the tracked tasks (the rest are older than that).
- **Fallback.** Whatever the scan did not find is read one by one with
  ``GET /v1/discovery_tasks/{id}``, stalest first, a few at a time, so the poller
  never floods the gate ahead of the client's other requests.
- A list entry older than what is already known (lower target or counters, an
  earlier status) is ignored and the task read directly: a stale list must never
  make a resumed task look finished.

A failed read is delivered to the waiters of the tasks it concerns.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ._errors import APIError, ClientStateError
from ._models import TaskState, TaskStatus
from ._pagination import walk

if TYPE_CHECKING:
    from ._endpoints import Endpoints
    from ._task import DiscoveryTask

__all__ = ["Poller", "Subscription"]

#: Tasks per list page in a scan.
SCAN_PAGE_SIZE = 100
#: Tasks due this soon (a fraction of their interval) are refreshed with the due ones.
_BATCH_FRACTION = 0.25
_GROWTH = 1.5

Notify = Callable[["DiscoveryTask", "BaseException | None"], None]


class Subscription:
    """Interest in one task's updates; close it when done."""

    # Thousands of these can wait at once: slots and one lazily made future keep each small.
    __slots__ = ("_error", "_news", "_notify", "_poller", "_waiter", "interval", "max_interval",
                 "task")

    def __init__(self, poller: Poller, task: DiscoveryTask, *, interval: float,
                 max_interval: float, notify: Notify | None) -> None:
        self.task = task
        self.interval = interval
        self.max_interval = max(interval, max_interval)
        self._poller = poller
        self._notify = notify
        self._news = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    def deliver(self, error: BaseException | None) -> None:
        """Record a refresh of the task (or a failure to refresh it)."""
        self.interval = min(self.interval * _GROWTH, self.max_interval)
        self._error = error
        self._news = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if self._notify is not None:
            self._notify(self.task, error)

    async def updated(self) -> None:
        """Wait for the next refresh; raise the error if it failed."""
        if not self._news:
            self._waiter = asyncio.get_running_loop().create_future()
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
    """A task somebody follows."""

    __slots__ = ("due", "refreshed", "state", "subscriptions")

    def __init__(self, state: TaskState, due: float) -> None:
        self.state = state
        self.subscriptions: list[Subscription] = []
        self.due = due
        self.refreshed = float("-inf")

    @property
    def interval(self) -> float:
        return min(sub.interval for sub in self.subscriptions)


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
        #: Requests sent so far, by kind: "list" pages and direct "get" reads.
        self.requests = {"list": 0, "get": 0}

    def subscribe(self, task: DiscoveryTask, *, interval: float, max_interval: float,
                  notify: Notify | None = None) -> Subscription:
        """Follow ``task`` for as long as the subscription is open.

        The task is refreshed every ``interval`` seconds, the interval growing 1.5x
        per refresh up to ``max_interval``.
        """
        if self._closed:
            raise ClientStateError("the client is closed")
        loop = asyncio.get_running_loop()
        sub = Subscription(self, task, interval=interval, max_interval=max_interval,
                           notify=notify)
        tracked = self._tracked.get(task.id)
        if tracked is None:
            tracked = self._tracked[task.id] = _Tracked(task.state, loop.time() + interval)
        else:
            tracked.due = min(tracked.due, loop.time() + interval)
        tracked.subscriptions.append(sub)
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run(), name="extruct-async poller")
        self._wakeup.set()
        return sub

    async def unsubscribe(self, sub: Subscription) -> None:
        """Stop following; when nothing is followed any more, stop the loop at once."""
        tracked = self._tracked.get(sub.task.id)
        if tracked is not None and sub in tracked.subscriptions:
            tracked.subscriptions.remove(sub)
            if not tracked.subscriptions:
                del self._tracked[sub.task.id]
        if not self._tracked:
            await self._stop()

    async def aclose(self) -> None:
        """Stop polling and fail every open subscription."""
        self._closed = True
        for tracked in list(self._tracked.values()):
            for sub in tracked.subscriptions:
                sub.deliver(ClientStateError("the client was closed while waiting"))
        self._tracked.clear()
        await self._stop()

    async def _stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None and runner is not asyncio.current_task():
            runner.cancel()
            # Wait for it to end, so no stray task outlives its last waiter.
            await asyncio.wait([runner])

    async def _run(self) -> None:
        try:
            await self._cycle()
        except Exception as exc:  # a bug must not leave waiters hanging forever
            for tracked in list(self._tracked.values()):
                for sub in tracked.subscriptions:
                    sub.deliver(exc)

    async def _cycle(self) -> None:
        loop = asyncio.get_running_loop()
        while self._tracked:
            now = loop.time()
            due = [t for t in self._tracked.values()
                   if t.due <= now + _BATCH_FRACTION * t.interval]
            if not due:
                self._wakeup.clear()
                next_due = min(t.due for t in self._tracked.values())
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), next_due - now)
                continue
            await self._refresh(due)

    async def _refresh(self, due: list[_Tracked]) -> None:
        unseen = {t.state.id for t in due}
        try:
            if len(unseen) > 1:
                await self._scan(unseen)
        except APIError:
            pass  # the direct reads below cover every task the scan missed
        stalest_first = sorted((t for t in due if t.state.id in unseen),
                               key=lambda t: t.refreshed)
        queue = deque(t.state.id for t in stalest_first)
        await asyncio.gather(*(self._read_directly(queue) for _ in range(self._workers)))

    async def _scan(self, unseen: set[str]) -> None:
        request_id: str | None = None

        async def fetch(offset: int, limit: int) -> list[TaskState]:
            nonlocal request_id
            reply = await self._endpoints.list_page(offset=offset, limit=limit)
            self.requests["list"] += 1
            request_id = reply.request_id
            return reply.value

        async with contextlib.aclosing(walk(fetch, limit=SCAN_PAGE_SIZE)) as pages:
            async for _, page in pages:
                found = [state for state in page if state.id in self._tracked]
                for state in found:
                    if self._accept_listed(state, request_id):
                        unseen.discard(state.id)
                if len(unseen) < 2 or not found:
                    return

    def _accept_listed(self, state: TaskState, request_id: str | None) -> bool:
        tracked = self._tracked.get(state.id)
        if tracked is None or _older(state, tracked.state):
            return False
        self._deliver(tracked, state, None, request_id)
        return True

    async def _read_directly(self, queue: deque[str]) -> None:
        while queue:
            task_id = queue.popleft()
            if task_id not in self._tracked:
                continue
            try:
                reply = await self._endpoints.get(task_id)
                state, request_id = reply.value, reply.request_id
                error: BaseException | None = None
            except APIError as exc:
                state, request_id, error = None, None, exc
            self.requests["get"] += 1
            tracked = self._tracked.get(task_id)
            if tracked is not None:
                self._deliver(tracked, state or tracked.state, error, request_id)

    def _deliver(self, tracked: _Tracked, state: TaskState, error: BaseException | None,
                 request_id: str | None = None) -> None:
        now = asyncio.get_running_loop().time()
        tracked.state = state
        tracked.refreshed = now
        for sub in list(tracked.subscriptions):
            if error is None:
                sub.task._update(state, request_id)
            sub.deliver(error)
        if tracked.subscriptions:
            tracked.due = now + tracked.interval


_STATUS_RANK: dict[str, int] = {TaskStatus.CREATED: 0, TaskStatus.DONE: 2, TaskStatus.FAILED: 2}


def _older(new: TaskState, known: TaskState) -> bool:
    """Whether ``new`` is an earlier snapshot than ``known`` (counters only grow)."""
    if new.desired_num_results != known.desired_num_results:
        return new.desired_num_results < known.desired_num_results
    return _STATUS_RANK.get(new.status, 1) < _STATUS_RANK.get(known.status, 1) or any(
        a < b for a, b in zip(_counters(new), _counters(known), strict=True)
    )


def _counters(state: TaskState) -> Iterable[int]:
    return (state.num_results_discovered, state.num_results_enriched,
            state.num_results_evaluated, state.num_results)
