"""The Deep Search protocol with no I/O: build requests, decipher answers.

Every function here is plain and synchronous: a request is built (and its arguments
checked against the service's rules, raising :class:`InvalidRequestError` naming
the field) before anything touches the network, and an answer
``(status, headers, body)`` is turned into JSON data or the matching
:class:`APIStatusError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import attrs

from . import _arguments as check
from . import _constraints as rules
from ._converter import converter
from ._errors import (
    APIResponseError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InvalidRequestError,
    InvalidTypeError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitError,
    ServerError,
    TaskExhaustedError,
    UnprocessableEntityError,
)
from ._models import Criterion, DataSource, Table

__all__ = [
    "TASKS_PATH",
    "Request",
    "Response",
    "create_request",
    "decode",
    "get_request",
    "list_request",
    "parse_retry_after",
    "results_request",
    "resume_request",
]

TASKS_PATH = "/v1/discovery_tasks"


def _json_loads() -> Callable[[bytes], Any]:
    """Pick the JSON parser: orjson's when the ``fast`` extra is installed (twice as fast)."""
    try:
        import orjson
    except ImportError:
        return json.loads
    return orjson.loads


#: Parse a JSON body; both parsers raise a ValueError on bad JSON.
loads = _json_loads()


@attrs.frozen
class Request:
    """One HTTP request to the service, before auth and base URL are added.

    ``idempotent`` is False for requests whose repetition has an effect the caller
    pays for (create, resume); they are never blindly re-sent.
    """

    method: str
    path: str
    params: Mapping[str, str] = attrs.field(factory=dict)
    body: Any = None
    idempotent: bool = True


@attrs.frozen
class Response:
    """An HTTP answer as plain values; ``headers`` keys are case-insensitive."""

    status: int
    headers: Mapping[str, str]
    body: bytes


# -- building requests --------------------------------------------------------------


def create_request(
    query: object,
    *,
    desired_num_results: object = 100,
    criteria: object = None,
    auto_data_sources: object = True,
    data_sources: object = None,
    table: object = None,
    exclude_domains: object = None,
    exclude_task_ids: object = None,
) -> Request:
    """Build ``POST /v1/discovery_tasks``, checking every argument first."""
    low, high = rules.DESIRED_NUM_RESULTS
    body: dict[str, Any] = {
        "query": check.text("query", query),
        "desired_num_results": check.integer(
            "desired_num_results", desired_num_results, low=low, high=high
        ),
        "auto_data_sources": check.boolean("auto_data_sources", auto_data_sources),
    }
    if criteria is not None:
        body["criteria"] = [converter.unstructure(c) for c in _criteria(criteria)]
    if data_sources is not None:
        body["data_sources"] = _data_sources(data_sources)
    elif body["auto_data_sources"] is False:
        raise InvalidRequestError(
            "data_sources", "required when auto_data_sources is False"
        )
    if table is not None:
        body["table"] = converter.unstructure(_table(table))
    if exclude_domains is not None:
        body["exclude_domains"] = check.strings("exclude_domains", exclude_domains)
    if exclude_task_ids is not None:
        ids = check.strings("exclude_task_ids", exclude_task_ids)
        if len(ids) > rules.MAX_EXCLUDE_TASK_IDS:
            raise InvalidRequestError(
                "exclude_task_ids",
                f"at most {rules.MAX_EXCLUDE_TASK_IDS} ids, got {len(ids)}",
            )
        body["exclude_task_ids"] = ids
    return Request("POST", TASKS_PATH, body=body, idempotent=False)


def get_request(task_id: object) -> Request:
    """Build ``GET /v1/discovery_tasks/{task_id}``."""
    return Request("GET", _task_path(task_id))


def list_request(*, offset: object = 0, limit: object = 20) -> Request:
    """Build ``GET /v1/discovery_tasks?offset&limit`` (newest first)."""
    return Request("GET", TASKS_PATH, params=_window(offset, limit))


def results_request(task_id: object, *, offset: object = 0, limit: object = 50) -> Request:
    """Build ``GET /v1/discovery_tasks/{task_id}/results?offset&limit``."""
    return Request("GET", _task_path(task_id) + "/results", params=_window(offset, limit))


def resume_request(task_id: object, *, desired_new_results: object = 25) -> Request:
    """Build ``POST /v1/discovery_tasks/{task_id}/resume``."""
    low, high = rules.DESIRED_NEW_RESULTS
    count = check.integer("desired_new_results", desired_new_results, low=low, high=high)
    return Request(
        "POST",
        _task_path(task_id) + "/resume",
        body={"desired_new_results": count},
        idempotent=False,
    )


def _task_path(task_id: object) -> str:
    return f"{TASKS_PATH}/{quote(check.text('task_id', task_id), safe='')}"


def _window(offset: object, limit: object) -> dict[str, str]:
    start = check.integer("offset", offset, low=0)
    size = check.integer("limit", limit, low=1)
    return {"offset": str(start), "limit": str(size)}


def _data_sources(value: object) -> list[str]:
    sources = []
    for i, item in enumerate(check.sequence("data_sources", value)):
        field = f"data_sources[{i}]"
        if check.text(field, item) not in rules.DATA_SOURCES:
            allowed = ", ".join(rules.DATA_SOURCES)
            raise InvalidRequestError(field, f"unknown data source {item!r}; use {allowed}")
        sources.append(DataSource(item).value)
    return sources


