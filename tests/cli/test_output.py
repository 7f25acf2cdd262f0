"""The output formats, in memory: a table for people, lossless JSON lines, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import attrs
import pytest

from extruct_async import CompanyResult, Score, TaskState, to_records
from extruct_async._cli._exit import UsageError
from extruct_async._cli._output import (
    grades,
    output_format,
    row_writer,
    status_label,
    task_line,
    task_writer,
    timestamp,
    website,
    write_task,
    write_task_detail,
)

from ._states import row, state


def test_jsonl_rows_are_the_services_json() -> None:
    out = io.StringIO()
    writer = row_writer("jsonl", out)
    writer.write(row(relevance=99))
    writer.write(row(id="row-2", company_name="Über GmbH"))
    writer.close()
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first == row(relevance=99).to_dict()
    assert first["created_at"] == "2025-03-04T05:06:07Z"  # as the service writes it
    assert type(first["relevance"]) is int  # 99, not 99.0
    assert "founding_year" in first  # a null is kept, not dropped
    assert first["founding_year"] is None
    assert first["scores"]["has_api"] == {"grade": 5, "explanation": "Docs",
                                          "sources": ["https://a"]}
    declared = [field.name for field in attrs.fields(CompanyResult)]
    assert list(first) == declared
    assert "Über GmbH" in out.getvalue()  # not \\u-escaped
    assert second["id"] == "row-2"


def test_json_is_one_array_written_row_by_row() -> None:
    out = io.StringIO()
    writer = row_writer("json", out)
    rows = [row(relevance=99), row(id="row-2")]
    writer.write(rows[0])
    assert out.getvalue().startswith("[")  # written as it comes, for --follow
    writer.write(rows[1])
    writer.close()
    assert json.loads(out.getvalue()) == [each.to_dict() for each in rows]
    assert len(out.getvalue().splitlines()) == 4  # a row a line, between the brackets
    empty = io.StringIO()
    row_writer("json", empty).close()
    assert json.loads(empty.getvalue()) == []


def read_csv(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    written = list(reader)
    assert reader.fieldnames is not None
    return list(reader.fieldnames), written


def test_csv_rows_are_flat_records_with_grade_explanation_and_sources() -> None:
    out = io.StringIO()
    rows = [row(), row(id="row-2", scores={"has_api": Score(grade=3, explanation="Maybe",
                                                            sources=("https://b", "https://c"))})]
    writer = row_writer("csv", out, score_keys=["has_api", "is_b2b", "unseen"], sample=rows)
    for each in rows:
        writer.write(each)
    writer.close()
    columns, written = read_csv(out.getvalue())
    expected, _ = to_records(rows)
    assert columns == [*expected, "scores.unseen.grade", "scores.unseen.explanation",
                       "scores.unseen.sources"]  # the task's criterion no row was graded on
    assert written[0]["scores.has_api.grade"] == "5"
    assert written[0]["scores.has_api.explanation"] == "Docs"
    assert written[0]["scores.has_api.sources"] == "https://a"
    assert written[0]["scores.is_b2b.grade"] == "2"
    assert written[1]["scores.has_api.sources"] == "https://b https://c"
    assert written[1]["scores.is_b2b.grade"] == ""  # not graded: an empty cell
    assert written[0]["scores.unseen.grade"] == ""
    assert written[0]["relevance"] == "87.5"
    assert written[0]["founding_year"] == ""
    assert written[0]["created_at"] == "2025-03-04T05:06:07Z"
    assert "scores" not in columns


def test_csv_header_even_without_rows() -> None:
    out = io.StringIO()
    row_writer("csv", out, score_keys=["k"]).close()
    assert out.getvalue().startswith("id,task_id,company_name,")
    assert out.getvalue().endswith(",scores.k.grade,scores.k.explanation,scores.k.sources\n")


def test_csv_row_graded_on_an_unannounced_criterion_is_reported_once() -> None:
    out = io.StringIO()
    dropped: list[list[str]] = []
    writer = row_writer("csv", out, score_keys=["has_api"], dropped=dropped.append)
    writer.write(row())
    writer.write(row(id="row-2"))
    assert dropped == [["scores.is_b2b.grade", "scores.is_b2b.explanation",
                        "scores.is_b2b.sources"]]
    _, written = read_csv(out.getvalue())
    assert [line["scores.has_api.grade"] for line in written] == ["5", "5"]


def test_table_numbers_rows_and_fits_100_columns_when_piped() -> None:
    out = io.StringIO()
    rows = [row(), row(id="row-2", company_name="N" * 80, relevance=None)]
    writer = row_writer("table", out, score_keys=[], sample=rows)
    for each in rows:
        writer.write(each)
    header, first, second = out.getvalue().splitlines()
    assert header.split() == ["#", "company", "website", "relevance", "grades", "headquarters",
                              "employees"]
    assert first.split()[:4] == ["1", "Acme", "Freight", "acme.example"]
    assert "87.5" in first
    assert "5 2" in first
    assert "Tallinn, Estonia" in first
    assert second.startswith("2  NNN")
    assert "…" in second
    assert max(map(len, (header, first, second))) <= 100


def test_tasks_in_each_format() -> None:
    states = [state(), state(id="t-2", status="done", is_exhausted=True, data_sources=("maps",),
                             auto_data_sources=False, exclude_domains=("a.com", "b.io"))]
    table, lines, array, comma = io.StringIO(), io.StringIO(), io.StringIO(), io.StringIO()
    for fmt, out in (("table", table), ("jsonl", lines), ("json", array), ("csv", comma)):
        writer = task_writer(fmt, out, sample=states)
        for each in states:
            writer.write(each)
        writer.close()
    assert table.getvalue().splitlines()[2].split()[:4] == ["t-2", "done,", "exhausted", "20/50"]
    expected = [each.to_dict() for each in states]
    assert [json.loads(line) for line in lines.getvalue().splitlines()] == expected
    assert json.loads(array.getvalue()) == expected
    assert expected[0]["table_id"] is None  # nulls kept
    columns, parsed = read_csv(comma.getvalue())
    assert columns == [field.name for field in attrs.fields(TaskState)]
    assert parsed[1]["is_exhausted"] == "true"
    assert parsed[1]["data_sources"] == "maps"
    assert parsed[1]["exclude_domains"] == "a.com b.io"
    assert parsed[0]["created_at"] == "2025-03-04T05:06:07Z"
    assert json.loads(parsed[0]["criteria"]) == expected[0]["criteria"]  # whole, not just keys


def test_one_task_as_json_is_the_object_itself() -> None:
    out = io.StringIO()
    write_task(state(), "json", out)
    assert json.loads(out.getvalue()) == state().to_dict()
    lines = io.StringIO()
    write_task(state(), "jsonl", lines)
    assert lines.getvalue().count("\n") == 1
    assert json.loads(lines.getvalue()) == state().to_dict()


@pytest.mark.parametrize(
    ("fmt", "output", "expected"),
    [
        (None, None, "table"),
        (None, "-", "table"),
        ("csv", None, "csv"),
        (None, "rows.csv", "csv"),
        (None, "Rows.CSV", "csv"),
        (None, "rows.jsonl", "jsonl"),
        (None, "rows.ndjson", "jsonl"),
        (None, "rows.json", "json"),
        ("jsonl", "rows.csv", "jsonl"),  # --format says otherwise
    ],
)
def test_the_format_follows_the_file_name_unless_told(
    fmt: str | None, output: str | None, expected: str
) -> None:
    assert output_format(fmt, output) == expected


@pytest.mark.parametrize(
    ("fmt", "output", "problem"),
    [
        (None, "rows.txt", "--format csv, jsonl or json"),
        (None, "rows", "--format csv, jsonl or json"),
        ("table", "rows.csv", "a table is for the terminal"),
    ],
)
def test_a_file_is_never_a_table(fmt: str | None, output: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        output_format(fmt, output)


def test_task_detail_and_line() -> None:
    out = io.StringIO()
    write_task_detail(state(), out)
    text = out.getvalue()
    assert "status       in_progress" in text
    assert "results      20 high-fit of 50 desired" in text
    assert "criteria     has_api: Has an API: The company offers a public API." in text
    assert task_line(state()).split()[:3] == [state().id, "in_progress", "20/50"]


def test_status_labels() -> None:
    assert status_label(state()) == "in_progress"
    assert status_label(state(status="done", is_exhausted=True)) == "done, exhausted"
    assert status_label(state(is_exhausted=True)) == "in_progress, exhausted"
    caught_up = state(is_exhausted=True, num_results_evaluated=32)
    assert not caught_up.finished  # only the status ends a task
    assert status_label(caught_up) == "in_progress, exhausted"


def test_cells() -> None:
    assert website(row()) == "acme.example"
    assert website(row(company_website="acme.example")) == "acme.example"
    assert website(row(company_website=None)) == ""
    assert grades(row()) == "5 2"
    assert isinstance(state(), TaskState)


def test_times_show_the_year_and_the_zone() -> None:
    table = io.StringIO()
    task_writer("table", table, sample=[state()]).write(state())
    header, line = table.getvalue().splitlines()
    assert "2025-03-04 05:06 UTC" in line
    assert line.index("2025") == header.index("created")
    detail = io.StringIO()
    write_task_detail(state(), detail)
    assert "created_at   2025-03-04 05:06:07 UTC" in detail.getvalue()
    east = datetime(2025, 3, 4, 7, 6, tzinfo=timezone(timedelta(hours=2)))
    assert timestamp(east) == "2025-03-04 07:06 UTC+02:00"
