"""Rate limits, latency, injected faults and the request log, seen from a raw aiohttp client."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import pytest

from extruct_async.testing import ENDPOINTS, FAULT_KINDS, FakeExtructServer

from ._raw import TASKS, RawAPI, auth, running

pytestmark = pytest.mark.looptime

QUERY = "industrial IoT platforms"
EPOCH = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


async def status_of(api: RawAPI, method: str = "GET", path: str = TASKS, **kwargs: object) -> int:
    async with api.session.request(method, path, **kwargs) as response:  # type: ignore[arg-type]
        await response.read()
        return response.status


async def test_the_rate_limit_answers_429_with_retry_after(looptime: float) -> None:
    async with running(rate_limit=5) as (server, api):
        answers = await asyncio.gather(*(api.call("GET", TASKS) for _ in range(8)))
        assert sorted(answer.status for answer in answers) == [200] * 5 + [429] * 3
        limited = [answer for answer in answers if answer.status == 429]
        assert all(answer.headers["Retry-After"] == "1" for answer in limited)
        assert all(isinstance(answer.body["detail"], str) for answer in limited)
        assert server.rate_limited_count == 3
        await asyncio.sleep(0.6)
        assert (await api.call("GET", TASKS)).status == 429
        await asyncio.sleep(0.4)
        assert (await api.call("GET", TASKS)).status == 200
        assert server.peak_requests_per_second() == 9
        assert server.rate_limited_count == 4


async def test_retry_after_rounds_up_the_wait() -> None:
    async with running(rate_limit=0.25) as (_, api):
        assert (await api.call("GET", TASKS)).status == 200
        await asyncio.sleep(1.5)
        answer = await api.call("GET", TASKS)
        assert (answer.status, answer.headers["Retry-After"]) == (429, "3")


async def test_the_peak_counts_arrivals_in_any_one_second_window() -> None:
    async with running() as (server, api):
        for pause in (0.0, 0.3, 0.3, 0.3, 0.2, 0.5, 0.5):
            await asyncio.sleep(pause)
            await api.call("GET", TASKS)
        # Arrivals at 0, .3, .6, .9, 1.1, 1.6, 2.1: [0.3, 1.3) holds four.
        assert server.peak_requests_per_second() == 4


async def test_latency_delays_every_answer(looptime: float) -> None:
    async with running(latency=0.25) as (_, api):
        start = float(looptime)
        await api.create(query=QUERY)
        await api.call("GET", TASKS)
        assert float(looptime) - start == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("kind", "status", "retry_after"),
    [("500", 500, None), ("502", 502, None), ("503", 503, None), ("503-retry-after", 503, "2"),
     ("504", 504, None), ("429", 429, "2"), ("429-no-retry-after", 429, None)],
)  # fmt: skip
async def test_status_faults_answer_at_once_and_commit_nothing(
    kind: str, status: int, retry_after: str | None
) -> None:
    async with running(retry_after=2, gateway_body="json") as (server, api):
        server.inject(kind, endpoint="create")
        answer = await api.call("POST", TASKS, json={"query": QUERY})
        assert answer.status == status
        assert isinstance(answer.body["detail"], str)
        assert answer.headers.get("Retry-After") == retry_after
        assert server.create_count == 0
        assert (await api.call("POST", TASKS, json={"query": QUERY})).status == 200
        assert server.faults_served == Counter({kind: 1})
        assert [(r.status, r.fault) for r in server.requests] == [(status, kind), (200, None)]


async def test_drop_closes_the_connection_without_committing() -> None:
    async with running() as (server, api):
        server.inject("drop", endpoint="create")
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.call("POST", TASKS, json={"query": QUERY})
        assert server.create_count == 0
        assert server.requests[0].status is None
        assert server.requests[0].fault == "drop"


async def test_aiohttp_retries_a_dropped_get_once_by_itself() -> None:
    async with running() as (server, api):
        server.inject("drop", endpoint="list")
        assert (await api.call("GET", TASKS)).status == 200
        assert [record.fault for record in server.requests] == ["drop", None]
        server.inject("drop", endpoint="list", times=2)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.call("GET", TASKS)


async def test_truncate_commits_then_cuts_the_body_short() -> None:
    async with running() as (server, api):
        server.inject("truncate", endpoint="create")
        async with api.session.post(TASKS, json={"query": QUERY}) as response:
            assert response.status == 200
            assert response.content_length is not None
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()
        assert server.create_count == 1


async def test_invalid_json_commits_and_answers_a_complete_non_json_body() -> None:
    async with running() as (server, api):
        server.inject("invalid_json", endpoint="create")
        async with api.session.post(TASKS, json={"query": QUERY}) as response:
            body = await response.read()
            assert response.status == 200
            assert response.content_length == len(body)
            with pytest.raises(json.JSONDecodeError):
                json.loads(body)
        assert server.create_count == 1


async def test_slow_commits_at_once_and_answers_after_slow_seconds(looptime: float) -> None:
    async with running(slow_seconds=30) as (server, api):
        server.inject("slow", endpoint="create")
        start = float(looptime)
        with pytest.raises(asyncio.TimeoutError):
            await api.call(
                "POST", TASKS, json={"query": QUERY}, timeout=aiohttp.ClientTimeout(total=5)
            )
        assert float(looptime) - start == pytest.approx(5)
        assert server.create_count == 1
        server.inject("slow", endpoint="list")
        answer = await api.call("GET", TASKS)
        assert answer.status == 200
        assert float(looptime) - start == pytest.approx(35)


async def test_commit_then_drop_creates_the_task_but_never_answers() -> None:
    async with running() as (server, api):
        server.inject("commit_then_drop")
        assert (await api.call("GET", TASKS)).status == 200
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.call("POST", TASKS, json={"query": QUERY})
        assert server.create_count == 1
        assert [task.query for task in server.tasks.values()] == [QUERY]
        assert server.requests[-1].fault == "commit_then_drop"
        assert server.requests[-1].status is None


async def test_scripted_faults_target_an_endpoint_and_count_down() -> None:
    async with running() as (server, api):
        task = await api.create(query=QUERY)
        server.inject("500", endpoint="get", times=2)
        assert await status_of(api) == 200
        path = f"{TASKS}/{task['id']}"
        assert [await status_of(api, path=path) for _ in range(3)] == [500, 500, 200]
        server.inject("502")
        assert await status_of(api, "POST", f"{path}/resume", json={}) == 502


@pytest.mark.parametrize(
    ("kind", "endpoint", "times"),
    [("nope", None, 1), ("500", "delete", 1), ("commit_then_drop", "get", 1), ("500", None, 0)],
)
def test_inject_rejects_nonsense(kind: str, endpoint: str | None, times: int) -> None:
    with pytest.raises(ValueError, match=r"."):
        FakeExtructServer().inject(kind, endpoint=endpoint, times=times)


def test_unknown_random_fault_kinds_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        FakeExtructServer(fault_kinds=["500", "boom"])
    with pytest.raises(ValueError, match="fault_rate"):
        FakeExtructServer(fault_rate=1.5)


async def test_random_faults_are_seeded() -> None:
    async def outcomes(seed: int) -> list[str | None]:
        kinds = ["500", "503", "invalid_json"]
        async with running(seed=seed, fault_rate=0.5, fault_kinds=kinds) as (server, api):
            for _ in range(40):
                async with api.session.get(TASKS) as response:
                    await response.read()
            return [record.fault for record in server.requests]

    first = await outcomes(3)
    assert first == await outcomes(3)
    assert first != await outcomes(4)
    assert 10 < sum(fault is not None for fault in first) < 30
    assert set(first) == {None, "500", "503", "invalid_json"}


async def test_random_commit_then_drop_only_hits_creates() -> None:
    async with running(fault_rate=1.0, fault_kinds=["commit_then_drop"]) as (server, api):
        assert (await api.call("GET", TASKS)).status == 200
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await api.call("POST", TASKS, json={"query": QUERY})
        assert server.faults_served == Counter({"commit_then_drop": 1})


async def test_the_request_log_records_what_happened() -> None:
    async with running(gateway_body="json") as (server, api):
        await asyncio.sleep(1.5)
        task = await api.create(query=QUERY)
        await api.call("GET", TASKS, params={"limit": "5"})
        async with (
            aiohttp.ClientSession(server.base_url) as anonymous,
            anonymous.get(f"{TASKS}/{task['id']}/results") as response,
        ):
            assert response.status == 401
        server.inject("504", endpoint="get")
        await api.call("GET", f"{TASKS}/{task['id']}")
        await api.call("GET", "/openapi.json")
        records = server.requests
    assert [(r.endpoint, r.method, r.status, r.fault, r.api_key_ok) for r in records] == [
        ("create", "POST", 200, None, True),
        ("list", "GET", 200, None, True),
        ("results", "GET", 401, None, False),
        ("get", "GET", 504, "504", True),
    ]
    assert records[0].time == pytest.approx(1.5)
    assert records[1].path == TASKS
    assert records[1].query == {"limit": "5"}
    assert records[2].path == f"{TASKS}/{task['id']}/results"
    assert {record.endpoint for record in records} <= set(ENDPOINTS)


async def test_close_does_not_wait_for_held_answers(looptime: float) -> None:
    server = FakeExtructServer(slow_seconds=600)
    await server.start()
    async with aiohttp.ClientSession(server.base_url, headers=auth(server)) as session:
        server.inject("slow")
        request = asyncio.ensure_future(session.get(TASKS))
        await asyncio.sleep(1)
        await server.close()
        with pytest.raises(aiohttp.ClientError):
            await request
    assert float(looptime) < 10


def test_every_fault_kind_is_documented() -> None:
    documentation = FakeExtructServer.inject.__doc__
    assert documentation is not None
    for kind in FAULT_KINDS:
        assert f"``{kind}``" in documentation


async def raw(api: RawAPI, method: str, path: str, **kwargs: Any) -> tuple[int, Any, bytes]:
    async with api.session.request(method, path, **kwargs) as response:
        return response.status, response.headers, await response.read()


@pytest.mark.parametrize("kind", ["500", "502", "503", "503-retry-after", "504"])
async def test_gateway_faults_answer_an_html_page_by_default(kind: str) -> None:
    async with running() as (server, api):
        server.inject(kind, endpoint="get")
        status, headers, body = await raw(api, "GET", f"{TASKS}/anything")
        reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                  504: "Gateway Timeout"}[status]  # fmt: skip
        assert status == int(kind[:3])
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert f"<title>{status} {reason}</title>".encode() in body
        assert body.startswith(b"<html>")
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)


@pytest.mark.parametrize(
    ("gateway_body", "content_type", "body"),
    [("text", "text/plain; charset=utf-8", b"Bad Gateway"),
     ("json", "application/json; charset=utf-8", b'{"detail": "Bad Gateway"}')],
)  # fmt: skip
async def test_gateway_bodies_can_be_plain_text_or_json(
    gateway_body: str, content_type: str, body: bytes
) -> None:
    async with running(gateway_body=gateway_body) as (server, api):
        server.inject("502")
        status, headers, answered = await raw(api, "GET", TASKS)
        assert (status, headers["Content-Type"], answered) == (502, content_type, body)


async def test_429_faults_answer_json_whatever_the_gateway_writes() -> None:
    async with running(gateway_body="html") as (server, api):
        server.inject("429")
        answer = await api.call("GET", TASKS)
        assert (answer.status, answer.body) == (429, {"detail": "Too Many Requests"})


def test_an_unknown_gateway_body_is_refused() -> None:
    with pytest.raises(ValueError, match="gateway_body"):
        FakeExtructServer(gateway_body="xml")
    with pytest.raises(ValueError, match="retry_after_format"):
        FakeExtructServer(retry_after_format="minutes")


async def test_the_rate_limit_can_answer_429_without_retry_after() -> None:
    async with running(rate_limit=2, retry_after_format="none") as (server, api):
        answers = [await api.call("GET", TASKS) for _ in range(4)]
        assert [answer.status for answer in answers] == [200, 200, 429, 429]
        assert all("Retry-After" not in answer.headers for answer in answers)
        assert all(answer.body == {"detail": "Rate limit exceeded"} for answer in answers[2:])
        assert server.rate_limited_count == 2


@pytest.mark.parametrize("kind", ["429", "503-retry-after", "429-no-retry-after"])
async def test_retry_after_format_none_sends_none_on_faults_either(kind: str) -> None:
    async with running(retry_after=5, retry_after_format="none") as (server, api):
        server.inject(kind)
        status, headers, _ = await raw(api, "GET", TASKS)
        assert status in (429, 503)
        assert "Retry-After" not in headers


async def test_retry_after_can_be_an_http_date_after_the_answers_date() -> None:
    options = {"rate_limit": 1, "retry_after_format": "http-date", "retry_after": 7}
    async with running(epoch=EPOCH, **options) as (server, api):
        await asyncio.sleep(10.6)
        await api.call("GET", TASKS)
        await asyncio.sleep(0.2)
        limited = await api.call("GET", TASKS)
        assert limited.status == 429
        date = parsedate_to_datetime(limited.headers["Date"])
        retry_at = parsedate_to_datetime(limited.headers["Retry-After"])
        assert date == datetime(2024, 5, 1, 12, 0, 10, tzinfo=timezone.utc)
        # A whole second after Date, though the service's clock is 10.8 s after its epoch.
        assert (retry_at - date).total_seconds() == 1
        server.inject("429")
        faulted = await api.call("GET", TASKS)
        assert parsedate_to_datetime(faulted.headers["Retry-After"]) - date == timedelta(seconds=7)


async def test_every_answer_carries_a_date_from_the_simulated_wall_clock() -> None:
    async with running(epoch=EPOCH, rate_limit=100) as (server, api):
        await asyncio.sleep(3725.5)
        expected = "Wed, 01 May 2024 13:02:05 GMT"
        server.inject("502", endpoint="list")
        server.inject("drop", endpoint="get")
        requests: list[tuple[str, str, dict[str, Any]]] = [
            ("POST", TASKS, {"json": {"query": QUERY}}),  # 200
            ("POST", TASKS, {"json": {}}),  # 422
            ("GET", TASKS, {}),  # the 502 fault
            ("GET", f"{TASKS}/nope/results", {}),  # 404 from the service
            ("GET", "/v9/elsewhere", {}),  # 404 from the router
            ("DELETE", TASKS, {}),  # 405
            ("GET", "/openapi.json", {}),
            ("GET", f"{TASKS}/nope", {"headers": {"Authorization": "Bearer wrong"}}),  # 401
        ]
        for method, path, options in requests:
            status, headers, _ = await raw(api, method, path, **options)
            assert headers["Date"] == expected, (method, path, status)
        assert server.wall_clock() == EPOCH + timedelta(seconds=3725.5)
        assert server.epoch == EPOCH


async def test_created_at_and_date_tell_the_same_instant() -> None:
    async with running(epoch=EPOCH) as (_, api):
        for pause in (90.25, 0.74, 0.02):
            await asyncio.sleep(pause)
            async with api.session.post(TASKS, json={"query": QUERY}) as response:
                task = await response.json()
                date = parsedate_to_datetime(response.headers["Date"])
            created_at = datetime.fromisoformat(task["created_at"].replace("Z", "+00:00"))
            assert date == created_at.replace(microsecond=0)


async def test_a_skewed_service_clock_shows_in_date_and_created_at(looptime: float) -> None:
    behind = datetime.now(timezone.utc) - timedelta(hours=2)
    async with running(epoch=behind) as (_, api):
        async with api.session.post(TASKS, json={"query": QUERY}) as response:
            date = parsedate_to_datetime(response.headers["Date"])
            task = await response.json()
        skew = datetime.now(timezone.utc) - date
        assert timedelta(hours=2) - timedelta(seconds=5) < skew < timedelta(hours=2, seconds=5)
        assert task["created_at"].startswith(behind.strftime("%Y-%m-%dT%H"))
