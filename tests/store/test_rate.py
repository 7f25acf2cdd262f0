"""The shared rate limit and pause: the rule itself, then every backend running it.

Backend tests assert on the store's own clock readings (``acquire_timed`` returns
them), so they hold however long the test machine takes between two calls.
"""

from __future__ import annotations

import time

import pytest

from extruct_async._store._rate import RateState, admit
from tests.store.conftest import Backend

US = 1e-6  # Redis keeps integer microseconds


# -- the rule, on explicit times ---------------------------------------------------


def test_burst_one_spaces_starts_evenly() -> None:
    state = RateState()
    assert admit(state, 100.0, 4.0, 1) == 0.0
    assert admit(state, 100.0, 4.0, 1) == pytest.approx(0.25)
    assert admit(state, 100.1, 4.0, 1) == pytest.approx(0.15)
    assert admit(state, 100.25, 4.0, 1) == 0.0
    assert state.starts == [100.0, 100.25]


def test_a_late_start_keeps_the_schedule() -> None:
    state = RateState()
    admit(state, 100.0, 0.5, 1)  # every 2 s
    assert admit(state, 102.5, 0.5, 1) == 0.0  # half a slot late
    assert admit(state, 103.9, 0.5, 1) == pytest.approx(0.1)  # still due at 104, not 104.5


def test_an_idle_limiter_restarts_its_schedule() -> None:
    state = RateState()
    admit(state, 100.0, 0.5, 1)
    assert admit(state, 105.0, 0.5, 1) == 0.0  # more than a slot late: no catching up
    assert admit(state, 105.0, 0.5, 1) == pytest.approx(2.0)


