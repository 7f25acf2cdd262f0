"""The store wired into the client: configuration, the shared gate, the create journal,
recovery and stream checkpoints, in one process against the simulator.

Shared state that times matter for lives in a ``MemoryStore`` whose clock is the loop's
(fake, ``looptime``) clock, passed to several clients: the same code paths as SQLite and
Redis (whose own rules are tested in ``tests/store``, and across real processes in
``test_workers``), with exact times.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from extruct_async import (
    AsyncExtruct,
    ConfigurationError,
    DiscoveryTask,
    InvalidRequestError,
    RetryPolicy,
    StoreError,
)
from extruct_async._claims import SharedClaims
from extruct_async._gate import SHARED_SECOND, Gate, SharedGate
from extruct_async._idempotency import LEASE_SECONDS, run_key
from extruct_async._store import JournalState, MemoryStore, SQLiteStore, Store
from extruct_async.testing import FakeExtructServer
from extruct_async.testing._ratelimit import peak_in_window
from tests.conftest import API_KEY

pytestmark = pytest.mark.looptime

EXACT = RetryPolicy(max_retries=3, initial_wait=1.0, max_wait=8.0, jitter=False)
EPOCH = 1_800_000_000.0


class LoopClock:
    """Epoch seconds that follow the (fake) loop clock, plus a jump tests can add."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.jumped = 0.0

    def __call__(self) -> float:
        return EPOCH + self.loop.time() + self.jumped


@pytest.fixture
async def server() -> AsyncIterator[FakeExtructServer]:
    async with FakeExtructServer(api_key=API_KEY, seed=5, qualification_steps=0) as running:
        yield running


def client(server: FakeExtructServer, store: str | Store | None = None,
           **options: Any) -> AsyncExtruct:
    return server.client(**{"retry": EXACT, "rate_limit": None, "store": store, **options})


def creates(server: FakeExtructServer) -> int:
    return sum(1 for r in server.requests if r.endpoint == "create")


# -- configuration -------------------------------------------------------------------------


