"""The task handle: one Deep Search task, its latest state, and what you can do with it.

Also the errors that carry handles (:class:`TaskFailedError`, :class:`WaitTimeoutError`,
:class:`CreateManyError`): they live beside the handle so that nothing below this
module needs to know it (``_errors`` draws them in the whole tree).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from . import _arguments as check
from ._checkpoint import Checkpoint
from ._endpoints import Endpoints
from ._errors import APIError, ExtructError, StoreError
from ._models import CompanyResult, TaskState, TaskStatus
from ._outage import DEFAULT_MAX_OUTAGE, Failing, PollFailure, is_transient
from ._pagination import walk
from ._polling import Poller, Subscription, arrival
from ._store import Scope
from ._waiting import DEFAULT_POLL_INTERVAL, Expired, Follow, Schedule

__all__ = [
    "CreateManyError",
    "DiscoveryTask",
    "ProgressCallback",
    "TaskContext",
    "TaskFailedError",
    "WaitTimeoutError",
    "observe",
]

#: ``on_progress`` callbacks: called with the task, may be sync or async.
ProgressCallback = Callable[["DiscoveryTask"], "Awaitable[None] | None"]

if TYPE_CHECKING:
    # Type checkers see every attribute of the latest state on the handle, as declared
    # in ``TaskState`` (the handle mirrors them all at run time: see the end of this
    # module), so a field is declared once, in the model.
    _StateAttributes = TaskState
else:
    _StateAttributes = object


@attrs.frozen
class TaskContext:
    """What a handle needs of its client: owned by the client, shared by its handles.

    Attributes:
        endpoints: the reads and resume, through the client's pipeline.
        poller: the client's one polling schedule.
        scope: the client's store, for stream checkpoints.
    """

    endpoints: Endpoints
    poller: Poller
    scope: Scope


class DiscoveryTask(_StateAttributes):
    """A handle on one Deep Search task running on the service.

    Every attribute of :class:`TaskState` (``id``, ``status``, ``is_exhausted``, the
    four counters, ``finished``, ``evaluation_caught_up``, ``criteria``, ...) reads
    the latest state the SDK has seen (:attr:`state`). Every call that talks to the
    service about this task (:meth:`refresh`, :meth:`wait`, :meth:`pages`,
    :meth:`resume`) updates it. Get handles from ``client.discovery_tasks``; don't
    build them yourself.
    """

    __slots__ = ("__weakref__", "_context", "_poll_failure", "_stamp", "_state", "last_request_id")

    def __init__(
        self, state: TaskState, *, context: TaskContext, request_id: str | None = None
    ) -> None:
        self._state = state
        self._stamp = arrival()  # when the state arrived (see ``_polling.arrival``)
        self._context = context
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

    def _update(self, state: TaskState, request_id: str | None) -> None:
        """A state this handle read itself (refresh, a results page, resume)."""
        self._state = state
        self._stamp = arrival()
        self.last_request_id = request_id
        self._poll_failure = None

    def _observe(self, news: Subscription) -> None:
        """Take the poller's news of the task: what arrived after this handle's state."""
        if news.stamp > self._stamp:
            self._state = news.state
            self._stamp = news.stamp
            self.last_request_id = news.request_id
        failure = news.failure
        self._poll_failure = (
            failure if failure is not None and news.failure_stamp > self._stamp else None
        )

    def _follow(self, schedule: Schedule) -> Follow:
        return Follow(schedule, self._context.poller, self._state.id)

    async def refresh(self) -> DiscoveryTask:
        """Fetch the task's current state from the service; return this handle."""
        reply = await self._context.endpoints.get(self._state.id)
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
        schedule = Schedule.check(poll_interval, max_poll_interval, timeout, max_outage)
        seen: tuple[object, ...] | None = None
        try:
            async with self._follow(schedule) as follow:
                try:
                    while True:
                        if follow.news is not None:
                            self._observe(follow.news)
                        state = self._state
                        if on_progress is not None and (
                            (state.progress, self._poll_failure) != seen
                        ):
                            seen = (state.progress, self._poll_failure)
                            outcome = on_progress(self)
                            if inspect.isawaitable(outcome):
                                await outcome
                        if state.finished:
                            break
                        await follow.next_update(state)
                finally:  # the news that ended the wait, too (the failure it reports)
                    if follow.news is not None:
                        self._observe(follow.news)
        except Expired:
            raise WaitTimeoutError([self], schedule.timeout or 0.0) from None
        if self._state.status == TaskStatus.FAILED:
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
        schedule = Schedule.check(poll_interval, max_poll_interval, timeout, max_outage)
        seen: tuple[object, ...] | None = None
        try:
            async with self._follow(schedule) as follow:
                try:
                    while True:
                        if follow.news is not None:
                            self._observe(follow.news)
                        state = self._state
                        if (state.progress, self._poll_failure) != seen:
                            seen = (state.progress, self._poll_failure)
                            yield state
                        if state.finished:
                            return
                        await follow.next_update(state)
                finally:
                    if follow.news is not None:
                        self._observe(follow.news)
        except Expired:
            raise WaitTimeoutError([self], schedule.timeout or 0.0) from None

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
        schedule = Schedule.check(poll_interval, max_poll_interval, None, max_outage)
        size = check.integer("page_size", page_size, low=1)
        loop = asyncio.get_running_loop()
        checkpoint = await Checkpoint.open(self._context.scope, self._state.id, consumer)
        seen: set[str] = set() if checkpoint is None else checkpoint.taken
        scanned: tuple[object, ...] | None = None
        failing: Failing | None = None  # reading the pages is failing, since when
        async with self._follow(schedule) as follow:
            try:
                while True:
                    if follow.news is not None:
                        self._observe(follow.news)
                    state = self._state
                    # A failed read leaves ``scanned`` behind, so the pages are read again; but
                    # only once a status read works again.
                    read = state.finished or state.progress != scanned
                    if read and not (failing is not None and self._poll_failure is not None):
                        asked = loop.time()  # when the page that may fail was asked for
                        try:
                            async with contextlib.aclosing(self.pages(page_size=size)) as pages:
                                async for page in pages:
                                    for row in page:
                                        if row.id not in seen:
                                            seen.add(row.id)
                                            yield row
                                            if checkpoint is not None:  # asked for the next: taken
                                                await checkpoint.record(row.id)
                                    asked = loop.time()
                        except (APIError, StoreError) as exc:
                            now = loop.time()
                            failing = failing or Failing(asked)
                            failing.failed(now)
                            if not is_transient(exc) or failing.over(schedule.max_outage, now):
                                raise
                            await follow.next_update(self._state)
                            continue
                        failing = None
                        scanned = state.progress
                        if state.finished:
                            return  # this read began after the finish: nothing can be missing
                        if self._state.finished:
                            continue  # it finished during the read: read once more
                    await follow.next_update(self._state)
            finally:
                if follow.news is not None:
                    self._observe(follow.news)

    async def pages(
        self, *, page_size: int = 50, offset: int = 0, limit: int | None = None
    ) -> AsyncGenerator[list[CompanyResult], None]:
        """Yield the task's result rows page by page, best first.

        Walks ``offset``/``limit`` pages until one comes back shorter than
        ``page_size``. Each page request is retried on its own; leaving the loop
        early sends nothing more. On a running task, rows can land ahead of
        pages already read: use :meth:`stream` to get each row exactly once.

        Args:
            page_size: rows per request.
            offset: rows to skip first.
            limit: the old name of ``page_size`` (deprecated; warns).
        """
        size = check.integer("page_size", check.renamed("limit", limit, "page_size", page_size,
                                                        default=50), low=1)
        start = check.integer("offset", offset, low=0)
        endpoints, task_id = self._context.endpoints, self._state.id

        async def fetch(offset: int, limit: int) -> list[CompanyResult]:
            reply = await endpoints.results_page(task_id, offset=offset, limit=limit)
            self._update(reply.value.state, reply.request_id)
            return reply.value.rows

        async with contextlib.aclosing(walk(fetch, limit=size, offset=start)) as walker:
            async for _, rows in walker:
                if rows:
                    yield list(rows)

    async def results(self, *, page_size: int = 50) -> AsyncGenerator[CompanyResult, None]:
        """Yield the task's result rows one at a time, best first (see :meth:`pages`)."""
        async with contextlib.aclosing(self.pages(page_size=page_size)) as pages:
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
        reply = await self._context.endpoints.resume(self._state, desired_new_results)
        self._update(reply.value, reply.request_id)
        return self