def test_burst_n_allows_n_starts_per_window() -> None:
    state = RateState()
    assert [admit(state, 100.0, 10.0, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert admit(state, 100.1, 10.0, 3) == pytest.approx(0.2)  # the first start + 0.3 s


def test_the_one_second_log_is_the_hard_bound() -> None:
    state = RateState()
    assert [admit(state, 100.0, 4.5, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert admit(state, 100.7, 4.5, 3) == 0.0  # the burst window (0.67 s) has passed
    # The burst rule would allow two more, but four starts already lie within 1 s.
    assert admit(state, 100.7, 4.5, 3) == pytest.approx(0.3)
    assert len(state.starts) == 4


def test_a_pause_holds_everyone_and_no_rate_means_only_the_pause() -> None:
    state = RateState(paused_until=110.0)
    assert admit(state, 100.0, 10.0, 1) == pytest.approx(10.0)
    assert admit(state, 100.0, None, 1) == pytest.approx(10.0)
    assert admit(state, 110.0, None, 1) == 0.0
    assert state.starts == []


def test_a_stretched_second_spaces_and_caps_over_it() -> None:
    state = RateState()
    assert admit(state, 100.0, 2.0, 1, 1.25) == 0.0
    assert admit(state, 100.0, 2.0, 1, 1.25) == pytest.approx(0.625)  # 1.25 / 2 apart
    state = RateState()
    assert [admit(state, 100.0, 2.0, 2, 1.25) for _ in range(2)] == [0.0, 0.0]
    # Two starts in any 1.25 s: the burst window (2 * 1.25 / 2) and the cap agree.
    assert admit(state, 101.0, 2.0, 2, 1.25) == pytest.approx(0.25)
    assert admit(state, 101.25, 2.0, 2, 1.25) == 0.0


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="rate must be"):
        admit(RateState(), 0.0, 0.0, 1)
    with pytest.raises(ValueError, match="burst"):
        admit(RateState(), 0.0, 1.0, 0)
    with pytest.raises(ValueError, match="second"):
        admit(RateState(), 0.0, 1.0, 1, 0.5)


# -- every backend ---------------------------------------------------------------


async def test_backend_spaces_starts_and_keeps_the_schedule(
    backend: Backend, namespace: str
) -> None:
    one, other = backend.open(), backend.open()
    wait, first = await one.acquire_timed(namespace, rate=0.5)  # every 2 s
    assert wait == 0.0
    wait, now = await other.acquire_timed(namespace, rate=0.5)
    assert now + wait == pytest.approx(first + 2.0, abs=2 * US)
    backend.advance(2.5)  # half a slot late
    wait, late = await one.acquire_timed(namespace, rate=0.5)
    assert wait == 0.0
    assert late - first >= 2.5
    wait, now = await other.acquire_timed(namespace, rate=0.5)
    assert now + wait == pytest.approx(first + 4.0, abs=2 * US)  # on schedule
    backend.advance(10.0)  # idle
    wait, restart = await other.acquire_timed(namespace, rate=0.5)
    assert wait == 0.0
    wait, now = await one.acquire_timed(namespace, rate=0.5)
    assert now + wait == pytest.approx(restart + 2.0, abs=2 * US)


async def test_backend_burst_and_one_second_bound(backend: Backend, namespace: str) -> None:
    stores = [backend.open(), backend.open(), backend.open()]
    taken = [await store.acquire_timed(namespace, rate=4.5, burst=3) for store in stores]
    assert [wait for wait, _ in taken] == [0.0, 0.0, 0.0]
    first = taken[0][1]
    wait, now = await stores[0].acquire_timed(namespace, rate=4.5, burst=3)
    assert now + wait == pytest.approx(first + 3 / 4.5, abs=2 * US)  # the burst window
    backend.advance(wait)
    wait, fourth = await stores[1].acquire_timed(namespace, rate=4.5, burst=3)
    assert wait == 0.0
    wait, now = await stores[2].acquire_timed(namespace, rate=4.5, burst=3)
    assert now + wait == pytest.approx(first + 1.0, abs=2 * US)  # four in a second: wait
    assert fourth < first + 1.0


async def test_backend_stretches_its_second(backend: Backend, namespace: str) -> None:
    stores = [backend.open(), backend.open(), backend.open()]
    taken = [await store.acquire_timed(namespace, rate=2.0, burst=2, second=1.25)
             for store in stores[:2]]
    assert [wait for wait, _ in taken] == [0.0, 0.0]
    first = taken[0][1]
    wait, now = await stores[2].acquire_timed(namespace, rate=2.0, burst=2, second=1.25)
    assert now + wait == pytest.approx(first + 1.25, abs=2 * US)  # two in any 1.25 s
    backend.advance(wait)
    wait, third = await stores[2].acquire_timed(namespace, rate=2.0, burst=2, second=1.25)
    assert wait == 0.0
    assert third >= first + 1.25 - 2 * US
    spaced = backend.open()
    other = namespace + "-spaced"
    wait, start = await spaced.acquire_timed(other, rate=4.0, second=1.2)
    assert wait == 0.0
    wait, now = await spaced.acquire_timed(other, rate=4.0, second=1.2)
    assert now + wait == pytest.approx(start + 0.3, abs=2 * US)  # 1.2 / 4 apart
    with pytest.raises(ValueError, match="second"):
        await spaced.acquire(other, rate=4.0, second=0.9)


def test_a_reservation_takes_the_earliest_allowed_start() -> None:
    state = RateState()
    assert admit(state, 100.0, 4.0, 1, reserve=True) == 0.0
    assert admit(state, 100.0, 4.0, 1, reserve=True) == pytest.approx(0.25)  # taken at 100.25
    assert admit(state, 100.1, 4.0, 1, reserve=True) == pytest.approx(0.4)  # at 100.5
    assert state.starts == [100.0, 100.25, 100.5]
    paused = RateState(paused_until=110.0)
    assert admit(paused, 100.0, None, 1, reserve=True) == pytest.approx(10.0)
    assert paused.starts == []  # no rate: nothing to reserve, only the pause's wait


async def test_backend_reserves_starts_on_one_schedule(backend: Backend, namespace: str) -> None:
    one, other = backend.open(), backend.open()
    waits = [await store.reserve(namespace, rate=4.0, second=1.25)
             for store in (one, other, one, other, one)]
    assert waits[0] == 0.0
    # Back to back, each a slot later (1.25 / 4 s apart), less the time the calls took.
    for n, wait in enumerate(waits[1:], start=1):
        assert 0.3125 * n - 0.25 < wait <= 0.3125 * n + US
    # Four starts reserved in 1.25 s: the fifth is held to the first + 1.25 s.
    wait = await one.acquire(namespace, rate=4.0, second=1.25)
    assert wait > 0.3
    await one.pause(namespace, 30.0)
    assert await other.reserve(namespace, rate=None) > 29.0


async def test_pause_is_seen_by_every_client(backend: Backend, namespace: str) -> None:
    pauser, other = backend.open(), backend.open()
    before = time.monotonic()
    await pauser.pause(namespace, 30.0)
    await pauser.pause(namespace, 1.0)  # a shorter pause does not cut it short
    wait = await other.acquire(namespace, rate=10.0)
    elapsed = time.monotonic() - before
    assert 30.0 - elapsed - US <= wait <= 30.0 + US
    assert await other.acquire(namespace, rate=None) > 29.0  # unlimited, still paused
    backend.advance(30.0)
    assert await other.acquire(namespace, rate=10.0) == 0.0


async def test_without_a_rate_only_the_pause_applies(backend: Backend, namespace: str) -> None:
    store = backend.open()
    assert [await store.acquire(namespace, rate=None) for _ in range(50)] == [0.0] * 50
    assert await store.acquire(namespace, rate=1.0) == 0.0  # unlimited starts left no log


async def test_namespaces_do_not_share_a_limit(backend: Backend, namespace: str) -> None:
    store = backend.open()
    assert await store.acquire(namespace, rate=1.0) == 0.0
    assert await store.acquire(namespace + "-other", rate=1.0) == 0.0
    await store.pause(namespace, 60.0)
    assert await store.acquire(namespace + "-third", rate=1.0) == 0.0


def test_the_log_keeps_only_starts_that_can_matter() -> None:
    state = RateState()
    for n in range(100):
        admit(state, 100.0 + n * 0.01, 1000.0, 1000)
    assert len(state.starts) == 100
    admit(state, 101.505, 1000.0, 1000)  # everything before 100.505 is out of both windows
    assert state.starts == [100.0 + n * 0.01 for n in range(51, 100)] + [101.505]
