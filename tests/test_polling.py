"""The shared poller's failure paths: errors reach the waiters, nobody hangs, nothing leaks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from extruct_async import ExtructError, ServerError
from extruct_async.testing import FakeExtructServer
from tests.conftest import API_KEY, EXACT_RETRIES

pytestmark = pytest.mark.looptime

QUERY = "vertical SaaS companies serving freight forwarding"


def fake(**options: Any) -> FakeExtructServer:
    return FakeExtructServer(api_key=API_KEY, seed=5, seconds_per_result=1.0, **options)


async def test_a_failed_status_read_reaches_the_waiter() -> None:
    async with fake() as server, server.client(retry=EXACT_RETRIES, max_retries=0) as client:
        task = await client.discovery_tasks.create(QUERY, desired_num_results=50)
        server.inject("503", endpoint="get", times=1)
        with pytest.raises(ServerError):
            await task.wait(poll_interval=5)
        assert client._poller._runner is None  # nothing left polling


async def test_a_bug_in_a_refresh_reaches_the_waiter_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with fake() as server, server.client(retry=EXACT_RETRIES) as client:
        task = await client.discovery_tasks.create(QUERY, desired_num_results=50)

        async def broken(task_id: str) -> Any:
            raise RuntimeError("bug")

        monkeypatch.setattr(client._poller._endpoints, "get", broken)
        with pytest.raises(RuntimeError, match="bug"):
            await asyncio.wait_for(task.wait(poll_interval=5), timeout=3600)


async def test_closing_the_client_releases_its_waiters() -> None:
    async with fake() as server:
        client = server.client(retry=EXACT_RETRIES)
        task = await client.discovery_tasks.create(QUERY, desired_num_results=200)
        waiter = asyncio.create_task(task.wait(poll_interval=5))
        await asyncio.sleep(12)
        await client.aclose()
        with pytest.raises(ExtructError, match="closed while waiting"):
            await waiter
        with pytest.raises(ExtructError, match="closed"):
            await task.wait()


async def test_the_poller_stops_with_its_last_follower() -> None:
    async with fake() as server, server.client(retry=EXACT_RETRIES) as client:
        first, second = await client.discovery_tasks.create_many(
            [{"query": QUERY, "desired_num_results": n} for n in (5, 40)]
        )
        slow = asyncio.create_task(second.wait(poll_interval=2))
        await first.wait(poll_interval=2)
        assert client._poller._runner is not None  # still following the second
        await slow
        assert client._poller._runner is None
        assert client._poller._tracked == {}
