"""The client: builds the pipeline, poller and store from its settings, and closes them.

Options are checked and completed in ``_config``; the ``discovery_tasks`` resource is
``_resource``. ``with_options`` copies go through the same assembly as the client
itself (:meth:`AsyncExtruct._assemble`), sharing its connection, poller and store.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING

from . import _arguments as check
from ._aiohttp import AiohttpTransport
from ._claims import Claims, SharedClaims
from ._config import Settings, attempt_timeout_of, configure, open_scope, retry_policy
from ._create import Creates
from ._endpoints import Endpoints
from ._errors import ConfigurationError, InvalidRequestError
from ._gate import Gate, SharedGate
from ._idempotency import Journal
from ._pipeline import Connection, Pipeline
from ._polling import Poller
from ._resource import DiscoveryTasks
from ._retry import RetryPolicy
from ._store import Scope, Store
from ._task import TaskContext
from ._transport import DEFAULT_MAX_RESPONSE_SIZE, Timeout, Transport

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AsyncExtruct"]


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
        attempt_timeout: seconds one attempt may take, connect to last byte, or a
            :class:`Timeout` with ``total``, ``connect`` and ``read`` limits (a
            request's retries together are bounded by ``retry.max_time``).
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
        timeout: the old name of ``attempt_timeout`` (deprecated; warns).

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
        attempt_timeout: float | Timeout = 30.0,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
        session: aiohttp.ClientSession | None = None,
        trust_env: bool = True,
        default_headers: Mapping[str, str] | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        store: str | Store | None = None,
        timeout: float | Timeout | None = None,
    ) -> None:
        try:  # first: from here on, a traceback that shows locals shows only a masked key
            settings = configure(
                api_key=api_key, base_url=base_url, max_concurrency=max_concurrency,
                rate_limit=rate_limit, burst=burst, max_retries=max_retries,
                attempt_timeout=_renamed_timeout(timeout, attempt_timeout, 30.0), retry=retry,
                trust_env=trust_env, default_headers=default_headers,
                max_response_size=max_response_size,
            )
        finally:
            api_key = None
        if transport is not None and session is not None:
            raise ConfigurationError("session: give a transport or a session, not both")
        if transport is None:
            transport = AiohttpTransport(
                max_connections=settings.max_concurrency, trust_env=settings.trust_env,
                session=session,
            )
        elif not isinstance(transport, Transport):
            raise ConfigurationError(
                "transport: expected an object with async send(request) and aclose()"
            )
        # Last, once every other option is known good: nothing to close on a bad one.
        scope = open_scope(store, settings.namespace)
        connection = Connection(
            transport=transport, gate=_gate(settings, scope), base_url=settings.base_url,
            headers=settings.headers, max_response_size=settings.max_response_size,
        )
        pipeline = Pipeline(connection, policy=settings.policy, timeout=settings.attempt_timeout)
        claims = SharedClaims(scope) if scope.shared else Claims()
        self._assemble(
            pipeline, Creates(pipeline, claims), scope,
            Poller(Endpoints(pipeline), workers=settings.max_concurrency // 2), owner=True,
        )

    def _assemble(
        self, pipeline: Pipeline, creates: Creates, scope: Scope, poller: Poller, *, owner: bool
    ) -> None:
        """Wire the client (or a ``with_options`` copy) around its parts."""
        self.base_url = pipeline.base_url
        self._pipeline = pipeline
        self._creates = creates
        self._scope = scope
        self._poller = poller
        self._owner = owner
        context = TaskContext(Endpoints(pipeline), poller, scope)
        self.discovery_tasks = DiscoveryTasks(
            context, creates, Journal(creates, scope),
            max_concurrency=pipeline.gate.max_concurrency,
        )

    def __repr__(self) -> str:
        # getattr: a traceback that shows locals may show one still being built.
        return f"AsyncExtruct(base_url={getattr(self, 'base_url', None)!r})"

    def with_options(
        self,
        *,
        attempt_timeout: float | Timeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | Timeout | None = None,
    ) -> AsyncExtruct:
        """A client with other per-request options that shares this one's everything else.

        The copy uses the same connection pool, gate (rate limit and concurrency),
        poller, store and create bookkeeping; only its own calls get the new attempt
        timeout or retries. Close the original, not the copy (closing the copy does
        nothing). ``timeout`` is the old name of ``attempt_timeout`` (deprecated).

        >>> slow = client.with_options(attempt_timeout=120, max_retries=8)  # doctest: +SKIP

        Raises:
            ConfigurationError: an option out of range (named).
        """
        pipeline = self._pipeline
        limits = _renamed_timeout(timeout, attempt_timeout, None)
        try:
            policy = retry_policy(retry or pipeline.policy, max_retries)
            limits = pipeline.timeout if limits is None else attempt_timeout_of(limits)
        except InvalidRequestError as exc:
            raise ConfigurationError(str(exc)) from None
        copy = pipeline.with_options(policy=policy, timeout=limits)
        client = AsyncExtruct.__new__(AsyncExtruct)
        client._assemble(copy, self._creates.with_pipeline(copy), self._scope, self._poller,
                         owner=False)
        return client

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
            try:
                await self._pipeline.gate.aclose()
                await self._pipeline.aclose()
            finally:
                if self._scope.owned:
                    await self._scope.store.aclose()

    @property
    def store(self) -> Store:
        """The store the client keeps its shared state in (in memory without one)."""
        return self._scope.store


def _gate(settings: Settings, scope: Scope) -> Gate:
    if scope.shared:
        return SharedGate(
            max_concurrency=settings.max_concurrency, rate_limit=settings.rate_limit,
            burst=settings.burst, store=scope.store, namespace=scope.namespace,
        )
    # The in-memory fast path, exactly as without a store.
    return Gate(
        max_concurrency=settings.max_concurrency, rate_limit=settings.rate_limit,
        burst=settings.burst,
    )


def _renamed_timeout(old: object, new: object, default: object) -> object:
    """``attempt_timeout``, or the value given under its old name ``timeout`` (warns)."""
    try:
        return check.renamed("timeout", old, "attempt_timeout", new, default=default,
                             stacklevel=4)
    except InvalidRequestError as exc:
        raise ConfigurationError(str(exc)) from None
