"""``asyncio.gather`` over per-task aiohttp polling loops, with no limiter.

One ``ClientSession``; per task: create, sleep-and-poll until done or failed, page
through the results; ``raise_for_status()`` on every answer; ``gather(...,
return_exceptions=True)`` so one failed task does not sink the others.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import aiohttp


async def run(*, url: str, api_key: str, queries: list[str], desired_num_results: int,
              poll_interval: float, page_size: int, rate_limit: float) -> dict[str, Any]:
    tasks_url = f"{url}/v1/discovery_tasks"
    started = time.perf_counter()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {api_key}"}) as session:

        async def one(query: str) -> int:
            body = {"query": query, "desired_num_results": desired_num_results}
            async with session.post(tasks_url, json=body) as answer:
                answer.raise_for_status()
                task = await answer.json()
            while task["status"] not in ("done", "failed"):
                await asyncio.sleep(poll_interval)
                async with session.get(f"{tasks_url}/{task['id']}") as answer:
                    answer.raise_for_status()
                    task = await answer.json()
            rows, offset = 0, 0
            while True:
                params = {"offset": str(offset), "limit": str(page_size)}
                async with session.get(f"{tasks_url}/{task['id']}/results",
                                       params=params) as answer:
                    answer.raise_for_status()
                    page = (await answer.json())["results"]
                rows += len(page)
                if len(page) < page_size:
                    return rows
                offset += page_size

        outcomes = await asyncio.gather(*(one(q) for q in queries), return_exceptions=True)
    errors: Counter[str] = Counter()
    for outcome in outcomes:
        if isinstance(outcome, aiohttp.ClientResponseError):
            errors[f"HTTP {outcome.status}"] += 1
        elif isinstance(outcome, BaseException):
            errors[type(outcome).__name__] += 1
    done = [o for o in outcomes if isinstance(o, int)]
    return {"wall": time.perf_counter() - started, "completed": len(done), "rows": sum(done),
            "errors": dict(errors)}
