"""Benchmark 4, memory: RSS growth per task while 10,000 tasks wait at once.

The simulator (its own process) holds 10,000 tasks that take minutes. Each measured
client is a fresh process: it fetches handles for all of them (``discovery_tasks.list``),
warms up, reads its RSS, then starts waiting on every task, either as 10,000 coroutines
each in ``task.wait()`` (each wrapped in an ``asyncio.Task``, as ``gather`` would) or as
one ``as_completed`` over the 10,000, and reads its RSS again once the shared poller has
refreshed every task twice. Growth / 10,000 is the cost of following one task.
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import time
from typing import Any

import aiohttp
import attrs

from extruct_async import AsyncExtruct, DiscoveryTask

from ._harness import Section, Target, median
from ._processes import SimulatorProcess, run_job

__all__ = ["FULL", "QUICK", "SMOKE", "Settings", "run"]

WAIT, AS_COMPLETED = "10,000 x task.wait()", "as_completed(10,000 tasks)"
MODES = {WAIT: "wait", AS_COMPLETED: "as_completed"}


@attrs.frozen
class Settings:
    tasks: int
    repetitions: int
    poll_interval: float
    full_refreshes: int = 2


FULL = Settings(tasks=10_000, repetitions=3, poll_interval=1.0)
QUICK = attrs.evolve(FULL, repetitions=2)
SMOKE = Settings(tasks=150, repetitions=1, poll_interval=0.1, full_refreshes=1)


def rss_bytes() -> int:
    """The process's resident set size now (Linux), else its peak so far."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the peak, in KiB on Linux and bytes on macOS
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def create_tasks(*, url: str, api_key: str, count: int) -> int:
    """Set-up, not measured: create ``count`` tasks quickly with bare aiohttp."""
    connector = aiohttp.TCPConnector(limit=32)
    async with aiohttp.ClientSession(
        connector=connector, headers={"Authorization": f"Bearer {api_key}"}
    ) as session:
        remaining = iter(range(count))

        async def worker() -> None:
            for i in remaining:
                body = {"query": f"memory benchmark task {i}", "desired_num_results": 250}
                async with session.post(f"{url}/v1/discovery_tasks", json=body) as answer:
                    answer.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(32)))
    return count


async def client_run(*, url: str, api_key: str, mode: str, count: int,
                     poll_interval: float, full_refreshes: int) -> dict[str, Any]:
    async with AsyncExtruct(api_key, url, rate_limit=None) as client:
        handles = [task async for task in client.discovery_tasks.list(page_size=100)][:count]
        assert len(handles) == count, f"only {len(handles)} tasks on the server"
        # Warm-up: every code path once (imports, caches, the poller's task).
        await _follow(client, handles[:2], mode, poll_interval, until_lists=1, rounds=1)
        gc.collect()
        before = rss_bytes()
        peak, lists = await _follow(client, handles, mode, poll_interval,
                                    until_lists=-(-count // 100), rounds=full_refreshes)
        return {"before": before, "during": peak, "per_task": (peak - before) / count,
                "list_requests": lists, "handles": count}


async def _follow(client: AsyncExtruct, handles: list[DiscoveryTask], mode: str,
                  poll_interval: float, *, until_lists: int, rounds: int) -> tuple[int, int]:
    """Wait on ``handles`` until the poller has read every one ``rounds`` times; stop."""
    poller = client._poller
    start = poller.requests["list"]
    if mode == "wait":
        waiters = [asyncio.create_task(task.wait(poll_interval=poll_interval))
                   for task in handles]
    else:
        finished = client.discovery_tasks.as_completed(handles, poll_interval=poll_interval)
        waiters = [asyncio.create_task(anext(finished))]
    deadline = time.monotonic() + 120
    while poller.requests["list"] - start < until_lists * rounds:
        assert time.monotonic() < deadline, "the poller did not get round"
        assert not any(w.done() for w in waiters), "a task finished during the benchmark"
        await asyncio.sleep(0.02)
    gc.collect()
    during = rss_bytes()
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    if mode != "wait":
        await finished.aclose()
    return during, poller.requests["list"] - start


def run(settings: Settings, simulator: SimulatorProcess, *, strict: bool = False) -> Section:
    # Tasks of 250 results at 1 s a step: several minutes, longer than the benchmark. The
    # pool is fixed: by default one query in ten is narrow (60+ candidates) and its task
    # ends in about a minute, which ended runs with "a task finished during the benchmark".
    url, key = simulator.start(seed=4, seconds_per_result=1.0, candidate_pool=2000)
    run_job(create_tasks, strict=strict, url=url, api_key=key, count=settings.tasks)
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in MODES}
    for _ in range(settings.repetitions):
        for name, mode in MODES.items():
            samples[name].append(run_job(
                client_run, strict=strict, url=url, api_key=key, mode=mode,
                count=settings.tasks, poll_interval=settings.poll_interval,
                full_refreshes=settings.full_refreshes,
            ))
    rows, targets = [], []
    for name, runs in samples.items():
        per_task = median(s["per_task"] for s in runs) / 1024
        rows.append([
            name, f"{median(s['before'] for s in runs) / 2**20:.1f} MiB",
            f"{median(s['during'] for s in runs) / 2**20:.1f} MiB", f"{per_task:.2f} KB",
            " / ".join(f"{s['per_task'] / 1024:.2f}" for s in runs),
        ])
        targets.append(Target("memory", f"RSS growth per waiting task, {name}", per_task, 4.0,
                              unit=" KB"))
    return Section(
        key="memory",
        title="4. Memory: RSS growth per task, 10,000 tasks waiting at once",
        setup=[
            f"{settings.tasks:,} tasks on the simulator (its own process), each taking"
            f" minutes; {settings.repetitions} repetitions, the two ways alternating, each in"
            " a fresh client process.",
            "Baseline: after the client holds a handle for every task and has waited once"
            " on two of them (so imports and caches are warm). Measured: once the shared"
            f" poller has refreshed every task {settings.full_refreshes} times (list pages of"
            f" 100, `poll_interval={settings.poll_interval:g}`, no rate limit), after"
            " `gc.collect()`. KB = 1,024 bytes.",
            "`task.wait()` includes the `asyncio.Task` wrapping each of the 10,000"
            " coroutines, as `gather` or a `TaskGroup` would create.",
        ],
        headers=["how", "RSS before", "RSS waiting", "growth per task",
                 "per run (KB)"],
        rows=rows,
        targets=targets,
        raw={"settings": attrs.asdict(settings), "samples": samples},
    )
