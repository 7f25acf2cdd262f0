"""wait() and watch() against a real server that plays a scripted task, on the fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from aiohttp import web

from extruct_async import (
    AsyncExtruct,
    DiscoveryTask,
    InvalidRequestError,
    InvalidTypeError,
    TaskFailedError,
    TaskState,
    TaskStatus,
    WaitTimeoutError,
)
from tests.conftest import API_KEY, EXACT_RETRIES, Handler, Serve, TinyServer

pytestmark = pytest.mark.looptime



def state(status: str = "in_progress", *, exhausted: bool = False, discovered: int = 0,
          enriched: int = 0, evaluated: int = 0, results: int = 0) -> dict[str, Any]:
    return {
        "id": "t1",
        "created_at": "2026-11-23T10:00:00Z",
        "status": status,
        "query": "freight SaaS",
        "desired_num_results": 100,
        "is_exhausted": exhausted,
        "num_results_discovered": discovered,
        "num_results_enriched": enriched,
        "num_results_evaluated": evaluated,
        "num_results": results,
    }


def script(states: Sequence[dict[str, Any] | int]) -> Handler:
    """Answer the n-th request with the n-th entry (a task, or an error status)."""
    remaining = list(states)

    async def handler(request: web.Request) -> web.StreamResponse:
        item = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        if isinstance(item, int):
            return web.json_response({"detail": "try later"}, status=item)
        return web.json_response(item)

    return handler


async def scripted_task(serve: Serve, states: Sequence[dict[str, Any] | int],
                        **options: Any) -> tuple[AsyncExtruct, DiscoveryTask, TinyServer]:
    """A client and a handle whose task starts as ``states[0]``; polls get the rest."""
    server = await serve(script(states))
    client = AsyncExtruct(API_KEY, server.url, retry=EXACT_RETRIES, **options)
    task = await client.discovery_tasks.get("t1")
    server.seen.clear()
    return client, task, server


def sdk_tasks() -> set[asyncio.Task[Any]]:
    """asyncio tasks running SDK code (the poller, say), other than the test itself."""
    def runs_sdk_code(task: asyncio.Task[Any]) -> bool:
        code = getattr(task.get_coro(), "cr_code", None)
        return code is not None and "extruct_async" in code.co_filename

    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task() and runs_sdk_code(t)}


def poll_times(server: TinyServer) -> list[float]:
    return [seen.time for seen in server.seen]


async def test_wait_polls_until_done(serve: Serve) -> None:
    client, task, server = await scripted_task(serve, [
        state("created"),
        state(discovered=10, enriched=5),
        state(discovered=30, enriched=20, evaluated=10, results=8),
        state("done", discovered=150, enriched=120, evaluated=120, results=100),
    ])
    async with client:
        assert await task.wait() is task
    assert task.status is TaskStatus.DONE
    assert task.num_results == 100
    assert poll_times(server) == [5.0, 10.0, 15.0]  # the default interval is 5 s
    assert {seen.path for seen in server.seen} == {"/v1/discovery_tasks/t1"}


async def test_exhausted_is_not_finished_until_the_status_says_so(serve: Serve) -> None:
    client, task, server = await scripted_task(serve, [
        state(discovered=80, enriched=60, evaluated=30),
        state(exhausted=True, discovered=90, enriched=70, evaluated=40, results=30),
        state(exhausted=True, discovered=90, enriched=70, evaluated=69, results=50),
        # Evaluation has caught up, but qualification still adds rows (51, then 53).
        state(exhausted=True, discovered=90, enriched=70, evaluated=70, results=51),
        state(exhausted=True, discovered=90, enriched=70, evaluated=70, results=53),
        state("done", exhausted=True, discovered=90, enriched=70, evaluated=70, results=53),
    ])
    async with client:
        await task.wait(poll_interval=10)
    # Five polls: it returned only on "done", with the last rows counted.
    assert poll_times(server) == [10.0, 20.0, 30.0, 40.0, 50.0]
    assert task.status is TaskStatus.DONE
    assert task.evaluation_caught_up
    assert (task.num_results_evaluated, task.num_results_enriched, task.num_results) == (70, 70, 53)


async def test_failed_task_raises_with_the_task(serve: Serve) -> None:
    client, task, _ = await scripted_task(serve, [state(), state("failed", discovered=3)])
    async with client:
        with pytest.raises(TaskFailedError) as caught:
            await task.wait()
    assert caught.value.task is task
    assert caught.value.task.status is TaskStatus.FAILED


async def test_timeout_raises_with_the_last_state(serve: Serve, looptime: float) -> None:
    client, task, server = await scripted_task(serve, [
        state(), state(discovered=1), state(discovered=2), state(discovered=3),
    ])
    async with client:
        with pytest.raises(WaitTimeoutError) as caught:
            await task.wait(poll_interval=5, timeout=12)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.task is task
    assert caught.value.timeout == 12
    # Polls at 5 and 10; at the deadline it gives up at once, with the state of 10 s.
    assert poll_times(server) == [5.0, 10.0]
    assert looptime == 12
    assert task.num_results_discovered == 2
    assert "t1" in str(caught.value)


async def test_zero_timeout_checks_once_without_waiting(serve: Serve) -> None:
    client, task, server = await scripted_task(serve, [state()])
    async with client:
        with pytest.raises(WaitTimeoutError):
            await task.wait(timeout=0)
    assert server.seen == []


async def test_already_finished_returns_without_a_request(serve: Serve) -> None:
    client, task, server = await scripted_task(serve, [state("done")])
    async with client:
        await task.wait()
    assert server.seen == []


async def test_interval_grows_to_its_cap(serve: Serve) -> None:
    client, task, server = await scripted_task(serve, [state()] * 6 + [state("done")])
    async with client:
        await task.wait(poll_interval=4, max_poll_interval=10)
    times = poll_times(server)
    gaps = [round(b - a, 6) for a, b in zip([0.0, *times], times, strict=False)]
    assert gaps == [4.0, 6.0, 9.0, 10.0, 10.0, 10.0]


async def test_on_progress_sync_and_async_called_on_each_change(serve: Serve) -> None:
    states = [
        state(discovered=1),
        state(discovered=1),  # nothing changed: no call
        state(discovered=4, enriched=2),
        state(discovered=4, enriched=2),
        state("done", discovered=4, enriched=2, evaluated=2, results=2),
    ]
    seen_sync: list[tuple[int, int]] = []
    seen_async: list[str] = []

    def on_progress(task: DiscoveryTask) -> None:
        seen_sync.append((task.num_results_discovered, task.num_results_enriched))

    async def on_progress_async(task: DiscoveryTask) -> None:
        await asyncio.sleep(0)
        seen_async.append(str(task.status))

    client, task, _ = await scripted_task(serve, states)
    async with client:
        await task.wait(on_progress=on_progress)
    assert seen_sync == [(1, 0), (4, 2), (4, 2)]

    client, task, _ = await scripted_task(serve, states)
    async with client:
        await task.wait(on_progress=on_progress_async)
    assert seen_async == ["in_progress", "in_progress", "done"]


async def test_watch_yields_snapshots(serve: Serve) -> None:
    client, task, server = await scripted_task(serve, [
        state("created"), state(discovered=2), state(discovered=2), state("failed", discovered=2),
    ])
    async with client:
        snapshots = [snapshot async for snapshot in task.watch(poll_interval=1)]
    assert all(isinstance(s, TaskState) for s in snapshots)
    assert [(str(s.status), s.num_results_discovered) for s in snapshots] == [
        ("created", 0), ("in_progress", 2), ("failed", 2),
    ]
    assert len(server.seen) == 3


async def test_cancelling_wait_stops_polling_at_once(serve: Serve, looptime: float) -> None:
    client, task, server = await scripted_task(serve, [state()])
    async with client:
        waiter = asyncio.create_task(task.wait(poll_interval=5))
        await asyncio.sleep(12)
        assert len(sdk_tasks()) == 2  # the waiter and the client's poller
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert sdk_tasks() == set()
        await asyncio.sleep(60)
    assert poll_times(server) == [5.0, 10.0]


async def test_transient_errors_while_polling_are_retried(serve: Serve) -> None:
    client, task, server = await scripted_task(serve, [
        state(), 503, 502, state(discovered=5), state("done"),
    ])
    async with client:
        await task.wait(poll_interval=5)
    # 5: 503, retried after 1 s: 502, after 2 s more: ok; then the next poll 5 s later.
    assert poll_times(server) == [5.0, 6.0, 8.0, 13.0]


async def test_bad_waiting_options_are_rejected_before_polling(serve: Serve) -> None:
    client, task, server = await scripted_task(serve, [state()])
    async with client:
        with pytest.raises(InvalidRequestError, match=r"^max_outage: "):
            await task.wait(max_outage=-1)
        with pytest.raises(InvalidTypeError, match=r"^max_outage: "):
            await task.wait(max_outage="long")  # type: ignore[arg-type]
        with pytest.raises(InvalidRequestError, match=r"^max_outage: "):
            await anext(task.watch(max_outage=-5))
        with pytest.raises(InvalidRequestError, match=r"^max_outage: "):
            await anext(task.stream(max_outage=-5))
    assert server.seen == []
