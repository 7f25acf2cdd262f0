"""Retries, timeouts and faults against a real server (the simulator), on the fake clock.

Every fault is injected into the simulator (``server.inject``), so each test knows
exactly which request fails and how, and checks the exact requests and times that
follow, and that nothing was lost or done twice.
"""

from __future__ import annotations

import asyncio
import traceback
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web

from extruct_async import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    AsyncExtruct,
    AuthenticationError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
)
from extruct_async.testing import FakeExtructServer
from tests.conftest import API_KEY, EXACT_RETRIES, Serve, TinyServer

pytestmark = pytest.mark.looptime



def times(server: FakeExtructServer, endpoint: str) -> list[float]:
    return [r.time for r in server.requests if r.endpoint == endpoint]


def client_for(server: FakeExtructServer, **options: Any) -> AsyncExtruct:
    # No client rate limit: these tests time the retries, not the gate's spacing.
    return server.client(**{"retry": EXACT_RETRIES, "attempt_timeout": 30.0, "rate_limit": None,
                            **options})


@pytest.fixture
async def server() -> Any:
    async with FakeExtructServer(seed=3, api_key=API_KEY) as fake:
        yield fake


# -- idempotent requests: retried on their own ----------------------------------------


@pytest.mark.parametrize("kind", ["500", "502", "503", "504", "drop", "truncate", "invalid_json"])
async def test_get_is_retried_after_a_transient_fault(server: FakeExtructServer,
                                                      kind: str) -> None:
    async with client_for(server) as client:
        task = await client.discovery_tasks.create("freight forwarding software")
        start = server.time()
        server.inject(kind, endpoint="get", times=2)
        await task.refresh()
    gets = times(server, "get")
    assert [t - start for t in gets] == [0.0, 1.0, 3.0]  # backoff 1 s, then 2 s
    assert server.faults_served[kind] == 2


async def test_retries_run_out(server: FakeExtructServer, looptime: float) -> None:
    async with client_for(server) as client:
        task = await client.discovery_tasks.create("freight forwarding software")
        server.inject("503", endpoint="get", times=10)
        with pytest.raises(ServerError) as caught:
            await task.refresh()
    assert caught.value.status == 503
    assert times(server, "get") == [0.0, 1.0, 3.0, 7.0]  # 1 try + max_retries=3
    assert looptime == 7


async def test_a_slow_answer_times_out_and_is_retried(server: FakeExtructServer) -> None:
    async with client_for(server, attempt_timeout=10.0) as client:
        task = await client.discovery_tasks.create("freight forwarding software")
        server.inject("slow", endpoint="get")
        await task.refresh()
    assert times(server, "get") == [0.0, 11.0]  # timed out at 10 s, retried 1 s later


async def test_total_retry_time_counts_from_the_first_attempt(server: FakeExtructServer) -> None:
    policy = RetryPolicy(max_retries=5, initial_wait=1, jitter=False, max_time=10.5)
    async with client_for(server, attempt_timeout=10.0, retry=policy) as client:
        task = await client.discovery_tasks.create("freight forwarding software")
        server.inject("slow", endpoint="get", times=5)
        with pytest.raises(APITimeoutError):
            await task.refresh()
    # The attempt took 10 s; waiting 1 s more would pass 10.5 s: no retry starts.
    assert len(times(server, "get")) == 1


async def test_timeouts_surface_as_api_timeout_errors(server: FakeExtructServer) -> None:
    async with client_for(server, attempt_timeout=10.0, max_retries=0) as client:
        task = await client.discovery_tasks.create("freight forwarding software")
        server.inject("slow", endpoint="get")
        with pytest.raises(APITimeoutError) as caught:
            await task.refresh()
    # aiohttp's exception is not chained: it (and its frames) hold the request headers.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    assert caught.value.sent


@pytest.mark.parametrize(
    ("kind", "error"),
    [("drop", APIConnectionError), ("truncate", APIConnectionError),
     ("invalid_json", APIResponseError)],
)
async def test_faults_surface_as_sdk_errors(server: FakeExtructServer, kind: str,
                                            error: type[Exception]) -> None:
    async with client_for(server, max_retries=0) as client:
        task = await client.discovery_tasks.create("freight forwarding software")
        server.inject(kind, endpoint="get")
        with pytest.raises(error) as caught:
            await task.refresh()
    assert type(caught.value) is error
    assert "aiohttp" not in type(caught.value).__module__
    rendered = "".join(traceback.format_exception(caught.value))
    assert API_KEY not in rendered


