"""The converter: JSON from the service into models, leniently."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from cattrs.errors import ForbiddenExtraKeysError
from hypothesis import given
from hypothesis import strategies as st

from extruct_async import CompanyResult, Criterion, DataSource, Score, TaskState, TaskStatus
from extruct_async._converter import converter, make_converter

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


def test_task_every_field() -> None:
    task = converter.structure(TASK, TaskState)
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


def test_row_every_field() -> None:
    row = converter.structure(ROW, CompanyResult)
    assert row.relevance == 87.0
    assert row.created_at == datetime(2023, 11, 7, 3, 40, tzinfo=timezone.utc)
    assert row.created_at.utcoffset() == timedelta(hours=2)
    assert row.source is DataSource.LINKEDIN
    assert row.scores == {"b2b": Score(5, "Sells to forwarders.", ("https://a",))}
    assert (row.founding_year, row.employee_count, row.hq_city) == (2015, "11-50", "Hamburg")
    assert row.hq_state_province is None


def test_strict_converter_knows_every_documented_field() -> None:
    strict = make_converter(forbid_extra_keys=True)
    strict.structure(TASK, TaskState)
    strict.structure(ROW, CompanyResult)
    with pytest.raises(ForbiddenExtraKeysError):
        strict.structure({**ROW, "new_field": 1}, CompanyResult)


def test_unknown_fields_are_ignored() -> None:
    task = converter.structure({**TASK, "priority": "high", "owner": {"id": 1}}, TaskState)
    assert task.id == "t1"


def test_missing_optional_fields_become_defaults() -> None:
    task = converter.structure(
        {k: TASK[k] for k in ("id", "created_at", "status", "query", "desired_num_results")},
        TaskState,
    )
    assert (task.num_results, task.is_exhausted, task.criteria, task.exclude_domains) == (
        0, False, None, None,
    )
    row = converter.structure({"id": "r1"}, CompanyResult)
    assert row == CompanyResult(id="r1")
    assert row.scores == {}


def test_unknown_enum_values_are_kept_as_strings() -> None:
    task = converter.structure({**TASK, "status": "paused", "data_sources": ["crunchbase"]},
                               TaskState)
    assert task.status == "paused"
    assert not isinstance(task.status, TaskStatus)
    assert task.data_sources == ("crunchbase",)
    row = converter.structure({**ROW, "source": "news"}, CompanyResult)
    assert row.source == "news"
    assert converter.structure({**ROW, "source": None}, CompanyResult).source is None


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
    created = converter.structure({**TASK, "created_at": text}, TaskState).created_at
    assert created == expected
    assert created.tzinfo is not None


@pytest.mark.parametrize(
    "broken",
    [
        {**TASK, "created_at": "yesterday"},
        {**TASK, "created_at": 1700000000},
        {k: v for k, v in TASK.items() if k != "id"},
        {**TASK, "status": 3},
    ],
)
def test_broken_task_raises(broken: dict[str, Any]) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        converter.structure(broken, TaskState)


def test_request_bodies_leave_out_none() -> None:
    assert converter.unstructure(Criterion("k", "n", "c")) == {
        "key": "k", "name": "n", "criterion": "c",
    }


FIXED_OFFSETS = st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))


# Whole-minute offsets, what ISO 8601 timestamps carry (a zone's DST gaps cannot round-trip).
@given(st.datetimes(timezones=FIXED_OFFSETS | st.none()))
def test_created_at_round_trips(moment: datetime) -> None:
    text = moment.isoformat()
    parsed = converter.structure({**TASK, "created_at": text}, TaskState).created_at
    assert parsed.tzinfo is not None
    assert parsed == (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))


def test_scalars_are_coerced_to_their_declared_types() -> None:
    row = converter.structure(
        {**ROW, "founding_year": "2015", "relevance": "87.5", "company_name": 42,
         "scores": {"b2b": {"grade": "4", "explanation": None, "sources": [7]}}},
        CompanyResult,
    )
    assert row.founding_year == 2015
    assert row.relevance == 87.5
    assert row.company_name == "42"
    assert row.scores["b2b"] == Score(4, None, ("7",))
    with pytest.raises(ValueError, match="invalid literal"):
        converter.structure({**ROW, "founding_year": "long ago"}, CompanyResult)


STRICT = make_converter(forbid_extra_keys=True)
OPTIONAL_TEXT = st.none() | st.text(max_size=20)
ROWS = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=10)},
    optional={
        "task_id": OPTIONAL_TEXT,
        "company_name": OPTIONAL_TEXT,
        "company_description": OPTIONAL_TEXT,
        "company_website": OPTIONAL_TEXT,
        "relevance": st.none() | st.integers(0, 100) | st.floats(0, 100),
        "created_at": st.none() | st.datetimes(timezones=FIXED_OFFSETS).map(datetime.isoformat),
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
    },
)


@given(ROWS)
def test_the_fast_row_hook_agrees_with_the_generated_one(row: dict[str, Any]) -> None:
    generated = STRICT.structure(row, CompanyResult)
    assert converter.structure(row, CompanyResult) == generated


def test_null_collections_in_a_row_become_empty() -> None:
    row = converter.structure({"id": "r1", "scores": {"a": {"sources": None}}}, CompanyResult)
    assert row.scores == {"a": Score()}
    assert converter.structure({"id": "r1", "scores": None}, CompanyResult).scores == {}
