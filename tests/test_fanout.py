"""Fan-out, the shared polling schedule, streaming and watching, against the simulator.

All on the fake loop clock: the simulator's tasks progress with it, so minutes of
Deep Search take no real time, and request counts and times are exact.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from extruct_async import (
    AsyncExtruct,
    CreateManyError,
    DiscoveryTask,
    InvalidRequestError,
    PaymentRequiredError,
    TaskFailedError,
    TaskStatus,
    WaitTimeoutError,
)
from extruct_async._polling import SCAN_PAGE_SIZE
from extruct_async.testing import FakeExtructServer
from tests.conftest import API_KEY, EXACT_RETRIES

pytestmark = pytest.mark.looptime

QUERY = "vertical SaaS companies serving freight forwarding"


def fake(**options: Any) -> FakeExtructServer:
    return FakeExtructServer(api_key=API_KEY, seed=11, seconds_per_result=1.0, **options)


def client_for(server: FakeExtructServer, **options: Any) -> AsyncExtruct:
    return server.client(**{"retry": EXACT_RETRIES, "rate_limit": None, **options})


def count(server: FakeExtructServer, endpoint: str, since: float = 0.0) -> int:
    return sum(1 for r in server.requests if r.endpoint == endpoint and r.time >= since)


# -- as_completed / wait_all --------------------------------------------------------


async def test_as_completed_yields_in_finishing_order() -> None:
    async with fake() as server, client_for(server) as client:
        tasks = await client.discovery_tasks.create_many([
            {"query": QUERY, "desired_num_results": n} for n in (40, 5, 20)
        ])
        order = [t.desired_num_results
                 async for t in client.discovery_tasks.as_completed(tasks, poll_interval=2)]
        ends = {t.id: server.tasks[t.id].ends_at for t in tasks}
        noticed = {t.id: server.time() for t in tasks}
    assert order == [5, 20, 40]
    assert all(t.finished and t.status is TaskStatus.DONE for t in tasks)
    assert all(noticed[i] >= ends[i] for i in ends)


async def test_each_finish_is_noticed_within_one_interval() -> None:
    async with fake() as server, client_for(server) as client:
        tasks = await client.discovery_tasks.create_many([
            {"query": f"{QUERY} #{i}", "desired_num_results": 5 + 7 * i} for i in range(6)
        ])
        lags = []
        async for task in client.discovery_tasks.as_completed(tasks, poll_interval=5):
            lags.append(server.time() - server.tasks[task.id].ends_at)
    assert len(lags) == 6
    assert all(0 <= lag <= 5 * 1.25 for lag in lags), lags  # batching may poll a bit early


async def test_already_finished_tasks_come_first_without_requests() -> None:
    async with fake() as server, client_for(server) as client:
        done = await client.discovery_tasks.create(QUERY, desired_num_results=5)
        await done.wait(poll_interval=50)
        running = await client.discovery_tasks.create(QUERY, desired_num_results=30)
        before = len(server.requests)
        finished = client.discovery_tasks.as_completed([running, done], poll_interval=50)
        assert await anext(finished) is done
        assert len(server.requests) == before
        assert await anext(finished) is running
        await finished.aclose()


async def test_timeout_attaches_the_unfinished_tasks(looptime: float) -> None:
    async with fake() as server, client_for(server) as client:
        quick, slow, slower = await client.discovery_tasks.create_many([
            {"query": QUERY, "desired_num_results": n} for n in (5, 100, 200)
        ])
        seen: list[DiscoveryTask] = []

        async def follow() -> None:
            async for task in client.discovery_tasks.as_completed(
                [quick, slow, slower], timeout=60, poll_interval=5
            ):
                seen.append(task)

        with pytest.raises(WaitTimeoutError) as caught:
            await follow()
    assert seen == [quick]
    assert caught.value.tasks == [slow, slower]
    assert looptime == 60
    assert "2 discovery tasks still running after 60s" in str(caught.value)
    assert server.tasks[slow.id].ends_at > 60


async def test_failed_tasks_are_yielded_or_raised() -> None:
    async with fake(fail_queries=["doomed"]) as server, client_for(server) as client:
        ok, doomed = await client.discovery_tasks.create_many([
            {"query": QUERY, "desired_num_results": 30}, "doomed query about logistics",
        ])
        results = [t async for t in client.discovery_tasks.as_completed([ok, doomed])]
        assert results == [doomed, ok]
        assert doomed.status is TaskStatus.FAILED

        again = await client.discovery_tasks.create("another doomed query", desired_num_results=30)
        with pytest.raises(TaskFailedError) as caught:
            await client.discovery_tasks.wait_all([again], raise_on_failure=True)
        assert caught.value.task is again
    assert server.create_count == 3


async def test_wait_all_returns_tasks_in_the_given_order() -> None:
    async with fake() as server, client_for(server) as client:
        tasks = await client.discovery_tasks.create_many(
            [{"query": QUERY, "desired_num_results": n} for n in (30, 5, 15)]
        )
        assert await client.discovery_tasks.wait_all(tasks, poll_interval=3) == tasks
        assert all(t.finished for t in tasks)


async def test_leaving_as_completed_early_stops_polling() -> None:
    async with fake() as server, client_for(server) as client:
        tasks = await client.discovery_tasks.create_many(
            [{"query": QUERY, "desired_num_results": n} for n in (5, 200, 200)]
        )
        async for _ in client.discovery_tasks.as_completed(tasks, poll_interval=5):
            break
        stopped = server.time()
        await asyncio.sleep(300)
        assert not [r for r in server.requests if r.time > stopped]


async def test_bad_arguments_are_rejected_before_polling() -> None:
    async with fake() as server, client_for(server) as client:
        with pytest.raises(InvalidRequestError, match=r"^tasks\[0\]"):
            await anext(client.discovery_tasks.as_completed(["t1"]))  # type: ignore[list-item]
        task = await client.discovery_tasks.create(QUERY)
        with pytest.raises(InvalidRequestError, match=r"^poll_interval"):
            await anext(client.discovery_tasks.as_completed([task], poll_interval=-1))
    assert count(server, "get") + count(server, "list") == 0


# -- the shared schedule ------------------------------------------------------------


async def test_a_thousand_waiters_share_one_schedule() -> None:
    n = 1000
    async with fake() as server, client_for(server, rate_limit=20) as client:
        tasks = await client.discovery_tasks.create_many(
            [{"query": f"{QUERY} #{i}", "desired_num_results": 20} for i in range(n)]
        )
        created = server.time()
        # A thousand independent coroutines, each awaiting its own task.
        await asyncio.gather(*(task.wait(poll_interval=10) for task in tasks))
        elapsed = server.time() - created
        last_end = max(server.tasks[t.id].ends_at for t in tasks)
    lists, gets = count(server, "list"), count(server, "get")
    cycles = elapsed / 10
    pages_per_cycle = -(-n // SCAN_PAGE_SIZE)
    # At most one list scan of ten pages per interval, instead of a thousand reads (a
    # lone task left unseen is read directly: one request either way).
    assert lists + gets <= (cycles + 1) * pages_per_cycle
    assert gets <= cycles + 1
    assert lists + gets < n / 10
    assert server.peak_requests_per_second() <= 20
    assert server.time() - last_end <= 10 * 1.25  # the last finish noticed within an interval


async def test_status_reads_fall_back_when_the_list_does_not_help() -> None:
    async with fake() as server, client_for(server) as client:
        mine = await client.discovery_tasks.create_many(
            [{"query": QUERY, "desired_num_results": 30} for _ in range(3)]
        )
        # Others create a full page of newer tasks: the list's first page holds none of mine.
        async with server.client() as other:
            await other.discovery_tasks.create_many(
                [f"someone else's query {i}" for i in range(SCAN_PAGE_SIZE)]
            )
        start = server.time()
        await client.discovery_tasks.wait_all(mine, poll_interval=10)
    # Each cycle: one list page (finding nothing of ours), then a direct read of each.
    lists, gets = count(server, "list", since=start), count(server, "get", since=start)
    assert gets >= 3
    assert lists <= gets
    assert all(t.finished for t in mine)


async def test_a_stale_list_entry_never_finishes_a_resumed_task() -> None:
    import msgspec

    from extruct_async._models import TaskState
    from extruct_async._polling import _older

    base = dict(id="t", created_at="2026-01-01T00:00:00Z", query="q")

    def state(**fields: Any) -> TaskState:
        return msgspec.convert({**base, **fields}, TaskState)

    resumed = state(status="in_progress", desired_num_results=125, num_results=100)
    assert _older(state(status="done", desired_num_results=100, num_results=100), resumed)
    assert _older(state(status="in_progress", desired_num_results=125, num_results=90), resumed)
    assert _older(state(status="created", desired_num_results=125, num_results=100), resumed)
    assert not _older(state(status="done", desired_num_results=125, num_results=125), resumed)


# -- create_many --------------------------------------------------------------------


async def test_create_many_keeps_order_and_never_duplicates() -> None:
    async with fake() as server, client_for(server) as client:
        server.inject("commit_then_drop", endpoint="create")
        server.inject("500", endpoint="create")
        specs = [f"{QUERY} in region {i}" for i in range(8)]
        tasks = await client.discovery_tasks.create_many(specs)
    assert [t.query for t in tasks] == specs
    assert server.create_count == 8
    assert sorted(t.id for t in tasks) == sorted(server.tasks)


async def test_create_many_checks_every_spec_first() -> None:
    async with fake() as server, client_for(server) as client:
        with pytest.raises(InvalidRequestError, match=r"^specs\[2\]\.desired_num_results: "):
            await client.discovery_tasks.create_many(
                ["a query", {"query": "b query"}, {"query": "c", "desired_num_results": 0}]
            )
        with pytest.raises(InvalidRequestError, match=r"^specs\[0\]: missing 'query'"):
            await client.discovery_tasks.create_many([{"desired_num_results": 5}])
        with pytest.raises(InvalidRequestError, match=r"^specs\[0\]: "):
            await client.discovery_tasks.create_many([{"query": "q", "colour": "red"}])
    assert server.requests == ()


async def test_create_many_keeps_what_was_created_when_some_fail() -> None:
    async with fake(credits=50) as server, client_for(server) as client:
        specs = [{"query": f"{QUERY} {i}", "desired_num_results": 20} for i in range(4)]
        with pytest.raises(CreateManyError) as caught:
            await client.discovery_tasks.create_many(specs)
        created = [t for t in caught.value.tasks if t is not None]
        assert sorted(t.id for t in created) == sorted(server.tasks)  # none lost
        assert len(created) == 2
        # Each spec has a task or an error, never both; the creates run at once, so
        # which two the credits ran out for is not fixed.
        for task, error in zip(caught.value.tasks, caught.value.errors, strict=True):
            assert (task is None) != (error is None)
            assert error is None or isinstance(error, PaymentRequiredError)

        server.credits = 20
        mixed = await client.discovery_tasks.create_many(specs[:2], return_exceptions=True)
        assert sorted(type(item).__name__ for item in mixed) == [
            "DiscoveryTask", "PaymentRequiredError"]


# -- stream -------------------------------------------------------------------------


async def test_stream_yields_every_row_exactly_once_despite_reordering() -> None:
    async with fake() as server, client_for(server) as client:
        task = await client.discovery_tasks.create(QUERY, desired_num_results=60)
        streamed = [row async for row in task.stream(poll_interval=3, page_size=20)]
        truth = server.visible_rows(task.id)
    ids = [row.id for row in streamed]
    assert len(ids) == len(set(ids))  # never twice
    assert set(ids) == {row["id"] for row in truth}  # never missed
    assert task.finished
    # The scenario is the hard one: some rows arrived after rows less relevant than them.
    relevance = [row.relevance or 0 for row in streamed]
    assert any(later > earlier for earlier, later in itertools.pairwise(relevance))


async def test_stream_follows_an_exhausted_task_to_its_last_row() -> None:
    async with fake(candidate_pool=40) as server, client_for(server) as client:
        task = await client.discovery_tasks.create(QUERY, desired_num_results=100)
        seen_exhausted_running = False
        rows = []
        async for row in task.stream(poll_interval=2):
            rows.append(row.id)
            if task.is_exhausted and task.status == TaskStatus.IN_PROGRESS:
                seen_exhausted_running = True
        truth = {row["id"] for row in server.visible_rows(task.id)}
    assert seen_exhausted_running
    assert set(rows) == truth
    assert len(rows) == len(truth) == task.num_results_evaluated


async def test_leaving_a_stream_stops_its_requests() -> None:
    async with fake() as server, client_for(server) as client:
        task = await client.discovery_tasks.create(QUERY, desired_num_results=200)
        async for _ in task.stream(poll_interval=2):
            break
        stopped = server.time()
        await asyncio.sleep(120)
        assert not [r for r in server.requests if r.time > stopped]


async def test_cancelling_a_stream_stops_its_requests() -> None:
    async with fake() as server, client_for(server) as client:
        task = await client.discovery_tasks.create(QUERY, desired_num_results=200)

        async def consume() -> None:
            async for _ in task.stream(poll_interval=2):
                pass

        consumer = asyncio.create_task(consume())
        await asyncio.sleep(30)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        stopped = server.time()
        await asyncio.sleep(120)
        assert not [r for r in server.requests if r.time > stopped]


# -- watch ------------------------------------------------------------------------------


async def test_watch_yields_each_change_until_finished() -> None:
    async with fake() as server, client_for(server) as client:
        task = await client.discovery_tasks.create(QUERY, desired_num_results=10)
        snapshots = [s async for s in task.watch(poll_interval=1)]
    assert snapshots[0].status is TaskStatus.CREATED
    assert snapshots[-1].status is TaskStatus.DONE
    assert len({s.progress for s in snapshots}) == len(snapshots)  # only changes
    for before, after in itertools.pairwise(snapshots):
        assert after.num_results_discovered >= before.num_results_discovered
        assert after.num_results_evaluated >= before.num_results_evaluated
    assert server.task_state(task.id)["status"] == "done"


async def test_many_watchers_of_one_task_share_its_reads() -> None:
    async with fake() as server, client_for(server) as client:
        task = await client.discovery_tasks.create(QUERY, desired_num_results=10)
        same = await client.discovery_tasks.get(task.id)
        start = server.time()
        await asyncio.gather(*(t.wait(poll_interval=2) for t in [task, same] * 5))
        reads = count(server, "get", since=start) + count(server, "list", since=start)
        assert reads <= (server.time() - start) / 2 + 1  # one schedule, not ten


# -- a cancelled batch keeps what it paid for --------------------------------------------


@pytest.mark.parametrize("latency", [0.0, 0.35])
async def test_a_cancelled_create_many_keeps_every_task_it_created(latency: float) -> None:
    async with fake(latency=latency) as server, client_for(server, rate_limit=10) as client:
        recorded: dict[int, str] = {}
        specs = [f"{QUERY} {i}" for i in range(20)]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(
                client.discovery_tasks.create_many(
                    specs, on_created=lambda i, task: recorded.__setitem__(i, task.id)),
                timeout=1.0,
            )
        # Ten creates started in the second (rate 10/s); with latency, the last ones were
        # still waiting for their answers at the timeout, and were finished first.
        assert sorted(recorded.values()) == sorted(server.tasks)
        assert len(recorded) >= 8
        assert len(server.tasks) < 20  # the rest were never sent
        assert all(server.tasks[task_id].query == specs[i] for i, task_id in recorded.items())


async def test_a_create_lost_on_the_wire_at_cancellation_is_found_and_kept() -> None:
    async with fake() as server, client_for(server, rate_limit=None) as client:
        server.inject("commit_then_drop", endpoint="create")
        recorded: list[str] = []
        first = asyncio.Event()

        def created(index: int, task: DiscoveryTask) -> None:
            recorded.append(task.id)
            first.set()

        batch = asyncio.ensure_future(
            client.discovery_tasks.create_many(["one", "two"], on_created=created))
        await first.wait()  # both were sent at once; the other's answer was lost
        assert server.create_count == 2
        batch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await batch
        assert sorted(recorded) == sorted(server.tasks)
        assert len(recorded) == 2
