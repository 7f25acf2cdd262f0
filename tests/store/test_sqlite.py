"""What only the SQLite store has: WAL mode, and a worker thread that keeps the loop free."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from extruct_async._store import SQLiteStore, StoreError


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
            waiting = asyncio.create_task(store.acquire("ns", rate=10.0))
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
        assert await reopened.acquire("ns", rate=1.0) > 59.0


async def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "extruct.db")
    await store.aclose()
    await store.aclose()  # twice is harmless
    with pytest.raises(StoreError, match="closed"):
        await store.claim("ns", "task-1")
