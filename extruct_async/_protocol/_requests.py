"""The Deep Search protocol's way out, with no I/O: building each request.

Every function here is plain and synchronous. A request is built, its arguments
checked against the service's rules (``_constraints``), before anything touches the
network: bad input raises :class:`InvalidRequestError` (or :class:`InvalidTypeError`)
naming the field, and nothing is sent. A :class:`Request` carries its :class:`Kind`,
which tells ``_answers.decode`` what its answer becomes.
"""

from __future__ import annotations

import enum
import functools
import json
import re
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import attrs

from .. import _arguments as check
from .. import _constraints as rules
from .._converter import converter
from .._domains import registered_domain
from .._errors import InvalidRequestError, InvalidTypeError
from .._models import Criterion, DataSource, Table

__all__ = [
    "TASKS_PATH",
    "Kind",
    "Request",
    "create_request",
    "encode_body",
    "get_request",
    "list_request",
    "results_request",
    "resume_request",
    "task_id",
]

TASKS_PATH = "/v1/discovery_tasks"


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
    """Check a task id; a dashboard or API URL of a task gives the id.

    In a URL, the id is the path segment after ``tasks`` or ``discovery_tasks``,
    wherever it sits and whatever follows it (``https://app.extruct.ai/tasks/<id>/results``,
    as the vendor's own guidance reads it); in a URL with neither, the last segment that
    is a UUID, else the last segment (``https://app.extruct.ai/.../<id>``).

    Raises:
        InvalidRequestError: not an id (empty, ``.``/``..``, whitespace or control
            characters, not encodable, a URL that holds no id), naming ``field``.
    """
    if type(value) is str and _PLAIN_ID.fullmatch(value):  # what ids look like: fast
        return value
    text = check.text(field, value).strip()
    if text.lower().startswith(("https://", "http://")):
        text = _id_in_url(field, text)
    if text in (".", ".."):
        raise InvalidRequestError(field, f"{text!r} is not a task id")
    if _NOT_IN_AN_ID.search(text):
        raise InvalidRequestError(field, "a task id holds no spaces or control characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequestError(field, "not valid Unicode text") from None
    return text


def _id_in_url(field: str, url: str) -> str:
    try:
        path = urlsplit(url).path
    except ValueError:  # a malformed host such as "[::1"
        raise InvalidRequestError(field, "not a URL that holds a task id") from None
    segments = [part for part in path.split("/") if part]
    for i, segment in enumerate(segments):
        if segment.lower() in _TASKS_SEGMENTS:
            if i + 1 == len(segments):
                raise InvalidRequestError(field, f"a URL with no task id after /{segment}/")
            return segments[i + 1]
    if not segments:
        raise InvalidRequestError(field, "a URL that holds no task id")
    uuids = [segment for segment in segments if _UUID.fullmatch(segment)]
    return uuids[-1] if uuids else segments[-1]


_TASKS_SEGMENTS = frozenset({"tasks", "discovery_tasks"})
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
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
    # Any non-blank string: the documented ones (DataSource) and any the service adds
    # later ("Extruct DB" is already named among its sources). Never stricter than it.
    return [
        str(source) if isinstance(source, DataSource) else source
        for source in check.strings("data_sources", value)
    ]


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
