"""``extruct-async tasks ...`` end to end, against a simulator whose clock the test moves."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from extruct_async._domains import registered_domain

from .conftest import DOOMED, DRY, ThreadedFake, assert_clean_error, assert_no_noise, popen

FAST = ("--poll-interval", "0.05")


@pytest.fixture
def started(cli, fake: ThreadedFake) -> Callable[..., str]:
    """Start a task with ``search --no-wait``; return its id. The clock stands still."""

    def start(query: str, results: int = 10) -> str:
        done = cli("search", query, "--results", str(results), "--no-wait")
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    return start


def test_list_newest_first(cli, fake: ThreadedFake, started) -> None:
    first, second, third = started("list one"), started("list two"), started("list three")
    done = cli("tasks", "list", "--limit", "2", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    listed = [json.loads(line) for line in done.stdout.splitlines()]
    assert [task["id"] for task in listed] == [third, second]
    assert listed == [fake.task_state(third), fake.task_state(second)]
    array = cli("tasks", "list", "--limit", "2", "--format", "json")
    assert array.returncode == 0, array.stderr
    assert json.loads(array.stdout) == listed
    table = cli("tasks", "list")
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["id", "status", "results", "created", "query"]
    assert [line.split()[0] for line in lines] == [third, second, first]


def test_get_shows_the_service_state(cli, fake: ThreadedFake, started) -> None:
    task_id = started("get me", 5)
    fake.finish_tasks()
    truth = fake.task_state(task_id)
    for fmt in ("jsonl", "json"):
        done = cli("tasks", "get", task_id, "--format", fmt)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == truth  # the service's own object, nulls and all
    detail = cli("tasks", "get", task_id).stdout
    assert f"id           {task_id}" in detail
    assert "status       done" in detail
    for criterion in truth["criteria"]:
        assert criterion["key"] in detail


def test_wait_follows_several_tasks_to_the_end(fake: ThreadedFake, started) -> None:
    ids = [started("wait one", 20), started(f"wait {DRY}", 50), started("wait three", 5)]
    with popen(["tasks", "wait", *ids, *FAST], fake.env()) as process:
        # Piped, progress is a line per status change: it has seen each task still created.
        for task_id in ids:
            process.stderr.until(lambda line, task_id=task_id: f"task {task_id} created" in line)
        fake.finish_tasks()
        done = process.finish()
    assert done.returncode == 0, done.stderr
    finished = {line.split()[0]: line for line in done.stdout.splitlines()}
    assert set(finished) == set(ids)
    for task_id in ids:
        state = fake.task_state(task_id)
        assert state["status"] == "done"
        assert f"{state['num_results']}/{state['desired_num_results']} results" in finished[task_id]
        changes = [line for line in done.stderr.splitlines() if task_id in line]
        assert " created" in changes[0]
        assert " done" in changes[-1]
        assert len(changes) <= 4  # created, in_progress, (exhausted,) done
    assert "exhausted" in finished[ids[1]]


def test_wait_exits_7_when_a_task_fails(cli, fake: ThreadedFake, started) -> None:
    ok, doomed = started("wait fine"), started(f"wait {DOOMED}", 30)
    fake.finish_tasks()
    done = cli("tasks", "wait", ok, doomed, "-q", *FAST)
    line = assert_clean_error(done, 7)
    assert doomed in line
    assert {row.split()[0] for row in done.stdout.splitlines()} == {ok, doomed}


def test_wait_times_out_with_8(cli, fake: ThreadedFake, started) -> None:
    task_id = started("wait slowly", 250)
    fake.advance(0.5)  # running, far from done: the clock stands still while the CLI waits
    done = cli("tasks", "wait", task_id, "--timeout", "0.2", "-q", *FAST)
    assert task_id in assert_clean_error(done, 8)
    assert fake.task_state(task_id)["status"] == "in_progress"


def test_results_of_a_finished_task(cli, fake: ThreadedFake, started, tmp_path: Path) -> None:
    task_id = started("results later", 6)
    fake.finish_tasks()
    target = tmp_path / "rows.jsonl"
    done = cli("tasks", "results", task_id, "--output", str(target))
    assert done.returncode == 0, done.stderr
    written = [json.loads(line) for line in target.read_text("utf-8").splitlines()]
    assert written == fake.visible_rows(task_id)


def test_results_of_a_running_task_say_there_is_more(cli, fake: ThreadedFake, started) -> None:
    task_id = started("results now", 150)
    fake.advance(0.5)
    done = cli("tasks", "results", task_id, "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    ids = [json.loads(line)["id"] for line in done.stdout.splitlines()]
    assert ids == [row["id"] for row in fake.visible_rows(task_id)]
    assert ids
    assert "still in_progress" in done.stderr
    assert "--follow" in done.stderr


def test_results_follow_prints_every_row_once_as_it_arrives(fake: ThreadedFake, started) -> None:
    task_id = started("follow me", 150)
    fake.advance(0.5)  # some rows evaluated, the task far from its 150 results
    assert fake.task_state(task_id)["status"] == "in_progress"
    early = [row["id"] for row in fake.visible_rows(task_id)]
    assert early
    with popen(["tasks", "results", task_id, "--follow", "--format", "jsonl", *FAST],
               fake.env()) as process:
        # The clock stands still, so these rows were printed while the task ran.
        printed = [json.loads(process.stdout.next())["id"] for _ in early]
        assert sorted(printed) == sorted(early)
        assert fake.task_state(task_id)["status"] == "in_progress"
        fake.finish_tasks()
        done = process.finish()
    assert done.returncode == 0, done.stderr
    ids = [json.loads(line)["id"] for line in done.stdout.splitlines()]
    assert ids[: len(printed)] == printed
    assert fake.task_state(task_id)["status"] == "done"
    truth = [row["id"] for row in fake.visible_rows(task_id)]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(truth)
    assert len(truth) > len(early)
    assert f"task {task_id} done: {len(truth)} rows" in done.stderr
    assert_no_noise(done.stderr)


def test_results_follow_into_a_json_file_is_one_valid_array(
    fake: ThreadedFake, started, tmp_path: Path
) -> None:
    task_id = started("follow into json", 150)
    fake.advance(0.5)  # some rows readable, the task far from done
    early = fake.visible_rows(task_id)
    assert early
    target = tmp_path / "rows.json"
    with popen(["tasks", "results", task_id, "--follow", "--output", str(target), *FAST],
               fake.env()) as process:
        # Rows are written to the file as they arrive: wait until the early ones are there.
        def written() -> int:
            return target.read_text("utf-8").count("\n{") if target.exists() else 0

        fake.wait_until(lambda: written() >= len(early), "the early rows in the file")
        assert fake.task_state(task_id)["status"] == "in_progress"
        fake.finish_tasks()
        done = process.finish()
    assert done.returncode == 0, done.stderr
    written = json.loads(target.read_text("utf-8"))
    assert sorted(row["id"] for row in written) == sorted(
        row["id"] for row in fake.visible_rows(task_id))
    assert len(written) > len(early)


def test_resume_raises_the_target(cli, fake: ThreadedFake, started) -> None:
    task_id = started("resume me", 5)
    fake.finish_tasks()
    done = cli("tasks", "resume", task_id, "--more", "7")
    assert done.returncode == 0, done.stderr
    assert done.stdout == task_id + "\n"
    assert fake.task_state(task_id)["desired_num_results"] == 12
    assert f"extruct-async tasks wait {task_id}" in done.stderr


def test_resume_of_an_exhausted_task_exits_1(cli, fake: ThreadedFake, started) -> None:
    task_id = started(f"resume {DRY}", 50)
    fake.finish_tasks()
    assert fake.task_state(task_id)["is_exhausted"]
    line = assert_clean_error(cli("tasks", "resume", task_id), 1)
    assert "exhausted" in line


def listed(cli, *args: str) -> list[str]:
    done = cli("tasks", "list", *args, "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    return [json.loads(line)["id"] for line in done.stdout.splitlines()]


def test_list_offset_all_and_status(cli, fake: ThreadedFake) -> None:
    finished = fake.create("old one", "old two", f"old {DOOMED}")
    fake.finish_tasks()
    fresh = fake.create(*(f"fresh {n}" for n in range(22)))
    newest_first = [*reversed(fresh), *reversed(finished)]
    def pages(*args: str) -> list[dict[str, str]]:
        """What ``tasks list ARGS`` asked the service for."""
        before = len(fake.queries("list"))
        listed(cli, *args)
        return fake.queries("list")[before:]

    assert listed(cli, "--limit", "2", "--offset", "1") == newest_first[1:3]
    # The service skips: one page of just the tasks wanted.
    assert pages("--limit", "2", "--offset", "1") == [{"offset": "1", "limit": "2"}]
    assert listed(cli) == newest_first[:20]  # the default limit
    assert listed(cli, "--all") == newest_first
    assert listed(cli, "--offset", "21", "--limit", "3") == newest_first[21:24]
    assert pages("--offset", "21", "--limit", "3") == [{"offset": "21", "limit": "3"}]
    assert listed(cli, "--all", "--offset", "23") == newest_first[23:]
    assert pages("--all", "--offset", "23") == [{"offset": "23", "limit": "100"}]
    assert listed(cli, "--status", "done") == [finished[1], finished[0]]
    assert listed(cli, "--status", "failed", "--status", "done") == list(reversed(finished))
    assert listed(cli, "--status", "done", "--offset", "1") == [finished[0]]
    # Filtered, --offset counts matching tasks: the service cannot skip them.
    assert pages("--status", "done", "--offset", "1")[0] == {"offset": "0", "limit": "100"}
    assert listed(cli, "--status", "created", "--limit", "2") == newest_first[:2]
    assert listed(cli, "--status", "in_progress") == []


def test_results_limit_and_offset(cli, fake: ThreadedFake, started) -> None:
    task_id = started("a page of results", 12)
    fake.finish_tasks()
    truth = [row["id"] for row in fake.visible_rows(task_id)]
    done = cli("tasks", "results", task_id, "--offset", "2", "--limit", "3", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == truth[2:5]
    assert fake.queries("results") == [{"offset": "2", "limit": "3"}]  # just the rows wanted
    assert "(#3-5)" in done.stderr
    table = cli("tasks", "results", task_id, "--offset", "2", "--limit", "3").stdout
    assert [line.split()[0] for line in table.splitlines()[1:]] == ["3", "4", "5"]  # ranks
    rest = cli("tasks", "results", task_id, "--offset", "10", "--format", "jsonl").stdout
    assert [json.loads(line)["id"] for line in rest.splitlines()] == truth[10:]
    beyond = cli("tasks", "results", task_id, "--offset", str(len(truth)), "--format", "jsonl")
    assert beyond.returncode == 0, beyond.stderr
    assert beyond.stdout == ""


def dashboard(task_id: str) -> str:
    """The task's URL as a user copies it from the dashboard."""
    return f"https://app.extruct.ai/w/acme/deep-search/{task_id}?tab=results"


