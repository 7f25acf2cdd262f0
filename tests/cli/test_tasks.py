"""``extruct-async tasks ...`` end to end, against the simulator in a background thread."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import DOOMED, DRY, ThreadedFake, assert_clean_error, assert_no_noise, popen

FAST = ("--poll-interval", "0.05")


@pytest.fixture
def started(cli, fake: ThreadedFake) -> Callable[..., str]:
    """Start a task with ``search --no-wait``; return its id."""

    def start(query: str, results: int = 10) -> str:
        done = cli("search", query, "--results", str(results), "--no-wait")
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    return start


def test_list_newest_first(cli, fake: ThreadedFake, started) -> None:
    first, second = started("list one"), started("list two")
    done = cli("tasks", "list", "--limit", "2", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    listed = [json.loads(line) for line in done.stdout.splitlines()]
    assert [task["id"] for task in listed] == [second, first]
    assert listed[0]["query"] == "list two"
    table = cli("tasks", "list", "--limit", "3")
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["id", "status", "results", "created", "query"]
    assert len(lines) == 3
    assert lines[0].startswith(second)


def test_get_shows_the_service_state(cli, fake: ThreadedFake) -> None:
    assert cli("search", "get me", "--results", "5", "-q", *FAST).returncode == 0
    task_id = fake.task_id("get me")
    done = cli("tasks", "get", task_id, "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    truth = fake.task_state(task_id)
    for field in ("id", "status", "query", "desired_num_results", "num_results",
                  "num_results_evaluated", "is_exhausted"):
        assert shown[field] == truth[field]
    detail = cli("tasks", "get", task_id).stdout
    assert f"id           {task_id}" in detail
    assert "status       done" in detail
    for criterion in truth["criteria"]:
        assert criterion["key"] in detail


def test_wait_follows_several_tasks_to_the_end(cli, fake: ThreadedFake, started) -> None:
    ids = [started("wait one", 20), started(f"wait {DRY}", 50), started("wait three", 5)]
    done = cli("tasks", "wait", *ids, *FAST)
    assert done.returncode == 0, done.stderr
    finished = {line.split()[0]: line for line in done.stdout.splitlines()}
    assert set(finished) == set(ids)
    for task_id in ids:
        state = fake.task_state(task_id)
        assert state["status"] == "done"
        assert f"{state['num_results']}/{state['desired_num_results']} results" in finished[task_id]
        # Piped, progress is a line per status change, the last one the finished state.
        changes = [line for line in done.stderr.splitlines() if task_id in line]
        assert " done" in changes[-1]
        assert len(changes) <= 4  # created, in_progress, (exhausted,) done
    assert "exhausted" in finished[ids[1]]


def test_wait_exits_7_when_a_task_fails(cli, fake: ThreadedFake, started) -> None:
    ok, doomed = started("wait fine"), started(f"wait {DOOMED}", 30)
    done = cli("tasks", "wait", ok, doomed, "-q", *FAST)
    line = assert_clean_error(done, 7)
    assert doomed in line
    assert {row.split()[0] for row in done.stdout.splitlines()} == {ok, doomed}


def test_wait_times_out_with_8(cli, started) -> None:
    task_id = started("wait slowly", 250)
    done = cli("tasks", "wait", task_id, "--timeout", "0.2", "-q", *FAST)
    assert task_id in assert_clean_error(done, 8)


def test_results_of_a_finished_task(cli, fake: ThreadedFake, tmp_path: Path) -> None:
    assert cli("search", "results later", "--results", "6", "-q", *FAST).returncode == 0
    task_id = fake.task_id("results later")
    target = tmp_path / "rows.jsonl"
    done = cli("tasks", "results", task_id, "--format", "jsonl", "--output", str(target))
    assert done.returncode == 0, done.stderr
    written = [json.loads(line)["id"] for line in target.read_text("utf-8").splitlines()]
    assert written == [row["id"] for row in fake.visible_rows(task_id)]


def test_results_follow_prints_every_row_once_as_it_arrives(fake: ThreadedFake, started) -> None:
    task_id = started("follow me", 150)
    with popen(["tasks", "results", task_id, "--follow", "--format", "jsonl", *FAST],
               fake.env()) as process:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert fake.task_state(task_id)["status"] == "in_progress"  # rows came while it ran
        rest, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    ids = [json.loads(line)["id"] for line in [first, *rest.splitlines()]]
    assert fake.task_state(task_id)["status"] == "done"
    truth = [row["id"] for row in fake.visible_rows(task_id)]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(truth)
    assert_no_noise(stderr)


def test_resume_raises_the_target(cli, fake: ThreadedFake) -> None:
    assert cli("search", "resume me", "--results", "5", "-q", *FAST).returncode == 0
    task_id = fake.task_id("resume me")
    done = cli("tasks", "resume", task_id, "--more", "7")
    assert done.returncode == 0, done.stderr
    assert done.stdout == task_id + "\n"
    assert fake.task_state(task_id)["desired_num_results"] == 12
    assert f"extruct-async tasks wait {task_id}" in done.stderr


def test_resume_of_an_exhausted_task_exits_1(cli, fake: ThreadedFake) -> None:
    assert cli("search", f"resume {DRY}", "--results", "50", "-q", *FAST).returncode == 0
    task_id = fake.task_id(f"resume {DRY}")
    assert fake.task_state(task_id)["is_exhausted"]
    line = assert_clean_error(cli("tasks", "resume", task_id), 1)
    assert "exhausted" in line
