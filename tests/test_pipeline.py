"""The one retry path, through a ``MockTransport``, on the fake loop clock.

Each test scripts the answers and asserts the exact requests and the exact loop times
at which they started: retries and their waits, the 429 pause, the look-up before a
create or resume is sent again, and the one deadline that bounds a whole call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from extruct_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncExtruct,
    AuthenticationError,
    HTTPRequest,
    HTTPResponse,
    RateLimitError,
    RetryPolicy,
    ServerError,
)
from extruct_async.testing import MockTransport, json_response
from tests.conftest import API_KEY, BASE_URL, EXACT_RETRIES

pytestmark = pytest.mark.looptime

TASK = {"id": "t1", "created_at": "2026-11-23T10:00:00Z", "status": "created",
        "query": "freight SaaS", "desired_num_results": 100}
DATE = {"Date": "Mon, 23 Nov 2026 10:00:05 GMT"}  # 5 s after TASK was created


class Script:
    """Answers by (method, path), popped in order; records each request's start time."""

    def __init__(self, **answers: list[HTTPResponse | BaseException]) -> None:
        self.answers = {key: list(value) for key, value in answers.items()}
        self.started: list[tuple[float, str]] = []

    async def __call__(self, request: HTTPRequest) -> HTTPResponse:
        now = asyncio.get_running_loop().time()
        key = "create" if request.method == "POST" and request.url.endswith("tasks") else (
            "resume" if request.url.endswith("/resume") else
            "list" if "?" in request.url else "get"
        )
        self.started.append((now, key))
        answer = self.answers[key].pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def times(self, key: str) -> list[float]:
        return [time for time, what in self.started if what == key]


def client(script: Callable[[HTTPRequest], Any], **options: Any) -> AsyncExtruct:
    options = {"retry": EXACT_RETRIES, "rate_limit": None, **options}
    return AsyncExtruct(API_KEY, BASE_URL, transport=MockTransport(script), **options)


def status(code: int, **headers: str) -> HTTPResponse:
    named = {key.replace("_", "-"): value for key, value in headers.items()}
    return json_response({"detail": "no"}, code, named)


def dropped() -> APIConnectionError:
    return APIConnectionError("dropped", method="POST", url=BASE_URL)


async def test_transient_failures_are_retried_after_exact_waits() -> None:
    script = Script(get=[status(503), status(502), json_response(TASK)])
    async with client(script) as api:
        task = await api.discovery_tasks.get("t1")
    assert task.id == "t1"
    assert script.times("get") == [0.0, 1.0, 3.0]  # waits of 1 s then 2 s (no jitter)


async def test_retries_run_out() -> None:
    script = Script(get=[status(500)] * 4)
    async with client(script) as api:
        with pytest.raises(ServerError):
            await api.discovery_tasks.get("t1")
    assert script.times("get") == [0.0, 1.0, 3.0, 7.0]  # 1 attempt + max_retries=3


async def test_fatal_failures_are_not_retried() -> None:
    script = Script(get=[status(404)])
    async with client(script) as api:
        with pytest.raises(Exception, match="404"):
            await api.discovery_tasks.get("t1")
    assert script.times("get") == [0.0]


async def test_a_429_with_retry_after_pauses_the_whole_client() -> None:
    script = Script(get=[status(429, retry_after="5"), json_response(TASK), json_response(TASK)])
    async with client(script) as api:
        first = asyncio.create_task(api.discovery_tasks.get("t1"))
        await asyncio.sleep(0.5)
        second = asyncio.create_task(api.discovery_tasks.get("t1"))  # not refused, but waits
        await asyncio.gather(first, second)
    assert script.times("get") == [0.0, 5.0, 5.0]


async def test_a_429_without_retry_after_backs_off_and_pauses_everyone_as_long() -> None:
    # The service promises no Retry-After: the policy's backoff is the pause for all.
    script = Script(get=[status(429), json_response(TASK), json_response(TASK)])
    async with client(script) as api:
        first = asyncio.create_task(api.discovery_tasks.get("t1"))
        await asyncio.sleep(0.25)
        second = asyncio.create_task(api.discovery_tasks.get("t1"))
        await asyncio.gather(first, second)
    assert script.times("get") == [0.0, 1.0, 1.0]


async def test_a_retry_after_beyond_the_limit_is_raised_at_once() -> None:
    script = Script(get=[status(429, retry_after="3600")])
    async with client(script, retry=RetryPolicy(max_retry_after=60)) as api:
        with pytest.raises(RateLimitError) as caught:
            await api.discovery_tasks.get("t1")
    assert caught.value.retry_after == 3600.0
    assert script.times("get") == [0.0]


async def test_a_create_that_may_have_applied_is_looked_up_before_it_is_sent_again() -> None:
    script = Script(
        create=[status(502), json_response({**TASK, "id": "t2"})],
        list=[json_response([], headers=DATE), json_response([TASK], headers=DATE)],
    )
    async with client(script) as api:
        task = await api.discovery_tasks.create("freight SaaS")
    # 502, look (nothing), create again; the second answer is the task.
    assert [what for _, what in script.started] == ["create", "list", "create"]
    assert task.id == "t2"


