"""Fan-out, the shared polling schedule, streaming and watching, against the simulator.

All on the fake loop clock: the simulator's tasks progress with it, so minutes of
Deep Search take no real time, and request counts and times are exact.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any
from urllib.parse import urlsplit

import pytest

from extruct_async import (
    AiohttpTransport,
    AsyncExtruct,
    CreateManyError,
    DiscoveryTask,
    HTTPRequest,
    HTTPResponse,
    InvalidRequestError,
    PaymentRequiredError,
    TaskFailedError,
    TaskStatus,
    WaitTimeoutError,
)
from extruct_async._placement import SCAN_PAGE_SIZE
from extruct_async.testing import FakeExtructServer
from tests.conftest import API_KEY, EXACT_RETRIES

pytestmark = pytest.mark.looptime

QUERY = "vertical SaaS companies serving freight forwarding"


def fake(**options: Any) -> FakeExtructServer:
    # No qualification lag: these tests count poll cycles against each task's known end
    # (the lag is covered by test_completion).
    return FakeExtructServer(
        api_key=API_KEY, **{"seed": 11, "seconds_per_result": 1.0, "qualification_steps": 0,
                            **options})


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
        with pytest.raises(InvalidRequestError, match=r"^max_outage"):
            await anext(client.discovery_tasks.as_completed([task], max_outage=-1))
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


def status_reads(server: FakeExtructServer, since: float = 0.0) -> list[tuple[float, str]]:
    """The poller's requests: (time, "list <offset>" or "get")."""
    return [(r.time, f"list {r.query['offset']}" if r.endpoint == "list" else "get")
            for r in server.requests if r.endpoint in ("list", "get") and r.time >= since]


def per_cycle(reads: list[tuple[float, str]]) -> list[list[str]]:
    """The reads grouped by the moment they were sent (one cycle each)."""
    cycles: dict[float, list[str]] = {}
    for time, read in reads:
        cycles.setdefault(time, []).append(read)
    return list(cycles.values())


