"""The task handle: one Deep Search task, its latest state, and what you can do with it."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Generic, TypeVar, overload

from . import _arguments as check
from ._checkpoint import Checkpoint
from ._errors import APIError, TaskFailedError, WaitTimeoutError
from ._models import CompanyResult, Criterion, DataSource, TaskState, TaskStatus
from ._pagination import walk
from ._polling import DEFAULT_MAX_OUTAGE, PollFailure, is_transient

if TYPE_CHECKING:
    from ._endpoints import Endpoints
    from ._polling import Poller, Subscription

__all__ = ["DEFAULT_MAX_OUTAGE", "DEFAULT_POLL_INTERVAL", "DiscoveryTask", "ProgressCallback"]

#: Seconds between status reads: tasks take minutes, and the vendor's own tools poll
#: every 5-10 s.
DEFAULT_POLL_INTERVAL = 5.0

_T = TypeVar("_T")

#: ``on_progress`` callbacks: called with the task, may be sync or async.
ProgressCallback = Callable[["DiscoveryTask"], "Awaitable[None] | None"]


class _Latest(Generic[_T]):
    """A read-only attribute mirrored from the handle's latest :class:`TaskState`."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, task: None, owner: type) -> _Latest[_T]: ...
    @overload
    def __get__(self, task: DiscoveryTask, owner: type) -> _T: ...
    def __get__(self, task: DiscoveryTask | None, owner: type) -> _Latest[_T] | _T:
        if task is None:
            return self
        value: _T = getattr(task.state, self._name)
        return value


