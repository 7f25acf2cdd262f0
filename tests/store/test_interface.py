"""The store package's surface: every name documented, every backend a full Store."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import pytest

import extruct_async._store as store_package
from extruct_async._gate import SHARED_SECOND, SharedGate
from extruct_async._store import MemoryStore, SQLiteStore, Store
from extruct_async._store._redis import RedisStore
from tests.store.conftest import FakeClock

approx = pytest.approx


def test_every_public_name_and_method_is_documented() -> None:
    missing = []
    for name in store_package.__all__:
        obj = getattr(store_package, name)
        if not isinstance(obj, str) and not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                public = not attr.startswith("_") and inspect.isfunction(member)
                if public and not inspect.getdoc(member):
                    missing.append(f"{name}.{attr}")
    assert missing == []


@pytest.mark.parametrize("backend", [MemoryStore, SQLiteStore, RedisStore])
def test_every_backend_implements_the_whole_interface(backend: type[Store]) -> None:
    assert issubclass(backend, Store)
    assert not inspect.isabstract(backend)
    for name, member in vars(Store).items():
        if inspect.isfunction(member) and not name.startswith("_"):
            mine = getattr(backend, name)
            assert inspect.signature(mine) == inspect.signature(member), name


# -- the rate operation's old name, reserve: deprecated for one release -------------


async def test_reserve_is_take_start_with_a_warning() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    assert await store.take_start("ns", rate=4.0) == 0.0
    with pytest.warns(DeprecationWarning, match=r"Store.reserve is deprecated, use .*take_start"):
        assert await store.reserve("ns", rate=4.0) == 0.25  # the same schedule
    assert await store.take_start("ns", rate=4.0) == 0.5


class _Inner:
    """What an old-style store below delegates to."""

    def __init__(self) -> None:
        self.store = MemoryStore(clock=FakeClock())
        self.reserved = 0


def _old_style_store_class() -> type[Store]:
    """A store written for the earlier interface: it implements ``reserve``, not ``take_start``."""

    class OldStore(Store):
        def __init__(self) -> None:
            self.inner = _Inner()

        async def reserve(
            self, namespace: str, *, rate: float | None, burst: int = 1, second: float = 1.0
        ) -> float:
            self.inner.reserved += 1
            return await self.inner.store.take_start(
                namespace, rate=rate, burst=burst, second=second
            )

        async def pause(self, namespace: str, seconds: float) -> None:
            await self.inner.store.pause(namespace, seconds)

        async def journal_reserve(self, namespace: str, key: str, **kwargs: Any) -> Any:
            return await self.inner.store.journal_reserve(namespace, key, **kwargs)

        async def journal_renew(self, namespace: str, key: str, **kwargs: Any) -> bool:
            return await self.inner.store.journal_renew(namespace, key, **kwargs)

        async def journal_complete(self, namespace: str, key: str, **kwargs: Any) -> str:
            return await self.inner.store.journal_complete(namespace, key, **kwargs)

        async def journal_release(self, namespace: str, key: str, **kwargs: Any) -> bool:
            return await self.inner.store.journal_release(namespace, key, **kwargs)

        async def journal_entries(self, namespace: str, run: str | None = None) -> Any:
            return await self.inner.store.journal_entries(namespace, run)

        async def claim(self, namespace: str, task_id: str, claimant: str | None = None) -> bool:
            return await self.inner.store.claim(namespace, task_id, claimant)

        async def checkpoint_load(self, namespace: str, task_id: str, consumer: str) -> set[str]:
            return await self.inner.store.checkpoint_load(namespace, task_id, consumer)

        async def checkpoint_add(
            self, namespace: str, task_id: str, consumer: str, row_ids: Iterable[str]
        ) -> None:
            await self.inner.store.checkpoint_add(namespace, task_id, consumer, row_ids)

        async def aclose(self) -> None:
            await self.inner.store.aclose()

    return OldStore


async def test_an_old_store_that_implements_reserve_keeps_working() -> None:
    with pytest.warns(DeprecationWarning, match="OldStore overrides Store.reserve") as caught:
        old_store = _old_style_store_class()
    assert caught[0].filename == __file__  # the warning names the class statement
    assert not inspect.isabstract(old_store)
    store = old_store()
    # The SDK asks take_start: the old reserve answers it, with no warning per call.
    gate = SharedGate(max_concurrency=2, rate_limit=4.0, store=store, namespace="ns")
    async with gate:
        pass
    spacing = SHARED_SECOND / 4  # a shared gate's rule: 4 in any 1.07 s
    assert await store.take_start("ns", rate=4.0, second=SHARED_SECOND) == approx(spacing)
    assert await store.reserve("ns", rate=4.0, second=SHARED_SECOND) == approx(2 * spacing)
    assert store.inner.reserved == 3  # type: ignore[attr-defined]
    await store.aclose()


def test_a_store_with_neither_name_is_incomplete() -> None:
    class Incomplete(Store):
        pass

    assert "take_start" in Incomplete.__abstractmethods__
    with pytest.raises(TypeError, match="take_start"):
        Incomplete()  # type: ignore[abstract]


def test_a_store_with_both_names_is_left_alone(recwarn: pytest.WarningsRecorder) -> None:
    class Both(MemoryStore):
        async def reserve(
            self, namespace: str, *, rate: float | None, burst: int = 1, second: float = 1.0
        ) -> float:
            return -1.0

    assert recwarn.list == []
    assert Both.take_start is MemoryStore.take_start
