"""Benchmark 5, what users write today, on the same work: 100 tasks, start to rows.

Contenders (one module each): the SDK; the vendor tool's approach (synchronous, one task
at a time, fixed-interval polls, urllib); ``asyncio.gather`` over per-task polling loops
with aiohttp, and the same with httpx, neither with a limiter. Each creates the same 100
tasks, follows each to ``done`` and reads its rows, against a server with a realistic
rate limit. Time is compressed (task duration and poll interval scaled down together, the
rate limit not): see the README.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from . import _contender_aiohttp, _contender_httpx, _contender_sdk, _contender_urllib
from ._harness import Section, Target, alternate, count, median, ratio, seconds, times
from ._processes import SimulatorProcess, run_job

__all__ = ["CONTENDERS", "FULL", "QUICK", "SMOKE", "Settings", "run"]

SDK = "extruct-async (create_many + as_completed)"
CONTENDERS: dict[str, Callable[..., Any]] = {
    SDK: _contender_sdk.run,
    "(a) vendor tool's way: sequential, urllib": _contender_urllib.run,
    "(b) asyncio.gather + aiohttp, no limiter": _contender_aiohttp.run,
    "(c) asyncio.gather + httpx, no limiter": _contender_httpx.run,
}
#: Simulator steps beyond the candidate pool (see ``_fanout``).
_STEPS_BEYOND_POOL = 16


@attrs.frozen
class Settings:
    tasks: int
    repetitions: int
    server_rate: float
    client_rate: float
    task_seconds: float
    poll_interval: float
    candidate_pool: int = 14
    desired_num_results: int = 25
    page_size: int = 50

    @property
    def seconds_per_result(self) -> float:
        return self.task_seconds / (self.candidate_pool + _STEPS_BEYOND_POOL)


#: A 60 s task polled every 10 s (the vendor CLI's interval), 300x faster: 0.2 s and
#: 33 ms. The rate limit stays a real-world 50/s (client: 45/s).
FULL = Settings(tasks=100, repetitions=3, server_rate=50, client_rate=45,
                task_seconds=0.2, poll_interval=0.2 / 6)
QUICK = attrs.evolve(FULL, repetitions=1)
SMOKE = attrs.evolve(FULL, tasks=4, repetitions=1, candidate_pool=4)


def _measure(name: str, settings: Settings, simulator: SimulatorProcess,
             strict: bool) -> Callable[[], dict[str, Any]]:
    def measure() -> dict[str, Any]:
        url, key = simulator.start(
            seed=5, rate_limit=settings.server_rate, candidate_pool=settings.candidate_pool,
            seconds_per_result=settings.seconds_per_result,
        )
        client = run_job(
            CONTENDERS[name], strict=strict, url=url, api_key=key,
            queries=[f"what users write today, task {i}" for i in range(settings.tasks)],
            desired_num_results=settings.desired_num_results,
            poll_interval=settings.poll_interval, page_size=settings.page_size,
            rate_limit=settings.client_rate,
        )
        truth = simulator.truth(tasks=True)
        return {**client, "rows_on_server": sum(t["final_rows"] for t in truth["tasks"]),
                "requests": truth["requests"], "by_endpoint": truth["by_endpoint"],
                "rate_limited": truth["rate_limited"],
                "rate_limited_by_endpoint": truth["rate_limited_by_endpoint"],
                "created": truth["create_count"], "peak_per_second": truth["peak_per_second"]}

    return measure


def run(settings: Settings, simulator: SimulatorProcess, *, strict: bool = False) -> Section:
    samples = alternate(
        {name: _measure(name, settings, simulator, strict) for name in CONTENDERS},
        settings.repetitions,
    )
    sdk_wall = median(s["wall"] for s in samples[SDK])
    rows = []
    for name, runs in samples.items():
        wall = median(s["wall"] for s in runs)
        limited = {endpoint: median(s["rate_limited_by_endpoint"].get(endpoint, 0)
                                    for s in runs)
                   for endpoint in ("create", "get", "list", "results")}
        kinds = sorted({kind for s in runs for kind in s["errors"]})
        errors = ", ".join(f"{kind}: {count(median(s['errors'].get(kind, 0) for s in runs))}"
                           for kind in kinds) or "0"
        completed = median(s["completed"] for s in runs)
        orphaned = median(s["created"] - s["completed"] for s in runs)
        rows.append([
            name, seconds(wall), times(ratio(wall, sdk_wall)),
            count(median(s["requests"] for s in runs)),
            count(sum(limited.values())) + " (" + " / ".join(
                count(limited[e]) for e in ("create", "get", "results")) + ")",
            errors, f"{count(completed)} / {settings.tasks}",
            count(median(s["rows"] for s in runs)) + " / "
            + count(median(s["rows_on_server"] for s in runs)), count(orphaned),
            str(max(s["peak_per_second"] for s in runs)),
        ])
    sdk_limited = max(s["rate_limited"] for s in samples[SDK])
    targets = [Target("what users write today", "SDK 429s received (worst run), client"
                      f" {settings.client_rate:g}/s vs server {settings.server_rate:g}/s",
                      sdk_limited, 0, unit="")]
    scale = 60 / settings.task_seconds
    return Section(
        key="today",
        title="5. What users write today: 100 tasks, from create to rows",
        setup=[
            f"{settings.tasks} tasks; each contender creates them, follows each to `done` and"
            f" reads its rows (pages of {settings.page_size}); {settings.repetitions}"
            " repetitions, contenders alternating; a fresh simulator and client process per"
            " run.",
            f"Time compressed {scale:.0f}x: every task takes {settings.task_seconds:g} s (a"
            f" 60 s task) and everybody polls every {settings.poll_interval * 1000:.0f} ms (the"
            " vendor CLI's 10 s). The rate limit is *not* compressed: the server allows"
            f" {settings.server_rate:g} requests/s (one-second window), the SDK is set to"
            f" `rate_limit={settings.client_rate:g}`.",
            "So the polling of (b) and (c) meets the limit far more often than it would in"
            " real time: read their 429s on status reads as an upper bound. Their 429s on"
            " creates are real-time behaviour: 100 creates at once against 50 a second.",
            "Errors are what the user's code got (an HTTP error ends that task);"
            " *rows on server* = the rows that the tasks created on the simulator have when"
            " they end (its ground truth): what was paid for; *orphaned* = tasks created"
            " on the server (and paid for) whose rows the code never read.",
        ],
        headers=["contender", "wall", "vs SDK", "requests", "429s (create / status / results)",
                 "errors", "tasks completed", "rows read / on server", "orphaned",
                 "peak/s"],
        rows=rows,
        targets=targets,
        raw={"settings": attrs.asdict(settings), "samples": samples},
    )
