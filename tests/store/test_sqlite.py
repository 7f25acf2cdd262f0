"""What only the SQLite store has: WAL mode, a worker thread that keeps the loop free,
its schema's versions, and waiting out another connection's lock (issue 22)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from extruct_async._store import SQLiteStore, StoreError, _sqlite


async def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "extruct.db") as store:
        await store.claim("ns", "task-1")
    with sqlite3.connect(tmp_path / "extruct.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT task_id FROM claims").fetchall() == [("task-1",)]
    db.close()


async def test_a_version_1_file_gains_claimants_and_keeps_its_claims(tmp_path: Path) -> None:
    path = tmp_path / "extruct.db"
    with sqlite3.connect(path) as db:  # the first schema's claims table, with a claim
        db.execute("CREATE TABLE claims (ns TEXT NOT NULL, task_id TEXT NOT NULL,"
                   " PRIMARY KEY (ns, task_id)) WITHOUT ROWID")
        db.execute("INSERT INTO claims VALUES ('ns', 'old')")
        db.execute("PRAGMA user_version=1")
    db.close()
    async with SQLiteStore(path) as store:
        assert not await store.claim("ns", "old", "key")
        assert await store.claim("ns", "new", "key")
        assert await store.claim("ns", "new", "key")
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
    db.close()


async def test_the_loop_runs_while_another_process_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "extruct.db"
    async with SQLiteStore(path) as store:
        await store.claim("ns", "warm-up")  # connection and schema in place
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another connection takes the write lock
            waiting = asyncio.create_task(store.take_start("ns", rate=10.0))
            for _ in range(20):  # the loop keeps turning while the store waits
                await asyncio.sleep(0.01)
                assert not waiting.done()
            holder.execute("COMMIT")
            assert await waiting == 0.0
        finally:
            holder.close()


async def test_a_lock_held_too_long_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "extruct.db"
    async with SQLiteStore(path, busy_timeout=0.05) as store:
        await store.claim("ns", "warm-up")
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(StoreError, match="database is locked") as caught:
                await store.claim("ns", "task-1")
            assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        assert await store.claim("ns", "task-1")  # the store is fine afterwards


async def test_state_outlives_the_process_that_wrote_it(tmp_path: Path) -> None:
    path = tmp_path / "extruct.db"
    async with SQLiteStore(path) as store:
        await store.journal_reserve(
            "ns", "k", run="r", position=0, body_json="{}", owner="a", lease_seconds=5.0
        )
        await store.pause("ns", 60.0)
    async with SQLiteStore(path) as reopened:
        assert [e.key for e in await reopened.journal_entries("ns")] == ["k"]
        assert await reopened.take_start("ns", rate=1.0) > 59.0


async def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "extruct.db")
    await store.aclose()
    await store.aclose()  # twice is harmless
    with pytest.raises(StoreError, match="closed"):
        await store.claim("ns", "task-1")


async def test_a_newer_schema_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "extruct.db"
    with contextlib.closing(sqlite3.connect(path)) as db:  # as a future release left it
        db.execute("CREATE TABLE future (x)")
        db.execute("PRAGMA user_version=99")
        db.commit()
    async with SQLiteStore(path) as store:
        for _ in range(2):  # and again: nothing was cached or half-done
            with pytest.raises(StoreError, match=r"schema version is 99, newer than .* \(2\)"):
                await store.claim("ns", "task-1")
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (99,)
        tables = db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'").fetchall()
        assert tables == [("future",)]


def _busy_spy(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """An event set when the store is first told "database is locked"."""
    seen = threading.Event()
    real = _sqlite._is_busy

    def spy(exc: sqlite3.Error) -> bool:
        busy = real(exc)
        if busy:
            seen.set()
        return busy

    monkeypatch.setattr(_sqlite, "_is_busy", spy)
    return seen


async def test_opening_a_new_file_waits_for_another_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another connection holds the write lock of a file not yet in WAL mode (as a process
    # turning it to WAL, or creating the schema, does). Turning it to WAL here reads the
    # header and then needs that lock: SQLite answers "busy" at once, busy timeout or not.
    busy = _busy_spy(monkeypatch)
    path = tmp_path / "extruct.db"
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        async with SQLiteStore(path) as store:
            claiming = asyncio.create_task(store.claim("ns", "task-1"))
            assert await asyncio.to_thread(busy.wait, 30.0)
            assert not claiming.done()  # told "busy", and waiting, not failed
            holder.execute("COMMIT")
            assert await claiming
    finally:
        holder.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


async def test_a_busy_open_is_retried_within_the_budget_only(tmp_path: Path) -> None:
    path = tmp_path / "extruct.db"
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        async with SQLiteStore(path, busy_timeout=0.2) as store:
            before = time.monotonic()
            with pytest.raises(StoreError, match="database is locked"):
                await store.claim("ns", "task-1")
            assert time.monotonic() - before >= 0.2  # waited its budget, not failed at once
        holder.execute("ROLLBACK")
    finally:
        holder.close()


def test_a_failed_commit_leaves_no_transaction_open(tmp_path: Path) -> None:
    # Outside WAL mode a COMMIT needs every reader gone, and can fail "busy"; SQLite then
    # keeps the transaction open, and every later BEGIN of the connection would fail.
    path = tmp_path / "rollback-journal.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as setup:
        setup.execute("CREATE TABLE t (x)")
    reader = sqlite3.connect(path, isolation_level=None)
    db = sqlite3.connect(path, timeout=0.01, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT * FROM t").fetchall()  # holds the read lock
        with (
            pytest.raises(sqlite3.OperationalError, match="locked"),
            _sqlite._transaction(db),
        ):
            db.execute("INSERT INTO t VALUES (1)")
        assert not db.in_transaction
        reader.execute("COMMIT")
        with _sqlite._transaction(db):  # the connection works on
            db.execute("INSERT INTO t VALUES (2)")
        assert db.execute("SELECT x FROM t").fetchall() == [(2,)]
    finally:
        reader.close()
        db.close()


async def test_a_retry_waits_only_what_is_left_of_the_budget(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "extruct.db", busy_timeout=5.0)
    waits: list[int] = []  # SQLite's own busy timeout (ms) in each try

    def job() -> str:
        waits.append(store._connection().execute("PRAGMA busy_timeout").fetchone()[0])
        if len(waits) < 3:
            raise sqlite3.OperationalError("database is locked")
        return "done"

    async with store:
        assert await store._run(job) == "done"
        assert waits[0] == 5000
        assert waits[2] <= waits[1] < 5000  # each try waits at most what is left
        # The next call has its whole budget again.
        assert await store._run(
            lambda: store._connection().execute("PRAGMA busy_timeout").fetchone()[0]
        ) == 5000
