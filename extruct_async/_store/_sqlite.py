"""The SQLite store: one machine, many processes, nothing to start.

One file in WAL mode (readers never wait for the writer; ``synchronous=NORMAL``, so
a commit survives the process being killed, though not a power cut). Every
read-modify-write runs inside ``BEGIN IMMEDIATE``: the write lock is taken first,
then the clock read, so two processes can never decide on the same state.

The standard library's sqlite3 blocks, so each store owns one worker thread with one
connection, and the event loop only awaits its results: a process holding the lock
makes this store's callers wait, never the loop.

Contention between the file's own users is waited for, never an error, within
``busy_timeout`` per call. SQLite's busy handler waits for a lock a statement asks for
with no transaction open (``BEGIN IMMEDIATE``, a read). Where a connection already
holds a read lock and needs the write lock, SQLite answers "database is locked" at
once instead (waiting there could deadlock): that is what ``PRAGMA journal_mode=WAL``
does on a file that is not in WAL mode yet (it reads the header, then rewrites it), so
processes opening a new file together collided there (issue 22). Every call therefore
runs again, after a short pause, while SQLite says busy and the budget lasts; a call's
transaction is always closed (committed or rolled back) before it returns or retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .._rate import RateRule, RateState, take
from . import _journal
from ._base import JournalEntry, JournalState, Reservation, Store, StoreError

__all__ = ["SQLiteStore"]

_T = TypeVar("_T")

#: 2: claims name their claimant (version 1 files are upgraded when opened).
_SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS rate (
    ns TEXT PRIMARY KEY,
    next_start REAL NOT NULL,
    paused_until REAL NOT NULL,
    starts BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal (
    ns TEXT NOT NULL,
    key TEXT NOT NULL,
    run TEXT,
    position INTEGER,
    body_json TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT NOT NULL,
    reserved_at REAL NOT NULL,
    lease_until REAL,
    task_id TEXT,
    created_at TEXT,
    PRIMARY KEY (ns, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS journal_by_run ON journal (ns, run, position);
CREATE TABLE IF NOT EXISTS claims (
    ns TEXT NOT NULL,
    task_id TEXT NOT NULL,
    claimant TEXT,
    PRIMARY KEY (ns, task_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    ns TEXT NOT NULL,
    task_id TEXT NOT NULL,
    consumer TEXT NOT NULL,
    row_id TEXT NOT NULL,
    PRIMARY KEY (ns, task_id, consumer, row_id)
) WITHOUT ROWID;
"""
_JOURNAL_COLUMNS = (
    "key, run, position, body_json, state, owner, reserved_at, lease_until, task_id, created_at"
)
_NO_RATE_STATE = (float("-inf"), float("-inf"), b"")
#: Pauses between tries of a call SQLite answered "busy" at once: doubling from 1 ms,
#: at most 50 ms, each drawn between half and all of that (so colliding callers part).
_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.05
_SQLITE_BUSY = 5  # the primary result code; extended codes add bits above 0xFF


