"""The create journal: every state and transition, on every backend."""

from __future__ import annotations

import time

import pytest

from extruct_async._store import JournalState, ReserveOutcome, StoreError
from tests.store.conftest import Backend

BODY = (  # slashes, quotes and non-ASCII survive every backend's encoding
    '{"query": "caf\u00e9 software \\"B2B\\"", "desired_num_results": 10,'
    ' "exclude_domains": ["https://www.acme.com/about"], "note": "Zürich"}'
)
LEASE = 30.0
US = 1e-6


async def test_a_new_key_is_reserved_for_its_owner(backend: Backend, namespace: str) -> None:
    store = backend.open()
    got = await store.journal_reserve(
        namespace, "k1", run="nightly", position=3, body_json=BODY, owner="a", lease_seconds=LEASE
    )
    assert got.outcome is ReserveOutcome.RESERVED
    assert got.wait == 0.0
    entry = got.entry
    assert (entry.key, entry.run, entry.position, entry.body_json) == ("k1", "nightly", 3, BODY)
    assert (entry.state, entry.owner, entry.task_id, entry.created_at) == (
        JournalState.SENDING, "a", None, None,
    )
    assert entry.lease_until == pytest.approx(entry.reserved_at + LEASE, abs=US)
    assert await store.journal_entries(namespace) == [entry]


async def test_a_live_lease_makes_everyone_wait(backend: Backend, namespace: str) -> None:
    one, other = backend.open(), backend.open()
    before = time.monotonic()
    await one.journal_reserve(
        namespace, "k", run=None, position=None, body_json=BODY, owner="a", lease_seconds=LEASE
    )
    backend.advance(10.0)
    for owner in ("b", "a"):  # even the owner: one call sends a key at a time
        got = await other.journal_reserve(
            namespace, "k", run=None, position=None, body_json=BODY, owner=owner,
            lease_seconds=LEASE,
        )
        assert got.outcome is ReserveOutcome.BUSY
        assert got.entry.owner == "a"
        elapsed = time.monotonic() - before
        assert LEASE - 10.0 - elapsed - US <= got.wait <= LEASE - 10.0 + US


async def test_an_expired_lease_is_taken_over(backend: Backend, namespace: str) -> None:
    crashed, other = backend.open(), backend.open()
    first = await crashed.journal_reserve(
        namespace, "k", run="r", position=0, body_json=BODY, owner="a", lease_seconds=LEASE
    )
    backend.advance(LEASE + 1.0)
    got = await other.journal_reserve(
        namespace, "k", run="r", position=0, body_json=BODY, owner="b", lease_seconds=LEASE
    )
    assert got.outcome is ReserveOutcome.TAKEN_OVER
    assert got.entry.owner == "b"
    assert got.entry.state is JournalState.SENDING
    assert got.entry.reserved_at == first.entry.reserved_at  # the first attempt's time stays
    assert got.entry.lease_until is not None
    assert got.entry.lease_until >= first.entry.reserved_at + 2 * LEASE + 1.0 - US
    # The old owner, back from the dead, can neither renew nor release it.
    assert not await crashed.journal_renew(namespace, "k", owner="a", lease_seconds=LEASE)
    assert not await crashed.journal_release(namespace, "k", owner="a")
    assert await other.journal_renew(namespace, "k", owner="b", lease_seconds=LEASE)
    assert [e.owner for e in await other.journal_entries(namespace)] == ["b"]


async def test_renewing_keeps_a_long_create_from_being_taken_over(
    backend: Backend, namespace: str
) -> None:
    sender, other = backend.open(), backend.open()
    await sender.journal_reserve(
        namespace, "k", run=None, position=None, body_json=BODY, owner="a", lease_seconds=LEASE
    )
    backend.advance(LEASE - 5.0)
    assert await sender.journal_renew(namespace, "k", owner="a", lease_seconds=LEASE)
    backend.advance(LEASE - 5.0)  # past the first lease, within the renewed one
    got = await other.journal_reserve(
        namespace, "k", run=None, position=None, body_json=BODY, owner="b", lease_seconds=LEASE
    )
    assert got.outcome is ReserveOutcome.BUSY
    assert not await other.journal_renew(namespace, "k", owner="b", lease_seconds=LEASE)
    assert not await other.journal_renew(namespace, "missing", owner="b", lease_seconds=LEASE)


async def test_a_created_key_returns_its_task(backend: Backend, namespace: str) -> None:
    store, other = backend.open(), backend.open()
    await store.journal_reserve(
        namespace, "k", run="r", position=1, body_json=BODY, owner="a", lease_seconds=LEASE
    )
    created_at = "2026-11-28T09:00:00+00:00"
    recorded = await store.journal_complete(namespace, "k", task_id="t-1", created_at=created_at)
    assert recorded == "t-1"
    backend.advance(LEASE * 10)  # leases no longer matter
    got = await other.journal_reserve(
        namespace, "k", run="r", position=1, body_json=BODY, owner="b", lease_seconds=LEASE
    )
    assert got.outcome is ReserveOutcome.CREATED
    assert (got.entry.task_id, got.entry.created_at) == ("t-1", created_at)
    assert got.entry.state is JournalState.CREATED
    assert got.entry.lease_until is None
    # The first completion wins; a created entry cannot be released or renewed.
    assert await other.journal_complete(namespace, "k", task_id="t-2", created_at="x") == "t-1"
    assert not await store.journal_release(namespace, "k", owner="a")
    assert not await store.journal_renew(namespace, "k", owner="a", lease_seconds=LEASE)


async def test_a_released_key_is_sent_again(backend: Backend, namespace: str) -> None:
    store = backend.open()
    await store.journal_reserve(
        namespace, "k", run="r", position=0, body_json=BODY, owner="a", lease_seconds=LEASE
    )
    assert not await store.journal_release(namespace, "k", owner="b")  # not theirs
    assert await store.journal_release(namespace, "k", owner="a")
    assert await store.journal_entries(namespace) == []
    assert await store.journal_entries(namespace, run="r") == []
    got = await store.journal_reserve(
        namespace, "k", run="r", position=0, body_json=BODY, owner="c", lease_seconds=LEASE
    )
    assert got.outcome is ReserveOutcome.RESERVED
    assert got.entry.owner == "c"


async def test_completing_an_unknown_key_fails(backend: Backend, namespace: str) -> None:
    with pytest.raises(StoreError, match="no journal entry for key 'nope'"):
        await backend.open().journal_complete(namespace, "nope", task_id="t", created_at="x")


async def test_entries_come_in_run_and_position_order(backend: Backend, namespace: str) -> None:
    store = backend.open()
    placed = [
        ("b-2", "b", 2), ("a-10", "a", 10), ("solo", None, None), ("a-2", "a", 2),
        ("ab-0", "ab", 0), ("b-0", "b", 0), ("a-0", "a", 0),
    ]
    for key, run, position in placed:
        await store.journal_reserve(
            namespace, key, run=run, position=position, body_json=BODY, owner="o",
            lease_seconds=LEASE,
        )
    await store.journal_reserve(
        namespace + "-x", "elsewhere", run="a", position=1, body_json=BODY, owner="o",
        lease_seconds=LEASE,
    )
    everything = await store.journal_entries(namespace)
    assert [e.key for e in everything] == ["solo", "a-0", "a-2", "a-10", "ab-0", "b-0", "b-2"]
    assert [e.key for e in await store.journal_entries(namespace, run="a")] == [
        "a-0", "a-2", "a-10",
    ]
    assert [e.key for e in await store.journal_entries(namespace, run="b")] == ["b-0", "b-2"]
    assert await store.journal_entries(namespace, run="c") == []
