"""The converter: models back into the service's JSON shape (request bodies, exports)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs

from extruct_async import CompanyResult, Criterion, DataSource, Score, Table, TaskState, TaskStatus
from extruct_async._converter import converter, json_line, omit_none, timestamp


def test_request_bodies_leave_out_none() -> None:
    assert converter.unstructure(Criterion("k", "n", "c")) == {
        "key": "k", "name": "n", "criterion": "c",
    }
    assert converter.unstructure(Table(id="t")) == {"id": "t", "run": False, "auto_import": False}


def test_models_go_out_in_the_services_own_shape() -> None:
    state = TaskState(
        id="t1", created_at=datetime(2026, 11, 23, 12, 0, tzinfo=timezone(timedelta(hours=2))),
        status=TaskStatus.DONE, query="q", desired_num_results=5,
        data_sources=(DataSource.MAPS, "fax"), criteria=(Criterion("k", "n", "criterion"),),
    )
    data = converter.unstructure(state)
    assert data["created_at"] == "2026-11-23T10:00:00Z"  # UTC, with a Z
    assert data["status"] == "done"
    assert type(data["status"]) is str
    assert data["data_sources"] == ["maps", "fax"]
    assert data["table_id"] is None  # nulls are kept in exports
    assert data["criteria"] == [{"key": "k", "name": "n", "criterion": "criterion"}]
    row = converter.unstructure(CompanyResult(id="r", relevance=99, source=DataSource.LINKEDIN,
                                              scores={"a": Score(5, None, ("u",))}))
    assert type(row["relevance"]) is int
    assert row["source"] == "linkedin"
    assert row["scores"] == {"a": {"grade": 5, "explanation": None, "sources": ["u"]}}
    assert row["hq_city"] is None


def test_timestamps_keep_their_precision() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
    assert timestamp(moment) == "2026-01-02T03:04:05.678901Z"


def test_the_rules_hold_for_any_attrs_class_and_omit_none_marks_a_body() -> None:
    # The converter knows no model by name (it sits below _models): a new model gets the
    # export rules as it is, and the request-body rule when it says so.
    @attrs.define
    class Exported:
        when: datetime
        status: str
        note: str | None = None

    @omit_none
    @attrs.define
    class Sent:
        when: datetime
        note: str | None = None

    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    assert converter.unstructure(Exported(moment, TaskStatus.DONE)) == {
        "when": "2026-01-02T02:04:05Z", "status": "done", "note": None,
    }
    assert converter.unstructure(Sent(moment)) == {"when": "2026-01-02T02:04:05Z"}
    assert json_line(Exported(moment, "new")) == (
        '{"when":"2026-01-02T02:04:05Z","status":"new","note":null}'
    )
