"""Benchmark 2, result paging: rows per second through ``task.results()``.

Against bare aiohttp reading the very same pages into dicts (no types): with
``json.loads`` (what users write) and with ``msgspec.json.decode`` (the fastest untyped
path). One finished task with exactly 250 rows; its rows are read once before timing, so
the simulator serves every timed page from its cache: the server's cost is the same for
all. The client runs in its own process, alternating contenders and page sizes.
"""

from __future__ import annotations

import json
import time
import timeit
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import attrs
import msgspec

from extruct_async import AsyncExtruct, DiscoveryTask
from extruct_async._protocol import Kind, Request
from extruct_async._protocol import decode as sdk_decode
from extruct_async._transport import HTTPResponse

from ._harness import Section, Target, median, ratio, times
from ._processes import SimulatorProcess, run_job

__all__ = ["FULL", "QUICK", "SMOKE", "Settings", "run"]

QUERY = "industrial IoT platforms for cold-chain logistics"
SDK = "SDK task.results(), typed rows (msgspec into attrs)"
BARE, BARE_MSGSPEC = "bare aiohttp + json.loads dicts", "bare aiohttp + msgspec dicts"


@attrs.frozen
class Settings:
    rows: int
    page_sizes: tuple[int, ...]
    repetitions: int
    sample_seconds: float


FULL = Settings(rows=250, page_sizes=(50, 100, 250), repetitions=5, sample_seconds=0.25)
QUICK = attrs.evolve(FULL, repetitions=3, sample_seconds=0.15)
SMOKE = Settings(rows=30, page_sizes=(10, 30), repetitions=1, sample_seconds=0.0)


async def _sdk_rows(task: DiscoveryTask, size: int) -> int:
    return len([row async for row in task.results(page_size=size)])


async def _bare_rows(session: aiohttp.ClientSession, url: str, size: int,
                     loads: Callable[[bytes], Any]) -> int:
    rows: list[dict[str, Any]] = []
    offset = 0
    while True:  # the API's rule: page until a page is shorter than the limit
        params = {"offset": str(offset), "limit": str(size)}
        async with session.get(url, params=params) as answer:
            answer.raise_for_status()
            page = loads(await answer.read())["results"]
        rows.extend(page)
        if len(page) < size:
            return len(rows)
        offset += size


async def client_run(*, url: str, api_key: str, task_id: str,
                     settings: dict[str, Any]) -> dict[str, Any]:
    """Alternate the contenders over every page size; return rows/s samples."""
    config = Settings(**settings)
    async with (
        AsyncExtruct(api_key, url, rate_limit=None) as client,
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {api_key}"}) as session,
    ):
        task = await client.discovery_tasks.get(task_id)
        results_url = f"{url}/v1/discovery_tasks/{task_id}/results"

        def contenders(size: int) -> dict[str, Callable[[], Awaitable[int]]]:
            return {
                SDK: lambda: _sdk_rows(task, size),
                BARE: lambda: _bare_rows(session, results_url, size, json.loads),
                BARE_MSGSPEC: lambda: _bare_rows(session, results_url, size,
                                                 msgspec.json.decode),
            }

        for size in config.page_sizes:  # warm both sides (and the simulator's row cache)
            for read in contenders(size).values():
                assert await read() == config.rows
        samples: dict[int, dict[str, list[float]]] = {}
        for _repetition in range(config.repetitions):
            for size in config.page_sizes:
                by_name = samples.setdefault(size, {})
                for name, read in contenders(size).items():
                    started = time.perf_counter()
                    rows, elapsed = 0, 0.0
                    while rows == 0 or elapsed < config.sample_seconds:  # whole reads only
                        rows += await read()
                        elapsed = time.perf_counter() - started
                    by_name.setdefault(name, []).append(rows / elapsed)
        return {"samples": samples, "costs": _cpu_costs(await _one_page(session, results_url,
                                                                          config.rows))}