async def test_without_a_store_the_client_keeps_todays_in_memory_gate(
    server: FakeExtructServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EXTRUCT_STORE", raising=False)
    for store in (None, "memory://"):
        async with client(server, store, rate_limit=10) as api:
            assert type(api._pipeline.gate) is Gate  # no store call per request
            assert isinstance(api.store, MemoryStore)
            assert not isinstance(api._creates.claims, SharedClaims)
            # The journal still works, for this process.
            first = await api.discovery_tasks.create("freight SaaS", idempotency_key="k")
            again = await api.discovery_tasks.create("freight SaaS", idempotency_key="k")
            assert again.id == first.id
            assert creates(server) == 1 + (store is not None)


async def test_the_store_comes_from_the_environment_and_closes_with_the_client(
    server: FakeExtructServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("EXTRUCT_STORE", f"sqlite:///{tmp_path}/extruct.db")
    api = client(server)
    store = api.store
    assert isinstance(store, SQLiteStore)
    assert store.path == str(tmp_path / "extruct.db")
    assert isinstance(api._pipeline.gate, SharedGate)
    copy = api.with_options(attempt_timeout=60)
    assert copy.store is store
    await copy.aclose()  # the copy closes nothing
    assert await store.claim("ns", "t") is True
    await api.aclose()
    with pytest.raises(StoreError, match="closed"):
        await store.claim("ns", "t2")


async def test_a_store_object_is_shared_and_left_open(server: FakeExtructServer) -> None:
    store = MemoryStore()
    async with client(server, store) as one, client(server, store) as two:
        assert one.store is two.store is store
        assert isinstance(one._pipeline.gate, SharedGate)
    assert await store.claim("ns", "still-usable")


async def test_a_bad_store_is_a_configuration_error_without_the_key(tmp_path: Path) -> None:
    bad: list[object] = ["ftp://x", f"sqlite:///{tmp_path}/missing/extruct.db", 42]
    for store in bad:
        with pytest.raises(ConfigurationError, match="store") as caught:
            AsyncExtruct(API_KEY, store=store)  # type: ignore[arg-type]
        assert API_KEY not in str(caught.value)


async def test_the_key_is_never_written_to_the_store(
    server: FakeExtructServer, tmp_path: Path,
) -> None:
    path = tmp_path / "extruct.db"
    async with client(server, f"sqlite:///{path}", rate_limit=50) as api:
        task = await api.discovery_tasks.create("freight SaaS", idempotency_key="k1")
        await api.discovery_tasks.create_many(["a", "b"], run="nightly")
        await task.wait(poll_interval=1)
        async with contextlib.aclosing(task.stream(consumer="writer")) as rows:
            async for _ in rows:
                pass
    with sqlite3.connect(path) as db:
        dump = "\n".join(db.iterdump())
    db.close()
    assert "k1" in dump  # the journal is there...
    assert API_KEY not in dump  # ...and the key is not
    assert API_KEY not in _every_file(tmp_path)  # the WAL and its index too


def _every_file(folder: Path) -> str:
    return "".join(p.read_bytes().decode("latin-1") for p in folder.iterdir())


# -- the shared gate -----------------------------------------------------------------------


async def test_clients_on_one_store_share_one_rate_limit(server: FakeExtructServer) -> None:
    store = MemoryStore(clock=LoopClock())
    task = await _a_task(server)
    async with client(server, store, rate_limit=10) as one, \
            client(server, store, rate_limit=10) as two:
        started = len(server.requests)
        await asyncio.gather(*(api.discovery_tasks.get(task) for api in (one, two)
                               for _ in range(30)))
    times = [r.time for r in server.requests[started:]]
    assert len(times) == 60
    # Together: one schedule, SHARED_SECOND / 10 apart, never 10 in a second...
    # (the store's clock is epoch seconds: its readings are exact to a microsecond)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == [pytest.approx(SHARED_SECOND / 10, abs=1e-5)] * 59
    assert peak_in_window(times) == 10
    assert peak_in_window(times, SHARED_SECOND - 1e-4) == 10  # ...nor in the stretched one


async def test_each_client_alone_would_go_twice_as_fast(server: FakeExtructServer) -> None:
    # The control for the test above: two clients with stores of their own.
    task = await _a_task(server)
    async with client(server, MemoryStore(clock=LoopClock()), rate_limit=10) as one, \
            client(server, MemoryStore(clock=LoopClock()), rate_limit=10) as two:
        started = len(server.requests)
        await asyncio.gather(*(api.discovery_tasks.get(task) for api in (one, two)
                               for _ in range(30)))
    assert peak_in_window(r.time for r in server.requests[started:]) == 20


async def test_a_429_seen_by_one_client_pauses_the_other(server: FakeExtructServer) -> None:
    store = MemoryStore(clock=LoopClock())
    task = await _a_task(server)
    loop = asyncio.get_running_loop()
    async with client(server, store) as one, client(server, store) as two:
        server.inject("429", endpoint="get")  # Retry-After: 1
        started = loop.time()
        await one.discovery_tasks.get(task)  # 429, paused 1 s, then the retry
        assert loop.time() - started == pytest.approx(1.0)
        server.inject("429", endpoint="get")
        first = asyncio.create_task(one.discovery_tasks.get(task))
        await asyncio.sleep(0.25)
        paused_at = loop.time()
        await two.discovery_tasks.get(task)  # not refused itself: held by the shared pause
        assert loop.time() - paused_at == pytest.approx(0.75)
        await first
    assert server.faults_served["429"] == 2


async def test_the_shared_gate_keeps_the_concurrency_cap_per_client(
    server: FakeExtructServer,
) -> None:
    store = MemoryStore(clock=LoopClock())
    in_flight = peak = 0

    async def get(api: AsyncExtruct) -> None:
        nonlocal in_flight, peak
        async with api._pipeline.gate:
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(1)
            in_flight -= 1

    async with client(server, store, max_concurrency=2) as api:
        await asyncio.gather(*(get(api) for _ in range(6)))
    assert peak == 2


async def test_a_waiter_cancelled_at_the_store_gives_its_slot_back(
    server: FakeExtructServer,
) -> None:
    store = MemoryStore(clock=LoopClock())
    task = await _a_task(server)
    async with client(server, store, max_concurrency=1) as api:
        await store.pause(api._scope.namespace, 5.0)
        waiting = asyncio.create_task(api.discovery_tasks.get(task))
        await asyncio.sleep(1)  # holds the only slot, waiting for the store
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        loop = asyncio.get_running_loop()
        before = loop.time()
        await api.discovery_tasks.get(task)  # the slot is free; only the pause is left
        assert loop.time() - before == pytest.approx(4.0)


async def test_a_failing_store_fails_the_call_and_frees_the_slot(
    server: FakeExtructServer, tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "extruct.db")
    task = await _a_task(server)
    async with client(server, store, max_concurrency=1) as api:
        await store.aclose()
        for _ in range(2):  # the second would hang if the first had kept the slot
            with pytest.raises(StoreError):
                await api.discovery_tasks.get(task)


async def _a_task(server: FakeExtructServer) -> str:
    async with client(server) as api:
        return (await api.discovery_tasks.create("a task to read")).id


# -- the create journal --------------------------------------------------------------------


async def test_a_key_with_a_task_returns_it_without_a_request(server: FakeExtructServer) -> None:
    store = MemoryStore()
    async with client(server, store) as api:
        made = await api.discovery_tasks.create("freight SaaS", desired_num_results=20,
                                                criteria=[{"key": "b2b", "name": "B2B",
                                                           "criterion": "Sells to businesses."}],
                                                exclude_domains=["https://www.Acme.com/x"],
                                                idempotency_key="k")
    before = len(server.requests)
    async with client(server, store) as restarted:
        again = await restarted.discovery_tasks.create(
            "freight SaaS", desired_num_results=20,
            criteria=[{"key": "b2b", "name": "B2B", "criterion": "Sells to businesses."}],
            exclude_domains=["https://www.Acme.com/x"], idempotency_key="k")
    assert len(server.requests) == before  # not one request
    assert again.id == made.id
    assert again.created_at == made.created_at
    assert (again.query, again.desired_num_results) == ("freight SaaS", 20)
    assert again.criteria == made.criteria
    assert again.exclude_domains == ("acme.com",)


async def test_a_key_reused_for_another_create_is_refused_naming_it(
    server: FakeExtructServer,
) -> None:
    async with client(server, MemoryStore()) as api:
        await api.discovery_tasks.create("freight SaaS", idempotency_key="nightly-7")
        before = len(server.requests)
        with pytest.raises(InvalidRequestError, match="'nightly-7'") as caught:
            await api.discovery_tasks.create("other query", idempotency_key="nightly-7")
    assert caught.value.field == "idempotency_key"
    assert len(server.requests) == before


async def test_a_busy_key_waits_for_its_sender(server: FakeExtructServer) -> None:
    store = MemoryStore(clock=LoopClock())
    server.inject("slow", endpoint="create")  # answers after slow_seconds (60 s)
    async with client(server, store, attempt_timeout=120) as one, client(server, store) as two:
        first = asyncio.create_task(one.discovery_tasks.create("q", idempotency_key="k"))
        await asyncio.sleep(1)
        second = await two.discovery_tasks.create("q", idempotency_key="k")
        assert second.id == (await first).id
    assert creates(server) == 1


async def test_bad_keys_are_refused_before_anything(server: FakeExtructServer) -> None:
    async with client(server) as api:
        for key in ("", "  ", "a\nb", "k" * 257, 7):
            with pytest.raises((InvalidRequestError, TypeError)):
                await api.discovery_tasks.create("q", idempotency_key=key)  # type: ignore[arg-type]
        with pytest.raises(InvalidRequestError, match="run"):
            await api.discovery_tasks.create_many(["q"], run="")
    assert server.requests == ()


# The crash: a dead process left the key "sending"; its lease runs out.


async def crashed(store: Store, namespace: str, key: str, body: dict[str, Any],
                  clock: LoopClock, *, run: str | None = None,
                  position: int | None = None) -> None:
    from extruct_async._idempotency import body_json

    await store.journal_reserve(namespace, key, run=run, position=position,
                                body_json=body_json(body), owner="dead",
                                lease_seconds=LEASE_SECONDS)
    clock.jumped += LEASE_SECONDS + 1  # the lease has run out


BODY = {"query": "freight SaaS", "desired_num_results": 100, "auto_data_sources": True}


@pytest.mark.parametrize("made", ["before the crash", "never"])
async def test_a_crashed_key_is_reconciled_then_adopted_or_sent(
    server: FakeExtructServer, made: str,
) -> None:
    clock = LoopClock()
    store = MemoryStore(clock=clock)
    async with client(server, store) as api:
        namespace = api._scope.namespace
        orphan = None
        if made != "never":  # its create went out; its answer never came back
            async with client(server) as dead:
                orphan = (await dead.discovery_tasks.create("freight SaaS")).id
        await crashed(store, namespace, "k", BODY, clock)
        task = await api.discovery_tasks.create("freight SaaS", idempotency_key="k")
    assert creates(server) == 1
    if orphan is not None:
        assert task.id == orphan
    [entry] = await store.journal_entries(namespace)
    assert (entry.state, entry.task_id) == (JournalState.CREATED, task.id)


async def test_a_task_claimed_under_the_same_key_is_adopted_another_keys_is_not(
    server: FakeExtructServer,
) -> None:
    clock = LoopClock()
    store = MemoryStore(clock=clock)
    async with client(server, store) as api:
        namespace = api._scope.namespace
        async with client(server) as dead:
            mine = (await dead.discovery_tasks.create("freight SaaS")).id
            theirs = (await dead.discovery_tasks.create("freight SaaS")).id
        await store.claim(namespace, mine, "k")  # claimed, then the process died
        await store.claim(namespace, theirs, "another-key")
        await crashed(store, namespace, "k", BODY, clock)
        task = await api.discovery_tasks.create("freight SaaS", idempotency_key="k")
    assert task.id == mine
    assert creates(server) == 2


async def test_the_look_up_reaches_back_to_the_reservation_not_further(
    server: FakeExtructServer,
) -> None:
    clock = LoopClock()
    store = MemoryStore(clock=clock)
    async with client(server, store) as api:
        namespace = api._scope.namespace
        async with client(server) as other:
            older = (await other.discovery_tasks.create("freight SaaS")).id
        await asyncio.sleep(30)  # a look-alike from 30 s before the key was reserved
        await crashed(store, namespace, "k", BODY, clock)
        await asyncio.sleep(60)  # re-run a minute after the crash: still in the window
        task = await api.discovery_tasks.create("freight SaaS", idempotency_key="k")
    assert task.id != older
    assert creates(server) == 2


async def test_a_create_that_failed_after_it_was_sent_is_reconciled_next_time(
    server: FakeExtructServer,
) -> None:
    clock = LoopClock()
    store = MemoryStore(clock=clock)
    async with client(server, store, max_retries=0) as api:
        server.inject("commit_then_drop", endpoint="create")
        server.inject("500", endpoint="list")  # and the look-up fails: nobody can tell
        with pytest.raises(Exception, match=r"create|discovery_tasks"):
            await api.discovery_tasks.create("freight SaaS", idempotency_key="k")
        [entry] = await store.journal_entries(api._scope.namespace)
        assert entry.state is JournalState.SENDING  # kept, its lease ended at once
        task = await api.discovery_tasks.create("freight SaaS", idempotency_key="k")
    assert creates(server) == 1  # the committed task was found and adopted
    assert task.id in server.tasks


async def test_a_create_refused_before_it_was_sent_is_forgotten(
    server: FakeExtructServer,
) -> None:
    store = MemoryStore()
    async with client(server, store) as api:
        namespace = api._scope.namespace
        await store.pause(namespace, 60)
        attempt = asyncio.create_task(
            api.discovery_tasks.create("freight SaaS", idempotency_key="k"))
        await asyncio.sleep(1)
        attempt.cancel()  # never admitted: never sent
        with pytest.raises(asyncio.CancelledError):
            await attempt
        assert await store.journal_entries(namespace) == []
    assert creates(server) == 0


# create_many with a run


SPECS = [f"search {n}" for n in range(12)]


async def test_a_run_again_returns_its_tasks_in_order_without_creating(
    server: FakeExtructServer,
) -> None:
    store = MemoryStore()
    async with client(server, store) as api:
        first = await api.discovery_tasks.create_many(SPECS, run="nightly")
    before = len(server.requests)
    seen: list[tuple[int, str]] = []
    async with client(server, store) as again:
        second = await again.discovery_tasks.create_many(
            SPECS, run="nightly", on_created=lambda i, t: seen.append((i, t.id)))
    assert len(server.requests) == before
    assert [t.id for t in second] == [t.id for t in first]
    assert [t.query for t in second] == SPECS
    assert sorted(seen) == [(i, t.id) for i, t in enumerate(first)]
    entries = await store.journal_entries(again._scope.namespace, "nightly")
    assert [e.key for e in entries] == [run_key("nightly", i) for i in range(12)]


async def test_a_run_with_changed_specs_is_refused_before_anything_is_sent(
    server: FakeExtructServer,
) -> None:
    store = MemoryStore()
    async with client(server, store) as api:
        await api.discovery_tasks.create_many(SPECS[:3], run="nightly")
        before = len(server.requests)
        with pytest.raises(InvalidRequestError, match="run:nightly:1") as caught:
            await api.discovery_tasks.create_many(["search 0", "changed", "search 2"],
                                                  run="nightly")
    assert caught.value.field == "specs[1]"
    assert len(server.requests) == before


async def test_a_cancelled_run_keeps_its_promise_and_a_rerun_completes_it(
    server: FakeExtructServer,
) -> None:
    store = MemoryStore()
    created: list[int] = []
    async with client(server, store, rate_limit=4) as api:
        batch = asyncio.create_task(api.discovery_tasks.create_many(
            SPECS, run="r", on_created=lambda i, t: created.append(i)))
        await asyncio.sleep(1.1)  # about 5 admitted at 4/s
        batch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await batch
        assert 0 < len(created) < len(SPECS)
        assert creates(server) == len(created)  # every task that exists was reported
        tasks = await api.discovery_tasks.create_many(SPECS, run="r")
    assert [t.query for t in tasks] == SPECS
    assert len(server.tasks) == len(SPECS)  # the rest created once, nothing twice


async def test_recover_returns_the_journaled_tasks_and_reconciles_crashed_keys(
    server: FakeExtructServer,
) -> None:
    clock = LoopClock()
    store = MemoryStore(clock=clock)
    async with client(server, store) as api:
        namespace = api._scope.namespace
        single = await api.discovery_tasks.create("one off", idempotency_key="solo")
        run = await api.discovery_tasks.create_many(SPECS[:3], run="nightly")
        async with client(server) as dead:  # position 3 was sent, its answer lost
            orphan = (await dead.discovery_tasks.create("search 3")).id
        await crashed(store, namespace, run_key("nightly", 3), {**BODY, "query": "search 3"},
                      clock, run="nightly", position=3)
        await crashed(store, namespace, run_key("nightly", 4), {**BODY, "query": "search 4"},
                      clock, run="nightly", position=4)  # never sent
        before = creates(server)
        recovered = await api.discovery_tasks.recover(run="nightly")
        everything = await api.discovery_tasks.recover()
    assert creates(server) == before  # recovery never creates
    assert [t.id for t in recovered] == [t.id for t in run] + [orphan]
    assert [t.id for t in everything] == [single.id] + [t.id for t in recovered]
    assert all(isinstance(t, DiscoveryTask) for t in everything)
    entries = {e.key: e for e in await store.journal_entries(namespace, "nightly")}
    assert entries[run_key("nightly", 4)].state is JournalState.SENDING  # left for a re-run


# -- stream checkpoints --------------------------------------------------------------------


async def _finished_task(api: AsyncExtruct, results: int = 12) -> DiscoveryTask:
    task = await api.discovery_tasks.create("robotics for warehouses",
                                            desired_num_results=results)
    return await task.wait(poll_interval=1)


async def test_a_restarted_stream_yields_only_rows_not_taken(server: FakeExtructServer) -> None:
    store = MemoryStore()
    async with client(server, store) as api:
        task = await _finished_task(api)
        every = [row["id"] for row in server.visible_rows(task.id)]
        assert len(every) >= 6
        got: list[str] = []
        async with contextlib.aclosing(task.stream(consumer="writer")) as rows:
            async for row in rows:
                got.append(row.id)
                if len(got) == 4:
                    break  # the 4th is in hand: not taken
    async with client(server, store) as restarted:
        handle = await restarted.discovery_tasks.get(task.id)
        async with contextlib.aclosing(handle.stream(consumer="writer")) as rows:
            rest = [row.id async for row in rows]
        async with contextlib.aclosing(handle.stream(consumer="indexer")) as rows:
            other = [row.id async for row in rows]  # another consumer: everything
    assert rest[0] == got[3]  # the row in hand, delivered again: the only repeat
    assert sorted(got[:3] + rest) == sorted(every)
    assert sorted(other) == sorted(every)


async def test_a_row_is_taken_when_the_next_is_asked_for(server: FakeExtructServer) -> None:
    store = MemoryStore()
    async with client(server, store) as api:
        task = await _finished_task(api, results=5)
        namespace = api._scope.namespace

        async def taken() -> set[str]:
            return await store.checkpoint_load(namespace, task.id, "w")

        rows = task.stream(consumer="w")
        first = await rows.__anext__()
        assert await taken() == set()  # in hand, not taken
        second = await rows.__anext__()
        assert await taken() == {first.id}
        remaining = [second.id] + [row.id async for row in rows]
        assert await taken() == {first.id, *remaining}  # the end asked for: all taken


async def test_an_unnamed_stream_records_nothing(server: FakeExtructServer) -> None:
    store = MemoryStore()
    async with client(server, store) as api:
        task = await _finished_task(api, results=5)
        async with contextlib.aclosing(task.stream()) as rows:
            assert [row.id async for row in rows]
        namespace = api._scope.namespace
        for consumer in ("", "None", "default"):
            assert await store.checkpoint_load(namespace, task.id, consumer) == set()
        with pytest.raises(InvalidRequestError, match="consumer"):
            async for _ in task.stream(consumer=" "):
                pass

