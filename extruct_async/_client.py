"""The client: configuration, one session, and the ``discovery_tasks`` resource."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import os
import sys
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload
from urllib.parse import urlsplit

import attrs

from . import _arguments as check
from ._aiohttp import AiohttpTransport
from ._create import Creates, run_key
from ._endpoints import Endpoints
from ._errors import (
    APIError,
    ConfigurationError,
    CreateManyError,
    InvalidRequestError,
    InvalidTypeError,
    TaskFailedError,
    WaitTimeoutError,
)
from ._gate import Gate, SharedGate
from ._models import Criterion, DataSource, Table, TaskState, TaskStatus
from ._pagination import walk
from ._pipeline import Pipeline
from ._polling import Listening, Poller
from ._protocol import Reply, Request, create_request
from ._retry import RetryPolicy
from ._store import STORE_ENV, MemoryStore, Scope, Store, namespace_for, open_store
from ._task import DEFAULT_MAX_OUTAGE, DEFAULT_POLL_INTERVAL, DiscoveryTask, _Schedule
from ._transport import (
    DEFAULT_MAX_RESPONSE_SIZE,
    USER_AGENT,
    Headers,
    Timeout,
    Transport,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "LOG_ENV",
    "STORE_ENV",
    "AsyncExtruct",
    "DiscoveryTasks",
]

DEFAULT_BASE_URL = "https://api.extruct.ai"
API_KEY_ENV = "EXTRUCT_API_TOKEN"
BASE_URL_ENV = "EXTRUCT_BASE_URL"
#: ``info`` or ``debug``: log the SDK's requests and retries to stderr, as ``OPENAI_LOG``.
LOG_ENV = "EXTRUCT_LOG"
_MAX_RATE_LIMIT = 100_000.0
#: The longest idempotency key or run name (the journal keeps them; Redis indexes them).
_MAX_KEY_LENGTH = 256


class DiscoveryTasks:
    """Deep Search tasks: ``client.discovery_tasks``."""

    def __init__(self, endpoints: Endpoints, poller: Poller) -> None:
        self._endpoints = endpoints
        self._poller = poller

    def _handle(self, reply: Reply[TaskState]) -> DiscoveryTask:
        return DiscoveryTask(
            reply.value, endpoints=self._endpoints, poller=self._poller,
            request_id=reply.request_id,
        )

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
            return self._handle(await self._endpoints.creates.create_once(request, key=key))
        return self._handle(await self._endpoints.create(request))

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
        creates = self._endpoints.creates
        if name is not None:
            await creates.check_run(name, [r.body or {} for r in requests])
        loop = asyncio.get_running_loop()
        admitted: builtins.list[bool] = [False] * len(requests)
        # Keys are reserved no sooner than their creates can be in flight: after a
        # crash, only that many are left "sending" for the re-run to look up.
        reserving = asyncio.Semaphore(self._endpoints.pipeline.gate.max_concurrency)

        async def create(index: int, request: Request) -> DiscoveryTask:
            def admit() -> None:
                admitted[index] = True

            if name is None:
                reply = await self._endpoints.create(request, on_admit=admit)
            else:
                async with reserving:
                    reply = await creates.create_once(
                        request, key=run_key(name, index), run=name, position=index,
                        field=f"specs[{index}]", on_admit=admit,
                    )
            task = self._handle(reply)
            if on_created is not None:
                on_created(index, task)
            return task

        children = [loop.create_task(create(i, r)) for i, r in enumerate(requests)]
        try:
            if children:
                await asyncio.wait(children)
        except asyncio.CancelledError:
            for child, went in zip(children, admitted, strict=True):
                if not went:
                    child.cancel()  # never sent: it never will be
            sent = [c for c, went in zip(children, admitted, strict=True) if went and not c.done()]
            if sent:
                await asyncio.wait(sent)  # may have applied: finish; a second cancel ends it
            raise
        finally:
            for child in children:  # on any way out, nothing runs on unattended
                child.cancel()
                if child.done() and not child.cancelled():
                    child.exception()  # retrieved here, reported below (or not, if cancelled)
        created: builtins.list[DiscoveryTask | APIError] = []
        for child in children:
            error = child.exception()
            if error is not None and not isinstance(error, APIError):
                raise error  # a bug, a store failure or a reused key, not a failed create
            created.append(child.result() if error is None else error)
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
        return [self._handle(reply) for reply in await self._endpoints.creates.recover(name)]

    async def get(self, task_id: str) -> DiscoveryTask:
        """Fetch a task by id, or by a dashboard URL ending in its id.

        Raises:
            InvalidRequestError: ``task_id`` is not an id.
            NotFoundError: no such task in your workspace.
        """
        return self._handle(await self._endpoints.get(task_id))

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
            reply = await self._endpoints.list_page(offset=offset, limit=limit)
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
        schedule = _Schedule.check(poll_interval, max_poll_interval, timeout, max_outage)
        pending: dict[int, DiscoveryTask] = {}
        for handle in handles:
            if handle.finished:
                yield _finished(handle, raise_on_failure)
            else:
                pending.setdefault(id(handle), handle)
        updates: asyncio.Queue[tuple[DiscoveryTask, BaseException | None]] = asyncio.Queue()
        # One flag for all: polled only while this loop waits, not while the caller
        # holds a yielded task (or has left the loop without closing it).
        listening = Listening()

        def notify(task: DiscoveryTask, error: BaseException | None) -> None:
            updates.put_nowait((task, error))  # one function for all (not one per task)

        subscriptions = {
            key: self._poller.subscribe(
                handle, interval=schedule.interval, max_interval=schedule.ceiling,
                max_outage=schedule.max_outage, group=listening, notify=notify,
            )
            for key, handle in pending.items()
        }
        try:
            while pending:
                remaining = schedule.remaining()
                try:
                    if remaining is not None and remaining <= 0:
                        raise asyncio.TimeoutError
                    if updates.empty():
                        listening.now = True
                        self._poller.wake()
                    handle, error = await asyncio.wait_for(updates.get(), remaining)
                except asyncio.TimeoutError:
                    raise WaitTimeoutError(builtins.list(pending.values()),
                                           schedule.timeout or 0.0) from None
                finally:
                    listening.now = False
                if error is not None:
                    raise error
                if id(handle) in pending and handle.finished:
                    del pending[id(handle)]
                    await subscriptions.pop(id(handle)).aclose()
                    yield _finished(handle, raise_on_failure)
        finally:
            for subscription in subscriptions.values():
                await subscription.aclose()

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




class AsyncExtruct:
    """Asyncio client for Extruct's Deep Search API.

    Use it as ``async with AsyncExtruct() as client: ...`` (or call
    :meth:`aclose`). Every request of the client, retries included, passes one
    gate: at most ``max_concurrency`` in flight and ``rate_limit`` per second,
    first come first served. Use one client per event loop.

    Args:
        api_key: your API token; defaults to ``$EXTRUCT_API_TOKEN``. Surrounding
            whitespace (a newline read from a file) is dropped.
        base_url: the service; defaults to ``$EXTRUCT_BASE_URL``, else
            ``https://api.extruct.ai``.
        max_concurrency: requests in flight at once.
        rate_limit: requests per second (any one-second window); None for no limit.
        burst: requests that may start at once; by default 1, so requests start
            evenly, ``1 / rate_limit`` seconds apart.
        max_retries: retries of a transient failure per request.
        timeout: seconds one attempt may take, connect to last byte, or a
            :class:`Timeout` with ``total``, ``connect`` and ``read`` limits.
        retry: full retry policy (``max_retries`` overrides its count when given).
        transport: the HTTP backend (default: :class:`AiohttpTransport`); e.g.
            :class:`extruct_async.testing.MockTransport` in tests.
        session: your own ``aiohttp.ClientSession``: its connector (pool, TLS) is
            shared, never closed.
        trust_env: take proxies (``HTTPS_PROXY``, ``NO_PROXY``) from the environment.
        default_headers: extra headers sent with every request.
        max_response_size: the largest answer read, in bytes.
        store: where to keep what must outlive this process, shared by every client
            of the same API key and base URL that uses it: the rate limit and the
            429 pause, the create journal (idempotency keys, runs), claims and
            stream checkpoints. A URL, ``sqlite:///path/extruct.db`` (one machine)
            or ``redis://host:6379/0`` (many machines; the ``redis`` extra), or a
            :class:`Store` object (yours to close); defaults to ``$EXTRUCT_STORE``,
            else this process's memory, exactly as without a store. The API key
            is never written to it (only a hash of it and the base URL).

    Raises:
        ConfigurationError: no API key, or an option out of range (named).
    """

    discovery_tasks: DiscoveryTasks
    """Deep Search tasks: create, get, list, and follow many at once."""

    base_url: str
    """The service's URL."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        max_concurrency: int = 16,
        rate_limit: float | None = 10.0,
        burst: int | None = None,
        max_retries: int | None = None,
        timeout: float | Timeout = 30.0,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
        session: aiohttp.ClientSession | None = None,
        trust_env: bool = True,
        default_headers: Mapping[str, str] | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        store: str | Store | None = None,
    ) -> None:
        try:  # first: from here on, a traceback that shows locals shows only a masked key
            credentials = Headers({"Authorization": f"Bearer {_api_key(api_key)}"})
        finally:
            api_key = None
        _log_from_environment()
        url = _base_url(base_url if base_url is not None else os.environ.get(BASE_URL_ENV))
        if burst is not None and rate_limit is None:
            raise ConfigurationError("burst: only meaningful with a rate_limit")
        if transport is not None and session is not None:
            raise ConfigurationError("session: give a transport or a session, not both")
        try:
            policy = _policy(retry, max_retries)
            concurrency = check.integer("max_concurrency", max_concurrency, low=1)
            rate = _rate(rate_limit)
            bursts = None if burst is None else check.integer("burst", burst, low=1)
            limits = _timeout(timeout)
            size = check.integer("max_response_size", max_response_size, low=1024)
            check.boolean("trust_env", trust_env)
            headers = Headers(_extra_headers(default_headers))
        except InvalidRequestError as exc:
            raise ConfigurationError(str(exc)) from None
        if transport is None:
            transport = AiohttpTransport(
                max_connections=concurrency, trust_env=trust_env, session=session
            )
        elif not isinstance(transport, Transport):
            raise ConfigurationError(
                "transport: expected an object with async send(request) and aclose()"
            )
        # Last, once every other option is known good: nothing to close on a bad one.
        scope = _scope(store, namespace_for(credentials["Authorization"][7:], url))
        gate: Gate
        if scope.shared:
            gate = SharedGate(
                max_concurrency=concurrency, rate_limit=rate, burst=bursts,
                store=scope.store, namespace=scope.namespace,
            )
        else:  # the in-memory fast path, exactly as without a store
            gate = Gate(max_concurrency=concurrency, rate_limit=rate, burst=bursts)
        headers = Headers({**headers, **credentials})
        self.base_url = url
        pipeline = Pipeline(
            transport=transport, gate=gate, base_url=url, headers=headers, policy=policy,
            timeout=limits, max_response_size=size,
        )
        endpoints = Endpoints(pipeline, Creates(pipeline, scope=scope))
        self._setup(endpoints, Poller(endpoints, workers=concurrency // 2))
        self._owner = True

    def _setup(self, endpoints: Endpoints, poller: Poller) -> None:
        self._endpoints = endpoints
        self._poller = poller
        self.discovery_tasks = DiscoveryTasks(endpoints, poller)

    def __repr__(self) -> str:
        # getattr: a traceback that shows locals may show one still being built.
        return f"AsyncExtruct(base_url={getattr(self, 'base_url', None)!r})"

    def with_options(
        self,
        *,
        timeout: float | Timeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> AsyncExtruct:
        """A client with other per-request options that shares this one's everything else.

        The copy uses the same connection pool, gate (rate limit and concurrency),
        poller, store and create bookkeeping; only its own calls get the new timeout
        or retries. Close the original, not the copy (closing the copy does nothing).

        >>> slow = client.with_options(timeout=120, max_retries=8)   # doctest: +SKIP

        Raises:
            ConfigurationError: an option out of range (named).
        """
        pipeline = self._endpoints.pipeline
        try:
            policy = _policy(retry or pipeline.policy, max_retries)
            limits = pipeline.timeout if timeout is None else _timeout(timeout)
        except InvalidRequestError as exc:
            raise ConfigurationError(str(exc)) from None
        copy = object.__new__(AsyncExtruct)
        copy.base_url = self.base_url
        copy._setup(
            self._endpoints.with_pipeline(pipeline.with_options(policy=policy, timeout=limits)),
            self._poller,
        )
        copy._owner = False
        return copy

    async def __aenter__(self) -> AsyncExtruct:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop polling and close connections (never a session you passed); idempotent.

        A call made after it raises :class:`ClientStateError`.
        """
        if self._owner:
            await self._poller.aclose()
            pipeline = self._endpoints.pipeline
            try:
                await pipeline.gate.aclose()
                await pipeline.aclose()
            finally:
                scope = self._endpoints.creates.scope
                if scope.owned:
                    await scope.store.aclose()

    @property
    def store(self) -> Store:
        """The store the client keeps its shared state in (in memory without one)."""
        return self._endpoints.creates.scope.store


def _api_key(value: object) -> str:
    if value is None:
        value = os.environ.get(API_KEY_ENV)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigurationError(
            f"api_key: none given; pass api_key=... or set the {API_KEY_ENV} environment"
            " variable"
        )
    if not isinstance(value, str):
        raise ConfigurationError(f"api_key: expected a string, got {type(value).__name__}")
    key = value.strip()
    if any(ch.isspace() or not ch.isprintable() or not ch.isascii() for ch in key):
        key = value = ""  # neither the message nor a traceback's locals show the key
        raise ConfigurationError(
            "api_key: holds spaces, control or non-ASCII characters; check how it was read"
        )
    return key


def _scope(store: object, namespace: str) -> Scope:
    """The client's store from the ``store`` option or ``$EXTRUCT_STORE``."""
    if isinstance(store, Store):
        return Scope(store, namespace, shared=True, owned=False)
    if store is None:
        store = os.environ.get(STORE_ENV) or None
    if store is not None and not isinstance(store, str):
        raise ConfigurationError(
            f"store: expected a URL or a Store, got {type(store).__name__}"
        )
    opened = open_store(store)
    private = isinstance(opened, MemoryStore)  # None, "" or memory://: this client only
    return Scope(opened, namespace, shared=not private, owned=True)


def _base_url(value: object) -> str:
    text = DEFAULT_BASE_URL if value is None or value == "" else value
    if not isinstance(text, str):
        raise ConfigurationError(f"base_url: expected a string, got {type(text).__name__}")
    try:
        parts = urlsplit(text.strip())
        port = parts.port  # a bad port raises here
    except ValueError as exc:
        raise ConfigurationError(f"base_url: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"base_url: expected an http(s) URL, got {text!r}")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError("base_url: must not hold a user name or password")
    if parts.query or parts.fragment:
        raise ConfigurationError("base_url: must not hold a query or fragment")
    del port
    return text.strip().rstrip("/")


def _rate(value: object) -> float | None:
    if value is None:
        return None
    rate = check.number("rate_limit", value)
    if rate > _MAX_RATE_LIMIT:
        raise InvalidRequestError("rate_limit", f"at most {_MAX_RATE_LIMIT:g}, or None")
    return rate


def _policy(retry: object, max_retries: object) -> RetryPolicy:
    policy = RetryPolicy() if retry is None else retry
    if not isinstance(policy, RetryPolicy):
        raise InvalidTypeError("retry", f"expected a RetryPolicy, got {type(policy).__name__}")
    if max_retries is not None:
        policy = attrs.evolve(policy, max_retries=check.integer("max_retries", max_retries, low=0))
    return policy


def _timeout(value: object) -> Timeout:
    if isinstance(value, Timeout):
        return value
    return Timeout(total=check.number("timeout", value))


def _extra_headers(value: object) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if value is None:
        return headers
    if not isinstance(value, Mapping):
        raise InvalidTypeError("default_headers", f"expected a mapping, got {type(value).__name__}")
    for name, text in value.items():
        field = f"default_headers[{name!r}]"
        if not isinstance(name, str) or not isinstance(text, str):
            raise InvalidTypeError(field, "names and values must be strings")
        if name.lower() == "authorization":
            raise InvalidRequestError(field, "the API key is set with api_key=")
        if any(ch in "\r\n" for ch in name + text):
            raise InvalidRequestError(field, "holds a line break")
        headers[name] = text
    return headers


_log_configured = False


def _log_from_environment() -> None:
    """Honour ``$EXTRUCT_LOG`` (``info`` or ``debug``): log to stderr, once per process."""
    global _log_configured
    level = os.environ.get(LOG_ENV, "").strip().upper()
    if _log_configured or level not in ("INFO", "DEBUG"):
        return
    _log_configured = True
    logger = logging.getLogger("extruct_async")
    logger.setLevel(level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s extruct_async %(levelname)s %(message)s"))
    logger.addHandler(handler)
