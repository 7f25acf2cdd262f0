"""Run store operations in separate OS processes, forked from a clean fork server.

The fork server is a fresh process (no threads, no event loop of the test run's)
that has imported the store and redis once, so each worker starts in milliseconds
instead of re-importing the SDK.

Each worker opens its own store from a URL, warms it up (connection, schema, scripts),
waits at a barrier so all start together, runs, and returns plain values.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import time
import traceback
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any

from extruct_async._store import Store, open_store
from tests.store._timed import take_start_timed

_TIMEOUT = 60.0


def run_in_processes(target: Callable[..., Any], args: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Run ``target(barrier, *each)`` in one process per ``args`` item; their results."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["extruct_async._store", "redis.asyncio", __name__])
    barrier = context.Barrier(len(args), timeout=_TIMEOUT)
    results: multiprocessing.Queue[tuple[int, bool, Any]] = context.Queue()
    processes = [
        context.Process(target=_worker, args=(results, index, target, barrier, *each))
        for index, each in enumerate(args)
    ]
    for process in processes:
        process.start()
    collected: dict[int, Any] = {}
    try:
        deadline = time.monotonic() + _TIMEOUT
        while len(collected) < len(processes):
            try:
                index, ok, value = results.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"workers timed out; got {sorted(collected)}") from None
            if not ok:
                barrier.abort()  # the others stop waiting for it
                raise AssertionError(f"worker {index} failed:\n{value}")
            collected[index] = value
    finally:
        deadline = time.monotonic() + 10
        for process in processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
    return [collected[index] for index in range(len(processes))]


def _worker(results: Any, index: int, target: Callable[..., Any], *args: Any) -> None:
    try:
        results.put((index, True, target(*args)))
    except BaseException:
        results.put((index, False, traceback.format_exc()))


def _run(url: str, body: Callable[[Store], Coroutine[Any, Any, Any]]) -> Any:
    async def main() -> Any:
        async with open_store(url) as store:
            await store.checkpoint_load("warm-up", "warm-up", "warm-up")
            return await body(store)

    return asyncio.run(main())


def hammer(barrier: Any, url: str, namespace: str, rate: float, starts: int) -> list[float]:
    """Take ``starts`` starts as fast as the store allows, as a shared gate does (take
    one, wait for it, take the next); their times on the store's clock."""

    async def body(store: Store) -> list[float]:
        taken: list[float] = []
        barrier.wait()
        while len(taken) < starts:
            wait, now = await take_start_timed(store, namespace, rate=rate)
            taken.append(now + wait)
            await asyncio.sleep(wait)
        return taken

    result: list[float] = _run(url, body)
    return result


def claim_all(barrier: Any, url: str, namespace: str, task_ids: list[str]) -> list[str]:
    """Claim every task id; the ones this process won."""

    async def body(store: Store) -> list[str]:
        barrier.wait()
        return [task_id for task_id in task_ids if await store.claim(namespace, task_id)]

    result: list[str] = _run(url, body)
    return result


def pause(barrier: Any, url: str, namespace: str, seconds: float) -> None:
    """Pause the namespace from this process."""

    async def body(store: Store) -> None:
        barrier.wait()
        await store.pause(namespace, seconds)

    _run(url, body)


def crowd(
    barrier: Any, urls: list[str], namespace: str, name: str, clients: int, repeats: int
) -> list[tuple[int, int]]:
    """Open each store of ``urls`` in turn, all processes at one instant, and use it.

    In each round, ``clients`` stores on the file at once (as several clients of one
    process would), each ``repeats`` times taking a rate start, claiming a task,
    reserving and completing a journal entry, and adding a checkpoint row; then a
    read of the journal. Returns, per file, (starts taken at once, claims won).
    """

    async def client(url: str, me: str) -> tuple[int, int]:
        starts = won = 0
        async with open_store(url) as store:
            for n in range(repeats):
                # Up to 1,000 starts in 10 s, 100 in any second: this crowd's 96 a file
                # start at once, and the log keeps every one of them.
                wait = await store.take_start(namespace, rate=100.0, burst=1000)
                starts += wait == 0.0
                won += await store.claim(namespace, f"task-{n}", f"{me}-{n}")
                key = f"{me}-{n}"
                await store.journal_reserve(
                    namespace, key, run="crowd", position=n, body_json="{}", owner=me,
                    lease_seconds=60.0,
                )
                await store.journal_complete(
                    namespace, key, task_id=f"t-{key}", created_at="2026-01-01T00:00:00Z"
                )
                await store.checkpoint_add(namespace, "task-0", me, [str(n)])
            await store.journal_entries(namespace, "crowd")
        return starts, won

    async def main() -> list[tuple[int, int]]:
        done: list[tuple[int, int]] = []
        for url in urls:
            barrier.wait()  # every process opens the new file at the same instant
            each = await asyncio.gather(*(client(url, f"{name}.{c}") for c in range(clients)))
            done.append((sum(s for s, _ in each), sum(w for _, w in each)))
        return done

    result: list[tuple[int, int]] = asyncio.run(main())
    return result


def _spin(stop: Any) -> None:
    while not stop.is_set():
        pass


@contextlib.contextmanager
def busy_loops(count: int = 2) -> Iterator[None]:
    """``count`` processes that keep a core busy while the block runs."""
    context = multiprocessing.get_context("forkserver")
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
