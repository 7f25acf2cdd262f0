"""Benchmark 1, fan-out: N tasks through ``create_many`` and ``as_completed``.

Every task takes the same time: each is given the same candidate pool, smaller than its
target (250 results) needs, so every task runs ``5 + pool + 11`` steps of the simulator
and ends ``done`` (see ``FakeExtructServer``). The client's ``rate_limit`` sits 10% below
the server's. Real time, scaled 10x: see the README for why.

The interleaved runs add a second client in the same process, "a web app" that keeps
creating tasks nobody follows, before, during and after the fan-out: the followed tasks
end up interleaved with others and pushed down the list every poll interval.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import math
import time
from collections.abc import Sequence
from typing import Any

import attrs

from extruct_async import AsyncExtruct
from extruct_async._placement import SCAN_PAGE_SIZE

from ._harness import Section, Target, count, median, ratio, seconds, times
from ._processes import SimulatorProcess, run_job

__all__ = ["FULL", "QUICK", "SMOKE", "Settings", "run"]

#: Simulator steps a task spends beyond its candidate pool: 5 while ``created``, then
#: enrichment (3) and evaluation (8) lag behind discovery (``FakeExtructServer`` docs).
_STEPS_BEYOND_POOL = 5 + 11


@attrs.frozen
class Settings:
    sizes: tuple[int, ...]
    repetitions: int
    server_rate: float
    client_rate: float
    task_seconds: float
    poll_interval: float
    candidate_pool: int = 100
    desired_num_results: int = 250
    #: Sizes run again with the web app creating unfollowed tasks meanwhile.
    interleaved: tuple[int, ...] = ()
    #: The web app's creates per second (its own client's rate limit).
    others_rate: float = 40.0

    @property
    def seconds_per_result(self) -> float:
        return self.task_seconds / (self.candidate_pool + _STEPS_BEYOND_POOL)


#: Real time at 10x: a 40 s task polled every 5 s, 50/s server and 45/s client limits.
FULL = Settings(sizes=(100, 1000, 5000), repetitions=3, server_rate=500, client_rate=450,
                task_seconds=4.0, poll_interval=0.5, interleaved=(1000,))
QUICK = attrs.evolve(FULL, sizes=(100, 1000), repetitions=2)
SMOKE = Settings(sizes=(3, 12), repetitions=1, server_rate=500, client_rate=450,
                 task_seconds=0.3, poll_interval=0.1, candidate_pool=10, interleaved=(12,),
                 others_rate=20.0)


async def client_run(
    *, url: str, api_key: str, n: int, rate_limit: float, poll_interval: float,
    desired_num_results: int, others_rate: float | None = None,
) -> dict[str, Any]:
    """The measured client: what a user writes (in its own process).

    With ``others_rate``, a web app (a client of its own) creates unfollowed tasks at
    that rate from a little before the fan-out until it ends, and the fan-out's own
    ``rate_limit`` is lowered by as much: together they keep to ``rate_limit``.
    """
    specs = [
        {"query": f"fan-out benchmark task {i}", "desired_num_results": desired_num_results}
        for i in range(n)
    ]
    if others_rate is not None:
        rate_limit -= others_rate  # the two clients together keep to the one limit
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            AsyncExtruct(api_key, url, rate_limit=rate_limit))
        others = 0
        if others_rate is not None:
            web_app = await stack.enter_async_context(
                AsyncExtruct(api_key, url, rate_limit=others_rate))

            async def keep_creating() -> None:
                nonlocal others
                while True:
                    await web_app.discovery_tasks.create(
                        f"a web app's task {others}", desired_num_results=desired_num_results)
                    others += 1

            creator = asyncio.create_task(keep_creating())
            stack.push_async_callback(_cancel, creator)
            await asyncio.sleep(0.5)  # some of the others' tasks are older than ours
        started = time.perf_counter()
        cpu = time.process_time()
        tasks = await client.discovery_tasks.create_many(specs)
        created = time.perf_counter()
        finished = 0
        completed = client.discovery_tasks.as_completed(tasks, poll_interval=poll_interval)
        async with contextlib.aclosing(completed):
            async for task in completed:
                finished += task.finished
        ended = time.perf_counter()
        return {
            "wall": ended - started,
            "create_phase": created - started,
            "cpu": time.process_time() - cpu,
            "finished": finished,
            "poller_requests": dict(client._poller.requests),
            "followed": [task.id for task in tasks],
            "rate_limit": rate_limit,
            "others_created": others,
        }


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def perfect_status_reads(
    ends: list[float], *, start: float, poll_interval: float, page: int = SCAN_PAGE_SIZE
) -> int:
    """List pages a perfect poller reads to see every task finished, polling every interval.

    It polls every ``poll_interval`` from ``start`` (when the last create was answered).
    Equal durations make tasks finish in creation order, so the tasks it has not yet seen
    finished are always the newest: a poll reads just the pages that hold them, newest
    first, ``ceil(unseen / page)``.
    """
    ordered = sorted(ends)
    seen, reads, now = 0, 0, start
    while seen < len(ordered):
        now += poll_interval
        reads += math.ceil((len(ordered) - seen) / page)
        while seen < len(ordered) and ordered[seen] <= now:
            seen += 1
    return reads


def interleaved_status_reads(
    tasks: Sequence[dict[str, Any]], followed: set[str], *, start: float,
    poll_interval: float, page: int = SCAN_PAGE_SIZE,
) -> tuple[int, int]:
    """List reads of a perfect poller, and the README's bound, with others' tasks about.

    ``tasks`` are every task on the server in creation order. From ``start``, every
    ``poll_interval``, the followed tasks not yet seen finished sit at their offsets in
    the list then (newest first, everybody's tasks counted). A perfect poller, knowing
    them, reads the fewest pages of ``page`` that cover them (greedy from the top). The
    bound is the README's: ``ceil(span / page) + 1`` a cycle (at most ``d + 2``), two
    more for the first cycle's search.
    """
    created = [t["created"] for t in tasks]
    index = {t["id"]: i for i, t in enumerate(tasks)}
    ends = {t["id"]: t["ends_at"] for t in tasks if t["id"] in followed}
    unseen = sorted(followed, key=index.__getitem__)
    minimum, bound, now = 0, 2, start
    while unseen:
        now += poll_interval
        listed = bisect.bisect_right(created, now)
        offsets = sorted(listed - 1 - index[task] for task in unseen)
        pages, covered = 0, -1
        for offset in offsets:
            if offset > covered:
                pages, covered = pages + 1, offset + page - 1
        minimum += pages
        span = offsets[-1] - offsets[0] + 1
        bound += min(math.ceil(span / page) + 1, len(offsets) + 2)
        unseen = [task for task in unseen if ends[task] > now]
    return minimum, bound


def _sample(n: int, settings: Settings, client: dict[str, Any],
            truth: dict[str, Any]) -> dict[str, Any]:
    followed = set(client["followed"])
    ours = [t for t in truth["tasks"] if t["id"] in followed]
    durations = [t["ends_at"] - t["created"] for t in ours]
    duration = median(durations)
    interleaved_reads, reads_bound = interleaved_status_reads(
        truth["tasks"], followed, start=max(t["created"] for t in ours),
        poll_interval=settings.poll_interval)
    if client["others_created"]:
        reads = interleaved_reads
    else:
        reads = perfect_status_reads(
            [t["ends_at"] for t in ours], start=max(truth["create_times"]),
            poll_interval=settings.poll_interval,
        )
    minimum = n + reads
    rate = client.get("rate_limit", settings.client_rate)  # the fan-out's own share
    burst = max(1, math.floor(rate))
    window = burst / rate
    # The client's gate lets `burst` requests start per window, so the last create
    # cannot start before this, and its task then takes `duration`.
    earliest_last_create = ((n - 1) // burst) * window
    term_duration = duration + settings.poll_interval
    term_requests = minimum / rate
    term_pipeline = earliest_last_create + duration + settings.poll_interval
    return {
        "n": n,
        "wall": client["wall"],
        "create_phase": client["create_phase"],
        "client_cpu": client["cpu"],
        "finished": client["finished"],
        "poller_requests": client["poller_requests"],
        "task_seconds": duration,
        "task_seconds_spread": max(durations) - min(durations),
        "bound_terms": {
            "duration_plus_poll": term_duration,
            "requests_over_rate": term_requests,
            "last_create_plus_duration_plus_poll": term_pipeline,
        },
        "bound_issue": max(term_duration, term_requests),
        "bound": max(term_duration, term_requests, term_pipeline),
        "requests": truth["requests"] - client["others_created"],
        "requests_by_endpoint": truth["by_endpoint"],
        "minimum_requests": minimum,
        "perfect_status_reads": reads,
        "status_reads": sum(client["poller_requests"].values()),
        "status_reads_bound": reads_bound,
        "others_created": client["others_created"],
        "rate_limited": truth["rate_limited"],
        "peak_per_second": truth["peak_per_second"],
    }


def run(settings: Settings, simulator: SimulatorProcess, *, strict: bool = False) -> Section:
    cases: list[tuple[int, float | None]] = [(n, None) for n in settings.sizes]
    cases += [(n, settings.others_rate) for n in settings.interleaved]
    samples: dict[str, list[dict[str, Any]]] = {_label(*case): [] for case in cases}
    for repetition in range(settings.repetitions):
        for n, others_rate in cases:  # alternate the sizes: 100, 1000, 5000, 100, ...
            url, key = simulator.start(
                seed=repetition, rate_limit=settings.server_rate,
                seconds_per_result=settings.seconds_per_result,
                candidate_pool=settings.candidate_pool,
            )
            client = run_job(
                client_run, strict=strict, url=url, api_key=key, n=n,
                rate_limit=settings.client_rate, poll_interval=settings.poll_interval,
                desired_num_results=settings.desired_num_results, others_rate=others_rate,
            )
            samples[_label(n, others_rate)].append(
                _sample(n, settings, client, simulator.truth(tasks=True)))

    rows, targets = [], []
    for label, runs in samples.items():
        n = runs[0]["n"]
        wall = median(s["wall"] for s in runs)
        bound = median(s["bound"] for s in runs)
        bound_issue = median(s["bound_issue"] for s in runs)
        requests = median(s["requests"] for s in runs)
        minimum = median(s["minimum_requests"] for s in runs)
        reads = median(s["status_reads"] for s in runs)
        reads_bound = median(s["status_reads_bound"] for s in runs)
        limited = max(s["rate_limited"] for s in runs)
        peak = max(s["peak_per_second"] for s in runs)
        lost = n - min(s["finished"] for s in runs)
        rows.append([
            label, seconds(wall), seconds(bound), times(ratio(wall, bound)),
            f"{seconds(bound_issue)} ({times(ratio(wall, bound_issue))})",
            count(requests), count(minimum), times(ratio(requests, minimum)),
            f"{count(reads)} / {count(reads_bound)} ({times(ratio(reads, reads_bound))})",
            str(limited), f"{peak} / {settings.server_rate:g}",
            f"{median(s['create_phase'] for s in runs):.2f} s", str(lost),
        ])
        label = f"N={label}"
        targets += [
            Target("fan-out", f"wall / bound, {label}", ratio(wall, bound), 1.15),
            Target("fan-out", f"wall / issue's two-term bound, {label}",
                   ratio(wall, bound_issue), 1.15),
            Target("fan-out", f"requests / minimum, {label}", ratio(requests, minimum), 1.10),
            Target("fan-out", f"status reads / the README's bound, {label}",
                   ratio(reads, reads_bound), 1.0),
            Target("fan-out", f"429s received (worst run), {label}", limited, 0, unit=""),
            Target("fan-out", f"peak requests in any second (worst run), {label}", peak,
                   settings.server_rate, unit="/s"),
        ]
    duration = median(s["task_seconds"] for runs in samples.values() for s in runs)
    setup = [
        f"Sizes {', '.join(f'{n:,}' for n in settings.sizes)}; {settings.repetitions}"
        " repetitions, sizes alternating; a fresh simulator (own process) and a fresh"
        " client process per run; real time.",
        f"Every task takes the same {duration:.2f} s (simulator: pool"
        f" {settings.candidate_pool} candidates, {settings.seconds_per_result * 1000:.1f} ms"
        f" per step; measured spread across tasks"
        f" {max(s['task_seconds_spread'] for r in samples.values() for s in r):.3f} s).",
        f"Server limit {settings.server_rate:g} requests/s, client `rate_limit="
        f"{settings.client_rate:g}`, `poll_interval={settings.poll_interval:g}`: the"
        " real-world 50/s vs 45/s, 40 s tasks polled every 5 s, run 10x faster.",
        "User code: `create_many(specs)`, then `async for t in as_completed(tasks,"
        " poll_interval=...)`. Wall time: from the first create to the last task seen"
        " finished, on the client's clock.",
        "**Bound** = max(task duration + one poll interval; minimum requests / client rate"
        " limit; earliest possible last create + task duration + one poll interval). The"
        " issue's formula has the first two terms only (shown in brackets): it leaves out"
        " that the last task cannot start before the creates ahead of it have passed the"
        " rate limit, so no client can reach it once N / rate is a good part of a task's"
        " duration.",
        "**Minimum requests** = N creates + the list pages a perfect poller reads at the same"
        " poll interval: from the last create on, every interval, the pages (100 tasks each,"
        " newest first) holding the tasks it has not yet seen finished.",
        f"**+ web app** rows: a second client in the same process creates tasks nobody"
        f" follows at {settings.others_rate:g}/s, from 0.5 s before the fan-out until it"
        " ends: ours are interleaved with them and pushed down the list every interval."
        f" The fan-out's client gets the rest of the limit ({settings.client_rate:g} -"
        f" {settings.others_rate:g}/s), and the bound is computed at that rate."
        " Its creates are not counted in requests (they are in the 429s and the peak). The"
        " perfect poller there knows where every unseen task sits and reads the fewest"
        " pages of 100 that cover them.",
        "**Status reads / README bound**: the poller's list and direct reads against the"
        " README's cost bound over the same polls: ceil(span / 100) + 1 pages a cycle, span"
        " being the list places the unseen tasks occupy (at most their number + 2), and 2"
        " more for the first cycle's search.",
    ]
    return Section(
        key="fanout",
        title="1. Fan-out: create N tasks, follow them to the end",
        setup=setup,
        headers=["N", "wall", "bound", "wall/bound", "issue's bound (ratio)", "requests",
                 "minimum", "req/min", "status reads / README bound", "429s",
                 "peak/s / limit", "create phase", "tasks lost"],
        rows=rows,
        targets=targets,
        raw={"settings": attrs.asdict(settings), "samples": samples},
    )


def _label(n: int, others_rate: float | None) -> str:
    return f"{n:,}" if others_rate is None else f"{n:,} + web app"
