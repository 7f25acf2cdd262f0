"""Waits ride out a store that fails for a while: a Redis restart, a SQLite file held locked.

With a shared store every request takes its start from the store (the shared rate
limit), so a store that fails fails the status reads too. Those failures are transient
for waiting, as a 503 is: the poller backs off and probes, ``poll_failure`` says what is
failing (a ``StoreError``), and every wait ends when its task does once the store is
back. Real processes and files: a real Redis-protocol server killed and started again
on its port, a second SQLite connection holding the write lock. Nothing here waits on
real time to pass: each step waits for the event it needs (the store failing, seen on a
handle; the server answering again).
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from extruct_async import DiscoveryTask, StoreError
from extruct_async._store import SQLiteStore
from extruct_async._store._redis import RedisStore
from extruct_async.testing import FakeExtructServer
from tests._servers import redis_server_binary, start_redis_server

TASKS = 30
#: Seconds of the simulator per result: each task ends within a few seconds.
PACE = 0.02


async def until(condition: Callable[[], bool], *, within: float = 60.0) -> None:
    """Wait for ``condition`` (checked every few ms); fail loudly if it never holds."""
    async def poll() -> None:
        while not condition():  # noqa: ASYNC110 -- a condition on handles, looked at each 5 ms
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), within)


def store_failing(tasks: list[DiscoveryTask]) -> bool:
    """Whether a handle shows its status reads failing because of the store."""
    return any(
        task.poll_failure is not None and isinstance(task.poll_failure.error, StoreError)
        for task in tasks
    )


async def create_and_wait(server: FakeExtructServer, store: object,
                          outage: Callable[[list[DiscoveryTask]], object]) -> list[DiscoveryTask]:
    async with server.client(store=store, rate_limit=200, max_concurrency=32) as client:
        tasks = await client.discovery_tasks.create_many(
            [{"query": f"store outage {i}", "desired_num_results": 3} for i in range(TASKS)]
        )
        waits = asyncio.gather(*(task.wait(poll_interval=0.2) for task in tasks))
        trouble = asyncio.ensure_future(outage(tasks))
        try:
            # A wait that ends early (the store failure raised) fails the test at once.
            await asyncio.wait([waits, trouble], return_when=asyncio.FIRST_EXCEPTION)
            if waits.done():
                waits.result()
            await trouble
            return list(await waits)
        finally:
            waits.cancel()
            trouble.cancel()


async def test_waits_ride_out_a_sqlite_store_locked_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    store = SQLiteStore(path, busy_timeout=0.2)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    async def hold_the_lock(tasks: list[DiscoveryTask]) -> None:
        await until(lambda: sum(task.num_results_discovered > 0 for task in tasks) > 0)
        holder.execute("BEGIN IMMEDIATE")  # another process's writer
        await until(lambda: store_failing(tasks))
        holder.execute("COMMIT")

    try:
        async with FakeExtructServer(seconds_per_result=PACE) as server:
            finished = await create_and_wait(server, store, hold_the_lock)
    finally:
        holder.close()
        await store.aclose()
    assert len(finished) == TASKS
    assert all(task.finished for task in finished)
    assert all(task.poll_failure is None for task in finished)


class RestartableRedis:
    """A Redis-protocol server on one port that can be killed and started again there."""

    def __init__(self, workdir: str) -> None:
        self._binary = redis_server_binary()
        self._workdir = workdir
        self.process, self.port = start_redis_server(self._binary, workdir)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def start(self) -> None:
        self.process, _ = start_redis_server(self._binary, self._workdir, port=self.port)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def redis() -> Iterator[RestartableRedis]:
    with tempfile.TemporaryDirectory(prefix="extruct-redis-") as workdir:
        server = RestartableRedis(workdir)
        try:
            yield server
        finally:
            server.stop()


async def test_waits_ride_out_a_redis_restart(redis: RestartableRedis) -> None:
    store = RedisStore(redis.url)

    async def restart(tasks: list[DiscoveryTask]) -> None:
        await until(lambda: sum(task.num_results_discovered > 0 for task in tasks) > 0)
        redis.kill()
        await until(lambda: store_failing(tasks))
        await asyncio.to_thread(redis.start)

    try:
        async with FakeExtructServer(seconds_per_result=PACE) as server:
            finished = await create_and_wait(server, store, restart)
    finally:
        await store.aclose()
    assert len(finished) == TASKS
    assert all(task.finished for task in finished)
    assert all(task.poll_failure is None for task in finished)


async def test_a_stream_rides_out_a_locked_store_and_yields_every_row_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.db"
    store = SQLiteStore(path, busy_timeout=0.2)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    rows: list[str] = []

    async def release_once_the_stream_sees_it(task: DiscoveryTask) -> None:
        await until(lambda: store_failing([task]))
        holder.execute("COMMIT")

    try:
        async with (
            FakeExtructServer(seconds_per_result=PACE) as server,
            server.client(store=store, rate_limit=200) as client,
        ):
            task = await client.discovery_tasks.create("store outage stream",
                                                       desired_num_results=20)
            releaser: asyncio.Future[None] | None = None
            async for row in task.stream(poll_interval=0.2, page_size=5):
                rows.append(row.id)
                if len(rows) == 3:  # mid-stream: another process takes the write lock
                    holder.execute("BEGIN IMMEDIATE")
                    releaser = asyncio.ensure_future(release_once_the_stream_sees_it(task))
            assert releaser is not None
            await releaser
            expected = [r["id"] for r in server.visible_rows(task.id)]
    finally:
        holder.close()
        await store.aclose()
    assert task.finished
    assert sorted(rows) == sorted(expected)
    assert len(rows) == len(set(rows))
