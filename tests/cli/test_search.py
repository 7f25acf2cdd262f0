"""``extruct-async search`` end to end, against a simulator whose clock the test moves."""

from __future__ import annotations

import csv
import json
import signal
from pathlib import Path

import msgspec

from extruct_async import CompanyResult, to_records
from extruct_async._domains import registered_domain

from .conftest import DOOMED, ThreadedFake, assert_clean_error, assert_no_noise, popen

FAST = ("--poll-interval", "0.05")


def as_rows(dicts: list[dict[str, object]]) -> list[CompanyResult]:
    return msgspec.convert(dicts, list[CompanyResult])


def test_table_lists_every_row_best_first(search, fake: ThreadedFake) -> None:
    done = search("table of freight software", "--results", "12", *FAST)
    assert done.returncode == 0, done.stderr
    truth = fake.visible_rows(fake.task_id("table of freight software"))
    header, *lines = done.stdout.splitlines()
    assert header.split()[:4] == ["#", "company", "website", "relevance"]
    assert len(lines) == len(truth) >= 12
    for number, (line, row) in enumerate(zip(lines, truth, strict=True), 1):
        assert line.split()[0] == str(number)
        assert row["company_name"] in line
    assert fake.task_state(fake.task_id("table of freight software"))["status"] == "done"


def test_jsonl_stdout_carries_only_the_services_rows(search, fake: ThreadedFake) -> None:
    done = search("jsonl of freight software", "--results", "10", "--format", "jsonl", *FAST)
    assert done.returncode == 0, done.stderr
    task_id = fake.task_id("jsonl of freight software")
    lines = done.stdout.splitlines()
    # The service's own JSON, to the byte's meaning: integers stay integers, Z, nulls kept.
    assert [json.loads(line) for line in lines] == fake.visible_rows(task_id)
    first = json.loads(lines[0])
    assert list(first)[:3] == ["id", "task_id", "company_name"]  # the models' field order
    assert type(first["relevance"]) is int
    assert first["created_at"].endswith("Z")
    assert task_id in done.stderr  # progress and notes went to stderr
    assert_no_noise(done.stderr)


def test_csv_file_named_so_is_csv_with_explanations_and_sources(
    search, fake: ThreadedFake, tmp_path: Path
) -> None:
    target = tmp_path / "rows.csv"
    done = search("csv of freight software", "--results", "8", "--output", str(target), *FAST)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert f"written to {target}" in done.stderr
    task_id = fake.task_id("csv of freight software")
    keys = [c["key"] for c in fake.task_state(task_id)["criteria"]]
    with target.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        assert reader.fieldnames is not None
        columns = list(reader.fieldnames)
        written = list(reader)
    assert columns == to_records(as_rows(fake.visible_rows(task_id)))[0]
    assert {f"scores.{key}.{part}" for key in keys
            for part in ("grade", "explanation", "sources")} <= set(columns)
    truth = fake.visible_rows(task_id)
    assert [r["id"] for r in written] == [r["id"] for r in truth]
    for line, row in zip(written, truth, strict=True):
        assert line["relevance"] == str(row["relevance"])  # 100, not 100.0
        assert line["company_website"] == row["company_website"]
        assert "…" not in "".join(line.values())  # nothing cut to fit a terminal
        for key in keys:
            score = row["scores"][key]
            assert line[f"scores.{key}.grade"] == str(score["grade"])
            assert line[f"scores.{key}.explanation"] == score["explanation"]
            assert line[f"scores.{key}.sources"] == " ".join(score["sources"])


def test_json_file_named_so_is_one_array_of_the_services_rows(
    search, fake: ThreadedFake, tmp_path: Path
) -> None:
    target = tmp_path / "rows.json"
    done = search("json of freight software", "--results", "6", "--output", str(target), *FAST)
    assert done.returncode == 0, done.stderr
    task_id = fake.task_id("json of freight software")
    assert json.loads(target.read_text("utf-8")) == fake.visible_rows(task_id)
    lines = tmp_path / "rows.jsonl"
    done = search("jsonl file of freight software", "--results", "6", "--output", str(lines),
                  *FAST)
    assert done.returncode == 0, done.stderr
    task_id = fake.task_id("jsonl file of freight software")
    written = [json.loads(line) for line in lines.read_text("utf-8").splitlines()]
    assert written == fake.visible_rows(task_id)