class DiscoveryTask:
    """A handle on one Deep Search task running on the service.

    Attributes mirror the latest state the SDK has seen (:attr:`state`): ``id``,
    ``status``, ``is_exhausted``, the four counters, ``criteria`` and the rest of
    :class:`TaskState`. Every call that talks to the service about this task
    (:meth:`refresh`, :meth:`wait`, :meth:`pages`, :meth:`resume`) updates them.
    Get handles from ``client.discovery_tasks``; don't build them yourself.
    """

    id: _Latest[str] = _Latest()
    created_at: _Latest[datetime] = _Latest()
    status: _Latest[TaskStatus | str] = _Latest()
    query: _Latest[str] = _Latest()
    desired_num_results: _Latest[int] = _Latest()
    is_exhausted: _Latest[bool] = _Latest()
    num_results_discovered: _Latest[int] = _Latest()
    num_results_enriched: _Latest[int] = _Latest()
    num_results_evaluated: _Latest[int] = _Latest()
    num_results: _Latest[int] = _Latest()
    table_id: _Latest[str | None] = _Latest()
    auto_data_sources: _Latest[bool] = _Latest()
    data_sources: _Latest[tuple[DataSource | str, ...] | None] = _Latest()
    criteria: _Latest[tuple[Criterion, ...] | None] = _Latest()
    exclude_domains: _Latest[tuple[str, ...] | None] = _Latest()
    finished: _Latest[bool] = _Latest()
    evaluation_caught_up: _Latest[bool] = _Latest()

    __slots__ = (
        "__weakref__",
        "_endpoints",
        "_poll_failure",
        "_poller",
        "_state",
        "last_request_id",
    )

    def __init__(
        self,
        state: TaskState,
        *,
        endpoints: Endpoints,
        poller: Poller,
        request_id: str | None = None,
    ) -> None:
        self._state = state
        self._endpoints = endpoints
        self._poller = poller
        self._poll_failure: PollFailure | None = None
        #: The ``x-request-id`` of the answer that brought the latest state (None if
        #: the service sent none): quote it to Extruct's support.
        self.last_request_id = request_id

    def __repr__(self) -> str:
        s = self._state
        return (
            f"<DiscoveryTask {s.id} {s.status}: {s.num_results_discovered} discovered,"
            f" {s.num_results_enriched} enriched, {s.num_results_evaluated} evaluated,"
            f" {s.num_results} results{', exhausted' if s.is_exhausted else ''}>"
        )

    @property
    def state(self) -> TaskState:
        """The latest state seen, as an immutable snapshot."""
        return self._state

    @property
    def poll_failure(self) -> PollFailure | None:
        """Why status reads of this task are failing right now, or None if they work.

        Set while the service answers polls with transient errors (5xx, 429, lost
        connections, timeouts): waiting goes on, backing off, until a read works
        again (then it is None) or ``max_outage`` passes. ``wait(on_progress=...)`` and
        :meth:`watch` report each change of it, so a caller can show "service
        unavailable, retrying" instead of seeming to hang.
        """
        return self._poll_failure

    def _update(self, state: TaskState, request_id: str | None = None) -> None:
        self._state = state
        self.last_request_id = request_id
        self._poll_failure = None

    async def refresh(self) -> DiscoveryTask:
        """Fetch the task's current state from the service; return this handle."""
        reply = await self._endpoints.get(self.id)
        self._update(reply.value, reply.request_id)
        return self

    async def wait(
        self,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        max_outage: float | None = DEFAULT_MAX_OUTAGE,
    ) -> DiscoveryTask:
        """Poll until the task is finished; return this handle, updated.

        Finished means ``status`` is ``done`` or ``failed``, nothing else: a task that
        ``is_exhausted`` (even with evaluation caught up) can still add rows, so waiting
        goes on (see :attr:`TaskState.finished`).

        A status read that fails with a transient error (5xx, 429, a lost connection,
        a timeout; after the request's own retries) does not end the wait: polling
        goes on, backing off, and :attr:`poll_failure` says what is failing. Only a
        fatal error ends it at once: 401/403, 404, another 4xx, an answer that cannot
        be used, or the client being closed.

        Args:
            poll_interval: seconds between status reads.
            max_poll_interval: if set, the interval grows 1.5x per read up to this.
            timeout: seconds to wait in all; None waits as long as it takes.
            on_progress: called with this handle (sync or async) first with the
                current state, then each time the status or a counter changes, each
                time a status read fails, and once when reads work again.
            max_outage: seconds status reads may keep failing (transiently) before
                the wait gives up with the last error; None never gives up, 0 gives
                up at the first failed read.

        Raises:
            TaskFailedError: the task ended with status ``failed``.
            WaitTimeoutError: ``timeout`` passed first; the task keeps running.
            AuthenticationError: the API key was refused (401, 403).
            NotFoundError: the task is gone (404).
            APIError: another fatal failure, or transient ones for ``max_outage``.
            ClientStateError: the client was closed while waiting.
        """
        # watch()'s loop, written out: thousands of tasks can wait at once, and the
        # async generator with its aclosing() and asend() objects costs ~1 KB a waiter.
        schedule = _Schedule.check(poll_interval, max_poll_interval, timeout, max_outage)
        seen: tuple[object, ...] | None = None
        async with schedule.follow(self) as follow:
            while True:
                state = self._state
                if on_progress is not None and (state.progress, self._poll_failure) != seen:
                    seen = (state.progress, self._poll_failure)
                    outcome = on_progress(self)
                    if inspect.isawaitable(outcome):
                        await outcome
                if state.finished:
                    break
                await follow.next_update()
        if self.status == TaskStatus.FAILED:
            raise TaskFailedError(self)
        return self

    async def watch(
        self,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        timeout: float | None = None,
        max_outage: float | None = DEFAULT_MAX_OUTAGE,
    ) -> AsyncGenerator[TaskState, None]:
        """Yield the task's state now, then each time its status or a counter changes.

        Ends after yielding a finished state (see :meth:`wait`); a ``failed`` task
        is yielded, not raised. For progress bars, server-sent events and logs.
        While status reads fail, the latest state is yielded again after each failed
        read, and once more when reads work again: check :attr:`poll_failure` then
        (e.g. to show "service unavailable, retrying"). Polling is shared: however
        many coroutines watch or wait, the client reads each task's status on one
        schedule, and only while somebody is waiting for the next state: a generator
        left suspended costs nothing, but close it (``contextlib.aclosing``) to let
        go of it at once. Arguments and failures as for :meth:`wait`.

        Raises:
            WaitTimeoutError: ``timeout`` passed before the task finished.
            APIError: as for :meth:`wait`.
        """
        schedule = _Schedule.check(poll_interval, max_poll_interval, timeout, max_outage)
        seen: tuple[object, ...] | None = None
        async with schedule.follow(self) as follow:
            while True:
                state = self._state
                if (state.progress, self._poll_failure) != seen:
                    seen = (state.progress, self._poll_failure)
                    yield state
                if state.finished:
                    return
                await follow.next_update()

    async def stream(
        self,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        page_size: int = 50,
        consumer: str | None = None,
        max_outage: float | None = DEFAULT_MAX_OUTAGE,
    ) -> AsyncGenerator[CompanyResult, None]:
        """Yield every result row exactly once, as soon as it is readable.

        Rows are ordered by relevance, so a new row can land ahead of rows already
        read and plain paging would miss or repeat rows. Instead, each time the task
        makes progress every page is read again and only rows not yet seen are
        yielded; after the task finishes, one last full read (started after the
        finish) catches every straggler. Memory grows with the number of rows (their
        ids), nothing else.

        Close the generator when you leave the loop early, so that it lets go of the
        task at once::

            async with contextlib.aclosing(task.stream()) as rows:
                async for row in rows:
                    ...

        A generator left suspended (kept in a variable after ``break``) sends no
        request while nobody iterates it; closing it, cancelling, or letting it be
        garbage-collected ends its part in polling.

        A transient failure, of a status read or of a results page, does not end the
        stream: the pages are read again after the next status read that works, and
        no row is yielded twice. What ends it is as for :meth:`wait`.

        Args:
            poll_interval: seconds between status reads while the task runs.
            max_poll_interval: if set, the interval grows 1.5x per read up to this.
            page_size: rows per results request.
            consumer: a name under which the client's store records the rows taken,
                so that a restarted stream of this task and name yields only the rows
                not taken yet: at least once, at most the row in hand again (a row is
                taken when the next one is asked for; see ``_checkpoint``).
            max_outage: seconds reads may keep failing before the stream gives up
                with the last error (see :meth:`wait`).

        Raises:
            APIError: a fatal failure, or transient ones for ``max_outage``.
        """
        schedule = _Schedule.check(poll_interval, max_poll_interval, None, max_outage)
        size = check.integer("page_size", page_size, low=1)
        loop = asyncio.get_running_loop()
        checkpoint = await Checkpoint.open(self, consumer)
        seen: set[str] = set() if checkpoint is None else checkpoint.taken
        scanned: tuple[object, ...] | None = None
        failing_since: float | None = None  # when reading the pages began to fail
        async with schedule.follow(self) as follow:
            while True:
                state = self._state
                # A failed read leaves ``scanned`` behind, so the pages are read again; but
                # only once a status read works again.
                read = state.finished or state.progress != scanned
                if read and not (failing_since is not None and self._poll_failure is not None):
                    try:
                        async with contextlib.aclosing(self.pages(limit=size)) as pages:
                            async for page in pages:
                                for row in page:
                                    if row.id not in seen:
                                        seen.add(row.id)
                                        yield row
                                        if checkpoint is not None:  # asked for the next: taken
                                            await checkpoint.record(row.id)
                    except APIError as exc:
                        now = loop.time()
                        failing_since = now if failing_since is None else failing_since
                        bound = schedule.max_outage
                        if not is_transient(exc) or (
                            bound is not None and now - failing_since >= bound
                        ):
                            raise
                        await follow.next_update()
                        continue
                    failing_since = None
                    scanned = state.progress
                    if state.finished:
                        return  # this read began after the finish: nothing can be missing
                    if self._state.finished:
                        continue  # it finished during the read: read once more
                await follow.next_update()

    async def pages(
        self, *, limit: int = 50, offset: int = 0
    ) -> AsyncGenerator[list[CompanyResult], None]:
        """Yield the task's result rows page by page, best first.

        Walks ``offset``/``limit`` pages until one comes back shorter than
        ``limit``. Each page request is retried on its own; leaving the loop
        early sends nothing more. On a running task, rows can land ahead of
        pages already read: use :meth:`stream` to get each row exactly once.

        Args:
            limit: rows per request.
            offset: rows to skip first.
        """
        size = check.integer("limit", limit, low=1)
        start = check.integer("offset", offset, low=0)

        async def fetch(offset: int, limit: int) -> list[CompanyResult]:
            reply = await self._endpoints.results_page(self.id, offset=offset, limit=limit)
            self._update(reply.value.state, reply.request_id)
            return reply.value.rows

        async with contextlib.aclosing(walk(fetch, limit=size, offset=start)) as walker:
            async for _, rows in walker:
                if rows:
                    yield list(rows)

    async def results(self, *, page_size: int = 50) -> AsyncGenerator[CompanyResult, None]:
        """Yield the task's result rows one at a time, best first (see :meth:`pages`)."""
        async with contextlib.aclosing(self.pages(limit=page_size)) as pages:
            async for page in pages:
                for row in page:
                    yield row

    async def resume(self, desired_new_results: int = 25) -> DiscoveryTask:
        """Ask the service for more results; return this handle, back in progress.

        The task's target rises by ``desired_new_results`` (0..250), capped at 250
        results per task. Never applied twice, even if the request is retried.

        Raises:
            TaskExhaustedError: the task ``is_exhausted``: no candidates are left.
        """
        reply = await self._endpoints.resume(self._state, desired_new_results)
        self._update(reply.value, reply.request_id)
        return self


