"""The API key never shows: not in any error the SDK raises, its chain, its frames' locals,
nor in any log line, whatever went wrong and however it is rendered.

Every kind of failure is provoked for real (error statuses, shapes, malformed answers on
real sockets, timeouts, misuse, bad options), then rendered the ways loggers, Sentry and
``pytest -l`` do.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from extruct_async import (
    AsyncExtruct,
    ExtructError,
    HTTPRequest,
    HTTPResponse,
    RetryPolicy,
)
from extruct_async.testing import FakeExtructServer, MockTransport, json_response
from tests.conftest import API_KEY, TASK

pytestmark = pytest.mark.looptime



def renderings(error: BaseException) -> str:
    """Everything a logger, Sentry or ``pytest -l`` could print of ``error``."""
    parts = [repr(error), str(error), repr(error.args)]
    parts += traceback.format_exception(error)
    parts += traceback.TracebackException.from_exception(error, capture_locals=True).format()
    seen: BaseException | None = error
    while seen is not None:  # each link of the chain, and its own attributes
        parts += [repr(seen), repr(vars(seen))]
        seen = seen.__cause__ or seen.__context__
    return "".join(parts)


def answering(status: int, body: Any = None, raw: bytes | None = None,
              task_first: bool = False) -> MockTransport:
    """Answer every request so; with ``task_first``, GETs of the task answer it first."""

    def handler(request: HTTPRequest) -> HTTPResponse:
        if task_first and request.method == "GET":
            return json_response(TASK)
        if raw is not None:
            return HTTPResponse(status, {}, raw)
        return json_response(body if body is not None else {"detail": "no"}, status)

    return MockTransport(handler)


async def slow(request: HTTPRequest) -> HTTPResponse:
    await asyncio.sleep(60)
    raise AssertionError("the timeout ends this first")


Call = Callable[[AsyncExtruct], Awaitable[Any]]


async def get(client: AsyncExtruct) -> Any:
    return await client.discovery_tasks.get("t1")


async def create(client: AsyncExtruct) -> Any:
    return await client.discovery_tasks.create("q")


async def resume(client: AsyncExtruct) -> Any:
    return await (await client.discovery_tasks.get("t1")).resume()


async def wait(client: AsyncExtruct) -> Any:
    return await (await client.discovery_tasks.get("t1")).wait(poll_interval=0.5, timeout=1)


async def create_many(client: AsyncExtruct) -> Any:
    return await client.discovery_tasks.create_many(["a", "b"])


async def bad_input(client: AsyncExtruct) -> Any:
    return await client.discovery_tasks.create("")


CASES: dict[str, tuple[MockTransport, Call]] = {
    **{f"status {code}": (answering(code), get) for code in
       (400, 401, 402, 403, 404, 408, 409, 422, 429, 500, 502, 503, 504)},
    "resume exhausted": (answering(400, task_first=True), resume),
    "a create that failed": (answering(500), create),
    "not JSON": (answering(200, raw=b"<html>"), get),
    "wrong shape": (answering(200, body=[1]), get),
    "a task failed": (MockTransport(lambda r: json_response({**TASK, "status": "failed"})), wait),
    "a wait timed out": (MockTransport(lambda r: json_response(TASK)), wait),
    "a batch failed": (answering(402), create_many),
    "bad input": (answering(200), bad_input),
    "a timeout": (MockTransport(slow), get),
}


@pytest.mark.parametrize(("transport", "call"), CASES.values(), ids=CASES.keys())
async def test_no_error_shows_the_key(transport: MockTransport, call: Call,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="extruct_async")
    policy = RetryPolicy(max_retries=1, initial_wait=0.1, jitter=False, max_time=5)
    async with AsyncExtruct(API_KEY, "https://api.extruct.test", transport=transport,
                            retry=policy, attempt_timeout=2) as client:
        with pytest.raises(ExtructError) as caught:
            await call(client)
    assert API_KEY not in renderings(caught.value)
    assert API_KEY not in caplog.text
    for record in caplog.records:
        assert API_KEY not in repr(vars(record))


async def test_misuse_and_bad_options_show_no_key() -> None:
    client = AsyncExtruct(API_KEY, "https://api.extruct.test",
                          transport=MockTransport(lambda r: json_response(TASK)))
    await client.aclose()
    with pytest.raises(ExtructError) as closed:
        await client.discovery_tasks.get("t1")
    assert API_KEY not in renderings(closed.value)
    for options in ({"base_url": "ftp://x"}, {"rate_limit": -1}, {"attempt_timeout": "x"},
                    {"default_headers": {"Authorization": "x"}}):
        with pytest.raises(ExtructError) as bad:
            AsyncExtruct(API_KEY, **options)
        assert API_KEY not in renderings(bad.value)
    with pytest.raises(ExtructError) as bad_key:
        AsyncExtruct(API_KEY + " \x00")
    assert API_KEY not in renderings(bad_key.value)


async def test_network_failures_on_real_sockets_show_no_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="extruct_async")
    async with FakeExtructServer(api_key=API_KEY, slow_seconds=30) as server:
        for kind in ("drop", "truncate", "slow", "503"):
            server.inject(kind, endpoint="get")
            async with server.client(max_retries=0, attempt_timeout=5) as client:
                with pytest.raises(ExtructError) as caught:
                    await client.discovery_tasks.get("t1")
            assert API_KEY not in renderings(caught.value), kind
    assert API_KEY not in caplog.text
