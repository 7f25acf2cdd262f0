"""The completion trap end to end: against a service whose rows still arrive after
``is_exhausted`` and evaluation caught up, nothing ends early and no row is lost.

The simulator's qualification stage puts rows (and ``num_results``) a lag behind their
evaluation, as the service does; ``SimulatedTask.evaluated_by`` is when the rule the SDK
used to have (``is_exhausted and evaluated >= enriched``) would have said "finished".
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from extruct_async import TaskStatus
from extruct_async.testing import FakeExtructServer
from tests.conftest import API_KEY

pytestmark = pytest.mark.looptime

QUERY = "cold-chain logistics software"


async def test_wait_and_stream_end_on_status_only_and_lose_no_row() -> None:
    async with FakeExtructServer(api_key=API_KEY, seed=5, candidate_pool=40) as server, \
            server.client(rate_limit=None) as client:
        task = await client.discovery_tasks.create(QUERY, desired_num_results=100)
        simulated = server.tasks[task.id]
        streamed: list[str] = []
        async with contextlib.aclosing(task.stream(poll_interval=0.5)) as rows:
            async for row in rows:
                streamed.append(row.id)
        # The old rule held from evaluated_by on, while rows were still being qualified:
        assert simulated.evaluated_by < simulated.ends_at
        await task.wait(poll_interval=0.5)
        assert task.status is TaskStatus.DONE
        assert task.is_exhausted
        assert task.evaluation_caught_up
        final = [row["id"] for row in server.visible_rows(task.id)]
        assert sorted(streamed) == sorted(final)  # every row, once
        assert len(streamed) == len(set(streamed))


async def test_the_old_rule_would_have_stopped_short() -> None:
    async with FakeExtructServer(api_key=API_KEY, seed=5, candidate_pool=40) as server, \
            server.client(rate_limit=None) as client:
        task = await client.discovery_tasks.create(QUERY, desired_num_results=100)
        # Go to the moment the old rule first holds, and look at the service there.
        await task.refresh()
        while not task.evaluation_caught_up:
            await asyncio.sleep(0.1)
            await task.refresh()
        at_old_end = len(server.visible_rows(task.id))
        assert task.status == TaskStatus.IN_PROGRESS
        assert not task.finished
        await task.wait(poll_interval=0.5)
        assert task.status is TaskStatus.DONE
        assert len(server.visible_rows(task.id)) > at_old_end  # rows the old rule lost
