"""The Deep Search protocol with no I/O: build requests, decide what answers mean.

Every function here is plain and synchronous. A request is built (its arguments
checked against the service's rules, raising :class:`InvalidRequestError` naming the
field) before anything touches the network. An answer is turned, in one place
(:func:`decode`), into the model the request asked for, or into the error it stands
for: a :class:`APIStatusError` subclass for an error status, an
:class:`APIResponseError` for a 2xx whose body is not what the reference pages
describe. Nothing else leaves this module.
"""

from __future__ import annotations

import enum
import functools
import json
import math
import re
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlsplit

import attrs
import msgspec

from . import _arguments as check
from . import _constraints as rules
from ._converter import converter
from ._domains import registered_domain
from ._errors import (
    APIResponseError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InvalidRequestError,
    InvalidTypeError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TaskExhaustedError,
    UnprocessableEntityError,
)
from ._models import CompanyResult, Criterion, DataSource, Table, TaskState
from ._transport import HTTPResponse

__all__ = [
    "TASKS_PATH",
    "Kind",
    "Reply",
    "Request",
    "ResultsPage",
    "create_request",
    "decode",
    "encode_body",
    "get_request",
    "list_request",
    "parse_retry_after",
    "results_request",
    "resume_request",
    "service_date",
    "task_id",
]

TASKS_PATH = "/v1/discovery_tasks"
#: The most of an error body that goes into an exception's message.
MESSAGE_EXCERPT = 300

_T = TypeVar("_T")


class Kind(str, enum.Enum):
    """Which endpoint a request calls, and so what its answer decodes into."""

    CREATE = "create"
    LIST = "list"
    GET = "get"
    RESULTS = "results"
    RESUME = "resume"


@attrs.frozen
class Request:
    """One call to the service, before the base URL and auth are added.

    ``idempotent`` is False for the calls whose repetition costs credits (create,
    resume): the pipeline never re-sends them after a failure that may have taken
    effect without first looking for that effect.
    """

    kind: Kind
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    body: Mapping[str, Any] | None = None
    idempotent: bool = True


@attrs.frozen
class ResultsPage:
    """One page of results, with the task state that came with it."""

    state: TaskState
    rows: list[CompanyResult]


# Made for every answer and never changed after: a slotted attrs class without
# frozen's per-field ``object.__setattr__`` (3x the cost to build).
@attrs.define
class Reply(Generic[_T]):
    """A decoded answer: the model, and what the answer said about itself.

    Attributes:
        value: the model the request asked for.
        request_id: the answer's ``x-request-id`` header, if any.
        date_header: the answer's ``Date`` header, if any.
    """

    value: _T
    request_id: str | None = None
    date_header: str | None = None

    @property
    def date(self) -> datetime | None:
        """The service's clock when it answered, from ``Date`` (parsed when asked for)."""
        return service_date(self.date_header)


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
        # The reference pages do not forbid it; the service then picks its own.
        warnings.warn(
            "auto_data_sources=False without data_sources: the service decides where to"
            " search",
            UserWarning,
            stacklevel=3,
        )
    if table is not None:
        body["table"] = converter.unstructure(_table(table))
    if exclude_domains is not None:
        body["exclude_domains"] = _domains(exclude_domains)
    if exclude_task_ids is not None:
        ids = [
            task_id(f"exclude_task_ids[{i}]", item)
            for i, item in enumerate(check.sequence("exclude_task_ids", exclude_task_ids))
        ]
        if len(ids) > rules.MAX_EXCLUDE_TASK_IDS:
            raise InvalidRequestError(
                "exclude_task_ids",
                f"at most {rules.MAX_EXCLUDE_TASK_IDS} ids, got {len(ids)}",
            )
        body["exclude_task_ids"] = ids
    return Request(Kind.CREATE, "POST", TASKS_PATH, body=body, idempotent=False)


def get_request(task: object) -> Request:
    """Build ``GET /v1/discovery_tasks/{task_id}``."""
    if type(task) is str:
        return _get_request(task)  # the request a poll sends again and again: kept
    return Request(Kind.GET, "GET", _task_path(task))