def test_format_overrides_the_file_name(search, fake: ThreadedFake, tmp_path: Path) -> None:
    target = tmp_path / "rows.csv"
    done = search("override freight software", "--results", "4", "--output", str(target),
                  "--format", "jsonl", *FAST)
    assert done.returncode == 0, done.stderr
    task_id = fake.task_id("override freight software")
    written = [json.loads(line) for line in target.read_text("utf-8").splitlines()]
    assert written == fake.visible_rows(task_id)


def test_criteria_and_sources_reach_the_service(search, fake: ThreadedFake) -> None:
    done = search("criteria of freight software", "--results", "5", "--format", "csv",
                  "--criterion", "has_api:Has an API:The company offers a public API.",
                  "--source", "linkedin", "--source", "maps", *FAST)
    assert done.returncode == 0, done.stderr
    state = fake.task_state(fake.task_id("criteria of freight software"))
    assert state["criteria"] == [{"key": "has_api", "name": "Has an API",
                                  "criterion": "The company offers a public API."}]
    assert state["auto_data_sources"] is False
    assert state["data_sources"] == ["linkedin", "maps"]
    assert done.stdout.splitlines()[0].endswith(
        ",scores.has_api.grade,scores.has_api.explanation,scores.has_api.sources")


def test_no_wait_prints_the_id_and_how_to_come_back(cli, fake: ThreadedFake) -> None:
    done = cli("search", "no wait for freight software", "--results", "250", "--no-wait")
    assert done.returncode == 0, done.stderr
    task_id = fake.task_id("no wait for freight software")
    assert done.stdout == task_id + "\n"
    assert f"extruct-async tasks wait {task_id}" in done.stderr
    assert f"extruct-async tasks results {task_id} --follow" in done.stderr
    assert fake.endpoints() == ["create"]  # it left without reading the task once


def test_no_auto_sources_alone_is_sent_with_a_warning_line(cli, fake: ThreadedFake) -> None:
    # The reference pages do not forbid it: the service then picks where to search.
    done = cli("search", "service picks sources", "--no-auto-sources", "--no-wait")
    assert done.returncode == 0, done.stderr
    assert "warning: auto_data_sources=False without data_sources" in done.stderr
    assert "UserWarning" not in done.stderr  # the CLI's own line, not Python's
    state = fake.task_state(fake.task_id("service picks sources"))
    assert state["auto_data_sources"] is False


def test_quiet_leaves_stderr_empty(search) -> None:
    done = search("quiet freight software", "--results", "3", "--quiet", *FAST)
    assert done.returncode == 0
    assert done.stderr == ""
    assert done.stdout


def test_failed_task_exits_7(search, fake: ThreadedFake) -> None:
    done = search(f"{DOOMED} freight software", "--results", "20", *FAST)
    line = assert_clean_error(done, 7)
    task_id = fake.task_id(f"{DOOMED} freight software")
    assert fake.task_state(task_id)["status"] == "failed"
    assert task_id in line


def test_timeout_exits_8_and_the_task_keeps_running(cli, fake: ThreadedFake) -> None:
    # The clock stands still: the task cannot finish, whatever the CLI's pace.
    done = cli("search", "slow freight software", "--results", "250", "--timeout", "0.3", *FAST)
    line = assert_clean_error(done, 8)
    task_id = fake.task_id("slow freight software")
    assert f"extruct-async tasks wait {task_id}" in line
    assert fake.task_state(task_id)["status"] == "created"


