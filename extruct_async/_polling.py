"""One polling schedule per client, shared by everything that waits on tasks.

However many coroutines wait, stream or watch, and on however many tasks, a single
background loop reads task status, so the number of status requests follows the
poll interval and the rate limit, not the number of waiters. A task is read only
while somebody is actually waiting for news of it: a ``stream()`` or ``watch()``
left open but not iterated costs nothing.

**Choosing reads by cost.** Each cycle refreshes the tasks that are due. A list page
(``GET /v1/discovery_tasks``, newest first, 100 tasks) refreshes every followed task
on it for one request; a direct read (``GET /v1/discovery_tasks/{id}``) one task. The
poller remembers where each followed task sits in the list, as a lower bound on its
offset: new tasks are only ever added at the top, so a task only moves down, and all
tasks move down together. One shared *shift* (tasks created since) corrects every
remembered position at once; each page that shows a task whose position was known
measures the shift exactly.

- **Placed tasks** (seen in the list before): the next page starts at the highest
  due task's position and is read only if it is expected to hold at least two due
  tasks; a task alone in its window is read directly instead. Pages of unfollowed
  tasks in between are skipped, not walked.
- **Unplaced tasks** (never seen in the list): the newest of them sits highest. The
  poller looks for it from its lower bound, skipping ahead further after each page
  that is entirely newer than it (``created_at``: the list is newest first), and
  halving back once it has overshot. A page's ``created_at`` range also tells when a
  task is not in the list at all: it is then read directly from then on.
- **Misses.** A page that refreshes fewer than two followed tasks (due or not: every
  followed task on a page read is refreshed) is a miss; after :data:`MAX_MISSES`
  misses in a cycle, the rest is read directly. So a cycle that refreshes ``r``
  followed tasks (every due one, and any other it meets on its pages) never sends more
  than ``r + MAX_MISSES`` requests, and when the due tasks sit together in ``s``
  consecutive list positions it reads ``ceil(s / 100)`` pages, one more when new tasks
  were created above them since the last cycle.
- **Fallback.** Whatever the pages did not refresh is read directly, stalest first,
  a few at a time, so the poller never floods the gate ahead of the client's other
  requests. Positions only decide the cost, never the outcome: every due task is
  refreshed every cycle, by a page or directly.
- A list entry older than what is already known (lower target or counters, an
  earlier status) is ignored and the task read directly: a stale list must never
  make a resumed task look finished.

**Failures.** Each read already went through the pipeline's retries. A *fatal*
failure, which asking again cannot fix, ends the waits at once: an
:class:`AuthenticationError` (401, 403) every wait of the client; any other (404,
other 4xx, an answer that cannot be used) the waits of that task; a non-API error
(the client was closed, a bug) every wait. A *transient* one (408, 429, 5xx, a lost
connection, a timeout, a garbled answer) does not: the poller stops the cycle, marks
the due tasks as failing (:class:`PollFailure`, on ``task.poll_failure``; waiters are
woken to show it) and backs off: one probe read per step, the steps doubling from the
poll interval up to :data:`MAX_OUTAGE_WAIT`, never shorter than a ``Retry-After``.
The first read that works ends the outage and the cycle goes on as usual. A waiter
gives up only when its task's reads have been failing for its ``max_outage``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from ._errors import (
    APIError,
    APIStatusError,
    AuthenticationError,
    ClientStateError,
    ExtructError,
    ServerError,
)
from ._models import TaskState, TaskStatus
from ._pagination import walk
from ._retry import verdict

if TYPE_CHECKING:
    from ._endpoints import Endpoints
    from ._task import DiscoveryTask

__all__ = [
    "DEFAULT_MAX_OUTAGE",
    "MAX_MISSES",
    "MAX_OUTAGE_WAIT",
    "SCAN_PAGE_SIZE",
    "Listening",
    "PollFailure",
    "Poller",
    "Subscription",
    "is_transient",
]

#: Tasks per list page.
SCAN_PAGE_SIZE = 100
#: Pages per cycle that may refresh fewer than two followed tasks before the rest is
#: read directly: the most a cycle can cost beyond one request per task it refreshes.
MAX_MISSES = 2
#: The longest wait between two probes while status reads keep failing.
MAX_OUTAGE_WAIT = 60.0
#: Seconds status reads of a task may keep failing (transiently) before its waiters
#: give up: long enough to ride out an outage of many minutes.
DEFAULT_MAX_OUTAGE = 1800.0
#: Tasks due this soon (a fraction of their interval) are refreshed with the due ones.
_BATCH_FRACTION = 0.25
_GROWTH = 1.5

Notify = Callable[["DiscoveryTask", "BaseException | None"], None]


def is_transient(error: BaseException) -> bool:
    """Whether a failed status read may work if asked again later.

    The pipeline's own retry rule (``_retry.verdict``), plus every 5xx: a gateway in
    front of the service answers 520-524 and the like during an outage, and reading a
    status changes nothing, so waiting it out is always safe.
    """
    return isinstance(error, APIError) and (verdict(error).retry or isinstance(error, ServerError))


@attrs.frozen
class PollFailure:
    """Status reads of a task are failing with a transient error; polling goes on.

    Found on :attr:`DiscoveryTask.poll_failure` while it lasts (None once a read
    works again). ``wait(on_progress=...)`` and ``watch()`` report each failed read,
    so an application can show "service unavailable, retrying" instead of hanging.

    Attributes:
        error: the latest failure, after that read's own retries.
        failures: failed polls in a row (a poll skipped because the service was
            failing counts too).
        failing_for: seconds from the first of them to the latest.
        retry_in: seconds from the latest to the next attempt.
    """

    error: APIError
    failures: int
    failing_for: float
    retry_in: float

    def __str__(self) -> str:
        return (
            f"status reads failing for {self.failing_for:.0f}s ({self.failures} in a row),"
            f" retrying in {self.retry_in:.0f}s: {self.error}"
        )


class Listening:
    """Whether a group of subscriptions is waiting for news (``as_completed``'s)."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        #: True while the group's consumer waits for the next update.
        self.now: bool = False


class Subscription:
    """Interest in one task's updates; close it when done."""

    # Thousands of these can wait at once: slots and one lazily made future keep each small.
    __slots__ = ("_error", "_group", "_news", "_notify", "_poller", "_waiter", "interval",
                 "max_interval", "max_outage", "task")

    def __init__(self, poller: Poller, task: DiscoveryTask, *, interval: float,
                 max_interval: float, max_outage: float | None, notify: Notify | None,
                 group: Listening | None) -> None:
        #: The task followed.
        self.task: DiscoveryTask = task
        #: Seconds until this task is due for a read again (grows up to ``max_interval``).
        self.interval: float = interval
        #: The most ``interval`` can grow to.
        self.max_interval: float = max(interval, max_interval)
        #: Seconds the task's reads may keep failing before its wait ends.
        self.max_outage: float | None = max_outage
        self._poller = poller
        self._notify = notify
        self._group = group
        self._news = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    @property
    def listening(self) -> bool:
        """Whether somebody is waiting for this task's next update right now."""
        if self._error is not None:
            return False  # its wait is over
        if self._group is not None:
            return self._group.now
        return self._waiter is not None

    def deliver(self, error: BaseException | None, *, refreshed: bool = True) -> None:
        """Record a refresh of the task, a failed poll, or the error that ends the wait."""
        if refreshed:
            self.interval = min(self.interval * _GROWTH, self.max_interval)
        self._error = error
        self._news = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if self._notify is not None:
            self._notify(self.task, error)

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
    """A task somebody follows, and where it sits in the list."""

    __slots__ = ("due", "exact", "failing_since", "failures", "pos", "refreshed", "state",
                 "subscriptions")

    def __init__(self, state: TaskState, due: float, pos: int) -> None:
        self.state = state
        self.subscriptions: list[Subscription] = []
        self.due = due
        self.refreshed = float("-inf")
        #: A lower bound of (offset in the list - the poller's shift); None when the
        #: list's dates showed it is not in the list (then it is read directly, until a
        #: page shows it after all).
        self.pos: int | None = pos
        #: Whether ``pos`` was the task's exact place when last seen.
        self.exact = False
        self.failing_since: float | None = None
        self.failures = 0

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
        #: Tasks created above the followed ones since the poller began (a lower bound).
        self._shift = 0
        #: How far the search for unplaced tasks skips ahead (grows while it undershoots).
        self._skip = 0
        #: False once the service refused a list read for good: read tasks one by one.
        self._list_usable = True
        self._outage: _Outage | None = None
        #: Counts the times every wait was ended at once (a refused key, a closed client).
        self._ended = 0
        #: Requests sent so far, by kind: "list" pages and direct "get" reads.
        self.requests: dict[str, int] = {"list": 0, "get": 0}

    def subscribe(self, task: DiscoveryTask, *, interval: float, max_interval: float,
                  max_outage: float | None = DEFAULT_MAX_OUTAGE, notify: Notify | None = None,
                  group: Listening | None = None) -> Subscription:
        """Follow ``task`` for as long as the subscription is open.

        The task is refreshed every ``interval`` seconds while somebody waits on the
        subscription (or ``group.now`` is set), the interval growing 1.5x per refresh up
        to ``max_interval``. Its waiters give up once its reads have failed for
        ``max_outage`` seconds (None: never).
        """
        if self._closed:
            raise ClientStateError("the client is closed")
        loop = asyncio.get_running_loop()
        sub = Subscription(self, task, interval=interval, max_interval=max_interval,
                           max_outage=max_outage, notify=notify, group=group)
        tracked = self._tracked.get(task.id)
        if tracked is None:
            tracked = self._tracked[task.id] = _Tracked(
                task.state, loop.time() + interval, -self._shift
            )
        else:
            tracked.due = min(tracked.due, loop.time() + interval)
        tracked.subscriptions.append(sub)
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run(), name="extruct-async poller")
        self._wakeup.set()
        return sub

    def wake(self) -> None:
        """Somebody started waiting: look again at what is due."""
        self._wakeup.set()

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

    async def _run(self) -> None:
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
            error = await self._read(probe)
            if self._ended != ended:
                return
            if error is not None:
                self._failed(error, due)
                return
            self._outage = None
        careful = False
        if len(pending) >= 2 and self._list_usable:
            try:
                await self._scan(pending)
            except APIError as exc:
                if isinstance(exc, AuthenticationError):
                    self._fail_all(exc)
                    return
                if is_transient(exc):
                    careful = True  # the service may be down: one read first, not many
                else:
                    self._list_usable = False  # refused for good: read tasks one by one
        stalest_first = sorted(pending.values(), key=lambda t: t.refreshed)
        error = await self._read_directly(deque(stalest_first), careful=careful)
        if error is not None:
            self._failed(error, [t for t in stalest_first if t.refreshed < started])

    # -- list pages ----------------------------------------------------------------

    async def _scan(self, pending: dict[str, _Tracked]) -> None:
        """Refresh what list pages can (see the module docstring); ``pending`` shrinks."""
        plan = _Plan(self, pending)
        request_id: str | None = None

        async def fetch(offset: int, limit: int) -> list[TaskState]:
            nonlocal request_id
            self.requests["list"] += 1
            reply = await self._endpoints.list_page(offset=offset, limit=limit)
            request_id = reply.request_id
            return reply.value

        offset = plan.next_offset()
        while offset is not None:
            following: int | None = None
            pages = walk(fetch, limit=SCAN_PAGE_SIZE, offset=offset)
            async with contextlib.aclosing(pages):
                async for at, page in pages:
                    plan.take(at, page, request_id)
                    following = plan.next_offset()
                    if following != at + len(page):
                        break  # skip ahead, or done: leave the walk
            offset = following
        plan.remember()

    def _accept_listed(self, tracked: _Tracked, state: TaskState, request_id: str | None) -> bool:
        """Take a list entry, unless it is older than what is known (a lagging list)."""
        if _older(state, tracked.state):
            return False
        self._deliver(tracked, state, request_id)
        return True

    # -- direct reads --------------------------------------------------------------

    async def _read_directly(self, queue: deque[_Tracked], *, careful: bool) -> APIError | None:
        """Read each task in ``queue``; stop at the first transient failure and return it.

        With ``careful``, one read goes first, alone: the service may be down.
        """
        ended = self._ended
        failed: list[APIError] = []

        async def worker() -> None:
            while queue and not failed and self._ended == ended:
                error = await self._read(queue.popleft())
                if error is not None:
                    failed.append(error)

        if careful and queue:
            error = await self._read(queue.popleft())
            if error is not None:
                return error
        await asyncio.gather(*(worker() for _ in range(self._workers)))
        return failed[0] if failed else None

    async def _read(self, tracked: _Tracked) -> APIError | None:
        """Refresh one task directly; return a transient failure, deliver a fatal one."""
        task_id = tracked.state.id
        if self._tracked.get(task_id) is not tracked:
            return None  # nobody follows it any more
        self.requests["get"] += 1
        try:
            reply = await self._endpoints.get(task_id)
        except APIError as exc:
            if is_transient(exc):
                return exc
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

    # -- delivering ----------------------------------------------------------------

    def _deliver(self, tracked: _Tracked, state: TaskState, request_id: str | None) -> None:
        now = _now()
        tracked.state = state
        tracked.refreshed = now
        tracked.failing_since = None
        tracked.failures = 0
        for sub in tracked.subscriptions:
            sub.task._update(state, request_id)
            sub.deliver(None)
        tracked.due = now + tracked.interval

    def _failed(self, error: APIError, tasks: Iterable[_Tracked]) -> None:
        """Transient failure: mark ``tasks`` failing, back off; end waits past their bound."""
        now = _now()
        failed = [t for t in tasks if self._tracked.get(t.state.id) is t]
        steps = 0 if self._outage is None else self._outage.steps + 1
        base = min((t.interval for t in failed), default=MAX_OUTAGE_WAIT)
        wait = min(base * 2**steps, max(base, MAX_OUTAGE_WAIT))
        if isinstance(error, APIStatusError) and error.retry_after is not None:
            wait = max(wait, error.retry_after)
        self._outage = _Outage(steps, now + wait)
        for tracked in failed:
            if tracked.failing_since is None:
                tracked.failing_since = now
            tracked.failures += 1
            failure = PollFailure(error, tracked.failures, now - tracked.failing_since, wait)
            for sub in list(tracked.subscriptions):
                sub.task._poll_failure = failure
                bound = sub.max_outage
                ends = bound is not None and now - tracked.failing_since >= bound
                sub.deliver(error if ends else None, refreshed=False)

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


