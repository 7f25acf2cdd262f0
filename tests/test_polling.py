"""The shared poller: failures, outages, who is polled, and where tasks sit in the list.

Against a scripted service behind ``MockTransport``, on the fake loop clock: every
request's time and target is exact. Retries use ``EXACT_RETRIES`` (3 retries, 1, 2 and
4 s apart), so one failed status read is 4 requests over 7 s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest

from extruct_async import (
    APIConnectionError,
    APIResponseError,
    AsyncExtruct,
    AuthenticationError,
    BadRequestError,
    ClientStateError,
    DiscoveryTask,
    ExtructError,
    HTTPRequest,
    HTTPResponse,
    NotFoundError,
    PermissionDeniedError,
    PollFailure,
    ServerError,
    TaskState,
    TaskStatus,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from extruct_async._models import older as _older
from extruct_async._outage import DEFAULT_MAX_OUTAGE, MAX_OUTAGE_WAIT, is_transient
from extruct_async._placement import SCAN_PAGE_SIZE
from extruct_async._placement import side as _side
from extruct_async._protocol import Reply, get_request, status_error
from extruct_async.testing import MockTransport, json_response
from tests.conftest import API_KEY, BASE_URL, EXACT_RETRIES

pytestmark = pytest.mark.looptime

EPOCH = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
GATEWAY_PAGE = HTTPResponse(
    503, {"Content-Type": "text/html"},
    b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
)
#: The requests of one status read that fails transiently with EXACT_RETRIES.
ATTEMPTS = (0.0, 1.0, 3.0, 7.0)


class Service:
    """The task endpoints, played from a script, as a ``MockTransport`` handler.

    Tasks are listed newest first; each is ``in_progress`` with ``discovered`` counting
    seconds since its creation, until ``ends`` (then ``done``). ``fault`` can answer any
    request instead (return None to let it through); ``hidden`` tasks are readable but
    missing from the list.
    """

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []  # oldest first
        self.hidden: set[str] = set()
        self.fault: Callable[[float, str], HTTPResponse | None] = lambda now, target: None
        self.log: list[tuple[float, str]] = []

    def add(self, task_id: str, *, created: float = 0.0, ends: float = 10_000.0,
            frozen: bool = False) -> None:
        """A task; ``frozen``: its counters stay 0 until it ends."""
        self.tasks[task_id] = {"created": created, "ends": ends, "frozen": frozen}
        self.order.append(task_id)

    def delete(self, *task_ids: str) -> None:
        """Remove tasks from the workspace (the list closes up over them)."""
        for task_id in task_ids:
            self.order.remove(task_id)
            del self.tasks[task_id]

    def outage(self, start: float, end: float,
               answer: HTTPResponse = GATEWAY_PAGE) -> None:
        """Answer every request in ``[start, end)`` with ``answer``."""
        self.fault = lambda now, target: answer if start <= now < end else None

    def state(self, task_id: str, now: float) -> dict[str, Any]:
        task = self.tasks[task_id]
        done = now >= task["ends"]
        seconds = int(min(now, task["ends"]) - task["created"])
        if task["frozen"] and not done:
            seconds = 0
        return {
            "id": task_id,
            "created_at": (EPOCH + timedelta(seconds=task["created"])).isoformat(),
            "status": "done" if done else "in_progress",
            "query": f"query {task_id}",
            "desired_num_results": 100,
            "num_results_discovered": seconds,
        }

    def __call__(self, request: HTTPRequest) -> HTTPResponse:
        now = asyncio.get_running_loop().time()
        parts = urlsplit(request.url)
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path.removeprefix("/v1/discovery_tasks")
        target = (f"list {params['offset']}" if not path
                  else f"get {path.lstrip('/')}" + (f"@{params['offset']}" if params else ""))
        self.log.append((now, target))
        answer = self.fault(now, target)
        if answer is not None:
            return answer
        if not path:
            listed = [t for t in reversed(self.order) if t not in self.hidden
                      and self.tasks[t]["created"] <= now]
            offset, limit = int(params["offset"]), int(params["limit"])
            return json_response([self.state(t, now) for t in listed[offset:offset + limit]])
        task_id = path.lstrip("/")
        if task_id not in self.tasks:
            return json_response({"detail": "Task not found"}, status=404)
        return json_response(self.state(task_id, now))

    def times(self, since: float = 0.0, until: float = float("inf")) -> list[float]:
        return [t for t, _ in self.log if since <= t < until]

    def targets(self, since: float = 0.0, until: float = float("inf")) -> list[str]:
        return [target for t, target in self.log if since <= t < until]


def client_for(service: Service, **options: Any) -> AsyncExtruct:
    return AsyncExtruct(API_KEY, BASE_URL, retry=EXACT_RETRIES, rate_limit=None,
                        transport=MockTransport(service), **options)


async def handle(client: AsyncExtruct, service: Service, task_id: str) -> DiscoveryTask:
    """A handle on ``task_id``, without a request in the log."""
    state = msgspec.convert(service.state(task_id, 0.0), TaskState)
    return client.discovery_tasks._handle(Reply(state, None))


def attempts(*starts: float) -> list[float]:
    """The request times of failed reads that start at ``starts``."""
    return [start + a for start in starts for a in ATTEMPTS]


# -- what a failure means ---------------------------------------------------------------


def test_transient_and_fatal_failures() -> None:
    def status(code: int) -> ExtructError:
        request = get_request("t1")
        return status_error(request, json_response({"detail": "x"}, status=code), url="u")

    transient = [503, 500, 502, 504, 408, 429, 520, 524, 501]
    fatal = [400, 401, 402, 403, 404, 422, 418]
    assert all(is_transient(status(code)) for code in transient)
    assert not any(is_transient(status(code)) for code in fatal)
    assert is_transient(APIConnectionError("lost", method="GET", url="u"))
    assert is_transient(APIResponseError("not JSON", method="GET", url="u"))
    assert not is_transient(APIResponseError("too big", method="GET", url="u", retryable=False))
    assert not is_transient(ClientStateError("closed"))
    assert not is_transient(RuntimeError("bug"))


# -- a transient failure does not end the wait -------------------------------------------


async def test_a_wait_rides_out_a_ten_minute_outage_probing_on_a_doubling_schedule() -> None:
    service = Service()
    service.add("t1", ends=700.0)
    service.outage(20.0, 620.0)
    reports: list[PollFailure | None] = []
    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        await task.wait(poll_interval=5, on_progress=lambda t: reports.append(t.poll_failure))
    assert task.status is TaskStatus.DONE
    assert task.poll_failure is None
    # Reads every 5 s; from 20 s each read fails after its retries (7 s later), and the
    # next probe comes 5, 10, 20, 40, then every 60 s after the failure: one read per
    # step, never one per task or per waiter.
    probes = [20, 32, 49, 76, 123, 190, 257, 324, 391, 458, 525, 592]
    assert service.times(20, 620) == attempts(*probes)
    assert len(service.times(20, 620)) == 48
    # The first read after the outage (60 s after the last failure) works: back to 5 s.
    assert service.times(620) == [659.0, 664.0, 669.0, 674.0, 679.0, 684.0, 689.0, 694.0,
                                  699.0, 704.0]
    failures = [r for r in reports if r is not None]
    assert [f.failures for f in failures] == list(range(1, 13))
    # Timed from the first failed attempt (20 s), not from the end of its retries.
    assert [f.failing_for for f in failures] == [p + 7 - 20 for p in probes]
    assert [f.retry_in for f in failures] == [5, 10, 20, 40] + [MAX_OUTAGE_WAIT] * 8
    assert all(isinstance(f.error, ServerError) and f.error.status == 503 for f in failures)
    assert str(failures[1]).startswith(
        "status reads failing for 19s (2 in a row), retrying in 10s: ")
    recovered = reports.index(failures[-1]) + 1
    assert reports[recovered] is None  # reported once more when reads work again


async def test_the_outage_bound_ends_the_wait_with_the_last_error(looptime: float) -> None:
    service = Service()
    service.add("t1")
    service.outage(20.0, 10_000.0)
    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        with pytest.raises(ServerError):
            await task.wait(poll_interval=5, max_outage=100)
        # Failing since the first failed attempt at 20 s; the failed reads end at 27, 39,
        # 56, 83; the next probe would be at 123, but the bound passes at 120: the
        # wait's last probe goes then, and fails at 127: 107 s >= 100.
        assert looptime == 127
        assert service.times() == [5.0, 10.0, 15.0, *attempts(20, 32, 49, 76, 120)]
        assert task.poll_failure is not None
        assert task.poll_failure.failures == 5
        assert not client._poller.running  # nothing left polling


async def test_a_zero_outage_bound_gives_up_at_the_first_failed_read(looptime: float) -> None:
    service = Service()
    service.add("t1")
    service.outage(5.0, 10_000.0)
    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        with pytest.raises(ServerError):
            await task.wait(poll_interval=5, max_outage=0)
    assert looptime == 12
    assert service.times() == attempts(5)


async def test_without_an_outage_bound_only_the_timeout_ends_the_wait(looptime: float) -> None:
    service = Service()
    service.add("t1")
    service.outage(5.0, float("inf"))
    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        with pytest.raises(WaitTimeoutError):
            await task.wait(poll_interval=5, max_outage=None, timeout=DEFAULT_MAX_OUTAGE + 600)
    assert looptime == DEFAULT_MAX_OUTAGE + 600


async def test_the_default_bound_outlasts_many_minutes(looptime: float) -> None:
    service = Service()
    service.add("t1")
    service.outage(5.0, float("inf"))
    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        with pytest.raises(ServerError):
            await task.wait(poll_interval=5)
    # From the first failed attempt (5 s), a last probe 30 minutes later, failing 7 s on.
    assert DEFAULT_MAX_OUTAGE == 1800
    assert looptime == 5 + 1800 + 7


async def test_a_retry_after_longer_than_the_backoff_is_waited_out() -> None:
    service = Service()
    service.add("t1", ends=200.0)
    refusal = json_response({"detail": "slow down"}, status=429, headers={"Retry-After": "90"})
    service.outage(5.0, 6.0, refusal)  # beyond max_retry_after: raised at once, not retried
    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        await task.wait(poll_interval=5)
        assert isinstance(task.state, TaskState)
    assert service.times(0, 100) == [5.0, 95.0]  # the probe waits the 90 s asked for


async def test_watch_reports_failing_reads_and_the_recovery() -> None:
    service = Service()
    service.add("t1", ends=40.0)
    service.outage(10.0, 20.0)
    seen: list[tuple[int, int | None]] = []
    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        async with contextlib.aclosing(task.watch(poll_interval=5)) as states:
            async for state in states:
                failure = task.poll_failure
                seen.append((state.num_results_discovered,
                             None if failure is None else failure.failures))
    # 5: progress; 10: fails (17), probe at 22 works; then progress every 5 s.
    assert seen == [(0, None), (5, None), (5, 1), (22, None), (27, None), (32, None),
                    (37, None), (40, None)]


async def test_closing_the_client_ends_the_wait_even_during_an_outage() -> None:
    service = Service()
    service.add("t1")
    service.outage(5.0, float("inf"))
    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        waiter = asyncio.create_task(task.wait(poll_interval=5))
        await asyncio.sleep(100)
    with pytest.raises(ClientStateError, match="closed while waiting"):
        await waiter
    closed = asyncio.get_running_loop().time()
    with pytest.raises(ClientStateError, match=r"^the client is closed$"):
        await task.wait(poll_interval=5)  # refused at once, not at the first poll
    assert asyncio.get_running_loop().time() == closed


async def test_a_wait_that_times_out_during_an_outage_leaves_the_others_polling() -> None:
    service = Service()
    service.add("t0")
    service.add("t1", ends=150.0)
    service.outage(5.0, 100.0)
    async with client_for(service) as client:
        t0, t1 = [await handle(client, service, t) for t in ("t0", "t1")]
        impatient = asyncio.ensure_future(t0.wait(poll_interval=5, timeout=10))
        await asyncio.sleep(0)  # t0 first: the careful read would be t0's
        await t1.wait(poll_interval=5)
        with pytest.raises(WaitTimeoutError):
            await impatient
    assert t1.status is TaskStatus.DONE
    # 5: the list page fails (until 12); t0's wait ended at 10, so it is not read;
    # t1's careful read fails (until 19); then t1's probes, 5, 10, 20, 40 s apart.
    assert service.targets(5, 116) == ["list 0"] * 4 + ["get t1"] * 17
    assert service.times(5, 116) == [*attempts(5, 12, 24, 41, 68), 115.0]


async def test_after_an_outage_and_an_idle_poller_the_next_wait_starts_afresh() -> None:
    service = Service()
    service.add("t0")
    service.add("t1")
    service.outage(5.0, 60.0)
    async with client_for(service) as client:
        tasks = [await handle(client, service, t) for t in ("t0", "t1")]
        with pytest.raises(WaitTimeoutError):
            await client.discovery_tasks.wait_all(tasks, poll_interval=5, timeout=20)
        assert not client._poller.running
        await asyncio.sleep(100)
        with pytest.raises(WaitTimeoutError):
            await client.discovery_tasks.wait_all(tasks, poll_interval=5, timeout=6)
    assert service.targets(100) == ["list 0"]  # not a probe first: no outage remembered


async def test_an_outage_stops_the_direct_reads_at_the_first_failure() -> None:
    service = Service()
    names = [f"t{i:02}" for i in range(20)]
    for name in names:
        service.add(name)
    service.hidden = set(names)  # read one by one, 8 at a time
    service.outage(7.0, 100.0)
    async with client_for(service) as client:
        tasks = [await handle(client, service, t) for t in names]
        with pytest.raises(WaitTimeoutError):
            await client.discovery_tasks.wait_all(tasks, poll_interval=5, timeout=30)
    assert service.targets(5, 6) == ["list 0", *(f"get {t}" for t in names)]
    # 10: the 8 reads in flight fail together (with their retries, until 17); the 12
    # others are not started. 22: one probe.
    assert sorted(service.targets(10, 18)) == sorted(f"get {t}" for t in names[:8] * 4)
    assert service.times(18, 30) == attempts(22)


async def test_nearly_due_tasks_are_read_with_the_due_ones() -> None:
    service = Service()
    service.add("t0")
    service.add("t1")
    service.hidden = {"t0", "t1"}
    async with client_for(service) as client:
        t0, t1 = [await handle(client, service, t) for t in ("t0", "t1")]
        first = asyncio.ensure_future(t0.wait(poll_interval=10, timeout=25))
        await asyncio.sleep(2)
        with pytest.raises(WaitTimeoutError):
            await t1.wait(poll_interval=10, timeout=23)
        with pytest.raises(WaitTimeoutError):
            await first
    # t1 is due at 12: within a quarter interval of t0's 10, so read with it (the list,
    # the first time, shows neither: from then on they are read directly).
    assert list_reads(service, since=6) == [["list 0", "get t0", "get t1"],
                                            ["get t0", "get t1"]]


async def test_as_completed_gives_up_after_its_outage_bound(looptime: float) -> None:
    service = Service()
    service.add("t0")
    service.add("t1")
    service.outage(5.0, float("inf"))
    async with client_for(service) as client:
        tasks = [await handle(client, service, t) for t in ("t0", "t1")]
        with pytest.raises(ServerError):
            await client.discovery_tasks.wait_all(tasks, poll_interval=5, max_outage=0)
    # The list page fails (5..12), then one direct read (12..19): the first failure.
    assert looptime == 19
    assert service.targets() == ["list 0"] * 4 + ["get t0"] * 4


async def test_each_outage_is_timed_on_its_own() -> None:
    service = Service()
    service.add("t1")
    outages = [(10.0, 50.0), (100.0, float("inf"))]
    service.fault = lambda now, target: (
        GATEWAY_PAGE if any(a <= now < b for a, b in outages) else None)
    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        with pytest.raises(ServerError):
            await task.wait(poll_interval=5, max_outage=40)
        failure = task.poll_failure
        assert asyncio.get_running_loop().time() == 147
    # The first outage (10 to 50 s): failed reads end at 17, 29, 46; the bound passes at
    # 50 (40 s after the first failed attempt), and the wait's last probe, then, works.
    # The second (from 100 s): failed reads end at 107, 119, 136, and the last probe at
    # the bound (140) fails at 147: 47 s >= 40.
    assert service.times(10, 100) == [*attempts(10, 22, 39), 50, 55, 60, 65, 70, 75, 80, 85,
                                      90, 95]
    assert service.times(100) == attempts(100, 112, 129, 140)
    assert failure is not None
    assert (failure.failures, failure.failing_for) == (4, 47)


async def test_failed_reads_do_not_stretch_the_poll_interval() -> None:
    service = Service()
    service.add("t1", ends=45.0)
    service.outage(3.0, 12.0)
    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        await task.wait(poll_interval=4, max_poll_interval=9)
    # The read at 4 fails (until 11); the probe 4 s later works; then the interval
    # grows from where it was: 6, 9, 9.
    assert service.times() == [*attempts(4), 15.0, 21.0, 30.0, 39.0, 48.0]


async def test_a_refused_key_during_an_outage_ends_every_wait_at_once(looptime: float) -> None:
    service = Service()
    for task_id in ("t0", "t1", "t2"):
        service.add(task_id)
    refused = json_response({"detail": "Invalid token"}, status=401)
    service.fault = lambda now, target: GATEWAY_PAGE if now < 30 else refused
    async with client_for(service) as client:
        handles = [await handle(client, service, t) for t in ("t0", "t1", "t2")]
        outcomes = await asyncio.gather(*(t.wait(poll_interval=5) for t in handles),
                                        return_exceptions=True)
    assert [type(o) for o in outcomes] == [AuthenticationError] * 3
    # The list page fails (5..12), the careful read (12..19); the probe at 24 meets the
    # 401 on its fourth attempt (31): nothing more is sent.
    assert service.targets() == ["list 0"] * 4 + ["get t0"] * 8
    assert looptime == 31


# -- a fatal failure ends the wait at once -----------------------------------------------


@pytest.mark.parametrize(("status", "error"), [
    (404, NotFoundError), (400, BadRequestError), (422, UnprocessableEntityError),
])
async def test_a_fatal_failure_ends_the_waits_of_its_task_at_once(
    status: int, error: type[Exception], looptime: float
) -> None:
    service = Service()
    service.add("t1")
    service.add("t2", ends=12.0)
    service.hidden = {"t1"}  # gone from the list too
    gone = json_response({"detail": "no"}, status=status)
    service.fault = lambda now, target: gone if target == "get t1" else None
    async with client_for(service) as client:
        t1, t2 = [await handle(client, service, t) for t in ("t1", "t2")]
        first = asyncio.create_task(t1.wait(poll_interval=5))
        second = asyncio.create_task(t2.wait(poll_interval=5, timeout=30))
        with pytest.raises(error):
            await first
        assert looptime == 5  # no retry, no outage bound
        await second  # the other task's wait goes on
        assert t2.status is TaskStatus.DONE


@pytest.mark.parametrize(("status", "error"), [
    (401, AuthenticationError), (403, PermissionDeniedError),
])
async def test_a_refused_key_ends_every_wait_of_the_client(
    status: int, error: type[Exception], looptime: float
) -> None:
    service = Service()
    for task_id in ("t1", "t2", "t3"):
        service.add(task_id)
    refused = json_response({"detail": "Invalid token"}, status=status)
    service.fault = lambda now, target: refused
    async with client_for(service) as client:
        handles = [await handle(client, service, t) for t in ("t1", "t2", "t3")]
        waits = [asyncio.create_task(t.wait(poll_interval=5)) for t in handles]
        outcomes = await asyncio.gather(*waits, return_exceptions=True)
        assert [type(o) for o in outcomes] == [error] * 3
        assert looptime == 5
        assert service.targets() == ["list 0"]  # one answer was enough for all three


async def test_a_refused_key_ends_as_completed_after_one_request() -> None:
    service = Service()
    for task_id in ("t0", "t1", "t2"):
        service.add(task_id)
    refused = json_response({"detail": "Invalid token"}, status=401)
    service.fault = lambda now, target: refused
    async with client_for(service) as client:
        handles = [await handle(client, service, t) for t in ("t0", "t1", "t2")]
        with pytest.raises(AuthenticationError):
            await client.discovery_tasks.wait_all(handles, poll_interval=5)
    assert service.targets() == ["list 0"]


async def test_a_refused_key_on_a_direct_read_ends_every_wait() -> None:
    service = Service()
    for task_id in ("t0", "t1", "t2"):
        service.add(task_id)
    service.hidden = {"t0", "t1", "t2"}  # not listed: read one by one
    refused = json_response({"detail": "Invalid token"}, status=401)
    service.fault = lambda now, target: refused if target.startswith("get") else None
    async with client_for(service) as client:
        handles = [await handle(client, service, t) for t in ("t0", "t1", "t2")]
        outcomes = await asyncio.gather(*(t.wait(poll_interval=5) for t in handles),
                                        return_exceptions=True)
    assert [type(o) for o in outcomes] == [AuthenticationError] * 3
    assert service.targets() == ["list 0", "get t0"]


async def test_a_bug_in_a_refresh_reaches_the_waiter_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = Service()
    service.add("t1")
    async with client_for(service) as client:
        task = await handle(client, service, "t1")

        async def broken(task_id: str) -> Any:
            raise RuntimeError("bug")

        monkeypatch.setattr(client._poller._endpoints, "get", broken)
        with pytest.raises(RuntimeError, match="bug"):
            await asyncio.wait_for(task.wait(poll_interval=5), timeout=3600)


# -- an outage with many tasks ------------------------------------------------------------


async def test_an_outage_costs_one_probe_per_step_however_many_tasks_wait() -> None:
    service = Service()
    for i in range(250):
        service.add(f"t{i}", ends=300.0)
    service.outage(15.0, 100.0)
    async with client_for(service) as client:
        tasks = [await handle(client, service, f"t{i}") for i in range(250)]
        finished = [t.id async for t in client.discovery_tasks.as_completed(tasks, poll_interval=5)]
    assert sorted(finished) == sorted(t.id for t in tasks)
    # 15: the first list page fails (4 requests); then one direct read, alone (4 more),
    # fails too; then one read per step, 5, 10, 20, 40 s after each failure.
    assert service.targets(15, 100) == ["list 0"] * 4 + ["get t0"] * 4 * 4
    assert service.times(15, 100) == attempts(15, 22, 34, 51, 78)
    # After it: the probe (a direct read) works, then the pages as before.
    assert service.targets(100)[:4] == ["get t0", "list 0", "list 100", "list 200"]


async def test_a_list_refused_for_good_is_not_read_again() -> None:
    service = Service()
    for i in range(3):
        service.add(f"t{i}", ends=20.0)
    refused = json_response({"detail": [{"loc": ["query", "limit"], "msg": "too big",
                                         "type": "value_error"}]}, status=422)
    service.fault = lambda now, target: refused if target.startswith("list") else None
    async with client_for(service) as client:
        tasks = [await handle(client, service, f"t{i}") for i in range(3)]
        await client.discovery_tasks.wait_all(tasks, poll_interval=5)
    assert service.targets() == ["list 0"] + ["get t0", "get t1", "get t2"] * 4


async def test_a_failing_read_among_working_ones_backs_off_only_then() -> None:
    service = Service()
    service.add("t1", ends=60.0)
    service.add("t2", ends=60.0)
    service.hidden = {"t1", "t2"}  # read one by one
    flaky = iter([True] * 4)
    service.fault = lambda now, target: (
        GATEWAY_PAGE if target == "get t2" and now >= 10 and next(flaky, False) else None)
    async with client_for(service) as client:
        tasks = [await handle(client, service, t) for t in ("t1", "t2")]
        await client.discovery_tasks.wait_all(tasks, poll_interval=5)
        assert tasks[1].poll_failure is None
    # t2's read at 10 fails (4 attempts, until 17); t1 is read alongside. The probe 5 s
    # later (22) works, and the next cycle reads both.
    assert [t for t in service.log if t[0] >= 10][:8] == [
        (10.0, "get t1"), (10.0, "get t2"), (11.0, "get t2"), (13.0, "get t2"),
        (17.0, "get t2"), (22.0, "get t2"), (22.0, "get t1"), (27.0, "get t1")]


# -- only waiting followers are polled ---------------------------------------------------


async def test_a_stream_left_open_sends_nothing_until_it_is_iterated_again() -> None:
    service = Service()
    service.add("t1", ends=500.0)

    def results(now: float, target: str) -> HTTPResponse | None:
        if not target.startswith("get t1/results"):
            return None
        rows = [{"id": f"r{n}", "task_id": "t1"} for n in range(int(min(now, 500) // 10))]
        offset = int(target.rpartition("@")[2])
        return json_response({**service.state("t1", now), "results": rows[offset:offset + 50]})

    service.fault = results
    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        rows = task.stream(poll_interval=2)
        async for _ in rows:
            break  # the generator is kept, not closed
        polled = len(service.log)
        await asyncio.sleep(600)
        assert len(service.log) == polled  # nothing while nobody iterates it
        more = [row.id async for row in rows]  # iterated again: it picks up where it was
        await rows.aclose()
    assert more == [f"r{n}" for n in range(1, 50)]
    assert not client._poller.running


async def test_a_watch_or_as_completed_left_open_sends_nothing() -> None:
    service = Service()
    service.add("t1", ends=500.0)
    service.add("t2", ends=10.0)
    async with client_for(service) as client:
        t1, t2 = [await handle(client, service, t) for t in ("t1", "t2")]
        states = t1.watch(poll_interval=2)
        await anext(states)
        finished = client.discovery_tasks.as_completed([t1, t2], poll_interval=2)
        assert await anext(finished) is t2
        polled = len(service.log)
        await asyncio.sleep(600)
        assert len(service.log) == polled
        await states.aclose()
        await finished.aclose()


async def test_polling_pauses_while_the_only_waiter_is_busy() -> None:
    service = Service()
    service.add("t1", ends=100.0)
    service.hidden = {"t1"}

    async def slow_report(task: DiscoveryTask) -> None:
        await asyncio.sleep(30)  # e.g. writing to a slow client

    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        await task.wait(poll_interval=5, on_progress=slow_report)
    # While the callback runs nobody waits, so nothing is read (every 5 s would be 15
    # reads from 35 s); when it returns, the overdue read is made at once.
    assert service.times() == [35.0, 65.0, 95.0, 125.0]


def results_of(service: Service, task_id: str, *, per_second: float = 0.2,
               broken: Callable[[float], HTTPResponse | None] = lambda now: None,
               ) -> Callable[[float, str], HTTPResponse | None]:
    """A fault hook serving the task's results: one new row every 1/per_second s."""

    def answer(now: float, target: str) -> HTTPResponse | None:
        if not target.startswith(f"get {task_id}/results"):
            return None
        failure = broken(now)
        if failure is not None:
            return failure
        end = min(now, service.tasks[task_id]["ends"])
        rows = [{"id": f"r{n}", "task_id": task_id} for n in range(int(end * per_second))]
        offset = int(target.rpartition("@")[2])
        return json_response({**service.state(task_id, now), "results": rows[offset:offset + 50]})

    return answer


