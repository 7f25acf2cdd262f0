"""``--store`` and ``tasks recover``: the command line on a store shared with other processes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from extruct_async import AsyncExtruct

from .conftest import ThreadedFake, assert_clean_error


def journal(fake: ThreadedFake, store: str, run: str, queries: list[str]) -> list[str]:
    """Create ``queries`` as a run on ``store`` (another process would); return their ids."""

    async def create() -> list[str]:
        async with AsyncExtruct(fake.server.api_key, fake.server.base_url, store=store) as client:
            tasks = await client.discovery_tasks.create_many(queries, run=run)
            return [task.id for task in tasks]

    return asyncio.run(create())


def test_recover_lists_the_tasks_of_a_run(cli, fake: ThreadedFake, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'extruct.db'}"
    nightly = journal(fake, store, "nightly", ["recover one", "recover two"])
    other = journal(fake, store, "weekly", ["recover three"])
    done = cli("--store", store, "tasks", "recover", "--run", "nightly", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == nightly
    everything = cli("tasks", "recover", "--format", "jsonl",
                     env={**fake.env(), "EXTRUCT_STORE": store})
    assert everything.returncode == 0, everything.stderr
    listed = {json.loads(line)["id"] for line in everything.stdout.splitlines()}
    assert listed == {*nightly, *other}


def test_a_search_with_a_store_keeps_its_journal_there_without_the_key(cli, fake: ThreadedFake,
                                                     tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'extruct.db'}"
    done = cli("--store", store, "search", "stored search", "--no-wait")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "extruct.db").exists()
    assert fake.server.api_key not in (tmp_path / "extruct.db").read_bytes().decode("latin-1")


def test_recover_without_a_store_is_a_usage_error(cli) -> None:
    line = assert_clean_error(cli("tasks", "recover"), 2)
    assert "--store" in line


def test_an_unusable_store_is_named(cli, tmp_path: Path) -> None:
    line = assert_clean_error(cli("--store", "mongodb://x", "tasks", "list"), 2)
    assert "store=" in line
