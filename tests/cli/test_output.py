"""The three output formats, in memory."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import attrs

from extruct_async import CompanyResult, TaskState
from extruct_async._cli._output import (
    grades,
    row_writer,
    status_label,
    task_line,
    task_writer,
    timestamp,
    website,
    write_task_detail,
)

from ._states import row, state


def test_jsonl_rows_in_field_order_with_iso_datetimes() -> None:
    out = io.StringIO()
    writer = row_writer("jsonl", out, score_keys=["has_api"])
    writer.write(row())
    writer.write(row(id="row-2", company_name="Über GmbH"))
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["created_at"] == "2025-03-04T05:06:07Z"  # as the service writes it
    assert first["source"] == "linkedin"
    assert first["scores"]["has_api"] == {"grade": 5, "explanation": "Docs",
                                          "sources": ["https://a"]}
    declared = [field.name for field in attrs.fields(CompanyResult)]
    assert list(first) == [name for name in declared if name in first]
    assert "Über GmbH" in out.getvalue()  # not \\u-escaped
    assert second["id"] == "row-2"


def test_csv_flattens_scores_to_one_grade_column_per_key() -> None:
    out = io.StringIO()
    writer = row_writer("csv", out, score_keys=["has_api", "is_b2b", "unseen"])
    writer.write(row())
    written = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert written[0]["score.has_api"] == "5"
    assert written[0]["score.is_b2b"] == "2"
    assert written[0]["score.unseen"] == ""
    assert written[0]["relevance"] == "87.5"
    assert written[0]["founding_year"] == ""
    assert written[0]["created_at"] == "2025-03-04T05:06:07Z"
    assert "scores" not in written[0]


def test_csv_header_even_without_rows() -> None:
    out = io.StringIO()
    row_writer("csv", out, score_keys=["k"])
    assert out.getvalue().startswith("id,task_id,company_name,")
    assert out.getvalue().endswith(",score.k\n")


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
                             auto_data_sources=False)]
    table, lines, comma = io.StringIO(), io.StringIO(), io.StringIO()
    for fmt, out in (("table", table), ("jsonl", lines), ("csv", comma)):
        writer = task_writer(fmt, out, sample=states)
        for each in states:
            writer.write(each)
    assert table.getvalue().splitlines()[2].split()[:4] == ["t-2", "done,", "exhausted", "20/50"]
    assert [json.loads(line)["id"] for line in lines.getvalue().splitlines()] == [
        states[0].id, "t-2"]
    parsed = list(csv.DictReader(io.StringIO(comma.getvalue())))
    assert parsed[1]["is_exhausted"] == "true"
    assert parsed[1]["data_sources"] == "maps"
    assert parsed[0]["criteria"] == "has_api"


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