def results_reads(service: Service) -> list[float]:
    return [t for t, target in service.log if "/results" in target]


async def test_a_stream_rides_out_failing_result_pages() -> None:
    service = Service()
    service.add("t1", ends=60.0)
    service.hidden = {"t1"}
    service.fault = results_of(service, "t1", broken=lambda now: (
        GATEWAY_PAGE if 20 <= now < 40 else None))
    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        rows = [row.id async for row in task.stream(poll_interval=5)]
    assert rows == [f"r{n}" for n in range(12)]  # every row, once
    # Pages after each status read: at 20 they fail (until 27); read again after the
    # status read at 27 (overdue: nobody waited while the pages failed), and at 34; the
    # last attempt of that one (41) works.
    assert results_reads(service) == [0.0, 5.0, 10.0, 15.0, *attempts(20, 27, 34), 41.0,
                                      46.0, 51.0, 56.0, 61.0]


async def test_a_stream_waits_for_status_reads_to_work_before_reading_pages_again() -> None:
    service = Service()
    service.add("t1", ends=200.0)
    service.hidden = {"t1"}
    status_down = (15.0, 100.0)
    results = results_of(service, "t1", broken=lambda now: (
        GATEWAY_PAGE if 10 <= now < 100 else None))
    service.fault = lambda now, target: (
        GATEWAY_PAGE if target == "get t1" and status_down[0] <= now < status_down[1]
        else results(now, target))
    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        rows = task.stream(poll_interval=5)
        async with contextlib.aclosing(rows):
            async for row in rows:
                if row.id == "r20":
                    break
    # The page read at 10 fails (until 17); the status read at 17 fails too, and so do
    # the probes at 29, 46 and 73: no page is read meanwhile. The probe at 120 works,
    # and so do the pages read after it.
    status = [t for t, target in service.log if target == "get t1"]
    assert status[:3] == [5.0, 10.0, 17.0]
    assert status[2:19] == [*attempts(17, 29, 46, 73), 120.0]
    assert results_reads(service)[:7] == [0.0, 5.0, *attempts(10), 120.0]


