"""Many processes start on one new SQLite file at the same instant (issue 22).

Sixteen processes wait at a barrier, then all open a store on a file that does not
exist yet and use it at once: rate starts, claims, journal writes, checkpoints, a
read. Two busy loops run beside them, as on a loaded machine. Contention between the
store's own users must never surface as an error: every call waits for the lock
within its budget. Each round uses a new file, because the first moments of a file
(creating it, turning on WAL, the schema) are where processes collide.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from tests.store import _processes

PROCESSES = 16
ROUNDS = 30
CLIENTS = 3
REPEATS = 1


def _spin(stop: object) -> None:
    while not stop.is_set():  # type: ignore[attr-defined]
        pass


@contextlib.contextmanager
def busy_loops(count: int = 2) -> Iterator[None]:
    """``count`` processes that keep a core busy while the block runs."""
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    loops = [context.Process(target=_spin, args=(stop,), daemon=True) for _ in range(count)]
    for loop in loops:
        loop.start()
    try:
        yield
    finally:
        stop.set()
        for loop in loops:
            loop.join(timeout=10)
            if loop.is_alive():
                loop.kill()
                loop.join()


def test_sixteen_processes_open_and_use_a_new_file_at_once(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path}/round-{n}.db" for n in range(ROUNDS)]
    with busy_loops():
        runs = _processes.run_in_processes(
            _processes.crowd,
            [(urls, "ns", f"p{index}", CLIENTS, REPEATS) for index in range(PROCESSES)],
        )
    for n in range(ROUNDS):
        assert [run[n][0] for run in runs] == [CLIENTS * REPEATS] * PROCESSES  # every start
        # Each task claimed by exactly one process (claimants differ per process).
        assert sum(run[n][1] for run in runs) == REPEATS
        with contextlib.closing(sqlite3.connect(tmp_path / f"round-{n}.db")) as db:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert db.execute("PRAGMA user_version").fetchone() == (2,)
            rows = db.execute("SELECT key, state, task_id FROM journal").fetchall()
            assert sorted(rows) == sorted(
                (f"p{p}.{c}-{r}", "created", f"t-p{p}.{c}-{r}")
                for p in range(PROCESSES) for c in range(CLIENTS) for r in range(REPEATS)
            )
            (checkpoints,) = db.execute("SELECT count(*) FROM checkpoints").fetchone()
            assert checkpoints == PROCESSES * CLIENTS * REPEATS
