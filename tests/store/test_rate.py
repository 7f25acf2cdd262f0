"""The rate rule, one set of cases run against every limiter that enforces it.

The in-process ``Gate`` (on looptime's fake loop clock, callers queueing for real), and
the memory, SQLite and Redis stores (``take_start``, several clients of one backing).
A case is a script of arrivals (a caller wanting to start, or a 429 pausing
everyone) at times relative to its start, and asserts on when each caller started.

Times are the limiter's own clock readings: exact for the gate and for the memory and
SQLite stores (a fake clock), and for Redis the server's ``TIME`` moved to each
arrival (plus the few microseconds or milliseconds the call takes: cases leave wide
margins around every boundary, and compare starts with starts, never with wall time).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from extruct_async._gate import Gate
from extruct_async._rate import RateRule, RateState, take
from extruct_async._store import Store
from extruct_async._store._redis import RedisStore
from tests.store._timed import take_start_timed
from tests.store.conftest import Backend

US = 2e-6  # Redis keeps integer microseconds (a window rounds up to the next one)


@dataclass(frozen=True)
class Start:
    """A caller arriving at ``at`` to start a request."""

    at: float


@dataclass(frozen=True)
class Pause:
    """A 429 seen at ``at``: nobody starts for ``seconds``."""

    at: float
    seconds: float


@dataclass(frozen=True)
class Outcome:
    """When an arrival was decided on the limiter's clock and, for a start, when it started."""

    now: float
    start: float | None

    @property
    def started(self) -> float:
        assert self.start is not None
        return self.start


class Limiter:
    """Runs a script on one kind of limiter; times are relative to the script's start."""

    kind: str

    async def run(
        self, script: list[Start | Pause], *, rate: float | None, burst: int = 1,
        second: float = 1.0,
    ) -> list[Outcome]:
        raise NotImplementedError


class GateLimiter(Limiter):
    """The in-process gate: each caller a task that queues in it (fake loop clock)."""

    kind = "gate"

    async def run(
        self, script: list[Start | Pause], *, rate: float | None, burst: int = 1,
        second: float = 1.0,
    ) -> list[Outcome]:
        gate = Gate(max_concurrency=len(script), rate_limit=rate, burst=burst)
        if second != 1.0:  # a store's stretched second, on the gate's own rule
            assert rate is not None
            gate._rule = RateRule(rate, burst, second)
        loop = asyncio.get_running_loop()
        origin = loop.time()

        async def caller(now: float) -> Outcome:
            async with gate:
                return Outcome(now, loop.time() - origin)

        pending: list[asyncio.Future[Outcome]] = []
        for arrival in script:
            await asyncio.sleep(origin + arrival.at - loop.time())
            now = loop.time() - origin
            if isinstance(arrival, Pause):
                gate.pause(arrival.seconds)
                done = loop.create_future()
                done.set_result(Outcome(now, None))
                pending.append(done)
            else:
                pending.append(asyncio.ensure_future(caller(now)))
                await asyncio.sleep(0)  # in the gate (or its queue) before the next arrival
        return list(await asyncio.gather(*pending))


class StoreLimiter(Limiter):
    """A store: each arrival asks ``take_start`` from the next of three clients, in turn."""

    def __init__(self, backend: Backend, namespace: str) -> None:
        self.kind = backend.kind
        self._backend = backend
        self._namespace = namespace

    async def run(
        self, script: list[Start | Pause], *, rate: float | None, burst: int = 1,
        second: float = 1.0,
    ) -> list[Outcome]:
        clients = itertools.cycle([self._backend.open() for _ in range(3)])
        origin = self._backend.clock.now if self.kind != "redis" else time.time()
        outcomes = []
        for arrival in script:
            store = next(clients)
            self._move_clock(store, origin + arrival.at)
            if isinstance(arrival, Pause):
                now = origin + arrival.at
                if isinstance(store, RedisStore):  # the server's own reading
                    now = await store._pause_timed(self._namespace, arrival.seconds)
                else:
                    await store.pause(self._namespace, arrival.seconds)
                outcomes.append(Outcome(now - origin, None))
                continue
            wait, now = await take_start_timed(
                store, self._namespace, rate=rate, burst=burst, second=second
            )
            outcomes.append(Outcome(now - origin, now + wait - origin))
        return outcomes

    def _move_clock(self, store: Store, to: float) -> None:
        if isinstance(store, RedisStore):  # the server's clock, moved by an offset
            store.clock_offset = to - time.time()
        else:
            self._backend.clock.now = to


@pytest.fixture(
    params=[pytest.param("gate", marks=pytest.mark.looptime), "memory", "sqlite", "redis"]
)
async def limiter(
    request: pytest.FixtureRequest, tmp_path: Path, namespace: str
) -> AsyncIterator[Limiter]:
    """Each limiter in turn: the gate, then every store backend."""
    if request.param == "gate":
        yield GateLimiter()
        return
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    backend = Backend(request.param, tmp_path / "extruct.db", url)
    yield StoreLimiter(backend, namespace)
    await backend.aclose()


def approx(expected: float) -> object:
    return pytest.approx(expected, abs=US)


# -- the cases ---------------------------------------------------------------------


async def test_starts_follow_an_even_schedule(limiter: Limiter) -> None:
    # Four a second: callers arriving together take the next slots, each 0.25 s later.
    out = await limiter.run([Start(0.0), Start(0.0), Start(0.0), Start(0.4)], rate=4.0)
    first = out[0].started
    assert first == out[0].now  # the first starts at once
    assert [o.started - first for o in out] == [approx(n * 0.25) for n in range(4)]


