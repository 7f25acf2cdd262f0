"""What only the Redis store has: URL forms, failures as StoreError, no password in reprs."""

from __future__ import annotations

import socket

import pytest
import redis.asyncio
import redis.exceptions

from extruct_async._store import StoreError, open_store
from extruct_async._store._redis import RedisStore, redis_keys


async def test_valkey_urls_are_redis_urls(redis_url: str, namespace: str) -> None:
    async with open_store(redis_url.replace("redis://", "valkey://")) as store:
        assert await store.claim(namespace, "task-1")
    async with open_store(redis_url) as store:
        assert not await store.claim(namespace, "task-1")


async def test_an_unreachable_server_is_a_store_error(namespace: str) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with RedisStore(f"redis://:hunter2@127.0.0.1:{port}/0") as store:
        with pytest.raises(StoreError) as caught:
            await store.take_start(namespace, rate=1.0)
    assert isinstance(caught.value.__cause__, redis.exceptions.ConnectionError)
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(store)
    assert f"127.0.0.1:{port}" in repr(store)


async def test_the_start_log_keeps_only_starts_that_can_matter(
    redis_url: str, namespace: str
) -> None:
    store = RedisStore(redis_url)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        for _ in range(100):
            assert await store.take_start(namespace, rate=1000.0, burst=1000) == 0.0
        log = redis_keys(namespace) + "starts"
        assert await client.llen(log) == 100
        store.clock_offset = 1.5  # every start so far is out of both windows
        assert await store.take_start(namespace, rate=1000.0, burst=1000) == 0.0
        assert await client.llen(log) == 1
    finally:
        await client.aclose()
        await store.aclose()
