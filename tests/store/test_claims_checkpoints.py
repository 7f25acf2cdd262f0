"""Claims (first claimer wins; its own claimant again) and stream checkpoints, on every backend."""

from __future__ import annotations

from tests.store.conftest import Backend


async def test_only_the_first_claim_wins(backend: Backend, namespace: str) -> None:
    one, other = backend.open(), backend.open()
    assert await one.claim(namespace, "task-1")
    assert not await other.claim(namespace, "task-1")
    assert not await one.claim(namespace, "task-1")
    assert await other.claim(namespace, "task-2")
    assert await other.claim(namespace + "-other", "task-1")  # another namespace


async def test_a_named_claimant_holds_its_claim_again(backend: Backend, namespace: str) -> None:
    one, restarted = backend.open(), backend.open()
    assert await one.claim(namespace, "task-1", "run:nightly:3")
    # The same key, from a process that re-runs a crashed create: it holds the task.
    assert await restarted.claim(namespace, "task-1", "run:nightly:3")
    assert not await restarted.claim(namespace, "task-1", "run:nightly:4")
    assert not await restarted.claim(namespace, "task-1")  # anonymous: never a second time
    assert await one.claim(namespace, "task-2")
    assert not await one.claim(namespace, "task-2", "run:nightly:3")  # held anonymously
    assert not await one.claim(namespace, "task-2", "")  # an empty name is nobody's


async def test_checkpoints_remember_taken_rows_per_task_and_consumer(
    backend: Backend, namespace: str
) -> None:
    writer, restarted = backend.open(), backend.open()
    assert await writer.checkpoint_load(namespace, "task-1", "writer") == set()
    await writer.checkpoint_add(namespace, "task-1", "writer", ["r1", "r2"])
    await writer.checkpoint_add(namespace, "task-1", "writer", iter(["r2", "r3"]))
    await writer.checkpoint_add(namespace, "task-1", "writer", [])
    await writer.checkpoint_add(namespace, "task-1", "indexer", ["r9"])
    await writer.checkpoint_add(namespace, "task:2", "writer:x", ["r1"])
    assert await restarted.checkpoint_load(namespace, "task-1", "writer") == {"r1", "r2", "r3"}
    assert await restarted.checkpoint_load(namespace, "task-1", "indexer") == {"r9"}
    assert await restarted.checkpoint_load(namespace, "task:2", "writer:x") == {"r1"}
    assert await restarted.checkpoint_load(namespace, "task", "2:writer:x") == set()
    assert await restarted.checkpoint_load(namespace + "-other", "task-1", "writer") == set()
