"""The outage rule: which failed reads are worth waiting out, and for how long.

A read that fails *transiently* (a 5xx, a 429, a lost connection, a timeout, a garbled
answer; after the request's own retries) may work if asked again later, so waiting
goes on; a *fatal* one (401/403, 404, another 4xx) never will. A wait gives up on a
transient outage only when the reads it needs have been failing for its
``max_outage``. The poller (status reads) and ``stream()`` (result pages) both keep
the time with :class:`Failing` and judge with :func:`is_transient`: one rule.
"""

from __future__ import annotations

import attrs

from ._errors import APIError, APIStatusError, ExtructError, ServerError, StoreError
from ._retry import verdict

__all__ = [
    "DEFAULT_MAX_OUTAGE",
    "MAX_OUTAGE_WAIT",
    "Failing",
    "PollFailure",
    "is_transient",
    "probe_wait",
]

#: Seconds reads may keep failing (transiently) before a wait gives up: long enough to
#: ride out an outage of many minutes.
DEFAULT_MAX_OUTAGE = 1800.0
#: The longest wait between two probes while reads keep failing.
MAX_OUTAGE_WAIT = 60.0


def is_transient(error: BaseException) -> bool:
    """Whether a failed read may work if asked again later.

    The pipeline's own retry rule (``_retry.verdict``), plus every 5xx: a gateway in
    front of the service answers 520-524 and the like during an outage, and a read
    changes nothing, so waiting it out is always safe. A failed store (the shared rate
    limit's SQLite file or Redis server: a restart, a lock held for long) is waited out
    the same way: nothing was sent.
    """
    if isinstance(error, StoreError):
        return True
    return isinstance(error, APIError) and (verdict(error).retry or isinstance(error, ServerError))


def probe_wait(steps: int, interval: float, error: ExtructError) -> float:
    """Seconds until the next probe, ``steps`` probes into an outage.

    The steps double from the poll ``interval`` up to :data:`MAX_OUTAGE_WAIT` (or the
    interval, if longer), and are never shorter than the service's ``Retry-After``.
    """
    wait: float = min(interval * 2**steps, max(interval, MAX_OUTAGE_WAIT))
    if isinstance(error, APIStatusError) and error.retry_after is not None:
        wait = max(wait, float(error.retry_after))
    return wait


class Failing:
    """Since when reads of something have been failing, and how many times in a row."""

    __slots__ = ("count", "since")

    def __init__(self, now: float) -> None:
        #: When the first failure of this run of failures was seen (loop time).
        self.since: float = now
        #: Failures in a row.
        self.count: int = 0

    def failed(self, now: float) -> float:
        """Count one more failure at ``now``; return the seconds failing so far."""
        self.count += 1
        return now - self.since

    def over(self, bound: float | None, now: float) -> bool:
        """Whether a wait that tolerates ``bound`` seconds of failing must give up."""
        return bound is not None and now - self.since >= bound


@attrs.frozen
class PollFailure:
    """Status reads of a task are failing with a transient error; polling goes on.

    Found on :attr:`DiscoveryTask.poll_failure` while it lasts (None once a read
    works again). ``wait(on_progress=...)`` and ``watch()`` report each failed read,
    so an application can show "service unavailable, retrying" instead of hanging.

    Attributes:
        error: the latest failure, after that read's own retries: an
            :class:`APIError`, or a :class:`StoreError` when the store that holds the
            shared rate limit fails (a Redis restart, a SQLite file locked for long).
        failures: failed polls in a row (a poll skipped because the service was
            failing counts too).
        failing_for: seconds from the first failed attempt to the latest failure.
        retry_in: seconds from the latest to the next attempt.
    """

    error: APIError | StoreError
    failures: int
    failing_for: float
    retry_in: float

    def __str__(self) -> str:
        return (
            f"status reads failing for {self.failing_for:.0f}s ({self.failures} in a row),"
            f" retrying in {self.retry_in:.0f}s: {self.error}"
        )
