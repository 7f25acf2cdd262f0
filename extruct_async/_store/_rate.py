"""The shared rate rule, as plain state and one function (no I/O, no clock of its own).

The same rule as the in-process gate's: with ``burst=1`` starts follow a schedule
``1 / rate`` apart, kept when a caller comes a little late (a late start does not
push every later one back); with ``burst=N``, at most N starts in any ``N / rate``
seconds; either way, a log of recent starts is the hard bound: no one-second window
holds more than ``int(rate)`` starts (at least 1). A pause admits nobody until it
ends. The memory and SQLite stores run this function; the Redis store runs the same
rule as a Lua script (``_redis_scripts``), and one test suite checks all three.
"""

from __future__ import annotations

import math
import struct

__all__ = ["RateState", "admit", "per_second_cap", "recorded_starts"]


def per_second_cap(rate: float) -> int:
    """Starts allowed in any one second at ``rate``: ``int(rate)``, at least 1."""
    return max(1, int(rate))


def recorded_starts(rate: float, burst: int) -> int:
    """How many recent starts the log must keep to apply both bounds."""
    return max(burst, per_second_cap(rate))


class RateState:
    """A namespace's limiter state: the schedule, the pause and the recent starts."""

    __slots__ = ("next_start", "paused_until", "starts")

    def __init__(
        self,
        next_start: float = -math.inf,
        paused_until: float = -math.inf,
        starts: list[float] | None = None,
    ) -> None:
        #: When the next start is due on the ``burst=1`` schedule.
        self.next_start = next_start
        #: Nobody starts before this.
        self.paused_until = paused_until
        #: Recent starts, oldest first.
        self.starts: list[float] = starts if starts is not None else []

    def pack_starts(self) -> bytes:
        """The start log as bytes (little-endian doubles), for storage."""
        return struct.pack(f"<{len(self.starts)}d", *self.starts)

    @staticmethod
    def unpack_starts(data: bytes) -> list[float]:
        """The inverse of ``pack_starts``."""
        return list(struct.unpack(f"<{len(data) // 8}d", data))


def admit(
    state: RateState,
    now: float,
    rate: float | None,
    burst: int,
    second: float = 1.0,
    *,
    reserve: bool = False,
) -> float:
    """Take a start at ``now`` if allowed (recording it in ``state``) and return 0.0.

    Otherwise leave ``state`` as it is and return the seconds until a start may be
    allowed; or, with ``reserve`` (and a rate), record the start at that moment, the
    earliest the rule allows, and return the seconds until it: the caller starts then
    without asking again. ``rate=None`` applies only the pause. ``second`` stretches
    the rule's second: ``int(rate)`` starts in any ``second`` seconds, spaced
    ``second / rate`` (a shared limiter's headroom for the network; 1.0 is the plain
    rule).
    """
    asked = now
    ready = state.paused_until
    starts = state.starts
    if rate is not None:
        if rate <= 0 or burst < 1 or second < 1.0:
            raise ValueError(
                f"rate must be > 0, burst >= 1 and second >= 1, got {rate!r}, {burst!r}"
                f" and {second!r}"
            )
        window = burst * second / rate
        cap = per_second_cap(rate)
        if burst == 1:
            ready = max(ready, state.next_start)
        elif len(starts) >= burst:
            ready = max(ready, starts[-burst] + window)
        if len(starts) >= cap:
            ready = max(ready, starts[-cap] + second)
    if ready > now:
        if not reserve or rate is None:
            return ready - now
        now = ready  # the start is taken there, ahead of time
    if rate is not None:
        if burst == 1:
            if now > state.next_start + window:  # idle: the schedule restarts from now
                state.next_start = now + window
            else:  # on time or a little late: stay on the schedule
                state.next_start += window
        starts.append(now)
        # Keep what either bound can still look at: the last ``recorded_starts`` and,
        # of those, only the ones young enough to matter (a high rate stays cheap).
        horizon = now - max(second, window)
        drop = max(len(starts) - recorded_starts(rate, burst), 0)
        while drop < len(starts) and starts[drop] < horizon:
            drop += 1
        if drop:
            del starts[:drop]
    return now - asked