def observe(task: DiscoveryTask, news: Subscription) -> None:
    """Bring ``task`` up to the poller's news of it (``as_completed`` follows many)."""
    task._observe(news)


def _mirror(name: str) -> property:
    def get(task: DiscoveryTask) -> Any:
        return getattr(task._state, name)

    return property(get, doc=f"``state.{name}``: see :class:`TaskState`.")


# Every public attribute of the model, read from the latest state: declared once, in
# ``TaskState`` (fields, properties and its export methods alike).
for _name in dir(TaskState):
    if not _name.startswith("_") and not hasattr(DiscoveryTask, _name):
        setattr(DiscoveryTask, _name, _mirror(_name))
del _name


class TaskFailedError(ExtructError):
    """The task ended with status ``failed``; ``task`` holds its last state."""

    def __init__(self, task: DiscoveryTask) -> None:
        super().__init__(f"discovery task {task.id} failed")
        self.task = task


class WaitTimeoutError(ExtructError, TimeoutError):
    """Waiting gave up before the task(s) finished.

    ``tasks`` holds every task still unfinished, with its last known state
    (``task`` is the first of them, the only one for ``task.wait()``). The tasks
    keep running on the service: wait again, or read what they have so far.
    """

    def __init__(self, tasks: Sequence[DiscoveryTask], timeout: float) -> None:
        self.tasks: list[DiscoveryTask] = list(tasks)
        self.task: DiscoveryTask = self.tasks[0]
        self.timeout = timeout
        if len(self.tasks) == 1:
            task = self.task
            message = (
                f"discovery task {task.id} still {task.status} after {timeout:g}s"
                f" ({task.num_results_evaluated} evaluated, {task.num_results} results)"
            )
        else:
            shown = ", ".join(task.id for task in self.tasks[:5])
            more = f" and {len(self.tasks) - 5} more" if len(self.tasks) > 5 else ""
            message = (
                f"{len(self.tasks)} discovery tasks still running after {timeout:g}s:"
                f" {shown}{more}"
            )
        super().__init__(message)


class CreateManyError(ExtructError):
    """Some creates of ``create_many`` failed after their retries.

    Nothing is lost: ``tasks`` lines up with the specs given, holding the
    :class:`DiscoveryTask` of each create that worked (None where it failed), and
    ``errors`` holds the error of each that failed (None where it worked).
    """

    def __init__(
        self, tasks: Sequence[DiscoveryTask | None], errors: Sequence[BaseException | None]
    ) -> None:
        self.tasks: list[DiscoveryTask | None] = list(tasks)
        self.errors: list[BaseException | None] = list(errors)
        failed = [e for e in self.errors if e is not None]
        super().__init__(
            f"{len(failed)} of {len(self.errors)} creates failed; first: {failed[0]}"
        )
