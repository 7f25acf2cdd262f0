"""The rate rule: when the next request may start. Plain state and functions, no I/O, no clock.

Every limiter runs this one rule: the in-process gate (``_gate.Gate``, on the loop's
clock), the memory and SQLite stores (on theirs). The Redis store runs it as a Lua
script on the server's clock (``_store._redis_scripts.TAKE_START``, a mirror of
``take``), and one test suite (``tests/store/test_rate.py``) runs the same cases
against the gate and every store.

The rule. With ``burst=1`` starts follow a schedule ``second / rate`` apart, kept when
a caller comes a little late (a late start does not push every later one back), and
restarted from now after an idle spell; with ``burst=N``, at most N starts in any
``N * second / rate`` seconds. Either way a log of recent starts is the hard bound:
no ``second`` of time holds more than ``int(rate)`` starts (at least 1). A pause
admits nobody until it ends. ``second`` is 1.0, or a little more for a limiter shared
through a store (headroom for the network, see ``_gate.SHARED_SECOND``).
"""

from __future__ import annotations

from collections import deque

__all__ = ["RateRule", "RateState", "ready_at", "record", "take"]


class RateRule:
    """A limit: ``rate`` starts a second, ``burst`` of them together, over a ``second``.

    Raises:
        ValueError: ``rate`` is not > 0, ``burst`` not >= 1 or ``second`` not >= 1.
    """

    __slots__ = ("burst", "cap", "horizon", "keep", "rate", "second", "window")

    def __init__(self, rate: float, burst: int = 1, second: float = 1.0) -> None:
        if not rate > 0 or burst < 1 or not second >= 1.0:
            raise ValueError(
                f"rate must be > 0, burst >= 1 and second >= 1, got {rate!r}, {burst!r}"
                f" and {second!r}"
            )
        #: Starts a second, on average.
        self.rate = rate
        #: Starts that may come together (1: evenly spaced).
        self.burst = burst
        #: The rule's second, in seconds (1.0, or more for headroom).
        self.second = second
        #: At most ``burst`` starts in any ``window`` (with ``burst=1``: the spacing).
        self.window = burst * second / rate
        #: At most ``cap`` starts in any ``second``: ``int(rate)``, at least 1.
        self.cap = max(1, int(rate))
        #: The log keeps at most this many starts (what either bound can look at) ...
        self.keep = max(burst, self.cap)
        #: ... and none older than this many seconds before the newest.
        self.horizon = max(second, self.window)

    def __repr__(self) -> str:
        return f"RateRule(rate={self.rate!r}, burst={self.burst!r}, second={self.second!r})"


class RateState:
    """One limiter's state: the ``burst=1`` schedule, the pause and the recent starts."""

    __slots__ = ("next_start", "paused_until", "starts")

    def __init__(
        self,
        next_start: float = float("-inf"),
        paused_until: float = float("-inf"),
        starts: deque[float] | None = None,
    ) -> None:
        #: When the next start is due on the ``burst=1`` schedule.
        self.next_start = next_start
        #: Nobody starts before this.
        self.paused_until = paused_until
        #: Recent starts, oldest first.
        self.starts: deque[float] = deque() if starts is None else starts


def ready_at(state: RateState, rule: RateRule | None) -> float:
    """The earliest moment the next start is allowed (it may be in the past).

    ``rule=None`` (no rate limit) applies only the pause.
    """
    ready = state.paused_until
    if rule is not None:
        starts = state.starts
        if rule.burst == 1:
            if state.next_start > ready:
                ready = state.next_start
        elif len(starts) >= rule.burst:
            ready = max(ready, starts[-rule.burst] + rule.window)
        if len(starts) >= rule.cap:
            ready = max(ready, starts[-rule.cap] + rule.second)
    return ready


def record(state: RateState, rule: RateRule, at: float) -> None:
    """Record a start at ``at`` (no earlier than ``ready_at``)."""
    if rule.burst == 1:
        if at > state.next_start + rule.window:  # idle: the schedule restarts from here
            state.next_start = at + rule.window
        else:  # on time or a little late: stay on the schedule (a timer that fires late
            # must not push every later start back: at 450/s that cost a quarter of the
            # rate; catching up is bounded by the log, which keeps the hard guarantee)
            state.next_start += rule.window
    starts = state.starts
    starts.append(at)
    # Forget what neither bound can look at any more (a high rate stays cheap).
    oldest = at - rule.horizon
    while len(starts) > rule.keep or starts[0] < oldest:
        starts.popleft()


def take(state: RateState, now: float, rule: RateRule | None) -> float:
    """Take the earliest start the rule allows at or after ``now``; return its moment.

    The start is recorded there, ahead of time when it is later than ``now``: the caller
    waits until then and starts without asking again. With ``rule=None`` nothing is
    recorded, and the moment is the pause's end (or ``now``).
    """
    at = ready_at(state, rule)
    if at < now:
        at = now
    if rule is not None:
        record(state, rule, at)
    return at