# -- where tasks sit in the list -------------------------------------------------------

_BELOW, _ABOVE, _GONE = "below", "above", "gone"


def _side(created_at: datetime, offset: int, page: Sequence[TaskState], limit: int) -> str:
    """Where a task missing from the page at ``offset`` must be, judged by the list's dates.

    ``below`` the page, ``above`` it, or ``gone``: not in the list at all.
    """
    if not page:
        return _GONE if offset == 0 else _ABOVE  # an empty list holds nothing
    newest, oldest = page[0].created_at, page[-1].created_at
    if created_at > newest:
        return _ABOVE
    if created_at < oldest:
        return _BELOW if len(page) == limit else _GONE
    # Equal dates may be listed in any order: such a task may be just past the page.
    if created_at == oldest and len(page) == limit:
        return _BELOW
    if created_at == newest:
        return _ABOVE
    return _GONE  # its place is on this page, and it is not there


class _Plan:
    """One cycle's list reads: which page next, and what each page showed."""

    def __init__(self, poller: Poller, pending: dict[str, _Tracked]) -> None:
        self.poller = poller
        self.pending = pending
        #: Due tasks read directly this cycle, whatever the pages show.
        self.direct: set[str] = set()
        # Placed tasks in list order: one shared shift never changes their order.
        self.placed = sorted((t for t in pending.values() if t.exact), key=_place)
        self.placed_pos = [_place(t) for t in self.placed]
        self.first_placed = 0
        # Unplaced tasks, newest (highest in the list) first.
        self.unplaced = deque(sorted(
            (t for t in pending.values() if not t.exact and t.pos is not None),
            key=lambda t: t.state.created_at, reverse=True,
        ))
        #: Pages read this cycle, as (offset, page).
        self.pages: list[tuple[int, Sequence[TaskState]]] = []
        self.end: int | None = None  # the list's length, once a short page showed it
        self.misses = 0
        self.target: _Tracked | None = None  # the unplaced task the last page looked for

    def _open(self, tracked: _Tracked) -> bool:
        """Still to refresh this cycle, and not given up to a direct read.

        A task found on a page leaves ``pending``; one whose place turned out wrong
        goes to ``direct``: so an open task is as placed (or not) as it was at the start.
        """
        task_id = tracked.state.id
        return self.pending.get(task_id) is tracked and task_id not in self.direct

    def next_offset(self) -> int | None:
        """The offset of the next page worth reading, or None: read the rest directly."""
        self.target = None
        if self.misses >= MAX_MISSES:
            return None
        shift = self.poller._shift
        # Placed tasks: a page at the highest one, if it would hold two due tasks.
        while self.first_placed < len(self.placed):
            first = self.placed[self.first_placed]
            if not self._open(first):
                self.first_placed += 1
                continue
            start = max(0, _place(first) + shift)
            if self.end is not None and start >= self.end:
                self._unplace(first)  # the list ends above where it was: look for it anew
                self.first_placed += 1
                continue
            stop = bisect.bisect_left(self.placed_pos, start + SCAN_PAGE_SIZE - shift)
            inside = self.placed[self.first_placed:stop]
            if sum(1 for t in inside if self._open(t)) >= 2:
                return start
            self.direct.add(first.state.id)  # alone in its window: one direct read is cheaper
            self.first_placed += 1
        # Unplaced tasks: look for the newest one.
        while self.unplaced and not self._open(self.unplaced[0]):
            self.unplaced.popleft()
        if len(_take(self.unplaced, 2, self._open)) < 2:
            return None
        target = self.unplaced[0]
        floor, ceiling, gone = self._bounds(target)
        if gone:  # a page already read holds its place, and not it
            self._unplace(target, listed=False)
            return self.next_offset()
        if ceiling is not None and ceiling <= floor:  # the list changed under us
            self._unplace(target)
            return self.next_offset()
        self.target = target
        if ceiling is None:
            return floor + self.poller._skip
        # Overshot: halve back (a page at the floor once the gap fits in one).
        return floor + (ceiling - floor) // (2 * SCAN_PAGE_SIZE) * SCAN_PAGE_SIZE

    def _bounds(self, tracked: _Tracked) -> tuple[int, int | None, bool]:
        """Where ``tracked`` can be, from its lower bound and this cycle's pages.

        Returns the lowest offset it can have, the offset it must be above (or None),
        and whether a page showed it is not in the list at all.
        """
        floor = max(0, _place(tracked) + self.poller._shift)
        ceiling = self.end
        created = tracked.state.created_at
        for offset, page in self.pages:
            side = _side(created, offset, page, SCAN_PAGE_SIZE)
            if side == _BELOW:
                floor = max(floor, offset + len(page))
            elif side == _ABOVE:
                ceiling = offset if ceiling is None else min(ceiling, offset)
            else:
                return floor, ceiling, True
        return floor, ceiling, False

    def _unplace(self, tracked: _Tracked, *, listed: bool = True) -> None:
        """Its remembered place was wrong: forget it, read it directly this cycle.

        With ``listed`` False, the list does not show it at all: no page is looked for
        it again, unless one read for others shows it.
        """
        tracked.exact = False
        tracked.pos = -self.poller._shift if listed else None
        self.direct.add(tracked.state.id)

    def take(self, offset: int, page: Sequence[TaskState], request_id: str | None) -> None:
        """Refresh every followed task on the page; learn positions, the shift, the misses."""
        poller = self.poller
        tracked_here: list[tuple[int, _Tracked, TaskState]] = []
        measured: int | None = None
        for i, state in enumerate(page):
            tracked = poller._tracked.get(state.id)
            if tracked is None:
                continue
            tracked_here.append((offset + i, tracked, state))
            if tracked.exact:
                shift = offset + i - _place(tracked)
                measured = shift if measured is None else max(measured, shift)
        if measured is not None:
            poller._shift = measured
        refreshed = 0  # followed tasks, due or not: a page of them is worth its request
        for at, tracked, state in tracked_here:
            tracked.pos = at - poller._shift
            tracked.exact = True
            was_due = self.pending.get(state.id) is tracked
            if poller._accept_listed(tracked, state, request_id):
                refreshed += 1
                if was_due:
                    del self.pending[state.id]
            elif was_due:
                self.direct.add(state.id)  # older than what is known: read it directly
        self.pages.append((offset, page))
        if len(page) < SCAN_PAGE_SIZE:
            self.end = offset + len(page)
        self._placed_not_found(offset, page, measured=measured is not None)
        self._searched(offset, page, followed=bool(tracked_here))
        if refreshed < 2:
            self.misses += 1

    def _placed_not_found(self, offset: int, page: Sequence[TaskState], *, measured: bool) -> None:
        """Placed due tasks expected on the page but absent: correct the shift, or unplace."""
        shift = self.poller._shift
        low = bisect.bisect_left(self.placed_pos, offset - shift)
        high = bisect.bisect_left(self.placed_pos, offset + len(page) - shift)
        for tracked in self.placed[low:high]:
            if not self._open(tracked):
                continue
            side = _side(tracked.state.created_at, offset, page, SCAN_PAGE_SIZE)
            if side == _BELOW and not measured:
                # More tasks were created above than known: every place moves down.
                self.poller._shift = max(self.poller._shift,
                                         offset + len(page) - _place(tracked))
            elif side == _BELOW:
                # The page measured the shift, yet this one is further down: its own
                # place was off. Keep the lower bound; read it directly this time.
                tracked.exact = False
                tracked.pos = offset + len(page) - shift
                self.direct.add(tracked.state.id)
            elif side == _ABOVE:
                self._unplace(tracked)
            else:
                self._unplace(tracked, listed=False)

    def _searched(self, offset: int, page: Sequence[TaskState], *, followed: bool) -> None:
        """After a page that looked for an unplaced task: skip further, or stop skipping.

        Only pages of nobody's tasks but others' are skipped: a page of followed tasks
        (due later) is worth reading on the way.
        """
        target, poller = self.target, self.poller
        if target is None:
            return
        if not self._open(target):
            poller._skip = 0  # found (or given up to a direct read)
            return
        below = _side(target.state.created_at, offset, page, SCAN_PAGE_SIZE) == _BELOW
        if below and not followed:
            poller._skip = poller._skip * 2 or SCAN_PAGE_SIZE
        else:
            poller._skip = 0  # overshot, not listed, or among followed tasks: go closer

    def remember(self) -> None:
        """Keep what the pages taught about the places of tasks they did not show."""
        if not self.pages:
            return
        shift = self.poller._shift
        for tracked in self.pending.values():
            if tracked.pos is not None:
                floor, _, _ = self._bounds(tracked)
                tracked.pos = max(tracked.pos, floor - shift)


def _place(tracked: _Tracked) -> int:
    """The lower bound of a task the list shows (placed, or looked for)."""
    assert tracked.pos is not None, "a task not in the list has no place"
    return tracked.pos


def _take(items: Iterable[_Tracked], n: int, keep: Callable[[_Tracked], bool]) -> list[_Tracked]:
    """The first ``n`` items that ``keep`` accepts."""
    taken: list[_Tracked] = []
    for item in items:
        if keep(item):
            taken.append(item)
            if len(taken) == n:
                break
    return taken


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
