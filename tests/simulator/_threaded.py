"""A simulator on its own event loop in a thread, for synchronous clients (requests, urllib)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from extruct_async.testing import FakeExtructServer


@contextlib.contextmanager
def server_in_a_thread(**options: Any) -> Iterator[FakeExtructServer]:
    """A started simulator whose loop runs in a daemon thread; closed on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = FakeExtructServer(**options)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=10)
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


class ManualClock:
    """A clock the test moves by hand: a server in another thread cannot follow looptime."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """Stand-in for time.sleep: the simulated time passes, the real time does not."""
        self.now += seconds