class Outage:
    """A transport in front of the simulator's that answers a gateway's 503 page to
    every request in ``[start, end)`` (loop time), and counts them."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.inner = AiohttpTransport(max_connections=16)
        self.refused: list[tuple[float, str]] = []

    async def send(self, request: HTTPRequest) -> HTTPResponse:
        now = asyncio.get_running_loop().time()
        if self.start <= now < self.end:
            path = urlsplit(request.url)
            self.refused.append((now, f"{path.path}?{path.query}"))
            return HTTPResponse(503, {"Content-Type": "text/html"},
                                b"<html><body><h1>503 Service Unavailable</h1></body></html>")
        return await self.inner.send(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_ten_minute_outage_in_a_thousand_task_fan_out_costs_no_task() -> None:
    n = 1000
    outage = Outage(start=100.0, end=700.0)
    async with fake(seconds_per_result=2.5, candidate_pool=1000) as server, \
            client_for(server, rate_limit=20, transport=outage) as client:
        # Targets from 10 to 250 results: tasks end from 72 s to 900 s, so some end
        # before the outage, most during it, some after.
        tasks = await client.discovery_tasks.create_many(
            [{"query": f"{QUERY} #{i}", "desired_num_results": 10 + i % 25 * 10}
             for i in range(n)]
        )
        seen: list[tuple[float, DiscoveryTask]] = []
        async for task in client.discovery_tasks.as_completed(tasks, poll_interval=10):
            seen.append((server.time(), task))
        ends = {t.id: server.tasks[t.id].ends_at for t in tasks}
    assert sorted(t.id for _, t in seen) == sorted(ends)  # every task, no exception
    assert all(t.status is TaskStatus.DONE and t.poll_failure is None for _, t in seen)
    before = sum(ends[t.id] < 100 for _, t in seen)
    after = sum(ends[t.id] >= 700 for _, t in seen)
    assert before > 0
    assert after > 0
    assert n - before - after > n // 2
    # During the outage: the cycle's first list page failed, then one careful direct
    # read (4 requests each, with their retries), then one read per backoff step (10,
    # 20, 40, then 60 s): 48 requests in 10 minutes, not a thousand per cycle.
    assert len(outage.refused) == 4 * 2 + 4 * 10
    assert [path.startswith("/v1/discovery_tasks?") for _, path in outage.refused] == (
        [True] * 4 + [False] * 44)
    # A finish is noticed within a poll interval (and batching), unless that poll fell
    # in the outage: then by the first probe after it, at most one backoff step late.
    recovered = min(noticed for noticed, t in seen if 100 <= ends[t.id] < 700)
    assert 700 < recovered <= 700 + 60
    lag = 10 * 1.25
    for noticed, task in seen:
        end = ends[task.id]
        assert noticed <= (end if end + lag < 100 else max(end, recovered)) + lag, (noticed, end)


async def test_one_wait_rides_out_the_same_outage() -> None:
    outage = Outage(start=60.0, end=660.0)
    async with fake(candidate_pool=1000) as server, \
            client_for(server, transport=outage) as client:
        task = await client.discovery_tasks.create(QUERY, desired_num_results=50)
        failures: list[int] = []
        await task.wait(poll_interval=10, on_progress=lambda t: failures.append(
            t.poll_failure.failures if t.poll_failure else 0))
        assert task.status is TaskStatus.DONE
    assert max(failures) == 11
    assert failures[-1] == 0
    assert len(outage.refused) == 4 * 11  # one read (with its retries) per backoff step


async def test_reads_are_chosen_by_cost_wherever_the_followed_tasks_sit() -> None:
    async with fake(candidate_pool=1000) as server, client_for(server) as client, \
            client_for(server) as web_app:
        # Mine in blocks of 50, interleaved with blocks of 25 unfollowed tasks, then 120
        # newer unfollowed ones above them all: 300 followed tasks over 450 positions,
        # from position 120 down.
        mine: list[DiscoveryTask] = []
        for block in range(6):
            mine += await client.discovery_tasks.create_many(
                [{"query": f"{QUERY} {block}.{i}", "desired_num_results": 100}
                 for i in range(50)])
            await asyncio.sleep(1)
            await web_app.discovery_tasks.create_many(
                [f"someone else's query {block}.{i}" for i in range(25)])
            await asyncio.sleep(1)
        await web_app.discovery_tasks.create_many(
            [f"someone else's newer query {i}" for i in range(120)])
        start = server.time()

        async def keep_creating() -> None:  # five new tasks above ours every 10 s
            await asyncio.sleep(5)  # half way between two cycles
            for round_ in itertools.count():
                await web_app.discovery_tasks.create_many(
                    [f"later query {round_}.{i}" for i in range(5)])
                await asyncio.sleep(10)

        creator = asyncio.create_task(keep_creating())
        await client.discovery_tasks.wait_all(mine, poll_interval=10)
        creator.cancel()
        ends = max(server.tasks[t.id].ends_at for t in mine)
        waited = server.time()
    cycles = per_cycle(status_reads(server, since=start))
    # Ours sit at 145..570 at first (the 120 newer, then blocks of 25 of others' and 50
    # of ours), five more tasks above them every cycle. First cycle: a page at the top
    # (none of ours), a skip of 100 to 200 (ours), back to 100, then 300, 400, 500.
    assert cycles[0] == ["list 0", "list 200", "list 100", "list 300", "list 400", "list 500"]
    # Then, while all 300 run: five pages (ceil(425 / 100)), from where the highest of
    # ours was; the first page measures the shift (+5) and the next ones start at the
    # first of ours not yet read, skipping others' tasks. No direct read.
    for k, cycle in enumerate(cycles[1:13]):
        assert cycle == [f"list {150 + 5 * k + start}" for start in (0, 100, 200, 305, 405)]
    # As they finish, every cycle stays within the bound: ceil(425 / 100) + 1 (for the
    # shift), against 300 direct reads per cycle.
    assert len(cycles) in (16, 17)
    assert all(len(cycle) <= 6 for cycle in cycles)
    assert waited - ends <= 10


async def test_tasks_far_down_the_list_are_found_by_skipping_ahead() -> None:
    async with fake(candidate_pool=1000) as server, client_for(server) as client, \
            client_for(server) as web_app:
        mine = await client.discovery_tasks.create_many(
            [{"query": f"{QUERY} {i}", "desired_num_results": 60} for i in range(40)])
        await asyncio.sleep(1)
        await web_app.discovery_tasks.create_many(
            [f"someone else's query {i}" for i in range(2000)])
        start = server.time()
        await client.discovery_tasks.wait_all(mine, poll_interval=10)
    cycles = per_cycle(status_reads(server, since=start))
    # Looking for ours below 2,000 others: two missed pages per cycle, each skipping
    # twice as far as the one before (100, 200, 400, ...), the rest read directly; the
    # lower bound learnt carries over to the next cycle. The fourth cycle finds them.
    direct = ["get"] * 40
    assert cycles[0] == ["list 0", "list 200", *direct]
    assert cycles[1] == ["list 500", "list 1000", *direct]
    assert cycles[2] == ["list 1900", "list 3600", *direct]  # 3600: past the end
    assert cycles[3] == ["list 2000"]
    # From then on one request per cycle: the page where they are (2,000, or a little
    # further down once the first have finished), or one direct read for a last task.
    assert all(len(cycle) == 1 for cycle in cycles[3:]), cycles[3:]


async def test_only_due_tasks_alone_in_the_list_are_read_directly() -> None:
    async with fake(candidate_pool=1000) as server, client_for(server) as client, \
            client_for(server) as web_app:
        mine = await client.discovery_tasks.create_many(
            [{"query": QUERY, "desired_num_results": 30} for _ in range(3)])
        await asyncio.sleep(1)
        # Others create a full page of newer tasks: the list's first page holds none of mine.
        await web_app.discovery_tasks.create_many(
            [f"someone else's query {i}" for i in range(SCAN_PAGE_SIZE)])
        start = server.time()
        await client.discovery_tasks.wait_all(mine, poll_interval=10)
    cycles = per_cycle(status_reads(server, since=start))
    # The top page misses; the skip overshoots the end of the list; the third cycle
    # finds them at 100 and reads them there, one page for three.
    assert cycles[0] == ["list 0", "list 200", "get", "get", "get"]
    assert cycles[1] == ["list 100"]
    assert all(cycle == ["list 100"] for cycle in cycles[1:])


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