async def test_a_stream_reads_the_pages_again_after_a_failure() -> None:
    service = Service()
    service.add("t1", ends=60.0, frozen=True)  # its counters stay still until it ends
    service.hidden = {"t1"}
    service.fault = results_of(service, "t1", broken=lambda now: (
        GATEWAY_PAGE if now < 12 else None))
    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        times = []
        async for _ in task.stream(poll_interval=5):
            times.append(asyncio.get_running_loop().time())
    # The first read fails (until 7); after the next status read (12), the pages are
    # read again, though the task shows no progress.
    assert results_reads(service)[:5] == [*attempts(0), 12.0]
    assert times[0] == 12


async def test_a_stream_that_sees_the_finish_mid_read_reads_once_more_at_once() -> None:
    service = Service()
    service.add("t1", ends=7.5)
    service.hidden = {"t1"}
    service.fault = results_of(service, "t1", per_second=8)

    async def slow_pages(request: HTTPRequest) -> HTTPResponse:
        if "/results" in request.url:
            await asyncio.sleep(1)  # one second a page: the task ends during a read
        return service(request)

    async with AsyncExtruct(API_KEY, BASE_URL, retry=EXACT_RETRIES, rate_limit=None,
                            transport=MockTransport(slow_pages)) as client:
        task = await handle(client, service, "t1")
        rows = [row.id async for row in task.stream(poll_interval=5)]
    assert rows == [f"r{n}" for n in range(60)]
    # The read begun at 6 (two pages: answered at 7 and 8) sees the task done at 8:
    # read again at once (9, 10), not after the next status read.
    assert results_reads(service) == [1.0, 7.0, 8.0, 9.0, 10.0]