def _criteria(value: object) -> list[Criterion]:
    checked: list[Criterion] = []
    seen: set[str] = set()
    for i, item in enumerate(check.sequence("criteria", value)):
        field = f"criteria[{i}]"
        criterion = _criterion(field, item)
        if criterion.key in seen:
            raise InvalidRequestError(f"{field}.key", f"duplicate key {criterion.key!r}")
        seen.add(criterion.key)
        checked.append(criterion)
    return checked


_CRITERION_FIELDS = frozenset({"key", "name", "criterion"})


def _criterion(field: str, item: object) -> Criterion:
    if isinstance(item, Mapping):
        if set(item) != _CRITERION_FIELDS:
            unknown, missing = set(item) - _CRITERION_FIELDS, _CRITERION_FIELDS - set(item)
            problem = f"unknown fields {sorted(unknown)}" if unknown else ""
            problem += "; " if unknown and missing else ""
            problem += f"missing fields {sorted(missing)}" if missing else ""
            raise InvalidRequestError(field, problem)
        item = Criterion(key=item["key"], name=item["name"], criterion=item["criterion"])
    if not isinstance(item, Criterion):
        raise InvalidTypeError(field, f"expected a Criterion, got {type(item).__name__}")
    key = check.text(f"{field}.key", item.key)
    if not rules.CRITERION_KEY_PATTERN.match(key):
        raise InvalidRequestError(
            f"{field}.key",
            f"{key!r} must start with a letter and hold only letters, digits and _",
        )
    check.text(f"{field}.name", item.name, length=rules.CRITERION_NAME_LENGTH)
    check.text(f"{field}.criterion", item.criterion, length=rules.CRITERION_TEXT_LENGTH)
    return item


def _table(value: object) -> Table:
    if isinstance(value, Mapping):
        try:
            value = Table(**value)
        except TypeError as exc:
            raise InvalidRequestError("table", str(exc)) from None
    if not isinstance(value, Table):
        raise InvalidTypeError("table", f"expected a Table, got {type(value).__name__}")
    check.text("table.id", value.id)
    check.boolean("table.run", value.run)
    check.boolean("table.auto_import", value.auto_import)
    if value.columns is not None:
        value = attrs.evolve(value, columns=tuple(check.strings("table.columns", value.columns)))
    return value


# -- reading answers ----------------------------------------------------------------


def decode(request: Request, response: Response, *, url: str) -> Any:
    """Return the JSON body of a 2xx answer, or raise the error it stands for.

    Raises:
        APIStatusError: (a subclass per status) for a non-2xx answer.
        APIResponseError: for a 2xx answer whose body is not JSON.
    """
    if 200 <= response.status < 300:
        try:
            return loads(response.body)
        except ValueError:
            raise APIResponseError(
                f"{request.method} {url}: {response.status} answer is not valid JSON"
                f" ({len(response.body)} bytes)",
                method=request.method,
                url=url,
            ) from None
    raise status_error(request, response, url=url)


def status_error(request: Request, response: Response, *, url: str) -> APIStatusError:
    """Build the :class:`APIStatusError` subclass matching an error answer."""
    body = _body(response.body)
    messages = _messages(body)
    status = response.status
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    summary = f"{status} {reason} for {request.method} {url}"
    if messages:
        summary += ": " + "; ".join(messages)
    request_id = response.headers.get("x-request-id")
    if request_id:
        summary += f" (request id {request_id})"
    return _error_class(request, status)(
        summary,
        method=request.method,
        url=url,
        status=status,
        body=body,
        request_id=request_id,
        retry_after=parse_retry_after(
            response.headers.get("retry-after"), date=response.headers.get("date")
        ),
        messages=messages,
    )


def _error_class(request: Request, status: int) -> type[APIStatusError]:
    if status == 400:
        return TaskExhaustedError if request.path.endswith("/resume") else BadRequestError
    if status >= 500:
        return ServerError
    return {
        401: AuthenticationError,
        402: PaymentRequiredError,
        404: NotFoundError,
        422: UnprocessableEntityError,
        429: RateLimitError,
    }.get(status, APIStatusError)


def _body(raw: bytes) -> Any:
    try:
        return loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def _messages(body: Any) -> tuple[str, ...]:
    detail = body.get("detail") if isinstance(body, Mapping) else body
    if isinstance(detail, str):
        return (detail,) if detail else ()
    if isinstance(detail, Mapping):
        parts = [str(detail[key]) for key in ("error", "message") if detail.get(key)]
        return (": ".join(parts),) if parts else ()
    if isinstance(detail, list):
        return tuple(_validation_line(item) for item in detail)
    return ()


def _validation_line(item: object) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    location = ".".join(str(part) for part in item.get("loc") or ())
    message = str(item.get("msg", "invalid"))
    return f"{location}: {message}" if location else message


def parse_retry_after(value: str | None, *, date: str | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or None if absent or junk.

    The header holds seconds or an HTTP date. A date is measured against the
    answer's own ``Date`` header when present (immune to a skewed local clock),
    else against the local clock. Never negative.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None
    when = _http_date(value)
    if when is None:
        return None
    now = _http_date(date) if date else None
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
