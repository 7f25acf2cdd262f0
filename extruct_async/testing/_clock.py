"""The simulator's clock: seconds since the server started, never running backwards."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ServerClock"]


class ServerClock:
    """Seconds since the server started, advanced by the forward steps of a source clock.

    A backward step of the source is absorbed rather than followed. ``looptime`` causes one: it
    switches the event loop between real time (while fixtures run) and fake time (while the test
    runs), and the two readings are unrelated.
    """

    def __init__(self, source: Callable[[], float]) -> None:
        self._source = source
        self._last = source()
        self._now = 0.0

    def __call__(self) -> float:
        """Return the current time in seconds since the server started."""
        reading = self._source()
        if reading > self._last:
            self._now += reading - self._last
        self._last = reading
        return self._now
