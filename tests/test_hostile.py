"""Hostile servers: redirects, drip-fed and garbled bodies, HTML with a 200, Retry-After in
every form. Real sockets where the bytes matter, the fake clock where the time does.

(Malformed HTTP, oversized headers and bodies, and bad chunking are in
``test_transport``.)
"""

from __future__ import annotations

import asyncio
import gzip
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from aiohttp import web

from extruct_async import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AsyncExtruct,
    HTTPRequest,
    HTTPResponse,
    RateLimitError,
    RetryPolicy,
)
from extruct_async.testing import MockTransport, json_response
from tests.conftest import API_KEY, TASK, Serve

EXACT = RetryPolicy(max_retries=2, initial_wait=1, jitter=False)


async def test_a_redirect_is_never_followed_and_never_carries_the_key(serve: Serve) -> None:
    elsewhere = await serve(lambda request: _json(TASK))

    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(elsewhere.url + request.path)

    server = await serve(redirect)
    async with AsyncExtruct(API_KEY, server.url, max_retries=0) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.discovery_tasks.get("t1")
    assert caught.value.status == 302
    assert elsewhere.seen == []  # nothing, let alone the Authorization header, went there


async def _json(data: object) -> web.Response:
    return web.json_response(data)


@pytest.mark.looptime
async def test_a_drip_fed_answer_ends_at_the_timeout(serve: Serve) -> None:
    async def drip(request: web.Request) -> web.StreamResponse:
        answer = web.StreamResponse(headers={"Content-Type": "application/json"})
        answer.content_length = 10_000
        await answer.prepare(request)
        for _ in range(10_000):
            await answer.write(b" ")
            await asyncio.sleep(1)
        return answer

    server = await serve(drip)
    loop = asyncio.get_running_loop()
    async with AsyncExtruct(API_KEY, server.url, max_retries=0, attempt_timeout=5) as client:
        started = loop.time()
        with pytest.raises(APITimeoutError):
            await client.discovery_tasks.get("t1")
        assert loop.time() - started == pytest.approx(5, abs=0.01)


async def test_html_with_a_200_is_a_response_error_and_retried(serve: Serve) -> None:
    async def captive_portal(request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Please log in to the Wi-Fi</body></html>",
                            content_type="text/html")

    server = await serve(captive_portal)
    async with AsyncExtruct(API_KEY, server.url, retry=RetryPolicy(
            max_retries=1, initial_wait=0.01, jitter=False)) as client:
        with pytest.raises(APIResponseError, match="not valid JSON"):
            await client.discovery_tasks.get("t1")
    assert len(server.seen) == 2


async def test_a_garbled_compressed_body_is_a_connection_error(serve: Serve) -> None:
    async def garbled(request: web.Request) -> web.Response:
        good = gzip.compress(b'{"id": "t1"}')
        return web.Response(body=good[:10] + b"\x00" * 20, headers={
            "Content-Encoding": "gzip", "Content-Type": "application/json"})

    server = await serve(garbled)
    async with AsyncExtruct(API_KEY, server.url, max_retries=0) as client:
        with pytest.raises(APIConnectionError, match="ClientPayloadError") as caught:
            await client.discovery_tasks.get("t1")
    assert caught.value.sent


# -- Retry-After in every form ---------------------------------------------------------

NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=timezone.utc)
DATE = format_datetime(NOW, usegmt=True)


def in_seconds(seconds: float) -> str:
    return format_datetime(NOW + timedelta(seconds=seconds), usegmt=True)


@pytest.mark.looptime
@pytest.mark.parametrize(
    ("retry_after", "second_attempt_at"),
    [
        ("3", 3.0),  # seconds
        ("2.5", 2.5),  # fractional seconds
        (in_seconds(7), 7.0),  # an HTTP date, measured against the answer's own Date
        (in_seconds(-30), 0.0),  # a date in the past: now
        ("-5", 1.0),  # negative: ignored, the backoff applies
        ("soon", 1.0),  # junk: ignored
        ("", 1.0),  # empty: ignored
        (None, 1.0),  # none at all (the service promises none): the backoff
    ],
)
async def test_retry_after_forms(retry_after: str | None, second_attempt_at: float) -> None:
    started: list[float] = []

    def handler(request: HTTPRequest) -> HTTPResponse:
        started.append(asyncio.get_running_loop().time())
        if len(started) > 1:
            return json_response(TASK)
        headers = {"Date": DATE}
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        return json_response({"detail": "slow down"}, 429, headers)

    async with AsyncExtruct(API_KEY, "https://api.extruct.test", retry=EXACT, rate_limit=None,
                            transport=MockTransport(handler)) as client:
        await client.discovery_tasks.get("t1")
    assert started == [0.0, second_attempt_at]


@pytest.mark.looptime
@pytest.mark.parametrize("retry_after", ["86400", "1e12", in_seconds(3600)])
async def test_a_huge_retry_after_is_raised_at_once_not_waited(retry_after: str) -> None:
    transport = MockTransport(lambda request: json_response(
        {"detail": "quota"}, 429, {"Date": DATE, "Retry-After": retry_after}))
    async with AsyncExtruct(API_KEY, "https://api.extruct.test", retry=EXACT,
                            transport=transport) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.discovery_tasks.get("t1")
    assert caught.value.retry_after is not None
    assert caught.value.retry_after >= 3600
    assert len(transport.requests) == 1
