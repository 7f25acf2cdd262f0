"""The Deep Search protocol's way in, with no I/O: what an answer means.

:func:`decode` is the one place an answer becomes a model or an error: the model the
request asked for (msgspec decodes straight from the bytes into the models, and names
the path of whatever does not fit), a :class:`APIStatusError` subclass for an error
status, an :class:`APIResponseError` for a 2xx whose body is not what the reference
pages describe. Nothing else leaves this module. Also here: what an answer says about
itself (``x-request-id``, ``Date``, ``Retry-After``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any, Generic, TypeVar

import attrs
import msgspec

from .._errors import (
    APIResponseError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TaskExhaustedError,
    UnprocessableEntityError,
)
from .._models import CompanyResult, TaskState
from .._transport import HTTPResponse
from ._requests import Kind, Request

__all__ = [
    "MESSAGE_EXCERPT",
    "Reply",
    "ResultsPage",
    "decode",
    "parse_retry_after",
    "service_date",
    "status_error",
]

#: The most of an error body that goes into an exception's message.
MESSAGE_EXCERPT = 300

_T = TypeVar("_T")


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
