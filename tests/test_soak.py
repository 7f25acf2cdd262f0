"""A fault soak: hundreds of tasks through create_many, as_completed, stream and resume while
a quarter of all requests fail in every way the simulator knows (5xx with HTML bodies, drops,
truncated and garbled answers, creates committed then dropped, 429 with and without
Retry-After, slow answers), on the fake clock.

The service's own ground truth is the judge: tasks on the service == tasks asked for, every
row streamed once, every resume applied once, and nothing but SDK errors anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter

import pytest

from extruct_async import DiscoveryTask, ExtructError, RetryPolicy
from extruct_async.testing import FAULT_KINDS, FakeExtructServer
from tests.conftest import API_KEY

pytestmark = pytest.mark.looptime

TASKS = 200
FAULT_RATE = 0.25
# Enough retries that no request fails for good at this fault rate (0.25 ** 11 per request).
PATIENT = RetryPolicy(max_retries=10, max_time=600, initial_wait=0.5, max_wait=4)


async def test_hundreds_of_tasks_through_a_quarter_of_failing_requests() -> None:
    random.seed(20261128)  # the backoff jitter
    async with FakeExtructServer(api_key=API_KEY, seed=3, fault_rate=FAULT_RATE,
                                 fault_kinds=FAULT_KINDS, slow_seconds=5,
                                 candidate_pool=lambda query: 25 if query.endswith("7") else 400,
                                 ) as server, \
            server.client(rate_limit=100, max_concurrency=32, retry=PATIENT,
                          attempt_timeout=10) as client:
        specs = [{"query": f"soak search {i}", "desired_num_results": 5 + i % 20}
                 for i in range(TASKS)]
        tasks = await client.discovery_tasks.create_many(specs)

        # Tasks on the service == tasks asked for: none lost, none twice.
        assert server.create_count == TASKS
        assert sorted(task.id for task in tasks) == sorted(server.tasks)
        assert [task.query for task in tasks] == [spec["query"] for spec in specs]

        # Stream every row of every task while they run, then wait for them all.
        streamed: dict[str, list[str]] = {}

        async def stream(task: DiscoveryTask) -> None:
            async with contextlib.aclosing(task.stream(poll_interval=2)) as rows:
                streamed[task.id] = [row.id async for row in rows]

        streams = [asyncio.create_task(stream(task)) for task in tasks]
        finished = [task async for task in client.discovery_tasks.as_completed(
            tasks, poll_interval=2)]
        await asyncio.gather(*streams)
        assert sorted(task.id for task in finished) == sorted(server.tasks)
        for task in tasks:
            truth = [row["id"] for row in server.visible_rows(task.id)]
            assert Counter(streamed[task.id]) == Counter(truth), task.id  # each row once

        # Resume the ones that can be resumed: each applied exactly once.
        resumable = [task for task in tasks if not task.is_exhausted][:40]
        before = {task.id: task.desired_num_results for task in resumable}
        await asyncio.gather(*(task.resume(desired_new_results=3) for task in resumable))
        for task in resumable:
            assert server.task_state(task.id)["desired_num_results"] == before[task.id] + 3
        await client.discovery_tasks.wait_all(resumable, poll_interval=2)
        assert server.create_count == TASKS

    served = server.faults_served
    assert sum(served.values()) > 0.15 * len(server.requests)  # the faults did happen
    assert {"commit_then_drop", "truncate", "503", "429-no-retry-after"} <= set(served)


async def test_what_does_escape_is_an_sdk_error() -> None:
    # With retries off, the same faults surface; each one is an ExtructError.
    async with FakeExtructServer(api_key=API_KEY, seed=4, fault_rate=0.5,
                                 fault_kinds=FAULT_KINDS, slow_seconds=5) as server, \
            server.client(rate_limit=None, max_retries=0, attempt_timeout=2) as client:
        outcomes = await asyncio.gather(
            *(client.discovery_tasks.create(f"escape {i}") for i in range(60)),
            return_exceptions=True)
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        assert failures
        assert all(isinstance(failure, ExtructError) for failure in failures), failures
        created = [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]
        assert len({task.id for task in created}) == len(created)  # never one task twice
        assert server.create_count >= len(created)