async def test_client_errors_are_never_retried(server: FakeExtructServer) -> None:
    async with client_for(server) as client:
        with pytest.raises(NotFoundError):
            await client.discovery_tasks.get("no-such-task")
    async with AsyncExtruct("wrong-key", server.base_url, retry=EXACT_RETRIES) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.discovery_tasks.get("no-such-task")
    assert "wrong-key" not in str(caught.value)
    assert [r.status for r in server.requests] == [404, 401]


async def test_connection_refused_is_retried_then_raised(looptime: float) -> None:
    async with FakeExtructServer() as gone:
        url = gone.base_url  # a port nobody listens on once the server is closed
    async with AsyncExtruct(API_KEY, url, retry=EXACT_RETRIES) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.discovery_tasks.create("freight forwarding software")
    assert caught.value.sent is False
    assert looptime == 7  # waited 1 + 2 + 4 s between the four attempts


# -- Retry-After ------------------------------------------------------------------


async def test_retry_after_seconds_is_waited_exactly_without_jitter() -> None:
    async with (
        FakeExtructServer(api_key=API_KEY, retry_after=7) as server,
        server.client(retry=RetryPolicy(max_retries=2, jitter=True), rate_limit=None) as client,
    ):
        server.inject("503-retry-after", endpoint="create")
        server.inject("429", endpoint="create")
        await client.discovery_tasks.create("freight forwarding software")
    assert times(server, "create") == [0.0, 7.0, 14.0]
    assert server.create_count == 1


async def tiny_429(serve: Serve, retry_after: str, *, date: str | None = None) -> TinyServer:
    answered = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal answered
        answered += 1
        if answered == 1:
            headers = {"Retry-After": retry_after}
            if date:
                headers["Date"] = date
            return web.json_response({"detail": "slow down"}, status=429, headers=headers)
        return web.json_response({"id": "t1", "created_at": "2026-11-23T10:00:00Z",
                                  "status": "created", "query": "q", "desired_num_results": 5})

    return await serve(handler)


async def test_retry_after_http_date(serve: Serve) -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    server = await tiny_429(serve, format_datetime(now + timedelta(seconds=12), usegmt=True),
                            date=format_datetime(now, usegmt=True))
    async with AsyncExtruct(API_KEY, server.url, retry=EXACT_RETRIES) as client:
        await client.discovery_tasks.get("t1")
    assert [seen.time for seen in server.seen] == [0.0, 12.0]


async def test_junk_retry_after_falls_back_to_backoff(serve: Serve) -> None:
    server = await tiny_429(serve, "whenever you like")
    async with AsyncExtruct(API_KEY, server.url, retry=EXACT_RETRIES) as client:
        await client.discovery_tasks.get("t1")
    assert [seen.time for seen in server.seen] == [0.0, 1.0]


async def test_retry_after_too_long_is_raised_at_once(serve: Serve) -> None:
    server = await tiny_429(serve, "3600")
    async with AsyncExtruct(API_KEY, server.url, retry=EXACT_RETRIES) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.discovery_tasks.get("t1")
    assert caught.value.retry_after == 3600.0
    assert len(server.seen) == 1


async def test_a_429_slows_every_request_of_the_client() -> None:
    async with (
        FakeExtructServer(api_key=API_KEY, retry_after=5) as server,
        client_for(server, max_concurrency=1) as client,
    ):
        task = await client.discovery_tasks.create("freight forwarding software")
        server.inject("429", endpoint="get")
        await asyncio.gather(task.refresh(), client.discovery_tasks.get(task.id))
    # The first read is refused with Retry-After: 5. The second, queued behind it,
    # is held until then too, instead of going at once into the same refusal.
    assert times(server, "get") == [0.0, 5.0, 5.0]
    assert server.faults_served["429"] == 1


