"""A raw HTTP client for the simulator's tests: plain aiohttp, no SDK."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs

from extruct_async.testing import FakeExtructServer

TASKS = "/v1/discovery_tasks"


@attrs.frozen
class Answer:
    status: int
    body: Any
    headers: Any


@attrs.define
class RawAPI:
    """Calls the simulator's endpoints and returns (status, decoded JSON)."""

    session: aiohttp.ClientSession

    async def call(self, method: str, path: str, **kwargs: Any) -> Answer:
        async with self.session.request(method, path, **kwargs) as response:
            return Answer(response.status, await response.json(), response.headers)

    async def create(self, **body: Any) -> dict[str, Any]:
        answer = await self.call("POST", TASKS, json=body)
        assert answer.status == 200, answer.body
        return answer.body  # type: ignore[no-any-return]

    async def get(self, task_id: str) -> dict[str, Any]:
        answer = await self.call("GET", f"{TASKS}/{task_id}")
        assert answer.status == 200, answer.body
        return answer.body  # type: ignore[no-any-return]

    async def results(self, task_id: str, **params: int) -> dict[str, Any]:
        answer = await self.call("GET", f"{TASKS}/{task_id}/results", params=params)
        assert answer.status == 200, answer.body
        return answer.body  # type: ignore[no-any-return]

    async def all_rows(self, task_id: str) -> list[dict[str, Any]]:
        return (await self.results(task_id, limit=10_000))["results"]  # type: ignore[no-any-return]

    async def resume(self, task_id: str, **body: Any) -> Answer:
        return await self.call("POST", f"{TASKS}/{task_id}/resume", json=body)

    async def wait(self, task_id: str, *, step: float = 0.5, limit: float = 3600) -> dict[str, Any]:
        """Poll until the task is done or failed (on the loop's clock)."""
        waited = 0.0
        while True:
            state = await self.get(task_id)
            if state["status"] in ("done", "failed"):
                return state
            assert waited < limit, state
            await asyncio.sleep(step)
            waited += step


def auth(server: FakeExtructServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.api_key}"}


@contextlib.asynccontextmanager
async def running(**options: Any) -> AsyncIterator[tuple[FakeExtructServer, RawAPI]]:
    """A started simulator and a raw client for it."""
    async with (
        FakeExtructServer(**options) as server,
        aiohttp.ClientSession(server.base_url, headers=auth(server)) as session,
    ):
        yield server, RawAPI(session)


def is_high_fit(row: dict[str, Any]) -> bool:
    grades = [score["grade"] for score in row["scores"].values()]
    return 4 * sum(grade >= 4 for grade in grades) >= 3 * len(grades)