async def test_a_late_caller_keeps_the_schedule_and_an_idle_one_restarts_it(
    limiter: Limiter,
) -> None:
    out = await limiter.run(
        [Start(0.0), Start(2.5), Start(3.0), Start(15.0), Start(15.0)], rate=0.5
    )  # one every 2 s
    first = out[0].started
    assert out[1].started == out[1].now  # half a slot late: at once ...
    assert out[2].started == approx(first + 4.0)  # ... and the next is still due at 4, not 4.5
    restart = out[3].started
    assert restart == out[3].now  # idle for long: at once, no catching up on missed slots
    assert out[4].started == approx(restart + 2.0)  # the schedule runs from there


async def test_a_burst_starts_together_then_waits_for_its_window(limiter: Limiter) -> None:
    out = await limiter.run([Start(0.0)] * 3 + [Start(0.1), Start(0.1)], rate=10.0, burst=3)
    first = out[0].started
    assert [o.started for o in out[:3]] == [o.now for o in out[:3]]  # three at once
    # At most three in any 0.3 s: the fourth when the first leaves the window.
    assert out[3].started == approx(first + 0.3)
    assert out[4].started == approx(out[1].started + 0.3)


async def test_no_second_holds_more_than_the_rate(limiter: Limiter) -> None:
    # 4.5 a second, bursts of 3 (a 0.67 s window): the burst rule would let two more
    # start at 0.8, but four starts already lie within one second of the first.
    out = await limiter.run([Start(0.0)] * 3 + [Start(0.8), Start(0.8)], rate=4.5, burst=3)
    first = out[0].started
    assert out[3].started == out[3].now
    assert out[4].started == approx(first + 1.0)


async def test_a_pause_holds_everyone_and_a_shorter_one_does_not_cut_it(
    limiter: Limiter,
) -> None:
    out = await limiter.run(
        [Start(0.0), Pause(0.2, 3.0), Pause(0.4, 1.0), Start(0.6), Start(0.6)], rate=10.0
    )
    paused = out[1].now
    assert out[3].started == approx(paused + 3.0)
    assert out[4].started == approx(paused + 3.1)  # then the schedule, from there


async def test_without_a_rate_only_a_pause_holds(limiter: Limiter) -> None:
    out = await limiter.run(
        [Start(0.0), Start(0.0), Pause(0.2, 2.0), Start(0.5), Start(0.5), Start(5.0)],
        rate=None,
    )
    at_once = [out[0], out[1], out[5]]
    assert [o.started for o in at_once] == [o.now for o in at_once]
    assert out[3].started == approx(out[2].now + 2.0)
    assert out[4].started == approx(out[2].now + 2.0)  # nothing recorded: no spacing


async def test_starts_are_taken_ahead_on_a_stretched_second(limiter: Limiter) -> None:
    # A shared limiter's headroom: four starts in any 1.25 s, 1.25 / 4 apart. Five
    # callers at once each take a start ahead, the fifth held by the bound to 1.25 s.
    out = await limiter.run([Start(0.0)] * 5, rate=4.0, second=1.25)
    first = out[0].started
    assert [o.started - first for o in out] == [approx(n * 0.3125) for n in range(5)]
    # Two at a time: the third waits out the window (2 * 1.25 / 2) and the cap alike.
    out = await limiter.run([Start(10.0)] * 3, rate=2.0, burst=2, second=1.25)
    assert [o.started for o in out[:2]] == [o.now for o in out[:2]]
    assert out[2].started == approx(out[0].started + 1.25)


# -- what only stores have ---------------------------------------------------------


async def test_namespaces_do_not_share_a_limit(backend: Backend, namespace: str) -> None:
    store = backend.open()
    assert await store.take_start(namespace, rate=1.0) == 0.0
    assert await store.take_start(namespace + "-other", rate=1.0) == 0.0
    await store.pause(namespace, 60.0)
    assert await store.take_start(namespace + "-third", rate=1.0) == 0.0
    assert await store.take_start(namespace, rate=1.0) > 59.0


async def test_nonsense_limits_are_refused_before_the_store_is_asked(
    backend: Backend, namespace: str
) -> None:
    store = backend.open()
    for limits, field in [
        ({"rate": 0.0}, "rate"), ({"rate": 1.0, "burst": 0}, "burst"),
        ({"rate": 1.0, "second": 0.9}, "second"),
    ]:
        with pytest.raises(ValueError, match=field):
            await store.take_start(namespace, **limits)  # type: ignore[arg-type]


# -- the rule's own bookkeeping ------------------------------------------------------


def test_the_log_keeps_only_starts_that_can_matter() -> None:
    state = RateState()
    rule = RateRule(1000.0, 1000)
    for n in range(100):
        assert take(state, 100.0 + n * 0.01, rule) == 100.0 + n * 0.01
    assert len(state.starts) == 100
    take(state, 101.505, rule)  # everything before 100.505 is out of both windows
    assert list(state.starts) == [100.0 + n * 0.01 for n in range(51, 100)] + [101.505]
    rule = RateRule(2.0, 1)
    take(state, 200.0, rule)  # a smaller limit: the log keeps what it can look at
    assert list(state.starts) == [200.0]


def test_a_rule_checks_its_limits() -> None:
    for rate, burst, second in [(0.0, 1, 1.0), (float("nan"), 1, 1.0), (1.0, 0, 1.0),
                                (1.0, 1, 0.5), (1.0, 1, float("nan"))]:
        with pytest.raises(ValueError, match="rate must be > 0, burst >= 1 and second >= 1"):
            RateRule(rate, burst, second)
    assert repr(RateRule(4.5, 3)) == "RateRule(rate=4.5, burst=3, second=1.0)"
