"""The retry policy, pure: what a failure means, and the wait before each retry."""

from __future__ import annotations

import random

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
from extruct_async._retry import Verdict, verdict


def status(code: int, retry_after: float | None = None) -> APIStatusError:
    cls = RateLimitError if code == 429 else ServerError if code >= 500 else APIStatusError
    return cls("x", method="GET", url="u", status=code, body=None, request_id=None,
               retry_after=retry_after)


RETRY, FATAL = Verdict(retry=True, maybe_applied=False), Verdict(retry=False, maybe_applied=False)
MAYBE = Verdict(retry=True, maybe_applied=True)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (status(400), FATAL),
        (status(401), FATAL),
        (status(402), FATAL),
        (status(403), FATAL),
        (status(404), FATAL),
        (status(422), FATAL),
        (status(408), RETRY),
        (status(429), RETRY),
        (status(500), MAYBE),
        (status(502), MAYBE),
        (status(503), MAYBE),
        (status(504), MAYBE),
        (status(501), Verdict(retry=False, maybe_applied=True)),
        (APIConnectionError("x", method="POST", url="u", sent=False), RETRY),
        (APIConnectionError("x", method="POST", url="u"), MAYBE),
        (APITimeoutError("x", method="POST", url="u"), MAYBE),
        (APITimeoutError("x", method="POST", url="u", sent=False), RETRY),
        (APIResponseError("x", method="GET", url="u"), MAYBE),
        (APIResponseError("x", method="GET", url="u", retryable=False),
         Verdict(retry=False, maybe_applied=True)),
        (InvalidRequestError("f", "bad"), FATAL),
        (RuntimeError("bug"), FATAL),
    ],
)
def test_verdict(error: BaseException, expected: Verdict) -> None:
    assert verdict(error) == expected


def waits(policy: RetryPolicy, failures: list[BaseException], *,
          attempt_seconds: float = 0.0) -> list[float]:
    """The waits the pipeline would make: each attempt takes ``attempt_seconds``."""
    schedule = policy.backoff_waits()
    elapsed, collected = 0.0, []
    for retry, failure in enumerate(failures, start=1):
        elapsed += attempt_seconds
        wait = policy.next_wait(retry, failure, elapsed, next(schedule))
        if wait is None:
            break
        collected.append(wait)
        elapsed += wait
    return collected


def test_exponential_without_jitter_is_capped() -> None:
    policy = RetryPolicy(max_retries=6, initial_wait=1, max_wait=8, jitter=False, max_time=1e9)
    assert waits(policy, [status(503)] * 10) == [1, 2, 4, 8, 8, 8]


def test_full_jitter_draws_below_the_ceiling() -> None:
    policy = RetryPolicy(max_retries=4, initial_wait=1, max_wait=8, max_time=1e9)
    random.seed(7)  # backoff.full_jitter draws from the random module
    drawn = waits(policy, [status(500)] * 4)
    random.seed(7)
    assert drawn == [random.uniform(0, ceiling) for ceiling in (1, 2, 4, 8)]


def test_retry_after_is_waited_exactly() -> None:
    policy = RetryPolicy(max_retries=3, initial_wait=1, jitter=True)
    assert waits(policy, [status(429, 7.0), status(503, 0.0), status(429, 2.5)]) == [7.0, 0.0, 2.5]


def test_too_long_retry_after_is_not_waited() -> None:
    policy = RetryPolicy(max_retries=3, max_retry_after=60)
    assert waits(policy, [status(429, 3600.0)]) == []
    assert waits(policy, [status(429, 60.0), status(429, 61.0)]) == [60.0]


def test_total_time_bounds_the_retries() -> None:
    policy = RetryPolicy(max_retries=10, initial_wait=4, max_wait=100, jitter=False, max_time=30)
    # 4 + 8 + 16 = 28 s; the next wait (32 s) would end past 30 s, so it never starts.
    assert waits(policy, [status(500)] * 10) == [4, 8, 16]


def test_time_spent_in_attempts_counts_too() -> None:
    policy = RetryPolicy(max_retries=5, initial_wait=1, jitter=False, max_time=10)
    # The first attempt hung for 9.5 s: a 1 s wait would end past 10 s.
    assert waits(policy, [APITimeoutError("x", method="GET", url="u")], attempt_seconds=9.5) == []


def test_fatal_failures_and_zero_retries_stop_at_once() -> None:
    assert waits(RetryPolicy(max_retries=0), [status(500)]) == []
    assert waits(RetryPolicy(), [status(404)]) == []
    assert waits(RetryPolicy(), [APIResponseError("x", method="GET", url="u",
                                                  retryable=False)]) == []