async def test_a_fatal_result_page_ends_the_stream() -> None:
    service = Service()
    service.add("t1", ends=200.0)
    service.hidden = {"t1"}
    gone = json_response({"detail": "Task not found"}, status=404)
    service.fault = results_of(service, "t1", broken=lambda now: gone if now >= 10 else None)
    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        with pytest.raises(NotFoundError):
            async for _ in task.stream(poll_interval=5):
                pass
        assert asyncio.get_running_loop().time() == 10


async def test_a_stream_gives_up_after_its_outage_bound() -> None:
    service = Service()
    service.add("t1", ends=200.0)
    service.hidden = {"t1"}
    service.fault = results_of(service, "t1", broken=lambda now: (
        GATEWAY_PAGE if now >= 10 else None))
    async with client_for(service) as client:
        task = await handle(client, service, "t1")
        with pytest.raises(ServerError):
            async for _ in task.stream(poll_interval=5, max_outage=20):
                pass
        # Timed from the first failed attempt (10 s): failed page reads end at 17, 24
        # and 31: 21 s after it.
        assert asyncio.get_running_loop().time() == 31
    assert results_reads(service) == [0.0, 5.0, *attempts(10, 17, 24)]


async def test_the_poller_stops_with_its_last_follower() -> None:
    service = Service()
    service.add("t1", ends=10.0)
    service.add("t2", ends=30.0)
    async with client_for(service) as client:
        first, second = [await handle(client, service, t) for t in ("t1", "t2")]
        slow = asyncio.create_task(second.wait(poll_interval=2))
        await first.wait(poll_interval=2)
        assert client._poller.running  # still following the second
        await slow
        assert not client._poller.running
        assert client._poller.following == 0