async def test_the_server_rate_limit_is_honoured() -> None:
    async with (
        FakeExtructServer(api_key=API_KEY, rate_limit=2) as server,
        server.client(rate_limit=None, retry=EXACT_RETRIES) as client,
    ):
        await asyncio.gather(*(client.discovery_tasks.create(f"query {i} about software")
                               for i in range(4)))
    assert server.create_count == 4
    assert server.rate_limited_count == 2
    # Two refused at once with Retry-After: 1; the whole client paused, then both went.
    assert times(server, "create") == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]


# -- create: never a second task ---------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "lookups", "sends"),
    [
        ("commit_then_drop", 1, 1),  # created, answer lost: found, not sent again
        ("truncate", 1, 1),
        ("invalid_json", 1, 1),
        ("slow", 1, 1),  # created, answer too late: found after the timeout
        ("500", 1, 2),  # not created (the gateway failed): nothing found, sent again
        ("502", 1, 2),
        ("drop", 1, 2),
        ("429", 0, 2),  # refused before anything happened: simply sent again
        ("503-retry-after", 1, 2),
    ],
)
async def test_create_after_a_fault_makes_exactly_one_task(
    server: FakeExtructServer, kind: str, lookups: int, sends: int
) -> None:
    async with client_for(server, attempt_timeout=10.0) as client:
        server.inject(kind, endpoint="create")
        task = await client.discovery_tasks.create("freight forwarding software",
                                                   desired_num_results=20)
    assert server.create_count == 1
    assert list(server.tasks) == [task.id]
    assert len(times(server, "create")) == sends
    assert len(times(server, "list")) == lookups


async def test_concurrent_identical_creates_are_not_merged(server: FakeExtructServer) -> None:
    async with client_for(server) as client:
        server.inject("commit_then_drop", endpoint="create")
        first, second = await asyncio.gather(
            client.discovery_tasks.create("same query about software"),
            client.discovery_tasks.create("same query about software"),
        )
    assert server.create_count == 2
    assert {first.id, second.id} == set(server.tasks)


async def test_an_older_identical_task_is_not_adopted(server: FakeExtructServer) -> None:
    async with client_for(server) as client:
        earlier = await client.discovery_tasks.create("same query about software")
        server.inject("500", endpoint="create")
        later = await client.discovery_tasks.create("same query about software")
    assert later.id != earlier.id
    assert server.create_count == 2


async def test_create_gives_up_when_the_lookup_cannot_run(server: FakeExtructServer) -> None:
    async with client_for(server, max_retries=1) as client:
        server.inject("500", endpoint="create", times=5)
        server.inject("503", endpoint="list", times=50)
        with pytest.raises(ServerError):
            await client.discovery_tasks.create("freight forwarding software")
    assert server.create_count == 0


# -- resume: never applied twice --------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "sends"),
    [
        ("truncate", 1),  # applied, answer cut short: seen on the task, not sent again
        ("invalid_json", 1),
        ("slow", 1),
        ("500", 2),  # not applied: sent again
        ("drop", 2),
    ],
)
async def test_resume_after_a_fault_is_applied_once(kind: str, sends: int) -> None:
    async with (
        FakeExtructServer(api_key=API_KEY, seconds_per_result=0.01) as server,
        client_for(server, attempt_timeout=10.0) as client,
    ):
        task = await client.discovery_tasks.create("freight forwarding software",
                                                   desired_num_results=10)
        await task.wait(poll_interval=30)
        server.inject(kind, endpoint="resume")
        await task.resume(desired_new_results=15)
        assert server.task_state(task.id)["desired_num_results"] == 25
        assert task.desired_num_results == 25
    assert len(times(server, "resume")) == sends


# -- paging survives faults ------------------------------------------------------------


async def test_each_page_is_retried_on_its_own() -> None:
    async with (
        FakeExtructServer(api_key=API_KEY, seconds_per_result=0.01) as server,
        client_for(server) as client,
    ):
        task = await client.discovery_tasks.create("freight forwarding software",
                                                   desired_num_results=60)
        await task.wait(poll_interval=30)
        rows = []
        async for page in task.pages(page_size=20):
            rows.extend(row.id for row in page)
            server.inject("drop", endpoint="results")
        expected = [row["id"] for row in server.visible_rows(task.id)]
    assert rows == expected  # nothing lost, nothing twice
    offsets = [r.query["offset"] for r in server.requests if r.endpoint == "results"]
    assert offsets[:4] == ["0", "20", "20", "40"]  # only the failed page was asked again
