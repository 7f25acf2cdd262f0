"""Processes: the simulator in one, each measured client in a fresh one of its own.

On two cores the simulator and the client must not share one: the simulator's CPU would
count as the client's, and a client's garbage would slow the simulator. So the simulator
runs in a long-lived process (:class:`SimulatorProcess`, driven over a pipe: start a fresh
``FakeExtructServer``, read its ground truth), and every measured client run happens in a
process of its own (:func:`run_job`), forked from a clean forkserver that has already
imported aiohttp, httpx and the SDK, so a fresh process costs about 10 ms, not 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import multiprocessing
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

import aiohttp

from extruct_async.testing import FakeExtructServer

__all__ = ["JobError", "SimulatorProcess", "run_job"]

#: Modules the forkserver imports once, so that each forked client starts warm.
_PRELOAD = [
    "aiohttp",
    "httpx",
    "extruct_async",
    "extruct_async.testing",
    "benchmarks._contender_aiohttp",
    "benchmarks._contender_httpx",
    "benchmarks._contender_sdk",
    "benchmarks._contender_urllib",
    "benchmarks._cpu",
    "benchmarks._fanout",
    "benchmarks._memory",
    "benchmarks._paging",
]


def _context() -> Any:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return context
    return multiprocessing.get_context("spawn")


_CONTEXT = _context()


class JobError(RuntimeError):
    """A benchmark process failed; the message holds its traceback."""


# -- measured clients ---------------------------------------------------------------


def run_job(
    function: Callable[..., Any], /, *, timeout: float = 600.0, strict: bool = False,
    **arguments: Any,
) -> Any:
    """Run ``function(**arguments)`` in a fresh process and return what it returns.

    A coroutine function runs in a new event loop. ``strict`` turns warnings into errors
    in that process (the smoke test runs so).

    Raises:
        JobError: it raised, died, or took longer than ``timeout`` seconds.
    """
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    process = _CONTEXT.Process(
        target=_job_main, args=(sender, function, arguments, strict), daemon=True
    )
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout):
            raise JobError(f"{function.__qualname__} took longer than {timeout:g}s")
        try:
            status, payload = receiver.recv()
        except EOFError:
            raise JobError(f"{function.__qualname__}: the process died") from None
    finally:
        receiver.close()
        if process.is_alive():
            process.join(5)
        if process.is_alive():
            process.kill()
            process.join()
    if status != "ok":
        raise JobError(f"{function.__qualname__} failed:\n{payload}")
    return payload


def _job_main(
    sender: Connection, function: Callable[..., Any], arguments: dict[str, Any], strict: bool
) -> None:
    if strict:
        warnings.simplefilter("error")
    try:
        result = function(**arguments)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        sender.send(("ok", result))
    except BaseException:
        sender.send(("error", traceback.format_exc()))
    finally:
        sender.close()


# -- the simulator ------------------------------------------------------------------


class SimulatorProcess:
    """A process that runs one ``FakeExtructServer`` at a time, on request.

    Use as a context manager. :meth:`start` replaces the running server with a fresh one
    (fresh tasks, rate-limit window and request log) and returns its URL and key;
    :meth:`truth` reads the running server's ground truth.
    """

    def __init__(self, *, strict: bool = False) -> None:
        self._conn, child = _CONTEXT.Pipe()
        self._process = _CONTEXT.Process(
            target=_simulator_main, args=(child, strict), daemon=True
        )
        self._process.start()
        child.close()

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, command: str, **arguments: Any) -> Any:
        self._conn.send((command, arguments))
        if not self._conn.poll(120):
            raise JobError(f"the simulator did not answer {command!r}")
        status, payload = self._conn.recv()
        if status != "ok":
            raise JobError(f"the simulator failed on {command!r}:\n{payload}")
        return payload

    def start(self, **options: Any) -> tuple[str, str]:
        """Start a fresh ``FakeExtructServer(**options)``; return its URL and API key."""
        url, key = self._call("start", options=options)
        return url, key

    def truth(self, *, tasks: bool = False) -> dict[str, Any]:
        """The running server's ground truth (see :func:`_ground_truth`)."""
        truth: dict[str, Any] = self._call("truth", tasks=tasks)
        return truth

    def pool_for_rows(self, *, seed: int, query: str, rows: int) -> int:
        """The candidate pool that gives the first task of ``query`` exactly ``rows`` rows.

        On a fresh server with ``seed``, the first task of a query always draws the same
        pre-filter pattern; a pool that the target cannot use up ends the task with
        exactly ``rows`` rows.
        """
        pool: int = self._call("pool_for_rows", seed=seed, query=query, rows=rows)
        return pool

    def close(self) -> None:
        """Stop the server and the process."""
        if self._process.is_alive():
            with contextlib.suppress(JobError, OSError, EOFError):
                self._call("exit")
            self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()


def _simulator_main(conn: Connection, strict: bool) -> None:
    if strict:
        warnings.simplefilter("error")
    asyncio.run(_simulate(conn))


async def _simulate(conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    server: FakeExtructServer | None = None
    try:
        while True:
            # The pipe is read on a thread, so the loop keeps serving HTTP meanwhile.
            command, arguments = await loop.run_in_executor(None, conn.recv)
            try:
                if command == "exit":
                    conn.send(("ok", None))
                    return
                if command == "start":
                    if server is not None:
                        await server.close()
                    server = FakeExtructServer(**arguments["options"])
                    await server.start()
                    result: Any = (server.base_url, server.api_key)
                elif command == "truth":
                    assert server is not None, "no server running"
                    result = _ground_truth(server, tasks=arguments["tasks"])
                elif command == "pool_for_rows":
                    result = await _pool_for_rows(**arguments)
                else:
                    raise ValueError(f"unknown command {command!r}")
                conn.send(("ok", result))
            except Exception:
                conn.send(("error", traceback.format_exc()))
    finally:
        if server is not None:
            await server.close()


def _ground_truth(server: FakeExtructServer, *, tasks: bool) -> dict[str, Any]:
    """What the server saw: requests by endpoint and status, 429s, peak rate, tasks."""
    records = server.requests
    limited = Counter(r.endpoint for r in records if r.status == 429)
    truth: dict[str, Any] = {
        "requests": len(records),
        "by_endpoint": dict(Counter(r.endpoint for r in records)),
        "statuses": {str(k): v for k, v in Counter(r.status for r in records).items()},
        "rate_limited": server.rate_limited_count,
        "rate_limited_by_endpoint": dict(limited),
        "peak_per_second": server.peak_requests_per_second(),
        "create_count": server.create_count,
        "create_times": [r.time for r in records if r.endpoint == "create" and r.status == 200],
        "now": server.time(),
    }
    if tasks:
        now = server.time()
        states = []
        for task in server.tasks.values():
            progress = task.progress(now)
            states.append({
                "id": task.id,
                "created": task.created,
                "ends_at": task.ends_at,
                "status": progress.status,
                "rows": task.row_count(progress),
                "final_rows": task.row_count(task.progress(max(now, task.ends_at))),
            })
        truth["tasks"] = states
    return truth


async def _pool_for_rows(*, seed: int, query: str, rows: int) -> int:
    async with FakeExtructServer(seed=seed) as probe, aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {probe.api_key}"}
    ) as session:
        answer = await session.post(
            f"{probe.base_url}/v1/discovery_tasks", json={"query": query}
        )
        answer.raise_for_status()
        task_id = (await answer.json())["id"]
        answer.release()
        funnel = probe.tasks[task_id].funnel
    pool = 0
    while funnel.rows(pool) < rows:
        pool += 1
    return pool