# -- where tasks sit in the list ----------------------------------------------------------


def state_at(created: float, task_id: str = "t") -> TaskState:
    return msgspec.convert(
        {"id": task_id, "created_at": (EPOCH + timedelta(seconds=created)).isoformat(),
         "status": "in_progress", "query": "q", "desired_num_results": 10}, TaskState)


def test_a_missing_task_is_placed_by_the_list_dates() -> None:
    full = [state_at(t) for t in range(200, 100, -1)]  # 100 entries, newest first

    def when(seconds: float) -> datetime:
        return EPOCH + timedelta(seconds=seconds)

    assert _side(when(300), 100, full, SCAN_PAGE_SIZE) == "above"
    assert _side(when(50), 100, full, SCAN_PAGE_SIZE) == "below"
    assert _side(when(150.5), 100, full, SCAN_PAGE_SIZE) == "gone"  # its place is here
    assert _side(when(101), 100, full, SCAN_PAGE_SIZE) == "below"  # a tie at the bottom
    assert _side(when(200), 100, full, SCAN_PAGE_SIZE) == "above"  # a tie at the top
    short = full[:40]  # the end of the list: nothing below
    assert _side(when(50), 100, short, SCAN_PAGE_SIZE) == "gone"
    assert _side(when(161), 100, short, SCAN_PAGE_SIZE) == "gone"  # no tie can go on
    assert _side(when(200), 100, short, SCAN_PAGE_SIZE) == "above"
    assert _side(when(161), 100, [], SCAN_PAGE_SIZE) == "above"  # the list ends above
    assert _side(when(161), 0, [], SCAN_PAGE_SIZE) == "gone"  # the list is empty
    same = [state_at(7)] * SCAN_PAGE_SIZE
    assert _side(when(7), 100, same, SCAN_PAGE_SIZE) == "below"


