"""The retry policy: what a failure means, and how long to wait before trying again.

Pure functions, no clock and no I/O; the pipeline runs them (see ``_pipeline``).

What a failed attempt means (:func:`verdict`):

============================================  ===========  ==================
failure                                       retried      may have applied
============================================  ===========  ==================
408, 429 (refused before doing anything)      yes          no
500, 502, 503, 504                            yes          yes
other 5xx                                     no           yes
connection never opened (``sent=False``)      yes          no
connection lost, timeout (``sent=True``)      yes          yes
a 2xx whose body is not the documented JSON   yes          yes
an answer over the size limit                 no           yes
400, 401, 402, 403, 404, 422, other 4xx       no           no
============================================  ===========  ==================

"May have applied" matters only for create and resume, which cost credits: the
pipeline looks for their effect before sending them again.

Waits: the service's ``Retry-After`` when it sends one (no jitter: it named a time);
else backoff's exponential schedule (``backoff.expo``) with full jitter
(``backoff.full_jitter``). A ``Retry-After`` beyond ``max_retry_after`` is not waited
out. Every retry is bounded by attempts *and* by total time (``max_time``).
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import backoff

from ._errors import APIConnectionError, APIResponseError, APIStatusError

__all__ = ["RetryPolicy", "Verdict", "verdict"]

_RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# The service refused these before doing anything, so even a create may be re-sent.
_REFUSED_STATUSES = frozenset({408, 429})


@attrs.frozen
class Verdict:
    """What a failed attempt means: whether to retry, and whether it may have applied."""

    retry: bool
    maybe_applied: bool


_FATAL = Verdict(retry=False, maybe_applied=False)


def verdict(error: BaseException) -> Verdict:
    """Classify a failed attempt (see the module's table)."""
    if isinstance(error, APIStatusError):
        if error.status in _REFUSED_STATUSES:
            return Verdict(retry=True, maybe_applied=False)
        if error.status >= 500:
            return Verdict(retry=error.status in _RETRIED_STATUSES, maybe_applied=True)
        return _FATAL
    if isinstance(error, APIConnectionError):
        return Verdict(retry=True, maybe_applied=error.sent)
    if isinstance(error, APIResponseError):
        return Verdict(retry=error.retryable, maybe_applied=True)
    return _FATAL


@attrs.frozen
class RetryPolicy:
    """How hard to retry transient failures.

    Args:
        max_retries: retries after the first attempt (0 disables retrying).
        max_time: seconds from the first attempt's start after which nothing more is
            started for the call: no attempt, no look-up, no wait that would end later.
            Each attempt's timeout is cut to fit.
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

    def backoff_waits(self) -> Iterator[float]:
        """The backoff waits before retry 1, 2, ...: ``backoff.expo``, jittered."""
        ceilings = backoff.expo(factor=self.initial_wait, max_value=self.max_wait)
        next(ceilings)  # backoff's generators are primed by one next() first
        for ceiling in ceilings:
            yield backoff.full_jitter(ceiling) if self.jitter else ceiling

    def next_wait(
        self, retry: int, error: BaseException, elapsed: float, backoff_wait: float
    ) -> float | None:
        """Seconds to wait before retry number ``retry`` (1, 2, ...), or None to stop.

        Args:
            retry: which retry this would be.
            error: the failure of the attempt before it.
            elapsed: seconds since the first attempt started.
            backoff_wait: the wait the backoff schedule offers for this retry.
        """
        if retry > self.max_retries or not verdict(error).retry:
            return None
        wait = backoff_wait
        retry_after = error.retry_after if isinstance(error, APIStatusError) else None
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            wait = retry_after
        return wait if elapsed + wait <= self.max_time else None
