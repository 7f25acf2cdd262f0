"""Real processes for the multi-process tests: the simulator in one, clients in others.

``Simulator`` runs a ``FakeExtructServer`` in a process of its own (real time, its own
core share), driven over a pipe: its request log and tasks are the ground truth. It can
also kill a client process with SIGKILL the moment the server has committed a given
number of creates (a crash at a precise point, chosen by the test).

Clients run with :func:`spawn`: a process forked from a clean forkserver that has
imported the SDK once, so it starts in milliseconds and can be killed with ``kill -9``.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from extruct_async.testing import FakeExtructServer

__all__ = ["Simulator", "spawn"]

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(
    ["extruct_async", "extruct_async.testing", "extruct_async._store._sqlite", "redis.asyncio",
     __name__]
)


def spawn(target: Callable[..., Any], *args: Any) -> multiprocessing.Process:
    """Start ``target(*args)`` in a fresh client process (a daemon); return it."""
    process = _CONTEXT.Process(target=target, args=args, daemon=True)
    process.start()
    return process


class Simulator:
    """A ``FakeExtructServer`` in its own process. Use as a context manager."""

    def __init__(self, **options: Any) -> None:
        self._conn, child = _CONTEXT.Pipe()
        self._process = _CONTEXT.Process(target=_main, args=(child, options), daemon=True)
        self._process.start()
        child.close()
        self.url, self.api_key = self._call("address")

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with contextlib.suppress(OSError, EOFError, AssertionError):
            self._call("exit")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()

    def _call(self, command: str, **arguments: Any) -> Any:
        self._conn.send((command, arguments))
        if not self._conn.poll(120):
            raise AssertionError(f"the simulator did not answer {command!r}")
        ok, value = self._conn.recv()
        if not ok:
            raise AssertionError(f"the simulator failed on {command!r}:\n{value}")
        return value

    def log(self) -> list[tuple[float, str | None, int | None]]:
        """Every request so far: (server time of arrival, endpoint, status)."""
        log: list[tuple[float, str | None, int | None]] = self._call("log")
        return log

    def tasks(self) -> dict[str, str]:
        """Every task on the service: id -> query."""
        tasks: dict[str, str] = self._call("tasks")
        return tasks

    def rows(self, task_id: str) -> list[str]:
        """The ids of the rows a reader could page through now."""
        rows: list[str] = self._call("rows", task_id=task_id)
        return rows

    def finish_time(self, task_id: str) -> float:
        """Server seconds until the task is done (0 if it is)."""
        left: float = self._call("finish_time", task_id=task_id)
        return left

    def kill_at_creates(self, pid: int, creates: int) -> None:
        """SIGKILL ``pid`` as soon as the server has committed ``creates`` creates in all."""
        self._call("kill_at_creates", pid=pid, creates=creates)

    def killed(self) -> bool:
        """Whether the last armed kill was carried out."""
        done: bool = self._call("killed")
        return done


def _main(conn: Connection, options: dict[str, Any]) -> None:
    asyncio.run(_serve(conn, options))


async def _serve(conn: Connection, options: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    watcher: asyncio.Task[None] | None = None
    killed = False

    async def watch(pid: int, creates: int) -> None:
        nonlocal killed
        while server.create_count < creates:  # noqa: ASYNC110 -- a counter, polled each ms
            await asyncio.sleep(0.001)
        os.kill(pid, signal.SIGKILL)
        killed = True

    async with FakeExtructServer(**options) as server:
        while True:
            # The pipe is read on a thread, so the loop serves HTTP meanwhile.
            command, arguments = await loop.run_in_executor(None, conn.recv)
            try:
                value: Any = None
                if command == "exit":
                    conn.send((True, None))
                    return
                if command == "address":
                    value = (server.base_url, server.api_key)
                elif command == "log":
                    value = [(r.time, r.endpoint, r.status) for r in server.requests]
                elif command == "tasks":
                    value = {task_id: task.query for task_id, task in server.tasks.items()}
                elif command == "rows":
                    value = [row["id"] for row in server.visible_rows(arguments["task_id"])]
                elif command == "finish_time":
                    task = server.tasks[arguments["task_id"]]
                    value = max(0.0, task.ends_at - server.time())
                elif command == "kill_at_creates":
                    killed = False
                    watcher = loop.create_task(watch(**arguments))
                elif command == "killed":
                    value = killed
                else:
                    raise ValueError(command)
                conn.send((True, value))
            except Exception:
                conn.send((False, traceback.format_exc()))
    if watcher is not None:
        watcher.cancel()


# -- client processes ------------------------------------------------------------------
# Each runs in a process of its own (see ``spawn``) and reports through a queue.


def rate_worker(url: str, api_key: str, store: str, task_id: str, requests: int,
                barrier: Any, results: Any) -> None:
    """Read ``task_id`` ``requests`` times at ``rate_limit=45`` on a shared store."""
    from extruct_async import AsyncExtruct

    async def main() -> None:
        async with AsyncExtruct(api_key, url, store=store, rate_limit=45,
                                max_concurrency=8) as client:
            warm = client.discovery_tasks.list(page_size=1)  # connection, store, schema
            await warm.__anext__()
            await warm.aclose()
            barrier.wait()
            await asyncio.gather(*(client.discovery_tasks.get(task_id) for _ in range(requests)))

    asyncio.run(main())
    results.put(os.getpid())


def run_specs(run: str, count: int) -> list[str]:
    """The specs of a ``create_many`` run: queries unique to the run."""
    return [f"{run} search {n}" for n in range(count)]


def create_many_worker(url: str, api_key: str, store: str, run: str, count: int,
                       lease: float, results: Any) -> None:
    """``create_many(run_specs(run, count), run=run)``; put the task ids, in order."""
    from extruct_async import AsyncExtruct, _create

    _create.LEASE_SECONDS = lease  # a short lease: the re-run after a kill waits less

    async def main() -> list[str]:
        async with AsyncExtruct(api_key, url, store=store, rate_limit=None,
                                max_concurrency=16) as client:
            tasks = await client.discovery_tasks.create_many(run_specs(run, count), run=run)
            return [task.id for task in tasks]

    results.put(asyncio.run(main()))


def stream_worker(url: str, api_key: str, store: str, task_id: str, path: str) -> None:
    """Stream the task's rows as consumer ``writer`` into ``path``, one id a line, synced."""
    from extruct_async import AsyncExtruct

    async def main() -> None:
        async with AsyncExtruct(api_key, url, store=store, rate_limit=None) as client:
            task = await client.discovery_tasks.get(task_id)
            # The consumer's own (blocking) work: write each row, synced, before the next.
            with open(path, "a", encoding="utf-8") as out:  # noqa: ASYNC230
                async for row in task.stream(consumer="writer", poll_interval=0.2):
                    out.write(row.id + "\n")  # the row's work: done before the next
                    out.flush()
                    os.fsync(out.fileno())

    asyncio.run(main())