class SQLiteStore(Store):
    """A store in one SQLite file, shared by every process that opens it.

    Args:
        path: the database file; created if missing (its directory must exist).
        clock: the clock every decision is made on, read inside the write
            transaction; the machine's wall clock (epoch seconds) by default.
        busy_timeout: seconds one call may wait for other connections' locks (the
            file's other users) before failing with ``StoreError``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 10.0,
    ) -> None:
        #: The database file, made absolute (a later ``chdir`` does not move it).
        self.path = os.path.abspath(path)
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._timeout = busy_timeout  # SQLite's own wait; less while a call retries
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="extruct-store")
        self._db: sqlite3.Connection | None = None  # opened by the worker thread
        self._closed = False

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- the worker ----------------------------------------------------------------

    async def _run(self, job: Callable[..., _T], *args: Any) -> _T:
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        return await asyncio.get_running_loop().run_in_executor(
            self._worker, self._call, job, args
        )

    def _call(self, job: Callable[..., _T], args: tuple[Any, ...]) -> _T:
        """Run ``job`` on the worker thread, again while the database is busy.

        SQLite's own busy handler waits inside one try; this loop retries what SQLite
        refused at once, and SQLite's wait is cut to what is left of the budget.
        """
        deadline = time.monotonic() + self._busy_timeout
        pause = _FIRST_PAUSE
        try:
            while True:
                try:
                    return job(*args)
                except sqlite3.OperationalError as exc:
                    left = deadline - time.monotonic()
                    if not _is_busy(exc) or left <= 0:
                        raise
                time.sleep(min(random.uniform(pause / 2, pause), left))
                pause = min(2 * pause, _LONGEST_PAUSE)
                self._set_timeout(deadline - time.monotonic())
        except sqlite3.Error as exc:
            raise StoreError(f"{self!r}: {exc}") from exc
        finally:
            if self._timeout != self._busy_timeout:
                self._set_timeout(self._busy_timeout)

    def _set_timeout(self, seconds: float) -> None:
        """How long SQLite itself waits for a lock, in the next statements."""
        self._timeout = max(seconds, 0.0)
        if self._db is not None:
            self._db.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(
                self.path,
                timeout=self._timeout,
                isolation_level=None,  # transactions are explicit
                check_same_thread=False,  # opened and used by the worker thread only
            )
            try:
                # On a new file this reads the header, then writes it: "busy" at once when
                # another connection does the same, and _call tries again.
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                self._migrate(db)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Create the schema, or upgrade an older one; refuse a newer one, changing nothing."""
        if self._schema_version(db) == _SCHEMA_VERSION:
            return
        with _transaction(db):
            # Read again under the write lock: another process may have done it.
            version = self._schema_version(db)
            if version == _SCHEMA_VERSION:
                return
            for statement in _SCHEMA.split(";")[:-1]:
                db.execute(statement)
            if version == 1:
                db.execute("ALTER TABLE claims ADD COLUMN claimant TEXT")
            db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    def _schema_version(self, db: sqlite3.Connection) -> int:
        version: int = db.execute("PRAGMA user_version").fetchone()[0]
        if version > _SCHEMA_VERSION:
            raise StoreError(
                f"{self!r}: the file's schema version is {version}, newer than this"
                f" extruct-async's ({_SCHEMA_VERSION}): it was written by a newer release;"
                " upgrade extruct-async to use it (the file is left unchanged)"
            )
        return version

    @contextlib.contextmanager
    def _write(self) -> Iterator[tuple[sqlite3.Connection, float]]:
        """A write transaction and the clock read once its lock is held."""
        db = self._connection()
        with _transaction(db):
            yield db, self._clock()

    def _read(self) -> sqlite3.Connection:
        return self._connection()

    # -- shared rate limit and pause -----------------------------------------------

    async def take_start(
        self, namespace: str, *, rate: float | None, burst: int = 1, second: float = 1.0
    ) -> float:
        """See ``Store.take_start``."""
        wait, _ = await self._take_start_timed(namespace, rate, burst, second)
        return wait

    async def _take_start_timed(
        self, namespace: str, rate: float | None, burst: int, second: float
    ) -> tuple[float, float]:
        """``take_start``'s wait, and the clock reading it was decided at (for audits)."""
        rule = None if rate is None else RateRule(rate, burst, second)
        return await self._run(self._take_start, namespace, rule)

    def _take_start(self, namespace: str, rule: RateRule | None) -> tuple[float, float]:
        with self._write() as (db, now):
            row = db.execute(
                "SELECT next_start, paused_until, starts FROM rate WHERE ns = ?", (namespace,)
            ).fetchone()
            next_start, paused_until, starts = row or _NO_RATE_STATE
            state = RateState(next_start, paused_until, _unpack(starts))
            at = take(state, now, rule)
            if rule is not None:
                db.execute(
                    "INSERT OR REPLACE INTO rate (ns, next_start, paused_until, starts)"
                    " VALUES (?, ?, ?, ?)",
                    (namespace, state.next_start, state.paused_until, _pack(state.starts)),
                )
        return at - now, now

    async def pause(self, namespace: str, seconds: float) -> None:
        """See ``Store.pause``."""
        await self._run(self._pause, namespace, seconds)

    def _pause(self, namespace: str, seconds: float) -> None:
        with self._write() as (db, now):
            db.execute(
                "INSERT INTO rate (ns, next_start, paused_until, starts) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (ns) DO UPDATE"
                " SET paused_until = max(paused_until, excluded.paused_until)",
                (namespace, float("-inf"), now + seconds, b""),
            )

    # -- the create journal --------------------------------------------------------

    async def journal_reserve(
        self,
        namespace: str,
        key: str,
        *,
        run: str | None,
        position: int | None,
        body_json: str,
        owner: str,
        lease_seconds: float,
    ) -> Reservation:
        """See ``Store.journal_reserve``."""
        return await self._run(
            self._journal_reserve, namespace, key, run, position, body_json, owner, lease_seconds
        )

    def _journal_reserve(
        self,
        namespace: str,
        key: str,
        run: str | None,
        position: int | None,
        body_json: str,
        owner: str,
        lease_seconds: float,
    ) -> Reservation:
        with self._write() as (db, now):
            reservation, write = _journal.reserve(
                self._entry(db, namespace, key),
                now=now,
                key=key,
                run=run,
                position=position,
                body_json=body_json,
                owner=owner,
                lease_seconds=lease_seconds,
            )
            if write is not None:
                self._save_entry(db, namespace, write)
        return reservation

    async def journal_renew(
        self, namespace: str, key: str, *, owner: str, lease_seconds: float
    ) -> bool:
        """See ``Store.journal_renew``."""
        return await self._run(self._journal_renew, namespace, key, owner, lease_seconds)

    def _journal_renew(self, namespace: str, key: str, owner: str, lease_seconds: float) -> bool:
        with self._write() as (db, now):
            renewed = _journal.renew(
                self._entry(db, namespace, key), now=now, owner=owner, lease_seconds=lease_seconds
            )
            if renewed is not None:
                self._save_entry(db, namespace, renewed)
        return renewed is not None

    async def journal_complete(
        self, namespace: str, key: str, *, task_id: str, created_at: str
    ) -> str:
        """See ``Store.journal_complete``."""
        return await self._run(self._journal_complete, namespace, key, task_id, created_at)

    def _journal_complete(self, namespace: str, key: str, task_id: str, created_at: str) -> str:
        with self._write() as (db, _):
            entry = self._entry(db, namespace, key)
            if entry is None:
                raise StoreError(f"journal_complete: no journal entry for key {key!r}")
            done = _journal.complete(entry, task_id=task_id, created_at=created_at)
            if done is not entry:
                self._save_entry(db, namespace, done)
        assert done.task_id is not None
        return done.task_id

    async def journal_release(self, namespace: str, key: str, *, owner: str) -> bool:
        """See ``Store.journal_release``."""
        return await self._run(self._journal_release, namespace, key, owner)

    def _journal_release(self, namespace: str, key: str, owner: str) -> bool:
        with self._write() as (db, _):
            if not _journal.may_release(self._entry(db, namespace, key), owner=owner):
                return False
            db.execute("DELETE FROM journal WHERE ns = ? AND key = ?", (namespace, key))
        return True

    async def journal_entries(self, namespace: str, run: str | None = None) -> list[JournalEntry]:
        """See ``Store.journal_entries``."""
        return await self._run(self._journal_entries, namespace, run)

    def _journal_entries(self, namespace: str, run: str | None) -> list[JournalEntry]:
        query = f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE ns = ?"
        params: tuple[str, ...] = (namespace,)
        if run is not None:
            query += " AND run = ?"
            params += (run,)
        db = self._read()
        entries = [_to_entry(row) for row in db.execute(query, params)]
        return sorted(entries, key=_journal.order)

    @staticmethod
    def _entry(db: sqlite3.Connection, namespace: str, key: str) -> JournalEntry | None:
        row = db.execute(
            f"SELECT {_JOURNAL_COLUMNS} FROM journal WHERE ns = ? AND key = ?", (namespace, key)
        ).fetchone()
        return None if row is None else _to_entry(row)

    @staticmethod
    def _save_entry(db: sqlite3.Connection, namespace: str, entry: JournalEntry) -> None:
        db.execute(
            f"INSERT OR REPLACE INTO journal (ns, {_JOURNAL_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                namespace,
                entry.key,
                entry.run,
                entry.position,
                entry.body_json,
                entry.state.value,
                entry.owner,
                entry.reserved_at,
                entry.lease_until,
                entry.task_id,
                entry.created_at,
            ),
        )

    # -- claims and checkpoints ----------------------------------------------------

    async def claim(self, namespace: str, task_id: str, claimant: str | None = None) -> bool:
        """See ``Store.claim``."""
        return await self._run(self._claim, namespace, task_id, claimant)

    def _claim(self, namespace: str, task_id: str, claimant: str | None) -> bool:
        with self._write() as (db, _):
            cursor = db.execute(
                "INSERT OR IGNORE INTO claims (ns, task_id, claimant) VALUES (?, ?, ?)",
                (namespace, task_id, claimant),
            )
            if cursor.rowcount == 1:
                return True
            (holder,) = db.execute(
                "SELECT claimant FROM claims WHERE ns = ? AND task_id = ?", (namespace, task_id)
            ).fetchone()
        return claimant is not None and holder == claimant

    async def checkpoint_load(self, namespace: str, task_id: str, consumer: str) -> set[str]:
        """See ``Store.checkpoint_load``."""
        return await self._run(self._checkpoint_load, namespace, task_id, consumer)

    def _checkpoint_load(self, namespace: str, task_id: str, consumer: str) -> set[str]:
        rows = self._read().execute(
            "SELECT row_id FROM checkpoints WHERE ns = ? AND task_id = ? AND consumer = ?",
            (namespace, task_id, consumer),
        )
        return {row_id for (row_id,) in rows}

    async def checkpoint_add(
        self, namespace: str, task_id: str, consumer: str, row_ids: Iterable[str]
    ) -> None:
        """See ``Store.checkpoint_add``."""
        rows = [(namespace, task_id, consumer, row_id) for row_id in row_ids]
        if rows:
            await self._run(self._checkpoint_add, rows)

    def _checkpoint_add(self, rows: list[tuple[str, str, str, str]]) -> None:
        with self._write() as (db, _):
            db.executemany(
                "INSERT OR IGNORE INTO checkpoints (ns, task_id, consumer, row_id)"
                " VALUES (?, ?, ?, ?)",
                rows,
            )

    # -- lifetime ------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection and stop the worker thread."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._worker, self._close)
        finally:
            self._worker.shutdown(wait=False)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` (the write lock first) ... ``COMMIT``; closed whatever happens.

    A failed ``COMMIT`` (busy, in a journal mode other than WAL) leaves SQLite's
    transaction open: it is rolled back too, so the next call starts clean.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _pack(starts: deque[float]) -> bytes:
    """The start log as bytes (little-endian doubles), for the ``rate`` table."""
    return struct.pack(f"<{len(starts)}d", *starts)


def _unpack(data: bytes) -> deque[float]:
    """The inverse of ``_pack``."""
    return deque(struct.unpack(f"<{len(data) // 8}d", data))


def _is_busy(exc: sqlite3.Error) -> bool:
    """Whether SQLite said "database is locked" (another connection holds the lock)."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return bool(code & 0xFF == _SQLITE_BUSY)
    return str(exc).startswith("database is locked")


def _to_entry(row: tuple[Any, ...]) -> JournalEntry:
    key, run, position, body_json, state, owner, reserved_at, lease_until, task_id, created = row
    return JournalEntry(
        key=key,
        run=run,
        position=position,
        body_json=body_json,
        state=JournalState(state),
        owner=owner,
        reserved_at=reserved_at,
        lease_until=lease_until,
        task_id=task_id,
        created_at=created,
    )
