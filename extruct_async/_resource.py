"""The ``discovery_tasks`` resource: create, create_many, recover, get, list, and following many.

``client.discovery_tasks`` is one :class:`DiscoveryTasks`, sharing the client's
pipeline, poller and store with every handle it makes (through one
:class:`TaskContext`). The rules live below: checking a create (``_protocol``),
creating once (``_create``, ``_idempotency``), a batch's cancellation (``_batch``),
waiting (``_waiting``, ``_polling``).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, overload

from . import _arguments as check
from ._batch import Admit, create_all
from ._create import Creates
from ._errors import APIError, InvalidRequestError, InvalidTypeError
from ._idempotency import Journal, run_key
from ._models import Criterion, DataSource, Table, TaskState, TaskStatus
from ._outage import DEFAULT_MAX_OUTAGE
from ._pagination import walk
from ._polling import Listening, Subscription
from ._protocol import Reply, Request, create_request
from ._task import (
    CreateManyError,
    DiscoveryTask,
    TaskContext,
    TaskFailedError,
    WaitTimeoutError,
    observe,
)
from ._waiting import DEFAULT_POLL_INTERVAL, Schedule

__all__ = ["DiscoveryTasks"]

#: The longest idempotency key or run name (the journal keeps them; Redis indexes them).
_MAX_KEY_LENGTH = 256


class DiscoveryTasks:
    """Deep Search tasks: ``client.discovery_tasks``."""

    def __init__(
        self, context: TaskContext, creates: Creates, journal: Journal, *, max_concurrency: int
    ) -> None:
        self._context = context
        self._creates = creates
        self._journal = journal
        self._max_concurrency = max_concurrency

    def _handle(self, reply: Reply[TaskState]) -> DiscoveryTask:
        return DiscoveryTask(reply.value, context=self._context, request_id=reply.request_id)

    async def create(
        self,
        query: str,
        *,
        desired_num_results: int = 100,
        criteria: Sequence[Criterion | Mapping[str, str]] | None = None,
        auto_data_sources: bool = True,
        data_sources: Sequence[DataSource | str] | None = None,
        table: Table | Mapping[str, Any] | None = None,
        exclude_domains: Sequence[str] | None = None,
        exclude_task_ids: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> DiscoveryTask:
        """Start a Deep Search; return its handle at once (status ``created``).

        Every argument is checked before anything is sent; a bad one raises
        :class:`InvalidRequestError` (a ``ValueError``) or :class:`InvalidTypeError`
        (a ``TypeError``) naming it. A create is never sent twice for one call:
        see the README's retry policy.

        With ``idempotency_key``, the key's task is created at most once, across
        calls, processes and machines that share the client's store (in one process
        without one): a key that has a task returns it without a request (its state
        as created: ``refresh()`` or ``wait()`` for the current one); a key another
        call is sending is waited for; a key whose sender crashed is looked for in
        the task list first, and adopted if found.

        Args:
            query: what companies to find, in plain language.
            desired_num_results: how many results to aim for, 1..250.
            criteria: up to about 5 criteria each result is graded on; omitted, the
                service writes its own from the query.
            auto_data_sources: let the service pick where to search.
            data_sources: where to search (``web_search``, ``linkedin``, ``maps``);
                required, and only used, when ``auto_data_sources`` is False.
            table: an Extruct table to receive the results.
            exclude_domains: companies to leave out, by website domain.
            exclude_task_ids: up to 100 finished tasks whose results to leave out.
            idempotency_key: names this create (up to 256 characters), so that
                repeating the call never creates a second task.

        Raises:
            InvalidRequestError: an argument breaks the service's rules, or the
                ``idempotency_key`` was used before for a different create.
            PaymentRequiredError: no paid plan, or not enough credits.
            APIError: the service could not be reached or refused the request.
            StoreError: the store failed (with ``idempotency_key``).
        """
        key = None if idempotency_key is None else _key("idempotency_key", idempotency_key)
        request = create_request(
            query,
            desired_num_results=desired_num_results,
            criteria=criteria,
            auto_data_sources=auto_data_sources,
            data_sources=data_sources,
            table=table,
            exclude_domains=exclude_domains,
            exclude_task_ids=exclude_task_ids,
        )
        if key is not None:
            return self._handle(await self._journal.create_once(request, key=key))
        return self._handle(await self._creates.create(request))

    @overload
    async def create_many(
        self,
        specs: Iterable[str | Mapping[str, Any]],
        *,
        return_exceptions: Literal[False] = ...,
        on_created: Callable[[int, DiscoveryTask], None] | None = ...,
        run: str | None = ...,
    ) -> builtins.list[DiscoveryTask]: ...
    @overload
    async def create_many(
        self,
        specs: Iterable[str | Mapping[str, Any]],
        *,
        return_exceptions: Literal[True],
        on_created: Callable[[int, DiscoveryTask], None] | None = ...,
        run: str | None = ...,
    ) -> builtins.list[DiscoveryTask | APIError]: ...
    async def create_many(
        self,
        specs: Iterable[str | Mapping[str, Any]],
        *,
        return_exceptions: bool = False,
        on_created: Callable[[int, DiscoveryTask], None] | None = None,
        run: str | None = None,
    ) -> builtins.list[DiscoveryTask] | builtins.list[DiscoveryTask | APIError]:
        """Create a batch of tasks through the gate; return their handles in order.

        Each spec is a query string, or a mapping of :meth:`create`'s arguments
        (``{"query": ..., "desired_num_results": 25}``). All specs are checked
        before anything is sent; a bad one raises, naming it (``specs[3].query``).
        Each create has :meth:`create`'s no-duplicate retries.

        **Cancelled** (a timeout, Ctrl-C, a web request that went away), the batch
        keeps every task it paid for: creates not yet sent are never sent, and creates
        already sent are finished first (their look-ups included), so each task that
        exists reaches ``on_created`` before the cancellation goes on. A second
        cancellation stops waiting for them.

        **A run** (``run="nightly-2026-11-28"``): each spec gets the idempotency key
        ``run:<run>:<position>`` (see :meth:`create`), kept in the client's store.
        Calling again with the same run and specs, after a crash, a deploy or from
        another worker, creates only what was never created and returns all the
        tasks, in order; :meth:`recover` finds them without the specs. A run whose
        journaled specs differ from these raises before anything is sent.

        Args:
            specs: what to create.
            return_exceptions: put the error of a failed create in its place in the
                returned list instead of raising.
            on_created: called with ``(index of the spec, task)`` as each task is
                created, in the order they are: record them here (a database, a list)
                to keep them whatever happens to the batch.
            run: names the batch, so that it is created once, whatever re-runs it
                (up to 256 characters).

        Raises:
            CreateManyError: some creates failed; it holds the tasks that were
                created, so none is lost.
            InvalidRequestError: a spec is bad, or differs from the one the run
                journaled at its position.
            StoreError: the store failed (with ``run``).
        """
        name = None if run is None else _key("run", run)
        requests = [_spec_request(i, spec) for i, spec in enumerate(check.sequence("specs", specs))]
        if name is not None:
            await self._journal.check_run(name, [r.body or {} for r in requests])
        # Keys are taken no sooner than their creates can be in flight: after a crash,
        # only that many are left "sending" for the re-run to look up.
        sending = asyncio.Semaphore(self._max_concurrency)

        async def create(index: int, admit: Admit) -> DiscoveryTask:
            request = requests[index]
            if name is None:
                reply = await self._creates.create(request, on_admit=admit)
            else:
                async with sending:
                    reply = await self._journal.create_once(
                        request, key=run_key(name, index), run=name, position=index,
                        field=f"specs[{index}]", on_admit=admit,
                    )
            task = self._handle(reply)
            if on_created is not None:
                on_created(index, task)
            return task

        created = await create_all(len(requests), create)
        if return_exceptions:
            return created
        handles = [c if isinstance(c, DiscoveryTask) else None for c in created]
        errors = [c if isinstance(c, APIError) else None for c in created]
        if any(errors):
            raise CreateManyError(handles, errors)
        return [h for h in handles if h is not None]

    async def recover(self, *, run: str | None = None) -> builtins.list[DiscoveryTask]:
        """The tasks the store's journal holds: of one ``create_many`` run, or all.

        For a process that restarts and goes on waiting (``wait_all``,
        ``as_completed``). Handles come in journal order (keys without a run first,
        then runs by name, each by position) and show each task as created, without
        a request: ``refresh()`` or wait for the current state. A key whose create
        another live call is sending is waited for; one whose sender crashed is
        looked for in the task list (as :meth:`create` does) and adopted if found.
        Keys with no task are left out (and left in the journal: calling
        :meth:`create_many` with the run again creates them).

        Raises:
            StoreError: the store failed.
            APIError: a look-up in the task list failed.
        """
        name = None if run is None else _key("run", run)
        return [self._handle(reply) for reply in await self._journal.recover(name)]

    async def get(self, task_id: str) -> DiscoveryTask:
        """Fetch a task by id, or by a dashboard URL ending in its id.

        Raises:
            InvalidRequestError: ``task_id`` is not an id.
            NotFoundError: no such task in your workspace.
        """
        return self._handle(await self._context.endpoints.get(task_id))

    async def list(
        self, *, page_size: int = 20, offset: int = 0
    ) -> AsyncGenerator[DiscoveryTask, None]:
        """Yield every task in the workspace, newest first.

        Walks ``offset``/``limit`` pages of ``page_size`` until a short page. A task
        created meanwhile shifts the pages; each task is still yielded once.

        Args:
            page_size: tasks per request (the vendor's own client asks for 20).
            offset: tasks to skip first, newest first.
        """
        size = check.integer("page_size", page_size, low=1)
        start = check.integer("offset", offset, low=0)
        seen: builtins.set[str] = set()

        async def fetch(offset: int, limit: int) -> builtins.list[Reply[TaskState]]:
            reply = await self._context.endpoints.list_page(offset=offset, limit=limit)
            return [Reply(state, reply.request_id) for state in reply.value]

        async with contextlib.aclosing(walk(fetch, limit=size, offset=start)) as pages:
            async for _, page in pages:
                for item in page:
                    if item.value.id not in seen:
                        seen.add(item.value.id)
                        yield self._handle(item)

    async def as_completed(
        self,
        tasks: Iterable[DiscoveryTask],
        *,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        raise_on_failure: bool = False,
        max_outage: float | None = DEFAULT_MAX_OUTAGE,
    ) -> AsyncGenerator[DiscoveryTask, None]:
        """Yield each task as it finishes, in the order they finish.

        Finished has :meth:`DiscoveryTask.wait`'s meaning. Tasks already finished
        come first, in the order given. All tasks share the client's one polling
        schedule, so following a thousand costs about as many status requests as
        following a few (the list endpoint reads many at once). Tasks are polled only
        while the loop waits for the next one; close the generator if you leave early
        (``contextlib.aclosing``).

        Transient failures of status reads (5xx, 429, lost connections, timeouts) do
        not end the iteration: polling backs off and goes on, and each unfinished
        handle's ``poll_failure`` says what is failing. A fatal failure ends it, as
        for :meth:`DiscoveryTask.wait`.

        Args:
            tasks: the handles to follow (each is updated as it is polled).
            timeout: seconds to wait in all; None waits as long as it takes.
            poll_interval: seconds between status reads of a task.
            max_poll_interval: if set, the interval grows 1.5x per read up to this.
            raise_on_failure: raise :class:`TaskFailedError` when a task fails,
                instead of yielding it with status ``failed``.
            max_outage: seconds a task's status reads may keep failing before the
                iteration gives up with the last error; None never gives up.

        Raises:
            WaitTimeoutError: ``timeout`` passed; ``tasks`` holds the unfinished.
            TaskFailedError: a task failed and ``raise_on_failure`` is set.
            APIError: a fatal failure, or transient ones for ``max_outage``.
        """
        handles = _handles(tasks)
        schedule = Schedule.check(poll_interval, max_poll_interval, timeout, max_outage)
        pending: dict[int, DiscoveryTask] = {}
        for handle in handles:
            if handle.finished:
                yield _finished(handle, raise_on_failure)
            else:
                pending.setdefault(id(handle), handle)
        updates: asyncio.Queue[tuple[Subscription, BaseException | None]] = asyncio.Queue()
        # One flag for all: polled only while this loop waits, not while the caller
        # holds a yielded task (or has left the loop without closing it).
        listening = Listening()

        def notify(news: Subscription, error: BaseException | None) -> None:
            updates.put_nowait((news, error))  # one function for all (not one per task)

        poller = self._context.poller
        followed: dict[Subscription, DiscoveryTask] = {}
        for handle in pending.values():
            news = schedule.subscribe(poller, handle.id, handle.state, notify=notify,
                                      group=listening)
            followed[news] = handle
        try:
            while pending:
                remaining = schedule.remaining()
                try:
                    if remaining is not None and remaining <= 0:
                        raise asyncio.TimeoutError
                    if updates.empty():
                        listening.now = True
                        poller.wake()
                    news, error = await asyncio.wait_for(updates.get(), remaining)
                except asyncio.TimeoutError:
                    raise WaitTimeoutError(builtins.list(pending.values()),
                                           schedule.timeout or 0.0) from None
                finally:
                    listening.now = False
                updated = followed.get(news)
                if updated is not None:
                    observe(updated, news)
                if error is not None:
                    raise error
                if updated is not None and updated.finished:
                    del pending[id(updated)], followed[news]
                    await news.aclose()
                    yield _finished(updated, raise_on_failure)
        finally:
            for news in followed:
                await news.aclose()

    async def wait_all(
        self,
        tasks: Iterable[DiscoveryTask],
        *,
        timeout: float | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_poll_interval: float | None = None,
        raise_on_failure: bool = False,
        max_outage: float | None = DEFAULT_MAX_OUTAGE,
    ) -> builtins.list[DiscoveryTask]:
        """Wait until every task is finished; return them in the order given.

        The same rules and arguments as :meth:`as_completed`.
        """
        handles = builtins.list(tasks)
        finished = self.as_completed(
            handles, timeout=timeout, poll_interval=poll_interval,
            max_poll_interval=max_poll_interval, raise_on_failure=raise_on_failure,
            max_outage=max_outage,
        )
        async with contextlib.aclosing(finished):
            async for _ in finished:
                pass
        return handles


def _spec_request(index: int, spec: object) -> Request:
    field = f"specs[{index}]"
    if isinstance(spec, str):
        spec = {"query": spec}
    if not isinstance(spec, Mapping):
        raise InvalidTypeError(field, f"expected a query or a mapping, got {type(spec).__name__}")
    arguments = dict(spec)
    if "query" not in arguments:
        raise InvalidRequestError(field, "missing 'query'")
    query = arguments.pop("query")
    try:
        return create_request(query, **arguments)
    except InvalidRequestError as exc:
        raise type(exc)(f"{field}.{exc.field}", exc.problem) from None
    except TypeError as exc:  # an argument create() does not take
        raise InvalidRequestError(field, str(exc)) from None


def _key(field: str, value: object) -> str:
    """An idempotency key or run name: a non-blank printable string, at most 256 long."""
    key = check.text(field, value)
    if len(key) > _MAX_KEY_LENGTH:
        raise InvalidRequestError(field, f"at most {_MAX_KEY_LENGTH} characters, got {len(key)}")
    if not key.isprintable():
        raise InvalidRequestError(field, "holds control characters")
    return key


def _handles(tasks: object) -> builtins.list[DiscoveryTask]:
    handles = []
    for i, handle in enumerate(check.sequence("tasks", tasks)):
        if not isinstance(handle, DiscoveryTask):
            kind = type(handle).__name__
            raise InvalidTypeError(f"tasks[{i}]", f"expected a DiscoveryTask, got {kind}")
        handles.append(handle)
    return handles


def _finished(task: DiscoveryTask, raise_on_failure: bool) -> DiscoveryTask:
    if raise_on_failure and task.status == TaskStatus.FAILED:
        raise TaskFailedError(task)
    return task
