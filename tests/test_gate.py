"""The gate, on the fake loop clock: exact admission times, order and caps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from extruct_async._gate import Gate
from extruct_async.testing import FakeExtructServer
from extruct_async.testing._ratelimit import peak_in_window
from tests.conftest import API_KEY

pytestmark = pytest.mark.looptime


async def pass_through(gate: Gate, log: list[tuple[str, float]], name: str,
                       hold: float = 0.0) -> None:
    async with gate:
        log.append((name, asyncio.get_running_loop().time()))
        await asyncio.sleep(hold)


# Rates of 8 and 4 a second: their intervals (0.125 s, 0.25 s) are exact in binary
# floating point, so admission times can be compared exactly.


async def test_200_waiters_never_exceed_the_rate_in_any_second(looptime: float) -> None:
    gate = Gate(max_concurrency=50, rate_limit=8)
    log: list[tuple[str, float]] = []
    await asyncio.gather(*(pass_through(gate, log, f"r{i}") for i in range(200)))

    times = [time for _, time in log]
    assert peak_in_window(times) == 8
    # By default, evenly spaced: one every 1/8 s, the limit reached, never exceeded.
    assert times == [i / 8 for i in range(200)]
    assert [name for name, _ in log] == [f"r{i}" for i in range(200)]  # first come, first served
    assert gate.admitted == 200
    assert looptime == 199 / 8


async def test_200_waiters_at_ten_a_second() -> None:
    gate = Gate(max_concurrency=200, rate_limit=10)
    log: list[tuple[str, float]] = []
    await asyncio.gather(*(pass_through(gate, log, f"r{i}") for i in range(200)))
    times = [time for _, time in log]
    assert peak_in_window(times) == 10
    assert [round(time, 3) for time in times] == [i / 10 for i in range(200)]


async def test_a_burst_starts_together_then_the_window_slides() -> None:
    gate = Gate(max_concurrency=50, rate_limit=10, burst=10)
    log: list[tuple[str, float]] = []
    await asyncio.gather(*(pass_through(gate, log, f"r{i}") for i in range(40)))
    times = [time for _, time in log]
    assert times == [float(i // 10) for i in range(40)]
    assert peak_in_window(times) == 10


async def test_burst_one_spaces_requests_evenly() -> None:
    gate = Gate(max_concurrency=10, rate_limit=4, burst=1)
    log: list[tuple[str, float]] = []
    await asyncio.gather(*(pass_through(gate, log, str(i)) for i in range(9)))
    assert [time for _, time in log] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]


async def test_fractional_rate_limit() -> None:
    gate = Gate(max_concurrency=10, rate_limit=0.5)
    log: list[tuple[str, float]] = []
    await asyncio.gather(*(pass_through(gate, log, str(i)) for i in range(3)))
    assert [time for _, time in log] == [0.0, 2.0, 4.0]


async def test_concurrency_cap_and_order() -> None:
    gate = Gate(max_concurrency=3, rate_limit=None)
    log: list[tuple[str, float]] = []
    await asyncio.gather(*(pass_through(gate, log, f"r{i}", hold=5) for i in range(7)))
    assert log == [("r0", 0), ("r1", 0), ("r2", 0), ("r3", 5), ("r4", 5), ("r5", 5), ("r6", 10)]


async def test_a_busy_caller_cannot_starve_others() -> None:
    gate = Gate(max_concurrency=1, rate_limit=1)
    log: list[tuple[str, float]] = []

    async def busy() -> None:
        for i in range(5):
            await pass_through(gate, log, f"busy{i}")

    async def other(name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        await pass_through(gate, log, name)

    await asyncio.gather(busy(), other("a", 0.5), other("b", 0.6))
    # a and b queued while busy1 was waiting for its slot: they go right after it.
    assert log == [
        ("busy0", 0), ("busy1", 1), ("a", 2), ("b", 3), ("busy2", 4), ("busy3", 5), ("busy4", 6),
    ]


@pytest.mark.parametrize("rate", [{"rate_limit": 100, "burst": 10}, {"rate_limit": None}],
                         ids=["rate limit", "no rate limit"])
async def test_pause_holds_everyone(rate: dict[str, Any]) -> None:
    gate = Gate(max_concurrency=5, **rate)
    log: list[tuple[str, float]] = []
    await pass_through(gate, log, "before")
    gate.pause(3)
    gate.pause(1)  # a shorter pause never shortens a longer one
    await asyncio.gather(*(pass_through(gate, log, f"after{i}") for i in range(3)))
    assert log == [("before", 0), ("after0", 3), ("after1", 3), ("after2", 3)]


async def test_cancelled_waiter_gives_its_place_back() -> None:
    gate = Gate(max_concurrency=1, rate_limit=None)
    log: list[tuple[str, float]] = []
    holder = asyncio.create_task(pass_through(gate, log, "holder", hold=10))
    await asyncio.sleep(0)
    doomed = asyncio.create_task(pass_through(gate, log, "doomed"))
    later = asyncio.create_task(pass_through(gate, log, "later"))
    await asyncio.sleep(1)
    doomed.cancel()
    await asyncio.gather(holder, later)
    assert doomed.cancelled()
    assert log == [("holder", 0), ("later", 10)]
    # The slot is free again: a newcomer passes at once.
    await pass_through(gate, log, "free")
    assert log[-1] == ("free", 10)


async def test_no_rate_limit_means_no_waiting() -> None:
    gate = Gate(max_concurrency=100, rate_limit=None)
    log: list[tuple[str, float]] = []
    await asyncio.gather(*(pass_through(gate, log, str(i)) for i in range(100)))
    assert {time for _, time in log} == {0.0}


async def test_200_concurrent_calls_respect_the_rate_at_the_server() -> None:
    async with FakeExtructServer(api_key=API_KEY) as server, server.client(
        rate_limit=8, max_concurrency=50
    ) as client:
        task = await client.discovery_tasks.create("freight forwarding software")
        start = server.time()
        await asyncio.gather(*(client.discovery_tasks.get(task.id) for _ in range(200)))
    arrivals = [r.time - start for r in server.requests if r.endpoint == "get"]
    assert len(arrivals) == 200
    assert peak_in_window(arrivals) == 8
    assert server.peak_requests_per_second() == 8
    # Right after the create, one every 1/8 s, in order.
    assert sorted(arrivals) == [i / 8 for i in range(1, 201)]