def test_a_stale_list_entry_is_older_than_what_is_known() -> None:
    base = {"id": "t", "created_at": "2026-01-01T00:00:00Z", "query": "q"}

    def state(**fields: Any) -> TaskState:
        return msgspec.convert({**base, **fields}, TaskState)

    resumed = state(status="in_progress", desired_num_results=125, num_results=100)
    assert _older(state(status="done", desired_num_results=100, num_results=100), resumed)
    assert _older(state(status="in_progress", desired_num_results=125, num_results=90), resumed)
    assert _older(state(status="created", desired_num_results=125, num_results=100), resumed)
    assert not _older(state(status="done", desired_num_results=125, num_results=125), resumed)
    assert not _older(state(status="in_progress", desired_num_results=150), resumed)


async def test_a_stale_list_never_finishes_a_resumed_task() -> None:
    service = Service()
    service.add("t1", ends=30.0)
    service.add("t2", ends=1000.0)
    stale = {**service.state("t1", 30.0), "status": "done", "desired_num_results": 100}

    def answer(now: float, target: str) -> HTTPResponse | None:
        if target == "list 0":  # a lagging list: t1 as it was before the resume
            return json_response([service.state("t2", now), stale])
        if target == "get t1":
            return json_response({**service.state("t1", now), "status": "in_progress",
                                  "desired_num_results": 125} if now < 60 else
                                 {**service.state("t1", now), "desired_num_results": 125})
        return None

    service.fault = answer
    async with client_for(service) as client:
        t1, t2 = [await handle(client, service, t) for t in ("t1", "t2")]
        await t1.refresh()  # resumed: the target is 125 now
        service.log.clear()
        waiter = asyncio.create_task(t1.wait(poll_interval=10))
        other = asyncio.create_task(t2.wait(poll_interval=10))
        await waiter
        assert asyncio.get_running_loop().time() == 60
        other.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await other
    assert t1.desired_num_results == 125
    # Each cycle the list shows t1 "done" with the old target; it is read directly.
    assert service.targets() == ["list 0", "get t1"] * 5 + ["list 0", "get t1"]


