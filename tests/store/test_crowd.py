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
import os
import sqlite3
from pathlib import Path

from tests.store import _processes

PROCESSES = 16
#: New files, one after another. The suite's run is short; CI runs it longer
#: (``EXTRUCT_STRESS_ROUNDS=40``), since a collision is a matter of chance each round.
ROUNDS = int(os.environ.get("EXTRUCT_STRESS_ROUNDS", "20"))
CLIENTS = 2  # stores per process on the file, at once
REPEATS = 3  # rounds of work per store


def test_sixteen_processes_open_and_use_a_new_file_at_once(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path}/round-{n}.db" for n in range(ROUNDS)]
    with _processes.busy_loops():
        runs = _processes.run_in_processes(
            _processes.crowd,
            [(urls, "ns", f"p{index}", CLIENTS, REPEATS) for index in range(PROCESSES)],
        )
    for n in range(ROUNDS):
        assert [run[n][0] for run in runs] == [CLIENTS * REPEATS] * PROCESSES
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
            # Every start recorded once in the shared log: no write lost to another's.
            (logged,) = db.execute("SELECT length(starts) / 8 FROM rate").fetchone()
            assert logged == PROCESSES * CLIENTS * REPEATS
            (checkpoints,) = db.execute("SELECT count(*) FROM checkpoints").fetchone()
            assert checkpoints == PROCESSES * CLIENTS * REPEATS
