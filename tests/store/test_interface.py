"""The store package's surface: every name documented, every backend a full Store."""

from __future__ import annotations

import inspect

import pytest

import extruct_async._store as store_package
from extruct_async._store import MemoryStore, SQLiteStore, Store
from extruct_async._store._redis import RedisStore


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
