"""The client: configuration, one session, and the ``discovery_tasks`` resource."""

from __future__ import annotations

import builtins
import os
import random
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

import attrs

from . import _arguments as check
from ._endpoints import Endpoints
from ._errors import ConfigurationError, InvalidRequestError
from ._gate import Gate
from ._models import Criterion, DataSource, Table
from ._protocol import create_request
from ._retry import RetryPolicy
from ._session import Session
from ._task import DiscoveryTask
from ._transport import AiohttpTransport

if TYPE_CHECKING:
    import aiohttp

__all__ = ["DEFAULT_BASE_URL", "AsyncExtruct", "DiscoveryTasks"]

DEFAULT_BASE_URL = "https://api.extruct.ai"
API_KEY_ENV = "EXTRUCT_API_TOKEN"
BASE_URL_ENV = "EXTRUCT_BASE_URL"


class DiscoveryTasks:
    """Deep Search tasks: ``client.discovery_tasks``."""

    def __init__(self, endpoints: Endpoints) -> None:
        self._endpoints = endpoints

    async def create(
        self,
        query: str,
        *,
        desired_num_results: int = 100,
        criteria: Sequence[Criterion] | None = None,
        auto_data_sources: bool = True,
        data_sources: Sequence[DataSource | str] | None = None,
        table: Table | None = None,
        exclude_domains: Sequence[str] | None = None,
        exclude_task_ids: Sequence[str] | None = None,
    ) -> DiscoveryTask:
        """Start a Deep Search; return its handle at once (status ``created``).

        Every argument is checked before anything is sent; a bad one raises
        :class:`InvalidRequestError` (a ``ValueError``) or :class:`InvalidTypeError`
        (a ``TypeError``) naming it. A create is never sent twice for one call:
        see the README's retry policy.

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

        Raises:
            InvalidRequestError: an argument breaks the service's rules.
            PaymentRequiredError: no paid plan, or not enough credits.
            APIError: the service could not be reached or refused the request.
        """
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
        return DiscoveryTask(await self._endpoints.create(request), endpoints=self._endpoints)

    async def get(self, task_id: str) -> DiscoveryTask:
        """Fetch a task by id.

        Raises:
            NotFoundError: no such task in your workspace.
        """
        return DiscoveryTask(await self._endpoints.get(task_id), endpoints=self._endpoints)

    async def list(self, *, page_size: int = 20) -> AsyncIterator[DiscoveryTask]:
        """Yield every task in the workspace, newest first.

        Walks ``offset``/``limit`` pages of ``page_size`` until a short page. A task
        created meanwhile shifts the pages; each task is still yielded once.
        """
        size = check.integer("page_size", page_size, low=1)
        seen: builtins.set[str] = set()
        offset = 0
        while True:
            page = await self._endpoints.list_page(offset=offset, limit=size)
            for state in page:
                if state.id not in seen:
                    seen.add(state.id)
                    yield DiscoveryTask(state, endpoints=self._endpoints)
            if len(page) < size:
                return
            offset += size


class AsyncExtruct:
    """Asyncio client for Extruct's Deep Search API.

    Use it as ``async with AsyncExtruct() as client: ...`` (or call
    :meth:`aclose`). Every request of the client, retries included, passes one
    gate: at most ``max_concurrency`` in flight and ``rate_limit`` per second,
    first come first served.

    Args:
        api_key: your API token; defaults to ``$EXTRUCT_API_TOKEN``.
        base_url: the service; defaults to ``$EXTRUCT_BASE_URL``, else
            ``https://api.extruct.ai``.
        max_concurrency: requests in flight at once.
        rate_limit: requests per second (any one-second window); None for no limit.
        burst: requests that may start at once; defaults to ``rate_limit``.
        max_retries: retries of a transient failure per request.
        timeout: seconds one request may take, connect to last byte.
        retry: full retry policy (``max_retries`` overrides its count when given).
        session: your own ``aiohttp.ClientSession``; used as is, never closed.

    Raises:
        ConfigurationError: no API key, or an option out of range (named).
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        max_concurrency: int = 16,
        rate_limit: float | None = 10.0,
        burst: int | None = None,
        max_retries: int | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
        if not isinstance(key, str) or not key.strip():
            raise ConfigurationError(
                f"no API key: pass api_key=... or set the {API_KEY_ENV} environment variable"
            )
        url = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise ConfigurationError(f"base_url: expected an http(s) URL, got {url!r}")
        if burst is not None and rate_limit is None:
            raise ConfigurationError("burst: only meaningful with a rate_limit")
        try:
            policy = retry or RetryPolicy()
            if max_retries is not None:
                policy = attrs.evolve(
                    policy, max_retries=check.integer("max_retries", max_retries, low=0)
                )
            gate = Gate(
                max_concurrency=check.integer("max_concurrency", max_concurrency, low=1),
                rate_limit=None if rate_limit is None else check.number("rate_limit", rate_limit),
                burst=None if burst is None else check.integer("burst", burst, low=1),
            )
            transport = AiohttpTransport(
                timeout=check.number("timeout", timeout),
                max_connections=max_concurrency,
                session=session,
            )
        except InvalidRequestError as exc:
            raise ConfigurationError(str(exc)) from None
        self.base_url = url
        self._session = Session(
            api_key=key, base_url=url, transport=transport, gate=gate, retry=policy,
            rng=random.Random(),
        )
        self.discovery_tasks = DiscoveryTasks(Endpoints(self._session))

    def __repr__(self) -> str:
        return f"AsyncExtruct(base_url={self.base_url!r})"

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
        """Close the HTTP session (unless it was yours); safe to call twice."""
        await self._session.transport.aclose()
