"""The API key never reaches a store: only the namespace, a hash, does."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio

from extruct_async._store import Store, namespace_for, open_store
from tests.conftest import API_KEY, BASE_URL


def test_the_namespace_hides_the_key_and_separates_clients() -> None:
    namespace = namespace_for(API_KEY, BASE_URL)
    assert len(namespace) == 32
    assert API_KEY not in namespace
    assert namespace_for(API_KEY, BASE_URL + "/") == namespace
    assert namespace_for(API_KEY + "x", BASE_URL) != namespace
    assert namespace_for(API_KEY, "https://other.test") != namespace


async def use_everything(store: Store, namespace: str) -> None:
    await store.take_start(namespace, rate=10.0)
    await store.pause(namespace, 1.0)
    await store.journal_reserve(
        namespace, "nightly/0", run="nightly", position=0, body_json='{"query": "q"}',
        owner="owner-1", lease_seconds=30.0,
    )
    await store.journal_complete(
        namespace, "nightly/0", task_id="task-1", created_at="2026-11-28T09:00:00+00:00"
    )
    await store.claim(namespace, "task-1")
    await store.checkpoint_add(namespace, "task-1", "writer", ["row-1"])


def read_all(directory: Path) -> tuple[set[str], bytes]:
    files = sorted(directory.iterdir())
    return {path.name for path in files}, b"".join(path.read_bytes() for path in files)


async def test_the_sqlite_files_never_hold_the_key(tmp_path: Path) -> None:
    namespace = namespace_for(API_KEY, BASE_URL)
    async with open_store(f"sqlite:///{tmp_path}/extruct.db") as store:
        await use_everything(store, namespace)
        names, data = read_all(tmp_path)  # the database, its WAL and shared memory
    assert names >= {"extruct.db", "extruct.db-wal"}
    assert namespace.encode() in data  # the bytes read are the store's
    assert API_KEY.encode() not in data


async def test_no_redis_key_or_value_holds_the_key(redis_url: str) -> None:
    namespace = namespace_for(API_KEY, BASE_URL)
    async with open_store(redis_url) as store:
        await use_everything(store, namespace)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        seen: list[bytes] = []
        async for key in client.scan_iter(count=1000):
            seen.append(key)
            kind = (await client.type(key)).decode()
            if kind == "none":  # expired since the scan (rate state lives a second or two)
                continue
            if kind == "string":
                seen.append(await client.get(key))
            elif kind == "hash":
                seen.extend(b for pair in (await client.hgetall(key)).items() for b in pair)
            elif kind == "list":
                seen.extend(await client.lrange(key, 0, -1))
            elif kind == "set":
                seen.extend(await client.smembers(key))
            elif kind == "zset":
                seen.extend(await client.zrange(key, 0, -1))
            else:
                raise AssertionError(f"unexpected {kind} at {key!r}")
    finally:
        await client.aclose()
    assert any(namespace.encode() in item for item in seen)  # the namespace's keys were read
    assert not [item for item in seen if API_KEY.encode() in item]
