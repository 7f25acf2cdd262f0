"""When to retry a failed request, and how long to wait first.

Retried: 408, 429, 500, 502, 503, 504, lost connections, timeouts, and a 2xx whose
body is not JSON. Never retried: 400, 401, 402, 404, 422 and other 4xx (asking again
cannot change the answer).

Waits: the service's ``Retry-After`` when it sends one (no jitter: it named a time),
else exponential backoff with full jitter. A ``Retry-After`` longer than
``max_retry_after`` is not waited out: the error is raised at once with its
``retry_after`` so the caller can decide. Every retry is bounded by attempts *and*
by total time on the event loop's clock, waits included.

A request that is not idempotent (create, resume) is only re-sent where the
earlier attempt provably had no effect; see :func:`outcome`.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Generator

import attrs

from ._errors import APIConnectionError, APIError, APIResponseError, APIStatusError

__all__ = ["Outcome", "RetryPolicy", "is_transient", "outcome"]

_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# The service refused these before doing anything, so even a create may be re-sent.
_REFUSED_STATUSES = frozenset({408, 429})


class Outcome(enum.Enum):
    """What a failed attempt means for a retry."""

    FATAL = "fatal"  # asking again cannot help
    NOT_APPLIED = "not applied"  # transient, and the request provably had no effect
    UNKNOWN = "unknown"  # transient, but the request may have taken effect


def outcome(exc: BaseException) -> Outcome:
    """Classify a failed attempt (see :class:`Outcome`)."""
    if isinstance(exc, APIStatusError):
        if exc.status in _REFUSED_STATUSES:
            return Outcome.NOT_APPLIED
        return Outcome.UNKNOWN if exc.status in _TRANSIENT_STATUSES else Outcome.FATAL
    if isinstance(exc, APIConnectionError):
        return Outcome.UNKNOWN if exc.sent else Outcome.NOT_APPLIED
    if isinstance(exc, APIResponseError):
        return Outcome.UNKNOWN
    return Outcome.FATAL


@attrs.frozen
class RetryPolicy:
    """How hard to retry transient failures.

    Args:
        max_retries: retries after the first attempt (0 disables retrying).
        max_time: seconds from the first attempt after which no retry starts.
        initial_wait: the first backoff ceiling, doubled on each retry.
        max_wait: the largest backoff ceiling.
        max_retry_after: the longest ``Retry-After`` the client waits out.
        jitter: draw each backoff uniformly from ``[0, ceiling]`` (full jitter);
            False waits the ceiling itself (deterministic, for tests).
    """

    max_retries: int = 4
    max_time: float = 120.0
    initial_wait: float = 1.0
    max_wait: float = 30.0
    max_retry_after: float = 60.0
    jitter: bool = True

    def waits(
        self,
        clock: Callable[[], float],
        rng: random.Random | None = None,
        *,
        started: float | None = None,
    ) -> Generator[float | None, BaseException, None]:
        """Yield the wait before each retry; stop when no retry should start.

        Written as a ``backoff`` wait generator: it is sent each failure and
        yields the seconds to wait. Returning ends the retries, and backoff then
        re-raises the last failure. ``max_time`` counts from ``started`` (the first
        attempt's start on ``clock``), or from now.
        """
        draw = (rng or random).uniform
        start = clock() if started is None else started
        failure = yield None
        for attempt in range(self.max_retries):
            retry_after = failure.retry_after if isinstance(failure, APIStatusError) else None
            if retry_after is not None:
                if retry_after > self.max_retry_after:
                    return
                wait = retry_after
            else:
                ceiling = min(self.max_wait, self.initial_wait * 2**attempt)
                wait = draw(0.0, ceiling) if self.jitter else ceiling
            if clock() - start + wait > self.max_time:
                return
            failure = yield wait


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is worth another attempt of an idempotent request."""
    return isinstance(exc, APIError) and outcome(exc) is not Outcome.FATAL
