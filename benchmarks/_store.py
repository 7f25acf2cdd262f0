"""Benchmark 7, the store: what sharing costs per request, and fan-out over 4 processes.

(a) Cost per request: one client process reads one task's status over and over, through
the in-memory gate (no store) and through a shared gate on SQLite and on Redis (a
local server, loopback), contenders taking turns in chunks. Latency and client CPU per
request; the store's cost is the difference to the in-memory gate.

(b) Fan-out split over 4 processes: benchmark 1's work (N tasks, ``create_many`` then
``as_completed``), a quarter in each of 4 client processes that share one store and one
``rate_limit`` (450/s against a service that allows 500/s). Wall time is the first start
to the last finish across the four; the bound is benchmark 1's, for the N tasks at the
shared rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs

from extruct_async import AsyncExtruct

from . import _fanout
from ._harness import Section, Target, median, ratio, seconds, times
from ._processes import SimulatorProcess, run_job

__all__ = ["FULL", "QUICK", "SMOKE", "Settings", "run"]

STORES = ("memory", "sqlite", "redis")
_CHUNK = 50
PROCESSES = 4


@attrs.frozen
class Settings:
    requests_per_sample: int
    repetitions: int
    fanout_sizes: tuple[int, ...]
    fanout_repetitions: int
    fanout: _fanout.Settings


FULL = Settings(requests_per_sample=1000, repetitions=5, fanout_sizes=(100, 1000),
                fanout_repetitions=2, fanout=_fanout.FULL)
QUICK = attrs.evolve(FULL, requests_per_sample=400, repetitions=3, fanout_sizes=(1000,),
                     fanout_repetitions=1)
SMOKE = Settings(requests_per_sample=100, repetitions=1, fanout_sizes=(8,),
                 fanout_repetitions=1, fanout=_fanout.SMOKE)


@contextlib.contextmanager
def _stores() -> Iterator[dict[str, str | None]]:
    from tests._servers import redis_server  # the suite's Redis-protocol server

    with tempfile.TemporaryDirectory(prefix="extruct-bench-") as folder, redis_server() as url:
        yield {"memory": None, "sqlite": f"sqlite:///{folder}/extruct.db", "redis": url}


async def cost_run(*, url: str, api_key: str, stores: dict[str, str | None],
                   requests_per_sample: int, repetitions: int) -> dict[str, Any]:
    """Sequential status reads through each store's gate, in turns; us per request."""
    clients = {name: AsyncExtruct(api_key, url, rate_limit=10_000, store=store)
               for name, store in stores.items()}
    try:
        task = await clients["memory"].discovery_tasks.create("robotics for warehouses")
        for client in clients.values():  # warm-up: connections, schema, scripts
            for _ in range(20):
                await client.discovery_tasks.get(task.id)
        samples: dict[str, dict[str, list[float]]] = {name: {"cpu": [], "wall": []}
                                                      for name in clients}
        for _ in range(repetitions):
            cpu = dict.fromkeys(clients, 0.0)
            wall = dict.fromkeys(clients, 0.0)
            for _ in range(requests_per_sample // _CHUNK):
                for name, client in clients.items():
                    started_cpu, started = time.process_time(), time.perf_counter()
                    for _ in range(_CHUNK):
                        await client.discovery_tasks.get(task.id)
                    cpu[name] += time.process_time() - started_cpu
                    wall[name] += time.perf_counter() - started
            requests = requests_per_sample // _CHUNK * _CHUNK
            for name in clients:
                samples[name]["cpu"].append(cpu[name] / requests * 1e6)
                samples[name]["wall"].append(wall[name] / requests * 1e6)
        return samples
    finally:
        for client in clients.values():
            await client.aclose()


async def fanout_part(*, url: str, api_key: str, store: str, n: int, first: int,
                      start_at: float, rate_limit: float, poll_interval: float,
                      desired_num_results: int) -> dict[str, Any]:
    """One of the 4 processes: its share of the specs, from ``start_at`` (epoch)."""
    specs = [{"query": f"fan-out benchmark task {i}", "desired_num_results": desired_num_results}
             for i in range(first, first + n)]
    async with AsyncExtruct(api_key, url, rate_limit=rate_limit, store=store) as client:
        async for _ in client.discovery_tasks.list(page_size=1):  # connection and store ready
            break
        await asyncio.sleep(max(0.0, start_at - time.time()))
        started, cpu = time.time(), time.process_time()
        tasks = await client.discovery_tasks.create_many(specs)
        created = time.time()
        finished = 0
        async for task in client.discovery_tasks.as_completed(tasks, poll_interval=poll_interval):
            finished += task.finished
        return {"start": started, "created": created, "end": time.time(),
                "cpu": time.process_time() - cpu, "finished": finished,
                "poller_requests": dict(client._poller.requests),
                "followed": [task.id for task in tasks]}


def _fanout_sample(settings: Settings, simulator: SimulatorProcess, store: str, n: int,
                   repetition: int, strict: bool) -> dict[str, Any]:
    fan = settings.fanout
    url, key = simulator.start(seed=repetition, rate_limit=fan.server_rate,
                               seconds_per_result=fan.seconds_per_result,
                               candidate_pool=fan.candidate_pool)
    share = -(-n // PROCESSES)
    start_at = time.time() + 1.5  # after every process has started and warmed up
    with ThreadPoolExecutor(PROCESSES) as pool:
        parts = list(pool.map(
            lambda first: run_job(
                fanout_part, strict=strict, url=url, api_key=key, store=store,
                n=min(share, n - first), first=first, start_at=start_at,
                rate_limit=fan.client_rate, poll_interval=fan.poll_interval,
                desired_num_results=fan.desired_num_results),
            range(0, n, share)))
    combined = {
        "wall": max(p["end"] for p in parts) - min(p["start"] for p in parts),
        "create_phase": max(p["created"] for p in parts) - min(p["start"] for p in parts),
        "cpu": sum(p["cpu"] for p in parts),
        "finished": sum(p["finished"] for p in parts),
        "poller_requests": {kind: sum(p["poller_requests"][kind] for p in parts)
                            for kind in parts[0]["poller_requests"]},
        "followed": [task for p in parts for task in p["followed"]],
        "others_created": 0,
    }
    return _fanout._sample(n, fan, combined, simulator.truth(tasks=True))


def run(settings: Settings, simulator: SimulatorProcess, *, strict: bool = False) -> Section:
    url, key = simulator.start(seed=3)
    with _stores() as stores:
        cost = run_job(cost_run, strict=strict, url=url, api_key=key, stores=stores,
                       requests_per_sample=settings.requests_per_sample,
                       repetitions=settings.repetitions)
        fanout: dict[str, dict[int, list[dict[str, Any]]]] = {}
        for repetition in range(settings.fanout_repetitions):
            for store in ("sqlite", "redis"):
                for n in settings.fanout_sizes:
                    sample = _fanout_sample(settings, simulator, str(stores[store]), n,
                                            repetition, strict)
                    fanout.setdefault(store, {}).setdefault(n, []).append(sample)

    rows, targets = [], []
    memory_wall = median(cost["memory"]["wall"])
    memory_cpu = median(cost["memory"]["cpu"])
    for name in STORES:
        wall, cpu = median(cost[name]["wall"]), median(cost[name]["cpu"])
        added = f"{(wall - memory_wall) / 1000:+.3f} ms"
        rows.append(["per request", name, f"{wall:.0f} us", added,
                     f"{cpu:.0f} us", times(ratio(cpu, memory_cpu)), "", ""])
    for name, limit in (("sqlite", 2.0), ("redis", 1.0)):
        added = (median(cost[name]["wall"]) - memory_wall) / 1000
        targets.append(Target("store", f"latency added per request, {name}", added, limit,
                              unit=" ms"))
    for store, by_n in fanout.items():
        for n, runs in by_n.items():
            wall = median(s["wall"] for s in runs)
            bound = median(s["bound"] for s in runs)
            limited = max(s["rate_limited"] for s in runs)
            peak = max(s["peak_per_second"] for s in runs)
            rows.append([f"fan-out N={n:,}, 4 processes", store, seconds(wall), "", "",
                         "", f"{times(ratio(wall, bound))} of {seconds(bound)}",
                         f"{limited} / {peak}"])
            label = f"{store}, N={n:,}, 4 processes"
            targets += [
                Target("store", f"fan-out wall / bound, {label}", ratio(wall, bound), 1.15),
                Target("store", f"fan-out 429s, {label}", limited, 0, unit=""),
            ]
    fan = settings.fanout
    return Section(
        key="store",
        title="7. The store: cost per request, and fan-out over 4 processes",
        setup=[
            f"(a) {settings.requests_per_sample} sequential status reads per store and sample,"
            f" in turns of {_CHUNK}; {settings.repetitions} samples; one client process with"
            " three clients (`store=None`, `sqlite:///...`, `redis://127.0.0.1`: a local"
            " server on loopback); `rate_limit=10000` so the full shared rule runs and"
            " nobody waits. CPU is the process's `time.process_time()`.",
            f"(b) Benchmark 1's fan-out (same tasks, {fan.task_seconds:g} s each, poll"
            f" {fan.poll_interval:g} s), N split over {PROCESSES} client processes sharing one"
            f" store and `rate_limit={fan.client_rate:g}` against a server limit of"
            f" {fan.server_rate:g}/s. The shared limiter keeps 7% of headroom (rate_limit in"
            " any 1.07 s), which the bound (at the full rate) does not grant it.",
        ],
        headers=["what", "store", "wall", "added latency", "CPU", "CPU vs memory",
                 "wall / bound", "429s / peak per s"],
        rows=rows,
        targets=targets,
        raw={"settings": attrs.asdict(settings), "cost": cost, "fanout": fanout},
    )