def test_ctrl_c_names_the_running_task_and_exits_130(fake: ThreadedFake) -> None:
    with popen(["search", "interrupted freight software", "--results", "250", *FAST],
               fake.env()) as process:
        fake.wait_for_tasks(1)
        fake.advance(0.5)  # in progress, far from done; the clock then stands still
        process.stderr.until(lambda line: "in_progress" in line)  # it follows the running task
        process.popen.send_signal(signal.SIGINT)
        done = process.finish()
    assert done.returncode == 130, done.stderr
    task_id = fake.task_id("interrupted freight software")
    assert f"extruct-async tasks wait {task_id}" in done.stderr
    assert f"extruct-async tasks results {task_id} --follow" in done.stderr
    assert done.stdout == ""
    assert_no_noise(done.stderr)
    assert fake.task_state(task_id)["status"] == "in_progress"


def test_every_create_option_reaches_the_service(cli, fake: ThreadedFake,
                                                 tmp_path: Path) -> None:
    (earlier,) = fake.create("an earlier search")
    fake.finish_tasks()
    criteria = [{"key": "has_api", "name": "Has an API",
                 "criterion": "The company offers a public API."},
                {"key": "is_b2b", "name": "B2B", "criterion": "It sells to other businesses."}]
    criteria_file = tmp_path / "criteria.json"
    criteria_file.write_text(json.dumps(criteria), "utf-8")
    done = cli("search", "options of freight software", "--results", "7", "--no-wait",
               "--criteria-file", str(criteria_file),
               "--no-auto-sources", "--source", "maps",
               "--exclude-domain", "https://www.Acme.com/about", "--exclude-domain", "beta.io",
               "--exclude-task", earlier,
               "--table", "tbl_123", "--table-import", "--table-run", "--table-column", "c1")
    assert done.returncode == 0, done.stderr
    state = fake.task_state(done.stdout.strip())
    assert state["desired_num_results"] == 7
    assert state["criteria"] == criteria
    assert (state["auto_data_sources"], state["data_sources"]) == (False, ["maps"])
    # As the service normalises them, then the companies the excluded task found.
    assert state["exclude_domains"][:2] == ["acme.com", "beta.io"]
    found = {registered_domain(row["company_website"]) for row in fake.visible_rows(earlier)}
    assert set(state["exclude_domains"][2:]) == found
    assert state["table_id"] == "tbl_123"


def test_exclude_task_reaches_the_service_which_wants_a_done_task(cli, fake: ThreadedFake) -> None:
    (running,) = fake.create("still running")
    line = assert_clean_error(cli("search", "q of freight", "--exclude-task", running), 2)
    assert "exclude_task_ids" in line
    assert "not done" in line


def test_payload_file_with_options_over_it(cli, fake: ThreadedFake, tmp_path: Path) -> None:
    payload = {
        "query": "from the file",
        "desired_num_results": 40,
        "criteria": [{"key": "has_api", "name": "Has an API",
                      "criterion": "The company offers a public API."}],
        "auto_data_sources": False,
        "data_sources": ["linkedin"],
        "exclude_domains": ["file.example.com"],
        "table": None,
    }
    path = tmp_path / "payload.json"
    path.write_text(json.dumps(payload), "utf-8")
    as_is = cli("search", "--payload-file", str(path), "--no-wait")
    assert as_is.returncode == 0, as_is.stderr
    state = fake.task_state(as_is.stdout.strip())
    assert (state["query"], state["desired_num_results"]) == ("from the file", 40)
    assert state["criteria"] == payload["criteria"]
    assert (state["auto_data_sources"], state["data_sources"]) == (False, ["linkedin"])
    assert state["exclude_domains"] == ["example.com"]
    over = cli("search", "from the command line", "--payload-file", str(path), "--results", "9",
               "--source", "maps", "--criterion", "b2b:B2B:It sells to other businesses.",
               "--no-wait")
    assert over.returncode == 0, over.stderr
    state = fake.task_state(over.stdout.strip())
    assert (state["query"], state["desired_num_results"]) == ("from the command line", 9)
    assert [c["key"] for c in state["criteria"]] == ["b2b"]
    assert state["data_sources"] == ["maps"]
    assert state["exclude_domains"] == ["example.com"]  # not overridden: still the file's
