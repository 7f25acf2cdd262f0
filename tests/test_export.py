"""Exports: the service's own JSON back out, flat records for CSV, DataFrames."""

from __future__ import annotations

import json
import sys
from typing import Any

import pandas
import polars
import pytest
from hypothesis import given

from extruct_async import CompanyResult, HTTPResponse, to_dataframe, to_records
from extruct_async._protocol import ResultsPage, decode, results_request
from tests.test_models import ROW, ROWS, TASK, TASKS

URL = "https://api.extruct.test/v1/discovery_tasks/t1/results"


def page_of(task: dict[str, Any], rows: list[dict[str, Any]]) -> ResultsPage:
    body = json.dumps({**task, "results": rows}).encode()
    page: ResultsPage = decode(results_request("t1"), HTTPResponse(200, {}, body), url=URL).value
    return page


SERVICE_ROW = {**ROW, "created_at": "2023-11-07T03:40:00Z", "relevance": 87}
SERVICE_TASK = {**TASK, "created_at": "2023-11-07T05:31:56Z"}


def test_to_dict_is_the_services_own_json() -> None:
    page = page_of(SERVICE_TASK, [SERVICE_ROW, {"id": "r2"}])
    assert page.state.to_dict() == SERVICE_TASK
    assert page.rows[0].to_dict() == SERVICE_ROW
    assert type(page.rows[0].to_dict()["relevance"]) is int  # 87, not 87.0
    sparse = page.rows[1].to_dict()
    assert sparse["company_name"] is None  # nulls are kept, not dropped
    assert sparse["scores"] == {}
    assert json.loads(page.rows[0].to_json()) == SERVICE_ROW
    assert json.loads(page.state.to_json()) == SERVICE_TASK


@given(TASKS, ROWS)
def test_exports_decode_back_to_the_same_models(task: dict[str, Any], row: dict[str, Any]) -> None:
    page = page_of(task, [row])
    again = page_of(json.loads(page.state.to_json()),
                    [json.loads(row_.to_json()) for row_ in page.rows])
    assert again.state == page.state
    assert again.rows == page.rows


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:00-01:00"])
def test_a_time_utc_cannot_hold_is_exported_with_its_own_offset(when: str) -> None:
    # Found by the property test above: year 1 at +00:01 is year 0 in UTC.
    page = page_of({**SERVICE_TASK, "created_at": when}, [{**SERVICE_ROW, "created_at": when}])
    assert page.state.to_dict()["created_at"] == when
    again = page_of(json.loads(page.state.to_json()), [json.loads(page.rows[0].to_json())])
    assert (again.state, again.rows) == (page.state, page.rows)
    assert page.rows[0].to_record()["created_at"] == when


def test_a_flat_record_has_three_columns_per_criterion() -> None:
    (row,) = page_of(SERVICE_TASK, [SERVICE_ROW]).rows
    record = row.to_record()
    assert record["company_name"] == "Acme Freight Cloud"
    assert record["scores.b2b.grade"] == 5
    assert record["scores.b2b.explanation"] == "Sells to forwarders."
    assert record["scores.b2b.sources"] == "https://a"
    assert "scores" not in record


def rows() -> list[CompanyResult]:
    other = {**SERVICE_ROW, "id": "r2", "scores": {
        "api": {"grade": 4, "explanation": "Has one.", "sources": ["https://x", "https://y"]}}}
    return page_of(SERVICE_TASK, [SERVICE_ROW, other]).rows


def test_records_share_one_set_of_columns() -> None:
    columns, records = to_records(rows())
    assert columns[:2] == ["id", "task_id"]
    assert columns[-6:] == [
        "scores.api.grade", "scores.api.explanation", "scores.api.sources",
        "scores.b2b.grade", "scores.b2b.explanation", "scores.b2b.sources",
    ]
    assert records[0]["scores.api.grade"] is None  # a criterion the first row lacks
    assert records[1]["scores.api.sources"] == "https://x https://y"
    assert all(list(record) == columns for record in records)


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_rows_into_a_dataframe_in_one_call(library: str) -> None:
    frame = to_dataframe(rows(), library=library)
    module = pandas if library == "pandas" else polars
    assert isinstance(frame, module.DataFrame)
    assert frame.shape == (2, len(to_records(rows())[0]))
    assert list(frame["id"]) == ["r1", "r2"]
    assert frame["scores.b2b.grade"][0] == 5


def test_dataframe_needs_a_known_and_installed_library(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="library"):
        to_dataframe(rows(), library="spark")
    monkeypatch.setitem(sys.modules, "polars", None)  # as if not installed
    with pytest.raises(ImportError, match="pip install polars"):
        to_dataframe(rows(), library="polars")