class _Schedule:
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
    ) -> _Schedule:
        interval = check.number("poll_interval", poll_interval)
        ceiling = interval
        if max_poll_interval is not None:
            ceiling = max(interval, check.number("max_poll_interval", max_poll_interval))
        limit = None if timeout is None else check.number("timeout", timeout, positive=False)
        outage = (None if max_outage is None
                  else check.number("max_outage", max_outage, positive=False))
        return cls(interval, ceiling, limit, outage)

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - asyncio.get_running_loop().time()

    def follow(self, task: DiscoveryTask) -> _Follow:
        """Follow ``task`` on the shared schedule: ``async with schedule.follow(task)``."""
        return _Follow(self, task)


class _Follow:
    """One waiter on one task: subscribes on the first wait, unsubscribes on exit."""

    __slots__ = ("_schedule", "_subscription", "_task")

    def __init__(self, schedule: _Schedule, task: DiscoveryTask) -> None:
        self._schedule = schedule
        self._task = task
        self._subscription: Subscription | None = None

    async def __aenter__(self) -> _Follow:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._subscription is not None:
            await self._subscription.aclose()

    def next_update(self) -> Awaitable[None]:
        """Wait for the task's next refresh or failed read; raise when the wait must end.

        Returns the subscription's own awaitable when there is no deadline: no
        coroutine frame of its own for each of thousands of waiters.

        Raises:
            WaitTimeoutError: the deadline passed.
            ExtructError: the failure that ends the wait (see ``_polling``).
        """
        schedule, task = self._schedule, self._task
        if self._subscription is None:
            self._subscription = task._poller.subscribe(
                task, interval=schedule.interval, max_interval=schedule.ceiling,
                max_outage=schedule.max_outage,
            )
        remaining = schedule.remaining()
        if remaining is None:
            return self._subscription.updated()
        if remaining <= 0:
            raise WaitTimeoutError([task], schedule.timeout or 0.0)
        return self._until(self._subscription, remaining)

    async def _until(self, subscription: Subscription, remaining: float) -> None:
        try:
            await asyncio.wait_for(subscription.updated(), remaining)
        except asyncio.TimeoutError:
            raise WaitTimeoutError([self._task], self._schedule.timeout or 0.0) from None