@functools.lru_cache(maxsize=256)
def _get_request(task: str) -> Request:
    return Request(Kind.GET, "GET", _task_path(task))


def list_request(*, offset: object = 0, limit: object = 20) -> Request:
    """Build ``GET /v1/discovery_tasks?offset&limit`` (newest first)."""
    return Request(Kind.LIST, "GET", TASKS_PATH, params=_window(offset, limit))


def results_request(task: object, *, offset: object = 0, limit: object = 50) -> Request:
    """Build ``GET /v1/discovery_tasks/{task_id}/results?offset&limit``."""
    return Request(
        Kind.RESULTS, "GET", _task_path(task) + "/results", params=_window(offset, limit)
    )


def resume_request(task: object, *, desired_new_results: object = 25) -> Request:
    """Build ``POST /v1/discovery_tasks/{task_id}/resume``."""
    low, high = rules.DESIRED_NEW_RESULTS
    count = check.integer("desired_new_results", desired_new_results, low=low, high=high)
    return Request(
        Kind.RESUME,
        "POST",
        _task_path(task) + "/resume",
        body={"desired_new_results": count},
        idempotent=False,
    )


def encode_body(request: Request) -> bytes | None:
    """The request's body as compact JSON, or None."""
    if request.body is None:
        return None
    return json.dumps(request.body, separators=(",", ":"), ensure_ascii=False).encode()


def task_id(field: str, value: object) -> str:
    """Check a task id; a dashboard or API URL ending in the id gives the id.

    The vendor's own guidance accepts ``https://app.extruct.ai/.../<task id>``.

    Raises:
        InvalidRequestError: not an id (empty, ``.``/``..``, whitespace or control
            characters, not encodable), naming ``field``.
    """
    if type(value) is str and _PLAIN_ID.fullmatch(value):  # what ids look like: fast
        return value
    text = check.text(field, value).strip()
    if text.lower().startswith(("https://", "http://")):
        segments = [part for part in urlsplit(text).path.split("/") if part]
        if not segments:
            raise InvalidRequestError(field, "a URL that does not end in a task id")
        text = segments[-1]
    if text in (".", ".."):
        raise InvalidRequestError(field, f"{text!r} is not a task id")
    if _NOT_IN_AN_ID.search(text):
        raise InvalidRequestError(field, "a task id holds no spaces or control characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequestError(field, "not valid Unicode text") from None
    return text


_NOT_IN_AN_ID = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
# Letters, digits, "-" and "_" (a UUID): safe in a URL path as it is.
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]+")


def _task_path(task: object) -> str:
    if type(task) is str and _PLAIN_ID.fullmatch(task):
        return f"{TASKS_PATH}/{task}"
    return f"{TASKS_PATH}/{quote(task_id('task_id', task), safe='')}"


def _window(offset: object, limit: object) -> tuple[tuple[str, str], ...]:
    # offset before limit, as the vendor's own client sends them.
    start = check.integer("offset", offset, low=0)
    size = check.integer("limit", limit, low=1)
    return (("offset", str(start)), ("limit", str(size)))


def _domains(value: object) -> list[str]:
    domains = check.strings("exclude_domains", value)
    for i, domain in enumerate(domains):
        if registered_domain(domain) is None:
            raise InvalidRequestError(
                f"exclude_domains[{i}]", f"{domain!r} is not a domain or a URL with one"
            )
    return domains  # sent as given: the service reduces them to registered domains


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
    if not rules.CRITERION_KEY_PATTERN.fullmatch(key):
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


@attrs.frozen
class _ResultsAnswer(TaskState):
    """A results page on the wire: the task's fields and its ``results`` rows."""

    results: list[CompanyResult] = attrs.field(kw_only=True)  # required


# One decoder per answer shape, built once: msgspec decodes straight from the bytes into
# the models (no dict stage) and names the path of whatever does not fit.
_DECODERS: dict[Kind, msgspec.json.Decoder[Any]] = {
    Kind.CREATE: msgspec.json.Decoder(TaskState),
    Kind.GET: msgspec.json.Decoder(TaskState),
    Kind.RESUME: msgspec.json.Decoder(TaskState),
    Kind.LIST: msgspec.json.Decoder(list[TaskState]),
    Kind.RESULTS: msgspec.json.Decoder(_ResultsAnswer),
}
_TASK_FIELDS = tuple(field.name for field in attrs.fields(TaskState))