def test_every_command_takes_a_dashboard_url(cli, fake: ThreadedFake, started) -> None:
    task_id = started("pasted from the dashboard", 5)
    fake.finish_tasks()
    url = dashboard(task_id)
    got = cli("tasks", "get", url, "--format", "jsonl")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == fake.task_state(task_id)
    rows = cli("tasks", "results", url, "--format", "jsonl")
    assert rows.returncode == 0, rows.stderr
    assert [json.loads(line) for line in rows.stdout.splitlines()] == fake.visible_rows(task_id)
    follow = cli("tasks", "results", url + "/", "--follow", "--format", "jsonl", *FAST)
    assert follow.returncode == 0, follow.stderr
    assert len(follow.stdout.splitlines()) == len(fake.visible_rows(task_id))
    # The URL and the plain id are one task: waited for, and reported, once.
    waited = cli("tasks", "wait", url, task_id, *FAST)
    assert waited.returncode == 0, waited.stderr
    assert [line.split()[0] for line in waited.stdout.splitlines()] == [task_id]
    resumed = cli("tasks", "resume", url, "--more", "3")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == task_id + "\n"
    assert fake.task_state(task_id)["desired_num_results"] == 8
    assert url not in resumed.stderr  # the hints name the id, not the URL
    assert f"extruct-async tasks wait {task_id}" in resumed.stderr


def test_search_excludes_a_task_given_by_its_url(cli, fake: ThreadedFake) -> None:
    (earlier,) = fake.create("an earlier search to exclude")
    fake.finish_tasks()
    done = cli("search", "after the earlier one", "--exclude-task", dashboard(earlier),
               "--no-wait")
    assert done.returncode == 0, done.stderr
    found = {registered_domain(row["company_website"]) for row in fake.visible_rows(earlier)}
    assert set(fake.task_state(done.stdout.strip())["exclude_domains"]) == found


def test_a_url_that_ends_in_no_id_is_a_usage_error(cli, fake: ThreadedFake) -> None:
    line = assert_clean_error(cli("tasks", "get", "https://app.extruct.ai/"), 2)
    assert "task id" in line
    assert fake.endpoints() == []
