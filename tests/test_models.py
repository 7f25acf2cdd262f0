"""The models: the completion rule, and answers decoded straight into them (the schema)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from extruct_async import (
    APIResponseError,
    CompanyResult,
    Criterion,
    DataSource,
    HTTPResponse,
    Score,
    TaskState,
    TaskStatus,
)
from extruct_async._protocol import ResultsPage, decode, get_request, results_request


def state(status: TaskStatus | str, *, exhausted: bool = False, enriched: int = 0,
          evaluated: int = 0) -> TaskState:
    return TaskState(
        id="t1",
        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        status=status,
        query="q",
        desired_num_results=100,
        is_exhausted=exhausted,
        num_results_discovered=enriched + 10,
        num_results_enriched=enriched,
        num_results_evaluated=evaluated,
    )


@pytest.mark.parametrize(
    ("task", "finished"),
    [
        (state("created"), False),
        (state("in_progress", enriched=50, evaluated=20), False),
        # The trap: exhausted, but evaluation still running and rows still arriving.
        (state("in_progress", exhausted=True, enriched=50, evaluated=20), False),
        (state("in_progress", exhausted=True, enriched=50, evaluated=49), False),
        # ... and even once evaluation caught up: qualification still adds rows.
        (state("in_progress", exhausted=True, enriched=50, evaluated=50), False),
        (state("done", enriched=50, evaluated=50), True),
        (state("done", enriched=50, evaluated=10), True),
        (state("failed"), True),
        (state("paused", enriched=5, evaluated=5), False),
    ],
)
def test_finished(task: TaskState, finished: bool) -> None:
    assert task.finished is finished


@given(
    status=st.sampled_from(["created", "in_progress", "done", "failed", "queued"]),
    exhausted=st.booleans(),
    enriched=st.integers(0, 300),
    evaluated=st.integers(0, 300),
)
def test_finished_is_status_done_or_failed_and_nothing_else(
    status: str, exhausted: bool, enriched: int, evaluated: int
) -> None:
    task = state(status, exhausted=exhausted, enriched=enriched, evaluated=evaluated)
    assert task.finished is (status in ("done", "failed"))
    assert task.evaluation_caught_up is (exhausted and evaluated >= enriched)


def test_progress_changes_with_status_and_counters_only() -> None:
    a = state("in_progress", enriched=5, evaluated=2)
    assert a.progress == state("in_progress", enriched=5, evaluated=2).progress
    assert a.progress != state("in_progress", enriched=6, evaluated=2).progress
    assert a.progress != state("done", enriched=5, evaluated=2).progress
    assert a.progress != state("in_progress", exhausted=True, enriched=5, evaluated=2).progress


def test_enum_str() -> None:
    assert str(TaskStatus.IN_PROGRESS) == "in_progress"
    assert TaskStatus.DONE == "done"


# -- decoding: answers straight into the models ------------------------------------------

TASK: dict[str, Any] = {
    "id": "t1",
    "created_at": "2023-11-07T05:31:56Z",
    "status": "in_progress",
    "query": "freight SaaS",
    "desired_num_results": 100,
    "is_exhausted": False,
    "num_results_discovered": 40,
    "num_results_enriched": 30,
    "num_results_evaluated": 20,
    "num_results": 12,
    "table_id": None,
    "auto_data_sources": True,
    "data_sources": ["web_search"],
    "criteria": [{"key": "b2b", "name": "B2B", "criterion": "Sells mainly to businesses."}],
    "exclude_domains": ["acme.com"],
}
ROW: dict[str, Any] = {
    "id": "r1",
    "task_id": "t1",
    "company_name": "Acme Freight Cloud",
    "company_description": "TMS for forwarders",
    "company_website": "https://acme.example",
    "relevance": 87,
    "created_at": "2023-11-07T05:40:00+02:00",
    "company_profile_id": "p1",
    "source": "linkedin",
    "scores": {"b2b": {"grade": 5, "explanation": "Sells to forwarders.", "sources": ["https://a"]}},
    "founding_year": 2015,
    "employee_count": "11-50",
    "hq_country": "Germany",
    "hq_state_province": None,
    "hq_city": "Hamburg",
    "company_full_description": "Long text",
}
URL = "https://api.extruct.test/v1/discovery_tasks"


def answer(body: Any) -> HTTPResponse:
    return HTTPResponse(200, {}, body if isinstance(body, bytes) else json.dumps(body).encode())


def task_of(body: Any) -> TaskState:
    value: TaskState = decode(get_request("t1"), answer(body), url=URL).value
    return value


def rows_of(*rows: Any) -> list[CompanyResult]:
    page: ResultsPage = decode(results_request("t1"), answer({**TASK, "results": list(rows)}),
                               url=URL).value
    return page.rows


def test_task_every_field() -> None:
    task = task_of(TASK)
    assert task == TaskState(
        id="t1",
        created_at=datetime(2023, 11, 7, 5, 31, 56, tzinfo=timezone.utc),
        status=TaskStatus.IN_PROGRESS,
        query="freight SaaS",
        desired_num_results=100,
        is_exhausted=False,
        num_results_discovered=40,
        num_results_enriched=30,
        num_results_evaluated=20,
        num_results=12,
        table_id=None,
        auto_data_sources=True,
        data_sources=(DataSource.WEB_SEARCH,),
        criteria=(Criterion("b2b", "B2B", "Sells mainly to businesses."),),
        exclude_domains=("acme.com",),
    )
    assert task.status is TaskStatus.IN_PROGRESS
    assert task.data_sources is not None
    assert task.data_sources[0] is DataSource.WEB_SEARCH


def test_row_every_field() -> None:
    (row,) = rows_of(ROW)
    assert row.relevance == 87
    assert type(row.relevance) is int  # integers stay integers
    assert row.created_at == datetime(2023, 11, 7, 3, 40, tzinfo=timezone.utc)
    assert row.created_at is not None
    assert row.created_at.utcoffset() == timedelta(hours=2)
    assert row.source is DataSource.LINKEDIN
    assert row.scores == {"b2b": Score(5, "Sells to forwarders.", ("https://a",))}
    assert (row.founding_year, row.employee_count, row.hq_city) == (2015, "11-50", "Hamburg")
    assert row.hq_state_province is None


def test_every_documented_field_is_a_model_field() -> None:
    # The models are the schema: a field the pages document and the models lack is a bug.
    assert set(TASK) == {field.name for field in attrs.fields(TaskState)}
    assert set(ROW) == {field.name for field in attrs.fields(CompanyResult)}


def test_unknown_fields_are_ignored_and_missing_ones_default() -> None:
    assert task_of({**TASK, "priority": "high", "owner": {"id": 1}}).id == "t1"
    task = task_of({k: TASK[k] for k in ("id", "created_at", "status", "query",
                                         "desired_num_results")})
    assert (task.num_results, task.is_exhausted, task.criteria, task.exclude_domains) == (
        0, False, None, None,
    )
    (row,) = rows_of({"id": "r1"})
    assert row == CompanyResult(id="r1")


def test_null_scalars_of_a_row_are_kept_as_none() -> None:
    nulls = {key: None for key in ROW if key not in ("id", "scores")}
    (row,) = rows_of({**ROW, **nulls})
    assert row == CompanyResult(id="r1", scores=rows_of(ROW)[0].scores)


def test_unknown_enum_values_are_kept_as_strings() -> None:
    task = task_of({**TASK, "status": "paused", "data_sources": ["crunchbase"]})
    assert task.status == "paused"
    assert not isinstance(task.status, TaskStatus)
    assert task.data_sources == ("crunchbase",)
    (row,) = rows_of({**ROW, "source": "news"})
    assert row.source == "news"


def test_known_data_sources_become_the_enum_and_new_ones_stay_strings() -> None:
    # The vendor's guide names "Extruct DB" among its sources; the reference pages do not.
    task = task_of({**TASK, "auto_data_sources": False,
                    "data_sources": ["maps", "Extruct DB", "linkedin", "extruct_db"]})
    assert task.data_sources == ("maps", "Extruct DB", "linkedin", "extruct_db")
    assert [type(source) for source in task.data_sources] == [DataSource, str, DataSource, str]
    assert task.data_sources[0] is DataSource.MAPS
    assert task.to_dict()["data_sources"] == ["maps", "Extruct DB", "linkedin", "extruct_db"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-11-07T05:31:56Z", datetime(2023, 11, 7, 5, 31, 56, tzinfo=timezone.utc)),
        ("2023-11-07T05:31:56.123456z",
         datetime(2023, 11, 7, 5, 31, 56, 123456, tzinfo=timezone.utc)),
        ("2023-11-07T05:31:56", datetime(2023, 11, 7, 5, 31, 56, tzinfo=timezone.utc)),
        ("2023-11-07T07:31:56+02:00", datetime(2023, 11, 7, 5, 31, 56, tzinfo=timezone.utc)),
    ],
)
def test_created_at_is_always_aware(text: str, expected: datetime) -> None:
    created = task_of({**TASK, "created_at": text}).created_at
    assert created == expected
    assert created.tzinfo is not None


# What the SDK cannot use is an APIResponseError naming the path; never coerced.
REFUSED = {
    "a bad timestamp": ({**TASK, "created_at": "yesterday"}, "$.created_at"),
    "a number for a timestamp": ({**TASK, "created_at": 1700000000}, "$.created_at"),
    "no id": ({k: v for k, v in TASK.items() if k != "id"}, "id"),
    "a number status": ({**TASK, "status": 3}, "$.status"),
    "a string boolean": ({**TASK, "is_exhausted": "false"}, "$.is_exhausted"),
    "a null query": ({**TASK, "query": None}, "$.query"),
    "a null counter": ({**TASK, "num_results": None}, "$.num_results"),
    "a huge number": (b'{"id": "t1", "num_results": 1e400}', "$.num_results"),
    "an array": ([TASK], "Expected `object`, got `array`"),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, "Expected `object`, got `array`"),
}


@pytest.mark.parametrize(("body", "where"), REFUSED.values(), ids=REFUSED.keys())
def test_task_answers_the_sdk_cannot_use(body: Any, where: str) -> None:
    with pytest.raises(APIResponseError, match=re.escape(where)) as caught:
        task_of(body)
    assert caught.value.retryable is False


ODD_ROWS = {
    "a null score": ({**ROW, "scores": {"fit": None}}, "$.results[0].scores[...]"),
    "a null row": (None, "$.results[0]"),
    "a string row": ("row", "$.results[0]"),
    "a list row": ([ROW], "$.results[0]"),
    "a list of scores": ({**ROW, "scores": [1]}, "$.results[0].scores"),
    "a string score": ({**ROW, "scores": {"fit": "5"}}, "$.results[0].scores[...]"),
    "a string grade": ({**ROW, "scores": {"fit": {"grade": "5"}}}, "grade"),
    "sources as one string": ({**ROW, "scores": {"fit": {"sources": "https://a"}}}, "sources"),
    "a null id": ({**ROW, "id": None}, "$.results[0].id"),
    "a string year": ({**ROW, "founding_year": "2015"}, "$.results[0].founding_year"),
    "a number name": ({**ROW, "company_name": 42}, "$.results[0].company_name"),
}


@pytest.mark.parametrize(("row", "where"), ODD_ROWS.values(), ids=ODD_ROWS.keys())
def test_result_rows_the_sdk_cannot_use(row: Any, where: str) -> None:
    with pytest.raises(APIResponseError, match=re.escape(where)):
        rows_of(row)


FIXED_OFFSETS = st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))


# Whole-minute offsets, what ISO 8601 timestamps carry (a zone's DST gaps cannot round-trip).
@given(st.datetimes(timezones=FIXED_OFFSETS | st.none()))
def test_created_at_round_trips(moment: datetime) -> None:
    parsed = task_of({**TASK, "created_at": moment.isoformat()}).created_at
    assert parsed.tzinfo is not None
    assert parsed == (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))


# -- the switch to msgspec changed speed and nothing else ------------------------------

OPTIONAL_TEXT = st.none() | st.text(max_size=20)
TIMESTAMPS = st.datetimes(timezones=FIXED_OFFSETS).map(datetime.isoformat)
ROWS = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=10)},
    optional={
        "task_id": OPTIONAL_TEXT,
        "company_name": OPTIONAL_TEXT,
        "company_description": OPTIONAL_TEXT,
        "company_website": OPTIONAL_TEXT,
        "relevance": st.none() | st.integers(0, 100) | st.floats(0, 100),
        "created_at": st.none() | TIMESTAMPS,
        "company_profile_id": OPTIONAL_TEXT,
        "source": st.none() | st.sampled_from(["web_search", "linkedin", "maps", "news"]),
        "scores": st.dictionaries(
            st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
            st.fixed_dictionaries({}, optional={
                "grade": st.none() | st.integers(1, 5),
                "explanation": OPTIONAL_TEXT,
                "sources": st.lists(st.text(max_size=15), max_size=3),
            }),
            max_size=4,
        ),
        "founding_year": st.none() | st.integers(1800, 2030),
        "employee_count": OPTIONAL_TEXT,
        "hq_country": OPTIONAL_TEXT,
        "hq_state_province": OPTIONAL_TEXT,
        "hq_city": OPTIONAL_TEXT,
        "company_full_description": OPTIONAL_TEXT,
        "a_field_added_later": st.integers(),
    },
)
CRITERIA = st.lists(st.fixed_dictionaries({
    "key": st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
    "name": st.text(min_size=1, max_size=10), "criterion": st.text(min_size=10, max_size=20),
}), max_size=3)
TASKS = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=10),
        "created_at": TIMESTAMPS,
        "status": st.sampled_from(["created", "in_progress", "done", "failed", "paused"]),
        "query": st.text(max_size=20),
        "desired_num_results": st.integers(1, 250),
    },
    optional={
        "is_exhausted": st.booleans(),
        "num_results_discovered": st.integers(0, 500),
        "num_results_enriched": st.integers(0, 500),
        "num_results_evaluated": st.integers(0, 500),
        "num_results": st.integers(0, 250),
        "table_id": OPTIONAL_TEXT,
        "auto_data_sources": st.booleans(),
        "data_sources": st.none() | st.lists(st.sampled_from(["web_search", "maps", "fax"])),
        "criteria": st.none() | CRITERIA,
        "exclude_domains": st.none() | st.lists(st.text(max_size=10), max_size=3),
    },
)


def same(new: object, old: object) -> None:
    assert attrs.asdict(new) == attrs.asdict(old)  # type: ignore[arg-type]


@given(TASKS, st.lists(ROWS, max_size=4))
def test_msgspec_decodes_what_the_cattrs_path_did(task: dict[str, Any],
                                                  rows: list[dict[str, Any]]) -> None:
    from tests._legacy import converter as legacy

    page: ResultsPage = decode(results_request("t1"), answer({**task, "results": rows}),
                               url=URL).value
    same(page.state, legacy.converter.structure(task, legacy.TaskState))
    for new, old in zip(page.rows, legacy.converter.structure(rows, list[legacy.CompanyResult]),
                        strict=True):
        same(new, old)
    same(task_of(task), legacy.converter.structure(task, legacy.TaskState))