def decode(request: Request, response: HTTPResponse, *, url: str) -> Reply[Any]:
    """Turn an answer into the model ``request`` asked for, or raise what it means.

    A create, get or resume gives a :class:`TaskState`; a list page a
    ``list[TaskState]``; a results page a :class:`ResultsPage`.

    Raises:
        APIStatusError: (a subclass per status) for a non-2xx answer.
        APIResponseError: for a 2xx answer that is not the documented JSON; its message
            names the field (``$.results[3].scores.fit.grade``) and what was wrong.
    """
    if not 200 <= response.status < 300:
        raise status_error(request, response, url=url)
    try:
        value = _DECODERS[request.kind].decode(response.body)
    except msgspec.ValidationError as exc:
        # Well-formed JSON of the wrong shape will not change on a retry.
        raise _shape_error(request, url, f"unexpected answer: {exc}", retryable=False) from None
    except RecursionError:
        raise _shape_error(
            request, url, "unexpected answer: nested too deep", retryable=False
        ) from None
    except msgspec.DecodeError:
        raise _shape_error(
            request, url, f"{response.status} answer is not valid JSON ({len(response.body)} bytes)"
        ) from None
    if request.kind is Kind.RESULTS:
        state = TaskState(*(getattr(value, name) for name in _TASK_FIELDS))
        value = ResultsPage(state, value.results)
    headers = response.headers
    return Reply(value, headers.get("x-request-id"), headers.get("date"))


def _shape_error(
    request: Request, url: str, problem: str, *, retryable: bool = True
) -> APIResponseError:
    return APIResponseError(
        f"{request.method} {url}: {problem}",
        method=request.method,
        url=url,
        retryable=retryable,
    )


def status_error(request: Request, response: HTTPResponse, *, url: str) -> APIStatusError:
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
        summary += ": " + _excerpt("; ".join(messages))
    request_id = response.headers.get("x-request-id")
    if request_id:
        summary += f" (request id {_excerpt(request_id, 100)})"
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
        return TaskExhaustedError if request.kind is Kind.RESUME else BadRequestError
    if status >= 500:
        return ServerError
    return {
        401: AuthenticationError,
        402: PaymentRequiredError,
        403: PermissionDeniedError,
        404: NotFoundError,
        422: UnprocessableEntityError,
        429: RateLimitError,
    }.get(status, APIStatusError)


def _body(raw: bytes) -> Any:
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return raw.decode("utf-8", errors="replace")


def _messages(body: Any) -> tuple[str, ...]:
    detail = body.get("detail") if isinstance(body, Mapping) else body
    if isinstance(detail, str):
        text = " ".join(detail.split())  # an HTML or text page: one line
        return (_excerpt(text),) if text else ()
    if isinstance(detail, Mapping):
        parts = [str(detail[key]) for key in ("error", "message") if detail.get(key)]
        return (_excerpt(": ".join(parts)),) if parts else ()
    if isinstance(detail, list):
        return tuple(_excerpt(_validation_line(item)) for item in detail[:20])
    return ()


def _excerpt(text: str, limit: int = MESSAGE_EXCERPT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _validation_line(item: object) -> str:
    if not isinstance(item, Mapping):
        return str(item)
    location = ".".join(str(part) for part in item.get("loc") or ())
    message = str(item.get("msg", "invalid"))
    return f"{location}: {message}" if location else message


def parse_retry_after(value: str | None, *, date: str | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or None if absent or unusable.

    The header holds seconds or an HTTP date. A date is measured against the
    answer's own ``Date`` header when present (immune to a skewed local clock), else
    against the local clock; a date in the past means "now" (0). A negative, infinite
    or unreadable value is treated as absent: the client's own backoff applies.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    when = service_date(value)
    if when is None:
        return None
    now = service_date(date) if date else None
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def service_date(value: str | None) -> datetime | None:
    """An HTTP date (a ``Date`` or ``Retry-After`` header) as an aware datetime."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
