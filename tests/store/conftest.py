"""Store fixtures: a real Redis-protocol server for the session, and every backend.

``backend`` runs a test once per store kind. Its ``open()`` gives the store of one
more client on the same backing (a new connection, or for memory the same store),
and ``advance(seconds)`` moves the stores' clock forward without waiting: a fake
clock for memory and SQLite, the scripts' clock offset for Redis (whose clock is
the server's ``TIME``, so real time passes there too; tests assert on the clock
readings the store returns, never on wall-clock sleeps).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from extruct_async._store import MemoryStore, SQLiteStore, Store
from extruct_async._store._redis import RedisStore
from tests._servers import redis_server

BACKENDS = ["memory", "sqlite", "redis"]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis-protocol server on a free port, started once and always stopped."""
    with redis_server() as url:
        yield url


class FakeClock:
    """Epoch seconds that move only when told to."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Backend:
    """One kind of store, opened as many clients as a test needs."""

    def __init__(self, kind: str, path: Path, redis_url: str | None) -> None:
        self.kind = kind
        self.path = path
        self.redis_url = redis_url
        self.clock = FakeClock()
        self._memory = MemoryStore(clock=self.clock)
        self._offset = 0.0
        self._opened: list[Store] = []

    def open(self) -> Store:
        """The store of one more client."""
        store: Store
        if self.kind == "memory":
            return self._memory
        if self.kind == "sqlite":
            store = SQLiteStore(self.path, clock=self.clock)
        else:
            assert self.redis_url is not None
            store = RedisStore(self.redis_url, clock_offset=self._offset)
        self._opened.append(store)
        return store

    def advance(self, seconds: float) -> None:
        """Move every store's clock ``seconds`` forward."""
        self.clock.now += seconds
        self._offset += seconds
        for store in self._opened:
            if isinstance(store, RedisStore):
                store.clock_offset = self._offset

    async def aclose(self) -> None:
        for store in self._opened:
            await store.aclose()


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each store kind in turn (Redis on the session's server)."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    opened = Backend(request.param, tmp_path / "extruct.db", url)
    yield opened
    await opened.aclose()


@pytest.fixture
def namespace() -> str:
    """A namespace of this test's own (the Redis server is shared by the session)."""
    return uuid.uuid4().hex
