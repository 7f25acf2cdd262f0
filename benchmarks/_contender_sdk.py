"""The SDK on the "what users write today" work: create_many, as_completed, results.

Every contender module has the same ``run`` signature and returns the same fields:
wall time, tasks completed (followed to the end and their rows read), rows read, and
errors by kind.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from extruct_async import AsyncExtruct, CreateManyError, DiscoveryTask, ExtructError


async def run(*, url: str, api_key: str, queries: list[str], desired_num_results: int,
              poll_interval: float, page_size: int, rate_limit: float) -> dict[str, Any]:
    errors: Counter[str] = Counter()
    completed = rows = 0
    started = time.perf_counter()
    async with AsyncExtruct(api_key, url, rate_limit=rate_limit) as client:
        specs = [{"query": q, "desired_num_results": desired_num_results} for q in queries]
        tasks: list[DiscoveryTask]
        try:
            tasks = await client.discovery_tasks.create_many(specs)
        except CreateManyError as exc:
            errors.update(type(e).__name__ for e in exc.errors if e is not None)
            tasks = [t for t in exc.tasks if t is not None]
        try:
            async for task in client.discovery_tasks.as_completed(
                tasks, poll_interval=poll_interval
            ):
                rows += len([row async for row in task.results(page_size=page_size)])
                completed += 1
        except ExtructError as exc:
            errors[type(exc).__name__] += 1
    return {"wall": time.perf_counter() - started, "completed": completed, "rows": rows,
            "errors": dict(errors)}