async def _one_page(session: aiohttp.ClientSession, url: str, rows: int) -> bytes:
    async with session.get(url, params={"offset": "0", "limit": str(rows)}) as answer:
        return await answer.read()


def _cpu_costs(body: bytes) -> dict[str, float]:
    """Microseconds per row of each decoding step, on one page holding every row."""
    count = len(json.loads(body)["results"])

    def per_row(step: Callable[[], object]) -> float:
        number = 20
        return min(timeit.repeat(step, number=number, repeat=5)) / number / count * 1e6

    request = Request(Kind.RESULTS, "GET", "/v1/discovery_tasks/t/results")
    answer = HTTPResponse(200, {}, body)
    return {
        "json.loads to dicts": per_row(lambda: json.loads(body)),
        "msgspec to dicts": per_row(lambda: msgspec.json.decode(body)),
        "SDK decode to typed rows": per_row(lambda: sdk_decode(request, answer, url="u")),
    }


def _setup(simulator: SimulatorProcess, rows: int) -> tuple[str, str, str]:
    """Start a simulator holding one finished task with exactly ``rows`` rows."""
    pool = simulator.pool_for_rows(seed=1, query=QUERY, rows=rows)
    url, key = simulator.start(seed=1, candidate_pool={QUERY: pool},
                               seconds_per_result=0.001)
    return url, key, pool_task(url, key)


def pool_task(url: str, key: str) -> str:
    return str(run_job(_create_and_finish, url=url, api_key=key))


async def _create_and_finish(*, url: str, api_key: str) -> str:
    async with AsyncExtruct(api_key, url, rate_limit=None) as client:
        task = await client.discovery_tasks.create(QUERY, desired_num_results=250)
        await task.wait(poll_interval=0.05)
        return task.id


def run(settings: Settings, simulator: SimulatorProcess, *, strict: bool = False) -> Section:
    url, key, task_id = _setup(simulator, settings.rows)
    result = run_job(client_run, strict=strict, url=url, api_key=key, task_id=task_id,
                     settings=attrs.asdict(settings))
    samples: dict[int, dict[str, list[float]]] = result["samples"]
    rows, targets = [], []
    for size, by_name in samples.items():
        bare, fastest = median(by_name[BARE]), median(by_name[BARE_MSGSPEC])
        for name, values in by_name.items():
            rate = median(values)
            rows.append([str(size), name, f"{rate:,.0f}", times(ratio(rate, bare)),
                         times(ratio(rate, fastest))])
        sdk = median(by_name[SDK])
        targets.append(Target(  # stretch: 1.2x
            "paging", f"SDK typed rows/s vs bare aiohttp + json.loads dicts, pages of {size}",
            ratio(sdk, bare), 1.0, higher_is_better=True,
        ))
    costs = result["costs"]
    notes = [
        "Decoding cost per row, measured in the client process on one page of every row"
        " (best of 5): " + "; ".join(f"{k} {v:.2f} us" for k, v in costs.items()) + ".",
    ]
    return Section(
        key="paging",
        title="2. Result paging: rows per second through task.results()",
        setup=[
            f"One finished task with exactly {settings.rows} rows, read whole again and"
            f" again for {settings.sample_seconds:g} s per sample; {settings.repetitions}"
            " repetitions, contenders alternating within each page size; client in its own"
            " process, simulator in another, no rate limit.",
            "The simulator serves every timed page from its row cache (all rows read once"
            " before timing), so the server's cost is the same for every contender. Both"
            " sides page the same way (until a page is shorter than the limit), so they send"
            " the same requests.",
            "The SDK yields typed `CompanyResult` rows, decoded by msgspec straight from the"
            " bytes into the attrs models; bare aiohttp yields dicts, from `json.loads` (what"
            " users write) or `msgspec.json.decode` (the fastest untyped path).",
        ],
        headers=["page size", "contender", "rows/s", "vs json.loads dicts", "vs msgspec dicts"],
        rows=rows,
        targets=targets,
        notes=notes,
        raw={"settings": attrs.asdict(settings), "samples": samples, "costs": costs},
    )
