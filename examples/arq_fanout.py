"""Fan-out across machines: Deep Searches as jobs on arq (an asyncio job queue on Redis).

Any number of workers, on any number of machines, take searches from one queue. They
share one store (``EXTRUCT_STORE``), so together they keep one ``rate_limit`` against
your API key, a 429 seen by one pauses all, and whichever worker runs a search (or runs
it again: arq retries a job whose worker died):

- its task is created once: the job's idempotency key (``<run>:<position>``) finds the
  task an earlier attempt made, or the create it sent before dying;
- its rows are delivered once: the stream's checkpoint (consumer ``sink``) skips the
  rows an earlier attempt had taken; at most the row a dead worker held comes again.
  Here a row's work is an ``RPUSH`` to ``extruct:rows:<run>``; put yours in its place.

Run it (Redis for arq and for the store; two databases of one server will do)::

    export EXTRUCT_API_TOKEN=... EXTRUCT_STORE=redis://localhost:6379/0
    export ARQ_REDIS=redis://localhost:6379/1
    python examples/arq_fanout.py worker            # on each machine, as many as you like
    python examples/arq_fanout.py enqueue nightly-2026-11-28 queries.txt   # one per line

Enqueueing the same run again queues nothing new while arq keeps the jobs' results
(an hour); after that, the searches run again, create nothing and deliver nothing new.
Only the polling schedule and the concurrency cap stay per worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any, ClassVar

from arq import create_pool, run_worker
from arq.connections import ArqRedis, RedisSettings

from extruct_async import AsyncExtruct

REDIS = RedisSettings.from_dsn(os.environ.get("ARQ_REDIS", "redis://localhost:6379/1"))
#: Requests per second for all workers together (through the shared store).
RATE_LIMIT = float(os.environ.get("EXTRUCT_RATE_LIMIT", "10"))
POLL_INTERVAL = float(os.environ.get("EXTRUCT_POLL_INTERVAL", "5"))


async def startup(ctx: dict[str, Any]) -> None:
    """One client per worker: its key, base URL and store come from the environment."""
    ctx["extruct"] = AsyncExtruct(rate_limit=RATE_LIMIT)


async def shutdown(ctx: dict[str, Any]) -> None:
    """Close the client (its connections and the store's)."""
    await ctx["extruct"].aclose()


async def search(ctx: dict[str, Any], run: str, position: int, query: str,
                 desired_num_results: int = 25) -> dict[str, Any]:
    """The job: create the search once, stream its rows into the sink once."""
    client: AsyncExtruct = ctx["extruct"]
    sink: ArqRedis = ctx["redis"]
    task = await client.discovery_tasks.create(
        query, desired_num_results=desired_num_results, idempotency_key=f"{run}:{position}"
    )
    delivered = 0
    async for row in task.stream(consumer="sink", poll_interval=POLL_INTERVAL):
        # The row's work, finished before asking for the next row (which records it).
        await sink.rpush(f"extruct:rows:{run}", json.dumps({
            "task_id": task.id, "row_id": row.id, "position": position,
            "company": row.company_name, "relevance": row.relevance,
        }))
        delivered += 1
    return {"task_id": task.id, "delivered": delivered, "worker": os.getpid()}


class WorkerSettings:
    """arq's settings: ``run_worker(WorkerSettings)`` or ``arq examples.arq_fanout...``."""

    functions: ClassVar[list[Any]] = [search]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = REDIS
    max_jobs = 50  # searches followed at once by one worker: they share its poller
    job_timeout = 3600


async def enqueue(run: str, queries: list[str], *, desired_num_results: int = 25) -> list[Any]:
    """Queue one job per query; the job id makes a second enqueue of a run a no-op."""
    pool = await create_pool(REDIS)
    try:
        return [
            await pool.enqueue_job("search", run, position, query, desired_num_results,
                                   _job_id=f"{run}:{position}")
            for position, query in enumerate(queries)
        ]
    finally:
        await pool.aclose()


def main(argv: list[str]) -> None:
    """``worker`` or ``enqueue RUN FILE``."""
    if argv[:1] == ["worker"]:
        run_worker(WorkerSettings)  # type: ignore[arg-type]
    elif argv[:1] == ["enqueue"] and len(argv) == 3:
        with open(argv[2], encoding="utf-8") as lines:
            queries = [line.strip() for line in lines if line.strip()]
        jobs = asyncio.run(enqueue(argv[1], queries))
        print(f"queued {sum(job is not None for job in jobs)} of {len(queries)} searches")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
