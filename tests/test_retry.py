"""What is retried, and the waits in between: pure, with a hand-driven clock."""

from __future__ import annotations

import random
from collections.abc import Generator

import pytest

from extruct_async import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    InvalidRequestError,
    RateLimitError,
    RetryPolicy,
    ServerError,
)
from extruct_async._retry import Outcome, outcome


def status(code: int, retry_after: float | None = None) -> APIStatusError:
    cls = RateLimitError if code == 429 else ServerError if code >= 500 else APIStatusError
    return cls("x", method="GET", url="u", status=code, body=None, request_id=None,
               retry_after=retry_after)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (status(400), Outcome.FATAL),
        (status(401), Outcome.FATAL),
        (status(402), Outcome.FATAL),
        (status(404), Outcome.FATAL),
        (status(422), Outcome.FATAL),
        (status(408), Outcome.NOT_APPLIED),
        (status(429), Outcome.NOT_APPLIED),
        (status(500), Outcome.UNKNOWN),
        (status(502), Outcome.UNKNOWN),
        (status(503), Outcome.UNKNOWN),
        (status(504), Outcome.UNKNOWN),
        (status(501), Outcome.FATAL),
        (APIConnectionError("x", method="POST", url="u", sent=False), Outcome.NOT_APPLIED),
        (APIConnectionError("x", method="POST", url="u"), Outcome.UNKNOWN),
        (APITimeoutError("x", method="POST", url="u"), Outcome.UNKNOWN),
        (APITimeoutError("x", method="POST", url="u", sent=False), Outcome.NOT_APPLIED),
        (APIResponseError("x", method="GET", url="u"), Outcome.UNKNOWN),
        (InvalidRequestError("f", "bad"), Outcome.FATAL),
        (RuntimeError("bug"), Outcome.FATAL),
    ],
)
def test_outcome(error: BaseException, expected: Outcome) -> None:
    assert outcome(error) is expected


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def drive(policy: RetryPolicy, failures: list[BaseException], clock: Clock | None = None,
          rng: random.Random | None = None) -> list[float]:
    """Feed failures to the wait generator as backoff does; collect the waits."""
    clock = clock or Clock()
    waits: Generator[float | None, BaseException, None] = policy.waits(clock, rng)
    waits.send(None)  # type: ignore[arg-type]
    collected: list[float] = []
    for failure in failures:
        try:
            wait = waits.send(failure)
        except StopIteration:
            break
        assert wait is not None
        collected.append(wait)
        clock.now += wait
    return collected


def test_exponential_without_jitter_is_capped() -> None:
    policy = RetryPolicy(max_retries=6, initial_wait=1, max_wait=8, jitter=False, max_time=1e9)
    assert drive(policy, [status(503)] * 10) == [1, 2, 4, 8, 8, 8]


def test_full_jitter_draws_below_the_ceiling() -> None:
    policy = RetryPolicy(max_retries=4, initial_wait=1, max_wait=8, max_time=1e9)
    waits = drive(policy, [status(500)] * 4, rng=random.Random(7))
    expected = random.Random(7)
    assert waits == [expected.uniform(0, ceiling) for ceiling in (1, 2, 4, 8)]


def test_retry_after_is_waited_exactly() -> None:
    policy = RetryPolicy(max_retries=3, initial_wait=1, jitter=True)
    assert drive(policy, [status(429, 7.0), status(503, 0.0), status(429, 2.5)]) == [7.0, 0.0, 2.5]


def test_too_long_retry_after_is_not_waited() -> None:
    policy = RetryPolicy(max_retries=3, max_retry_after=60)
    assert drive(policy, [status(429, 3600.0)]) == []
    assert drive(policy, [status(429, 60.0), status(429, 61.0)]) == [60.0]


def test_total_time_bounds_the_retries() -> None:
    policy = RetryPolicy(max_retries=10, initial_wait=4, max_wait=100, jitter=False, max_time=30)
    # 4 + 8 + 16 = 28 s; the next wait (32 s) would end past 30 s, so it never starts.
    assert drive(policy, [status(500)] * 10) == [4, 8, 16]


def test_time_spent_in_attempts_counts_too() -> None:
    clock = Clock()
    policy = RetryPolicy(max_retries=5, initial_wait=1, jitter=False, max_time=10)
    waits = policy.waits(clock)
    waits.send(None)  # type: ignore[arg-type]
    clock.now = 9.5  # the first attempt hung for 9.5 s before timing out
    with pytest.raises(StopIteration):
        waits.send(APITimeoutError("x", method="GET", url="u"))


def test_zero_retries() -> None:
    assert drive(RetryPolicy(max_retries=0), [status(500)]) == []
