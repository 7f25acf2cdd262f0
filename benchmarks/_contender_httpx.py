"""``asyncio.gather`` over per-task ``httpx.AsyncClient`` polling loops, with no limiter.

The same code as the aiohttp contender, written with httpx.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx


async def run(*, url: str, api_key: str, queries: list[str], desired_num_results: int,
              poll_interval: float, page_size: int, rate_limit: float) -> dict[str, Any]:
    tasks_url = f"{url}/v1/discovery_tasks"
    started = time.perf_counter()
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {api_key}"},
                                 timeout=30) as client:

        async def one(query: str) -> int:
            body = {"query": query, "desired_num_results": desired_num_results}
            answer = (await client.post(tasks_url, json=body)).raise_for_status()
            task = answer.json()
            while task["status"] not in ("done", "failed"):
                await asyncio.sleep(poll_interval)
                task = (await client.get(f"{tasks_url}/{task['id']}")).raise_for_status().json()
            rows, offset = 0, 0
            while True:
                params = {"offset": offset, "limit": page_size}
                answer = await client.get(f"{tasks_url}/{task['id']}/results", params=params)
                page = answer.raise_for_status().json()["results"]
                rows += len(page)
                if len(page) < page_size:
                    return rows
                offset += page_size

        outcomes = await asyncio.gather(*(one(q) for q in queries), return_exceptions=True)
    errors: Counter[str] = Counter()
    for outcome in outcomes:
        if isinstance(outcome, httpx.HTTPStatusError):
            errors[f"HTTP {outcome.response.status_code}"] += 1
        elif isinstance(outcome, BaseException):
            errors[type(outcome).__name__] += 1
    done = [o for o in outcomes if isinstance(o, int)]
    return {"wall": time.perf_counter() - started, "completed": len(done), "rows": sum(done),
            "errors": dict(errors)}
