"""Request building, argument checks and answer decoding: no event loop, no I/O."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from extruct_async import (
    APIResponseError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    Criterion,
    DataSource,
    HTTPResponse,
    InvalidRequestError,
    InvalidTypeError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    Table,
    TaskExhaustedError,
    TaskState,
    UnprocessableEntityError,
)
from extruct_async._protocol import (
    MESSAGE_EXCERPT,
    Kind,
    Reply,
    Request,
    ResultsPage,
    create_request,
    decode,
    get_request,
    list_request,
    parse_retry_after,
    results_request,
    resume_request,
)

GOOD = Criterion(key="b2b", name="B2B", criterion="Sells mainly to other businesses.")


def test_create_request_minimal() -> None:
    request = create_request("freight forwarding SaaS")
    assert (request.method, request.path, request.idempotent) == (
        "POST", "/v1/discovery_tasks", False,
    )
    assert request.body == {
        "query": "freight forwarding SaaS",
        "desired_num_results": 100,
        "auto_data_sources": True,
    }


def test_create_request_full() -> None:
    request = create_request(
        "freight forwarding SaaS",
        desired_num_results=250,
        criteria=[GOOD, {"key": "has_api", "name": "API", "criterion": "Offers a public API."}],
        auto_data_sources=False,
        data_sources=[DataSource.LINKEDIN, "maps"],
        table=Table(id="tbl-1", run=True, columns=["c1"]),
        exclude_domains=["acme.com"],
        exclude_task_ids=("t-1", "t-2"),
    )
    assert request.body == {
        "query": "freight forwarding SaaS",
        "desired_num_results": 250,
        "auto_data_sources": False,
        "criteria": [
            {"key": "b2b", "name": "B2B", "criterion": "Sells mainly to other businesses."},
            {"key": "has_api", "name": "API", "criterion": "Offers a public API."},
        ],
        "data_sources": ["linkedin", "maps"],
        "table": {"id": "tbl-1", "run": True, "columns": ["c1"], "auto_import": False},
        "exclude_domains": ["acme.com"],
        "exclude_task_ids": ["t-1", "t-2"],
    }
    json.dumps(request.body)  # what goes on the wire must serialise


@pytest.mark.parametrize(
    ("kwargs", "field", "error"),
    [
        ({"query": ""}, "query", InvalidRequestError),
        ({"query": "   "}, "query", InvalidRequestError),
        ({"query": None}, "query", InvalidTypeError),
        ({"query": b"bytes"}, "query", InvalidTypeError),
        ({"desired_num_results": 0}, "desired_num_results", InvalidRequestError),
        ({"desired_num_results": 251}, "desired_num_results", InvalidRequestError),
        ({"desired_num_results": 10.0}, "desired_num_results", InvalidTypeError),
        ({"desired_num_results": True}, "desired_num_results", InvalidTypeError),
        ({"desired_num_results": "10"}, "desired_num_results", InvalidTypeError),
        ({"criteria": GOOD}, "criteria", InvalidTypeError),
        ({"criteria": ["b2b"]}, "criteria[0]", InvalidTypeError),
        ({"criteria": [Criterion("1abc", "Name", "long enough text")]}, "criteria[0].key",
         InvalidRequestError),
        ({"criteria": [Criterion("has-api", "Name", "long enough text")]}, "criteria[0].key",
         InvalidRequestError),
        ({"criteria": [Criterion("", "Name", "long enough text")]}, "criteria[0].key",
         InvalidRequestError),
        ({"criteria": [Criterion("abc\n", "Name", "long enough text")]}, "criteria[0].key",
         InvalidRequestError),
        ({"criteria": [GOOD, Criterion("ok", "", "long enough text")]}, "criteria[1].name",
         InvalidRequestError),
        ({"criteria": [Criterion("ok", "n" * 101, "long enough text")]}, "criteria[0].name",
         InvalidRequestError),
        ({"criteria": [Criterion("ok", "Name", "too short")]}, "criteria[0].criterion",
         InvalidRequestError),
        ({"criteria": [Criterion("ok", "Name", "x" * 501)]}, "criteria[0].criterion",
         InvalidRequestError),
        ({"criteria": [Criterion("ok", 5, "long enough text")]}, "criteria[0].name",  # type: ignore[arg-type]
         InvalidTypeError),
        ({"criteria": [GOOD, GOOD]}, "criteria[1].key", InvalidRequestError),
        ({"criteria": [{"key": "ok", "name": "Name"}]}, "criteria[0]", InvalidRequestError),
        ({"criteria": [{"key": "ok", "name": "N", "criterion": "long enough", "x": 1}]},
         "criteria[0]", InvalidRequestError),
        ({"auto_data_sources": "no"}, "auto_data_sources", InvalidTypeError),
        ({"data_sources": ["  "]}, "data_sources[0]", InvalidRequestError),
        ({"data_sources": "web_search"}, "data_sources", InvalidTypeError),
        ({"data_sources": [1]}, "data_sources[0]", InvalidTypeError),
        ({"table": "tbl-1"}, "table", InvalidTypeError),
        ({"table": {"name": "x"}}, "table", InvalidRequestError),
        ({"table": Table(id="")}, "table.id", InvalidRequestError),
        ({"table": Table(id="t", run="yes")}, "table.run", InvalidTypeError),  # type: ignore[arg-type]
        ({"table": Table(id="t", columns=("c", 2))}, "table.columns[1]", InvalidTypeError),  # type: ignore[arg-type]
        ({"exclude_domains": "acme.com"}, "exclude_domains", InvalidTypeError),
        ({"exclude_domains": ["acme.com", ""]}, "exclude_domains[1]", InvalidRequestError),
        ({"exclude_domains": ["acme.com", "not a domain"]}, "exclude_domains[1]",
         InvalidRequestError),
        ({"exclude_domains": ["localhost"]}, "exclude_domains[0]", InvalidRequestError),
        ({"exclude_task_ids": [f"t{i}" for i in range(101)]}, "exclude_task_ids",
         InvalidRequestError),
        ({"exclude_task_ids": [None]}, "exclude_task_ids[0]", InvalidTypeError),
        ({"exclude_task_ids": [".."]}, "exclude_task_ids[0]", InvalidRequestError),
    ],
)
def test_create_request_rejects_bad_input(
    kwargs: dict[str, Any], field: str, error: type[Exception]
) -> None:
    arguments: dict[str, Any] = {"query": "freight forwarding SaaS", **kwargs}
    with pytest.raises(error) as caught:
        create_request(arguments.pop("query"), **arguments)
    assert type(caught.value) is error
    assert caught.value.field == field  # type: ignore[attr-defined]
    assert str(caught.value).startswith(f"{field}: ")


def test_bad_input_errors_are_value_and_type_errors() -> None:
    with pytest.raises(ValueError, match="desired_num_results"):
        create_request("q", desired_num_results=0)
    with pytest.raises(TypeError, match="query"):
        create_request(42)


def test_exactly_100_exclude_task_ids_and_boundaries_are_accepted() -> None:
    request = create_request(
        "q",
        desired_num_results=1,
        exclude_task_ids=[f"t{i}" for i in range(100)],
        criteria=[Criterion("a", "n", "x" * 10), Criterion("b_2", "n" * 100, "x" * 500)],
    )
    assert len(request.body["exclude_task_ids"]) == 100


def test_data_sources_the_service_adds_are_sent_as_given() -> None:
    # The vendor's guide names "Extruct DB" among its sources: never stricter than the service.
    request = create_request("q", auto_data_sources=False, data_sources=[
        DataSource.WEB_SEARCH, "maps", "Extruct DB", "extruct_db"])
    assert request.body is not None
    assert request.body["data_sources"] == ["web_search", "maps", "Extruct DB", "extruct_db"]
    assert {type(source) for source in request.body["data_sources"]} == {str}


def test_internationalised_and_public_suffix_domains_are_sent_as_given() -> None:
    domains = ["über.de", "https://www.Straße.de/x", "xn--ber-goa.de", "shop.example.com.ar",
               "пример.рф", "i❤.ws"]
    request = create_request("q", exclude_domains=domains)
    assert request.body is not None
    assert request.body["exclude_domains"] == domains  # the service reduces them itself


def test_auto_data_sources_off_without_sources_is_sent_with_a_warning() -> None:
    # The reference pages do not forbid it (the service then picks), so neither does the SDK.
    with pytest.warns(UserWarning, match="auto_data_sources=False without data_sources"):
        request = create_request("q", auto_data_sources=False)
    assert request.body == {"query": "q", "desired_num_results": 100, "auto_data_sources": False}


def test_other_requests() -> None:
    assert get_request("abc") == Request(Kind.GET, "GET", "/v1/discovery_tasks/abc")
    assert get_request("a/b%c").path == "/v1/discovery_tasks/a%2Fb%25c"
    assert list_request(offset=40, limit=20) == Request(
        Kind.LIST, "GET", "/v1/discovery_tasks", params=(("offset", "40"), ("limit", "20"))
    )
    assert results_request("abc", offset=0, limit=250) == Request(
        Kind.RESULTS, "GET", "/v1/discovery_tasks/abc/results",
        params=(("offset", "0"), ("limit", "250")),
    )
    assert resume_request("abc", desired_new_results=0) == Request(
        Kind.RESUME, "POST", "/v1/discovery_tasks/abc/resume", body={"desired_new_results": 0},
        idempotent=False,
    )


@pytest.mark.parametrize(
    "pasted",
    [
        "https://app.extruct.ai/deep-search/tasks/abc-123",
        "https://app.extruct.ai/deep-search/tasks/abc-123/",
        "https://api.extruct.ai/v1/discovery_tasks/abc-123",
        "  abc-123\n",
    ],
)
def test_task_ids_as_users_paste_them(pasted: str) -> None:
    assert get_request(pasted).path == "/v1/discovery_tasks/abc-123"


UUID = "0b6a1c1e-3f2a-4d4b-9c1e-2f3a4b5c6d7e"


@pytest.mark.parametrize(
    "pasted",
    [
        f"https://app.extruct.ai/tasks/{UUID}/results",
        f"https://app.extruct.ai/tasks/{UUID}/results?tab=scores#row-3",
        f"https://app.extruct.ai/w/acme/deep-search/tasks/{UUID}/results/export",
        f"HTTPS://APP.EXTRUCT.AI/Tasks/{UUID}/Results",
        f"https://api.extruct.ai/v1/discovery_tasks/{UUID}/results?offset=0&limit=50",
        f"https://api.extruct.ai/v1/discovery_tasks/{UUID}/resume",
        f"https://app.extruct.ai/w/acme/deep-search/{UUID}/results",  # no tasks/: the UUID
        f"https://app.extruct.ai/w/acme/deep-search/{UUID}?tab=results",
    ],
)
def test_the_id_is_the_segment_after_tasks_wherever_it_sits(pasted: str) -> None:
    assert get_request(pasted).path == f"/v1/discovery_tasks/{UUID}"
    assert create_request("q", exclude_task_ids=[pasted]).body["exclude_task_ids"] == [UUID]


@pytest.mark.parametrize(
    "pasted",
    [
        "https://app.extruct.ai/tasks",
        "https://app.extruct.ai/tasks/",
        "https://api.extruct.ai/v1/discovery_tasks//",
        "https://app.extruct.ai/tasks/../",
        "https://app.extruct.ai/tasks/a%20b c/results",
        "http://[::1/tasks/abc",
    ],
)
def test_urls_that_hold_no_task_id_are_refused(pasted: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        get_request(pasted)
    assert caught.value.field == "task_id"
    with pytest.raises(InvalidRequestError) as caught:
        create_request("q", exclude_task_ids=["t1", pasted])
    assert caught.value.field == "exclude_task_ids[1]"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: get_request(""), "task_id"),
        (lambda: get_request(7), "task_id"),
        (lambda: get_request("."), "task_id"),
        (lambda: get_request(".."), "task_id"),
        (lambda: resume_request("..", desired_new_results=1), "task_id"),
        (lambda: results_request("a b"), "task_id"),
        (lambda: get_request("abc\ud800"), "task_id"),
        (lambda: get_request("a\x00b"), "task_id"),
        (lambda: get_request("https://app.extruct.ai/"), "task_id"),
        (lambda: list_request(offset=-1), "offset"),
        (lambda: list_request(limit=0), "limit"),
        (lambda: results_request("t", limit="50"), "limit"),
        (lambda: resume_request("t", desired_new_results=251), "desired_new_results"),
        (lambda: resume_request("t", desired_new_results=-1), "desired_new_results"),
    ],
)
def test_other_requests_reject_bad_input(build: Any, field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        build()
    assert caught.value.field == field


# -- decoding ---------------------------------------------------------------------

URL = "https://api.extruct.test/v1/discovery_tasks"
CREATE = create_request("q")
RESUME = resume_request("t1")


def answer(status: int, body: Any = None, **headers: str) -> HTTPResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HTTPResponse(status, {k.replace("_", "-"): v for k, v in headers.items()}, raw)


TASK = {
    "id": "t1", "created_at": "2026-11-23T10:00:00Z", "status": "created", "query": "q",
    "desired_num_results": 100,
}


def test_decode_gives_the_model_each_request_asks_for() -> None:
    reply = decode(CREATE, answer(200, TASK, x_request_id="r-1", date="Mon, 23 Nov 2026"
                                  " 10:00:05 GMT"), url=URL)
    assert isinstance(reply.value, TaskState)
    assert (reply.value.id, reply.request_id) == ("t1", "r-1")
    assert reply.date == datetime(2026, 11, 23, 10, 0, 5, tzinfo=timezone.utc)
    listed = decode(list_request(), answer(200, [TASK, {**TASK, "id": "t2"}]), url=URL)
    assert [state.id for state in listed.value] == ["t1", "t2"]
    page = decode(results_request("t1"), answer(200, {**TASK, "results": [{"id": "r1"}]}),
                  url=URL).value
    assert isinstance(page, ResultsPage)
    assert (page.state.id, [row.id for row in page.rows]) == ("t1", ["r1"])
    assert decode(get_request("t1"), answer(200, TASK), url=URL) == Reply(
        decode(CREATE, answer(200, TASK), url=URL).value
    )


def test_decode_raises_on_unreadable_2xx() -> None:
    with pytest.raises(APIResponseError, match="not valid JSON"):
        decode(CREATE, answer(200, b'{"id": "t1", "sta'), url=URL)


@pytest.mark.parametrize(
    ("request_", "body", "problem"),
    [
        (CREATE, [TASK], "Expected `object`, got `array`"),
        (CREATE, {"id": "t1"}, "missing required field `created_at`"),
        (list_request(), TASK, "Expected `array`, got `object`"),
        (list_request(), [TASK, "t2"], "Expected `object`, got `str` - at `$[1]`"),
        (results_request("t1"), {**TASK, "results": None}, "got `null` - at `$.results`"),
        (results_request("t1"), TASK, "missing required field `results`"),
        (results_request("t1"), {**TASK, "results": [None]}, "got `null` - at `$.results[0]`"),
        (results_request("t1"), {**TASK, "results": ["row"]}, "at `$.results[0]`"),
    ],
)
def test_decode_names_what_is_wrong_with_a_2xx(request_: Request, body: Any, problem: str) -> None:
    with pytest.raises(APIResponseError, match=re.escape(problem)):
        decode(request_, answer(200, body), url=URL)


@pytest.mark.parametrize(
    ("request_", "status", "error"),
    [
        (CREATE, 400, BadRequestError),
        (RESUME, 400, TaskExhaustedError),
        (CREATE, 401, AuthenticationError),
        (CREATE, 402, PaymentRequiredError),
        (CREATE, 403, PermissionDeniedError),
        (CREATE, 404, NotFoundError),
        (CREATE, 408, APIStatusError),
        (CREATE, 422, UnprocessableEntityError),
        (CREATE, 429, RateLimitError),
        (CREATE, 500, ServerError),
        (CREATE, 502, ServerError),
        (CREATE, 503, ServerError),
        (CREATE, 504, ServerError),
    ],
)
def test_decode_maps_statuses(request_: Request, status: int, error: type[Exception]) -> None:
    with pytest.raises(APIStatusError) as caught:
        decode(request_, answer(status, {"detail": "nope"}, x_request_id="req-9"), url=URL)
    assert type(caught.value) is error
    assert caught.value.status == status
    assert caught.value.body == {"detail": "nope"}
    assert caught.value.request_id == "req-9"
    assert str(caught.value).startswith(f"{status} ")
    assert "nope" in str(caught.value)
    assert "req-9" in str(caught.value)


def test_422_detail_becomes_readable_lines() -> None:
    body = {
        "detail": [
            {"loc": ["body", "criteria", 0, "key"], "msg": "String should match pattern",
             "type": "string_pattern_mismatch"},
            {"loc": ["body", "desired_num_results"], "msg": "Input should be <= 250",
             "type": "less_than_equal"},
        ]
    }
    with pytest.raises(UnprocessableEntityError) as caught:
        decode(CREATE, answer(422, body), url=URL)
    assert caught.value.messages == (
        "body.criteria.0.key: String should match pattern",
        "body.desired_num_results: Input should be <= 250",
    )
    assert "body.criteria.0.key: String should match pattern" in str(caught.value)


def test_402_exposes_detail_error() -> None:
    body = {"detail": {"error": "insufficient_credits", "message": "Top up"}}
    with pytest.raises(PaymentRequiredError) as caught:
        decode(CREATE, answer(402, body), url=URL)
    assert caught.value.error == "insufficient_credits"
    assert caught.value.messages == ("insufficient_credits: Top up",)


def test_402_without_code() -> None:
    with pytest.raises(PaymentRequiredError) as caught:
        decode(CREATE, answer(402, b"<html>pay</html>"), url=URL)
    assert caught.value.error is None
    assert caught.value.body == "<html>pay</html>"


def test_429_carries_retry_after() -> None:
    with pytest.raises(RateLimitError) as caught:
        decode(CREATE, answer(429, {"detail": "slow down"}, retry_after="7"), url=URL)
    assert caught.value.retry_after == 7.0


# -- Retry-After --------------------------------------------------------------------

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("0", 0.0),
        ("3", 3.0),
        (" 2.5 ", 2.5),
        ("-4", None),
        ("soon", None),
        ("", None),
        ("nan", None),
        ("inf", None),
        ("Mon, 99 Foo 2026 99:99:99 GMT", None),
    ],
)
def test_parse_retry_after_values(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_date_against_the_answers_date() -> None:
    later = format_datetime(NOW + timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(later, date=format_datetime(NOW, usegmt=True)) == 42.0
    earlier = format_datetime(NOW - timedelta(seconds=5), usegmt=True)
    assert parse_retry_after(earlier, date=format_datetime(NOW, usegmt=True)) == 0.0


def test_parse_retry_after_date_against_the_local_clock() -> None:
    in_a_minute = datetime.now(timezone.utc) + timedelta(seconds=61)
    wait = parse_retry_after(format_datetime(in_a_minute, usegmt=True))
    assert wait is not None
    assert 59.0 <= wait <= 61.0


@given(st.text(max_size=40))
def test_parse_retry_after_never_crashes_and_is_never_negative(value: str) -> None:
    wait = parse_retry_after(value, date=value)
    assert wait is None or wait >= 0.0


def test_error_bodies_json_or_text() -> None:
    with pytest.raises(NotFoundError) as caught:
        decode(CREATE, answer(404, {"detail": "Task not found"}), url=URL)
    assert caught.value.body == {"detail": "Task not found"}
    with pytest.raises(ServerError) as server_error:
        decode(CREATE, answer(502, b"<html>bad gateway</html>"), url=URL)
    assert server_error.value.body == "<html>bad gateway</html>"
    with pytest.raises(ServerError) as deep:
        decode(CREATE, answer(500, b"[" * 100_000), url=URL)
    assert deep.value.body.startswith("[[[")


def test_error_messages_are_bounded_excerpts() -> None:
    page = ("<html><body>" + "proxy says no " * 2000 + "</body></html>").encode()
    with pytest.raises(ServerError) as caught:
        decode(CREATE, answer(502, page), url=URL)
    assert len(str(caught.value)) < MESSAGE_EXCERPT + 100
    (message,) = caught.value.messages
    assert message.startswith("<html><body>proxy says no proxy")
    assert message.endswith("…")
    validation = {"detail": [{"loc": ["body", f"f{i}"], "msg": "bad"} for i in range(500)]}
    with pytest.raises(UnprocessableEntityError) as invalid:
        decode(CREATE, answer(422, validation), url=URL)
    assert len(invalid.value.messages) == 20
