"""Benchmark 3, client CPU per request: the SDK against bare aiohttp, same requests.

Both read one task's status (``GET /v1/discovery_tasks/{id}``) over and over: the SDK
through ``client.discovery_tasks.get(id)`` (gate, retries, typed ``TaskState``), bare
aiohttp with ``session.get`` + ``json.loads`` (a dict). CPU is the client process's own
``time.process_time()``; the simulator runs in another process, so none of its work
counts. Sequential (one request at a time) and 16 at once, contenders alternating.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import attrs

from extruct_async import AsyncExtruct

from ._harness import Section, Target, median, ratio, times
from ._processes import SimulatorProcess, run_job

__all__ = ["FULL", "QUICK", "SMOKE", "Settings", "run"]

SDK = "SDK discovery_tasks.get()"
BARE = "bare aiohttp + json.loads"
#: Requests per turn: contenders take turns this often within a sample.
_CHUNK = 50


@attrs.frozen
class Settings:
    requests_per_sample: int
    concurrency: tuple[int, ...]
    repetitions: int


FULL = Settings(requests_per_sample=1500, concurrency=(1, 16), repetitions=5)
QUICK = attrs.evolve(FULL, requests_per_sample=400, repetitions=3)
SMOKE = Settings(requests_per_sample=100, concurrency=(1, 4), repetitions=1)


async def _spread(read: Callable[[], Awaitable[object]], requests: int, concurrency: int) -> None:
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await read()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def client_run(*, url: str, api_key: str, settings: dict[str, Any]) -> dict[str, Any]:
    config = Settings(**settings)
    async with (
        AsyncExtruct(api_key, url, rate_limit=None, max_concurrency=16) as client,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {api_key}"}) as session,
    ):
        task = await client.discovery_tasks.create("robotics for warehouses")
        task_url = f"{url}/v1/discovery_tasks/{task.id}"

        async def sdk() -> object:
            return await client.discovery_tasks.get(task.id)

        async def bare() -> object:
            async with session.get(task_url) as answer:
                answer.raise_for_status()
                return json.loads(await answer.read())

        contenders = {SDK: sdk, BARE: bare}
        samples: dict[int, dict[str, list[float]]] = {}
        for concurrency in config.concurrency:
            for read in contenders.values():  # warm-up: connections, caches, code paths
                await _spread(read, max(concurrency * 4, 20), concurrency)
        for _ in range(config.repetitions):
            for concurrency in config.concurrency:
                # Interleaved in small chunks, so that the machine's drift (CPU steal,
                # frequency) lands on both contenders alike within each sample.
                cpu = dict.fromkeys(contenders, 0.0)
                wall = dict.fromkeys(contenders, 0.0)
                for _ in range(config.requests_per_sample // _CHUNK):
                    for name, read in contenders.items():
                        started_cpu, started = time.process_time(), time.perf_counter()
                        await _spread(read, _CHUNK, concurrency)
                        cpu[name] += time.process_time() - started_cpu
                        wall[name] += time.perf_counter() - started
                requests = config.requests_per_sample // _CHUNK * _CHUNK
                by_name = samples.setdefault(concurrency, {})
                for name in contenders:
                    by_name.setdefault(name, []).append(cpu[name] / requests * 1e6)
                    by_name.setdefault(f"{name} wall", []).append(wall[name] / requests * 1e6)
        return {"samples": samples}


def run(settings: Settings, simulator: SimulatorProcess, *, strict: bool = False) -> Section:
    url, key = simulator.start(seed=3)
    result = run_job(client_run, strict=strict, url=url, api_key=key,
                     settings=attrs.asdict(settings))
    samples: dict[int, dict[str, list[float]]] = result["samples"]
    rows, targets = [], []
    for concurrency, by_name in samples.items():
        bare = median(by_name[BARE])
        for name in (SDK, BARE):
            cpu = median(by_name[name])
            wall = median(by_name[f"{name} wall"])
            rows.append([str(concurrency), name, f"{cpu:.0f} us", times(ratio(cpu, bare)),
                         f"{1e6 / wall:,.0f}"])
        targets.append(Target(
            "client CPU", f"SDK CPU per request vs bare aiohttp, {concurrency} at once",
            ratio(median(by_name[SDK]), bare), 1.15,
        ))
    return Section(
        key="cpu",
        title="3. Client CPU per request",
        setup=[
            f"{settings.requests_per_sample} status reads per contender and sample, taken in"
            f" turns of {_CHUNK} (A B A B ...); {settings.repetitions} samples; one client"
            " process (simulator in another,"
            " no rate limit); CPU = the client process's `time.process_time()` / requests.",
            "SDK: `await client.discovery_tasks.get(task_id)` (gate, pipeline, logging check,"
            " a `TaskState` decoded by msgspec straight from the bytes). Bare:"
            " `session.get(url)` + `json.loads(await r.read())`.",
        ],
        headers=["in flight", "contender", "CPU per request", "vs bare aiohttp",
                 "requests/s (wall)"],
        rows=rows,
        targets=targets,
        raw={"settings": attrs.asdict(settings), "samples": samples},
    )
