"""Shared fixtures: a mocked API (aioresponses) and tiny real servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator

import attrs
import pytest
from aiohttp import web
from pytest_asyncio import is_async_test

from extruct_async import AsyncExtruct, RetryPolicy
from tests._mock_api import MockAPI

#: A fake key, distinctive enough to search for in logs, reprs and tracebacks.
API_KEY = "sk-test-DO-NOT-LEAK-1f3a5c7e9b"
BASE_URL = "https://api.extruct.test"
#: Backoff without jitter, so retry tests can assert exact times.
EXACT_RETRIES = RetryPolicy(max_retries=3, initial_wait=1.0, max_wait=8.0, jitter=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """Give each synchronous test a loop of its own, and close it afterwards.

    looptime's hook asks the event loop policy for the current loop before every
    test; for a synchronous test none is set, so the policy creates one that nobody
    closes, and warnings-as-errors then fails the run with "unclosed event loop".
    """
    if is_async_test(pyfuncitem):
        return (yield)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return (yield)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's real token or base URL must never leak into a test run.
    monkeypatch.delenv("EXTRUCT_API_TOKEN", raising=False)
    monkeypatch.delenv("EXTRUCT_BASE_URL", raising=False)


@pytest.fixture
def mock_api() -> Iterator[MockAPI]:
    """Mock aiohttp's requests (shape and error-mapping tests only)."""
    with MockAPI() as mocked:
        yield mocked


@pytest.fixture
async def client() -> AsyncIterator[AsyncExtruct]:
    """A client for the mocked API, with deterministic retries."""
    async with AsyncExtruct(API_KEY, BASE_URL, retry=EXACT_RETRIES) as api:
        yield api


@attrs.frozen
class Seen:
    """A request as a test server received it, with the loop time it arrived."""

    time: float
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: A task as the service answers it: the smallest valid ``TaskState`` body.
TASK = {"id": "t1", "created_at": "2026-11-23T10:00:00Z", "status": "created", "query": "q",
        "desired_num_results": 100}


@attrs.define
class TinyServer:
    """A real HTTP server on loopback whose single handler each test writes."""

    url: str
    seen: list[Seen]


#: The ``serve`` fixture's type: start a handler, get its running server.
Serve = Callable[[Handler], Awaitable[TinyServer]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[TinyServer]]]:
    """Start ``handler`` behind every path on a free port; stopped after the test."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> TinyServer:
        seen: list[Seen] = []

        async def record(request: web.Request) -> web.StreamResponse:
            seen.append(
                Seen(
                    time=asyncio.get_running_loop().time(),
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    headers=dict(request.headers),
                    body=await request.read(),
                )
            )
            return await handler(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", record)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return TinyServer(url=f"http://{host}:{port}", seen=seen)

    yield start
    for runner in runners:
        await runner.cleanup()