async def test_a_look_up_that_finds_the_task_adopts_it() -> None:
    script = Script(create=[dropped()], list=[json_response([TASK], headers=DATE)])
    async with client(script) as api:
        task = await api.discovery_tasks.create("freight SaaS")
    assert task.id == "t1"
    assert [what for _, what in script.started] == ["create", "list"]


async def test_when_the_look_up_fails_the_create_is_never_sent_again() -> None:
    script = Script(create=[status(502)], list=[status(404)])
    async with client(script) as api:
        with pytest.raises(ServerError) as caught:
            await api.discovery_tasks.create("freight SaaS")
    assert [what for _, what in script.started] == ["create", "list"]
    assert caught.value.__context__ is not None  # the look-up's failure is kept


async def test_a_look_up_refused_the_key_says_so() -> None:
    # 503 on the create, then 401 on the look-up: the key is the problem now, and a 503
    # (a network problem to the caller) would send them the wrong way.
    script = Script(create=[status(503)], list=[status(401)])
    async with client(script) as api:
        with pytest.raises(AuthenticationError) as caught:
            await api.discovery_tasks.create("freight SaaS")
    assert isinstance(caught.value.__cause__, ServerError)  # the create's own failure
    assert [what for _, what in script.started] == ["create", "list"]


async def test_a_last_look_when_the_retries_run_out() -> None:
    policy = RetryPolicy(max_retries=1, initial_wait=1, jitter=False)
    script = Script(create=[status(503), status(503)],
                    list=[json_response([], headers=DATE), json_response([TASK], headers=DATE)])
    async with client(script, retry=policy) as api:
        task = await api.discovery_tasks.create("freight SaaS")
    assert task.id == "t1"
    assert [what for _, what in script.started] == ["create", "list", "create", "list"]


async def test_a_refused_create_is_simply_sent_again() -> None:
    refused = APIConnectionError("refused", method="POST", url=BASE_URL, sent=False)
    script = Script(create=[refused, status(429), json_response(TASK)])
    async with client(script) as api:
        await api.discovery_tasks.create("freight SaaS")
    assert script.started == [(0.0, "create"), (1.0, "create"), (3.0, "create")]  # no look-up


async def test_one_deadline_bounds_a_create_and_its_look_ups() -> None:
    # Every answer drips in slower than the timeout: each attempt ends when its timeout
    # does, and the timeout is cut to the time left. Nothing starts after max_time.
    async def drip(request: HTTPRequest) -> HTTPResponse:
        started.append(asyncio.get_running_loop().time())
        assert request.timeout.total is not None
        await asyncio.sleep(request.timeout.total)
        raise APITimeoutError("slow", method=request.method, url=request.url)

    started: list[float] = []
    policy = RetryPolicy(max_retries=10, max_time=5, initial_wait=0.5, jitter=False)
    async with client(drip, retry=policy, attempt_timeout=1.5) as api:
        loop = asyncio.get_running_loop()
        with pytest.raises(APITimeoutError):
            await api.discovery_tasks.create("freight SaaS")
        ended = loop.time()
    assert ended <= 5.0
    assert all(time < 5.0 for time in started)
    # create 0-1.5, wait 0.5, look-up 2-3.5, wait 0.5, the look-up again 4-5 (cut to
    # 1 s): out of time, the create's own failure is raised and nothing more starts.
    assert started == [0.0, 2.0, 4.0]


async def test_a_custom_transports_own_failure_counts_as_maybe_sent() -> None:
    def broken(request: HTTPRequest) -> HTTPResponse:
        raise OSError("socket gone")

    async with client(broken, max_retries=0) as api:
        with pytest.raises(APIConnectionError, match="transport failed") as caught:
            await api.discovery_tasks.get("t1")
    assert caught.value.sent
    assert isinstance(caught.value.__cause__, OSError)


async def test_each_attempt_is_one_log_line_and_each_retry_another(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="extruct_async")
    script = Script(get=[status(503), json_response(TASK, headers={"X-Request-Id": "r-7"})])
    async with client(script) as api:
        await api.discovery_tasks.get("t1")
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [
        "GET /v1/discovery_tasks/t1 -> 503 in 0.000s (request id -, retry 0)",
        "retrying GET /v1/discovery_tasks/t1 in 1.0 s (retry 1 of 3): 503 Service Unavailable"
        " for GET https://api.extruct.test/v1/discovery_tasks/t1: no",
        "GET /v1/discovery_tasks/t1 -> 200 in 0.000s (request id r-7, retry 1)",
    ]
    retry = caplog.records[1]
    assert (retry.extruct_wait, retry.extruct_retry) == (1.0, 1)  # type: ignore[attr-defined]
    assert API_KEY not in caplog.text