def list_reads(service: Service, since: float = 0.0) -> list[list[str]]:
    """The poller's reads, grouped by cycle (the moment they were sent)."""
    cycles: dict[float, list[str]] = {}
    for time, target in service.log:
        if time >= since:
            cycles.setdefault(time, []).append(target)
    return list(cycles.values())


async def test_a_task_alone_in_its_window_is_read_directly() -> None:
    service = Service()
    service.add("a", created=-300.0)
    for i in range(150):
        service.add(f"other {i}", created=-299.0 + i)
    service.add("b", created=-100.0)
    async with client_for(service) as client:
        tasks = [await handle(client, service, t) for t in ("a", "b")]
        waiting = asyncio.ensure_future(client.discovery_tasks.wait_all(tasks, poll_interval=5))
        await asyncio.sleep(21)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
    # First cycle: b is on the top page; a, alone below it, is read directly (looking
    # for one task costs more than reading it). From then on b sits alone in its window
    # of 100 too: one direct read each is cheaper than a page each.
    assert list_reads(service) == [["list 0", "get a"], ["get a", "get b"],
                                   ["get a", "get b"], ["get a", "get b"]]


@pytest.mark.parametrize("older", [300, 0])
async def test_when_tasks_above_are_deleted_ours_are_found_again(older: int) -> None:
    service = Service()
    for i in range(older):
        service.add(f"old {i}", created=-1000.0 + i)
    for task_id in ("f0", "f1", "f2"):
        service.add(task_id, created=-500.0)
    for i in range(150):
        service.add(f"other {i}", created=-499.0 + i)
    async with client_for(service) as client:
        tasks = [await handle(client, service, t) for t in ("f0", "f1", "f2")]
        waiting = asyncio.ensure_future(client.discovery_tasks.wait_all(tasks, poll_interval=5))
        await asyncio.sleep(17)
        service.delete(*(f"other {i}" for i in range(100)))  # ours move up from 150 to 50
        await asyncio.sleep(14)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
    direct = ["get f0", "get f1", "get f2"]
    assert list_reads(service) == [
        ["list 0", "list 200", *direct],  # 5: the top page (newer), a skip: too far
        ["list 100"],  # 10: found at 150 (below 100, from what 5 taught)
        ["list 150"],  # 15
        ["list 150", *direct],  # 20: gone from their place: read directly, forgotten
        ["list 0"],  # 25: looked for anew from the top: at 50
        ["list 50"],  # 30
    ]


async def test_a_burst_of_new_tasks_above_moves_every_place_down() -> None:
    service = Service()
    for task_id in ("f0", "f1", "f2"):
        service.add(task_id, created=0.0)
    async with client_for(service) as client:
        tasks = [await handle(client, service, t) for t in ("f0", "f1", "f2")]
        waiting = asyncio.ensure_future(client.discovery_tasks.wait_all(tasks, poll_interval=5))
        await asyncio.sleep(7)
        for i in range(250):
            service.add(f"other {i}", created=7.0)
        await asyncio.sleep(14)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
    # 10: the page where they were holds newer tasks only: they are at least 100 down,
    # and so is every place; the next page holds newer tasks only too: read directly.
    # 15: at least 200 down: the page there holds them.
    assert list_reads(service) == [["list 0"], ["list 0", "list 100", "get f0", "get f1",
                                                "get f2"], ["list 200"], ["list 250"]]


async def test_tasks_missing_from_the_list_are_read_directly_from_then_on() -> None:
    service = Service()
    for i in range(300):
        service.add(f"other {i}", created=i - 300.0)
        if i == 40:
            service.add("g0", created=40.5 - 300)
            service.add("g1", created=40.5 - 300)
        if i == 250:
            service.add("h0", created=250.5 - 300)
            service.add("h1", created=250.5 - 300)
    service.hidden = {"h0", "h1"}  # readable, but never listed
    async with client_for(service) as client:
        tasks = [await handle(client, service, t) for t in ("g0", "g1", "h0", "h1")]
        waiting = asyncio.ensure_future(client.discovery_tasks.wait_all(tasks, poll_interval=5))
        await asyncio.sleep(16)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
    # 5: the top page holds h's place (between 48 and 49) but not them: not listed;
    # the next page is above g's; two misses: everything read directly. 10: g's are
    # looked for from 200, skipping 100: past the end of the list (302), then at 200.
    # From then on: g's page (259) and h's direct reads, never a search for h's.
    assert list_reads(service) == [
        ["list 0", "list 100", "get g0", "get g1", "get h0", "get h1"],
        ["list 300", "list 200", "get h0", "get h1"],
        ["list 259", "get h0", "get h1"],
    ]


async def test_pages_of_followed_tasks_not_yet_due_are_read_on_the_way() -> None:
    service = Service()
    for i in range(100):
        service.add(f"a{i}", created=-200.0)  # older: lower in the list
    for i in range(250):
        service.add(f"b{i}", created=-100.0)  # newer: the top pages
    async with client_for(service) as client:
        older = [await handle(client, service, f"a{i}") for i in range(100)]
        newer = [await handle(client, service, f"b{i}") for i in range(250)]
        first = asyncio.ensure_future(client.discovery_tasks.wait_all(older, poll_interval=5))
        await asyncio.sleep(3)
        second = asyncio.ensure_future(client.discovery_tasks.wait_all(newer, poll_interval=5))
        await asyncio.sleep(13)
        for waiting in (first, second):
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
    # At 5 only the older ones are due, under pages of the newer ones (due at 8): each
    # of those refreshes 100 followed tasks, so none is a miss or skipped, and the
    # pages go on to the due ones. Both groups are on one schedule from then on.
    pages = ["list 0", "list 100", "list 200", "list 300"]
    assert list_reads(service) == [pages, pages, pages]


async def test_a_remembered_place_the_list_contradicts_is_forgotten() -> None:
    service = Service()
    for task_id in ("f0", "f1"):
        service.add(task_id, created=-500.0)
    for i in range(150):
        service.add(f"other {i}", created=-499.0 + i)
    async with client_for(service) as client:
        tasks = [await handle(client, service, t) for t in ("f0", "f1")]
        waiting = asyncio.ensure_future(client.discovery_tasks.wait_all(tasks, poll_interval=5))
        await asyncio.sleep(7)
        service.delete(*(f"other {i}" for i in range(100)))  # ours move up from 150 to 50
        await asyncio.sleep(14)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
    assert list_reads(service) == [
        ["list 0", "list 200", "get f0", "get f1"],  # 5: below 100 (200 is past the end)
        ["list 100", "get f0", "get f1"],  # 10: the list ends at 52, above 100: forgotten
        ["list 0"],  # 15: looked for from the top: at 50
        ["list 50"],  # 20
    ]


async def test_an_overshot_search_halves_back() -> None:
    service = Service()
    names = [f"f{i:02}" for i in range(40)]
    for name in names:
        service.add(name, created=-5000.0)
    for i in range(1250):
        service.add(f"other {i}", created=-4000.0 + i)
    async with client_for(service) as client:
        tasks = [await handle(client, service, t) for t in names]
        waiting = asyncio.ensure_future(client.discovery_tasks.wait_all(tasks, poll_interval=5))
        await asyncio.sleep(26)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
    direct = [f"get {t}" for t in names]
    # Skipping 100, 200, 400, 800 further each time; at 1900 past them (at 1250), so
    # back half way to 1500, still past. Then on from 1100 (1300: past them again),
    # found at 1200.
    assert list_reads(service) == [
        ["list 0", "list 200", *direct],
        ["list 500", "list 1000", *direct],
        ["list 1900", "list 1500", *direct],
        ["list 1100", "list 1300", *direct],
        ["list 1200"],
    ]


async def test_a_task_inserted_between_followed_ones_moves_only_those_below() -> None:
    service = Service()
    for task_id in ("b0", "b1"):
        service.add(task_id, created=-300.0)
    late = [f"late {i}" for i in range(150)]
    for name in late:
        service.add(name, created=-200.0)
    for task_id in ("a0", "a1"):
        service.add(task_id, created=-100.0)
    service.hidden = set(late)  # listed only from 12 on (a lagging list catching up)
    async with client_for(service) as client:
        tasks = [await handle(client, service, t) for t in ("a0", "a1", "b0", "b1")]
        waiting = asyncio.ensure_future(client.discovery_tasks.wait_all(tasks, poll_interval=5))
        await asyncio.sleep(12)
        service.hidden = set()
        await asyncio.sleep(14)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
    assert list_reads(service) == [
        ["list 0"],  # 5: all four at 0..3
        ["list 0"],  # 10
        ["list 0", "get b0", "get b1"],  # 15: a's in place; b's further down: read them
        ["list 0", "list 100"],  # 20: b's looked for from 100: at 152
        ["list 0", "list 152"],  # 25
    ]


async def test_a_placed_task_that_leaves_the_list_is_read_directly_from_then_on() -> None:
    service = Service()
    for i in range(300):
        service.add(f"other {i}", created=i - 300.0)
        if i == 149:
            service.add("g0", created=-150.5)
            service.add("g1", created=-150.5)
            service.add("f0", created=-150.2, ends=14.0)
            service.add("f1", created=-150.2, ends=14.0)
    async with client_for(service) as client:
        tasks = [await handle(client, service, t) for t in ("f0", "f1", "g0", "g1")]
        waiting = asyncio.ensure_future(client.discovery_tasks.wait_all(tasks, poll_interval=5))
        await asyncio.sleep(12)
        service.hidden = {"g0", "g1"}  # still readable, no longer listed
        await asyncio.sleep(14)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
    direct = ["get g0", "get g1"]
    assert list_reads(service) == [
        ["list 0", "list 200", "get f0", "get f1", *direct],  # 5: below 100, above 200
        ["list 100"],  # 10: at 150..153
        ["list 150", *direct],  # 15: f's (done); g's place (under f's), not g's: unlisted
        direct,  # 20: read directly, never looked for again
        direct,  # 25
    ]
