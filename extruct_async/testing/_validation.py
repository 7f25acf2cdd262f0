"""Request validation with FastAPI's 422 answers: every error at once, each with its ``loc``.

The rules come from :mod:`extruct_async._constraints`, as in the SDK. One difference from the
service on purpose: no type coercion (``"5"`` is not an integer, ``1`` is not a boolean), so an SDK
that sends the wrong JSON types fails its tests instead of relying on the service's leniency.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

import attrs

from extruct_async._constraints import (
    CRITERION_KEY_PATTERN,
    CRITERION_NAME_LENGTH,
    CRITERION_TEXT_LENGTH,
    DATA_SOURCES,
    DESIRED_NEW_RESULTS,
    DESIRED_NUM_RESULTS,
    MAX_EXCLUDE_TASK_IDS,
)
from extruct_async._domains import registered_domain

__all__ = [
    "CreateRequest",
    "InvalidRequest",
    "parse_create",
    "parse_page",
    "parse_resume",
]

Loc = tuple[str | int, ...]

_CREATE_FIELDS = (
    "query",
    "desired_num_results",
    "table",
    "auto_data_sources",
    "data_sources",
    "criteria",
    "exclude_domains",
    "exclude_task_ids",
)
_TABLE_FIELDS = ("id", "run", "columns", "auto_import")
_CRITERION_FIELDS = ("key", "name", "criterion")
_DEFAULT_DESIRED_NUM_RESULTS = 100
_DEFAULT_DESIRED_NEW_RESULTS = 25
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")


class InvalidRequest(Exception):
    """The request breaks the input rules; ``errors`` is the 422 ``detail`` list."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors


@attrs.frozen
class CreateRequest:
    """A valid create body, with defaults applied and ``exclude_domains`` normalised."""

    query: str
    desired_num_results: int
    table_id: str | None
    auto_data_sources: bool
    data_sources: tuple[str, ...] | None
    criteria: tuple[tuple[str, str, str], ...] | None
    exclude_domains: tuple[str, ...] | None
    exclude_task_ids: tuple[str, ...] | None


def parse_create(body: bytes, *, task_status: Callable[[str], str | None]) -> CreateRequest:
    """Validate a create body.

    Args:
        body: The raw request body.
        task_status: Status of a task by id, None when there is no such task
            (``exclude_task_ids`` must name ``done`` tasks).

    Raises:
        InvalidRequest: With every error found.
    """
    errors = _Errors()
    data = _json_object(errors, body, required=True)
    if data is None:
        raise InvalidRequest(errors.items)
    desired = data.get("desired_num_results", _DEFAULT_DESIRED_NUM_RESULTS)
    request = CreateRequest(
        query=_query(errors, data),
        desired_num_results=errors.integer(
            ("body", "desired_num_results"), desired, DESIRED_NUM_RESULTS
        ),
        table_id=_table_id(errors, data.get("table")),
        auto_data_sources=errors.boolean(
            ("body", "auto_data_sources"), data.get("auto_data_sources", True)
        ),
        data_sources=_data_sources(errors, data.get("data_sources")),
        criteria=_criteria(errors, data.get("criteria")),
        exclude_domains=_exclude_domains(errors, data.get("exclude_domains")),
        exclude_task_ids=_exclude_task_ids(errors, data.get("exclude_task_ids"), task_status),
    )
    # Like pydantic: the declared fields in order, then the fields nobody declared.
    errors.extra(("body",), data, _CREATE_FIELDS)
    if errors.items:
        raise InvalidRequest(errors.items)
    return request


def parse_resume(body: bytes) -> int:
    """Validate a resume body (which may be empty) and return ``desired_new_results``.

    Raises:
        InvalidRequest: With every error found.
    """
    errors = _Errors()
    data = _json_object(errors, body, required=False)
    value = _DEFAULT_DESIRED_NEW_RESULTS
    if data is not None:
        raw = data.get("desired_new_results", _DEFAULT_DESIRED_NEW_RESULTS)
        value = errors.integer(("body", "desired_new_results"), raw, DESIRED_NEW_RESULTS)
        errors.extra(("body",), data, ("desired_new_results",))
    if errors.items:
        raise InvalidRequest(errors.items)
    return value


def parse_page(query: Mapping[str, str], *, default_limit: int) -> tuple[int, int]:
    """Validate the ``offset`` and ``limit`` query parameters and return them.

    Raises:
        InvalidRequest: With every error found.
    """
    errors = _Errors()
    offset = _query_integer(errors, query, "offset", default=0, minimum=0)
    limit = _query_integer(errors, query, "limit", default=default_limit, minimum=1)
    if errors.items:
        raise InvalidRequest(errors.items)
    return offset, limit


class _Errors:
    """Collects FastAPI-shaped error items; the checks return a placeholder when they fail."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(
        self, loc: Loc, kind: str, msg: str, value: object, ctx: dict[str, Any] | None = None
    ) -> None:
        item: dict[str, Any] = {"type": kind, "loc": list(loc), "msg": msg, "input": value}
        if ctx is not None:
            item["ctx"] = ctx
        self.items.append(item)

    def missing(self, loc: Loc, value: object) -> None:
        self.add(loc, "missing", "Field required", value)

    def extra(self, loc: Loc, data: Mapping[str, object], allowed: Collection[str]) -> None:
        for name, value in data.items():
            if name not in allowed:
                self.add((*loc, name), "extra_forbidden", "Extra inputs are not permitted", value)

    def integer(self, loc: Loc, value: object, bounds: tuple[int, int]) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(loc, "int_type", "Input should be a valid integer", value)
            return bounds[0]
        low, high = bounds
        if value < low:
            message = f"Input should be greater than or equal to {low}"
            self.add(loc, "greater_than_equal", message, value, {"ge": low})
        elif value > high:
            message = f"Input should be less than or equal to {high}"
            self.add(loc, "less_than_equal", message, value, {"le": high})
        return value

    def boolean(self, loc: Loc, value: object) -> bool:
        if not isinstance(value, bool):
            self.add(loc, "bool_type", "Input should be a valid boolean", value)
            return False
        return value

    def string(self, loc: Loc, value: object, length: tuple[int, int] | None = None) -> str:
        if not isinstance(value, str):
            self.add(loc, "string_type", "Input should be a valid string", value)
            return ""
        if length is not None:
            shortest, longest = length
            if len(value) < shortest:
                plural = "s" if shortest != 1 else ""
                message = f"String should have at least {shortest} character{plural}"
                self.add(loc, "string_too_short", message, value, {"min_length": shortest})
            elif len(value) > longest:
                message = f"String should have at most {longest} characters"
                self.add(loc, "string_too_long", message, value, {"max_length": longest})
        return value

    def array(self, loc: Loc, value: object) -> list[object]:
        if not isinstance(value, list):
            self.add(loc, "list_type", "Input should be a valid list", value)
            return []
        return value

    def mapping(self, loc: Loc, value: object) -> dict[str, object] | None:
        if not isinstance(value, dict):
            message = "Input should be a valid dictionary or object to extract fields from"
            self.add(loc, "model_attributes_type", message, value)
            return None
        return value


def _json_object(errors: _Errors, body: bytes, *, required: bool) -> dict[str, object] | None:
    if not body.strip():
        if required:
            errors.missing(("body",), None)
        return None
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        position = exc.pos if isinstance(exc, json.JSONDecodeError) else exc.start
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else exc.reason
        errors.add(("body", position), "json_invalid", "JSON decode error", {}, {"error": reason})
        return None
    return errors.mapping(("body",), data)


def _query(errors: _Errors, data: Mapping[str, object]) -> str:
    query = _required_string(errors, ("body",), data, "query")
    if isinstance(data.get("query"), str) and not query.strip():
        message = "Value error, query must not be blank"
        errors.add(("body", "query"), "value_error", message, query)
    return query


def _required_string(
    errors: _Errors,
    loc: Loc,
    data: Mapping[str, object],
    field: str,
    length: tuple[int, int] | None = None,
) -> str:
    if field not in data:
        errors.missing((*loc, field), data)
        return ""
    return errors.string((*loc, field), data[field], length)


def _table_id(errors: _Errors, value: object) -> str | None:
    if value is None:
        return None
    table = errors.mapping(("body", "table"), value)
    if table is None:
        return None
    table_id = _required_string(errors, ("body", "table"), table, "id")
    errors.boolean(("body", "table", "run"), table.get("run", False))
    # Null or absent columns mean the table's default columns.
    columns = table.get("columns")
    if columns is not None:
        for index, column in enumerate(errors.array(("body", "table", "columns"), columns)):
            errors.string(("body", "table", "columns", index), column)
    errors.boolean(("body", "table", "auto_import"), table.get("auto_import", False))
    errors.extra(("body", "table"), table, _TABLE_FIELDS)
    return table_id


def _data_sources(errors: _Errors, value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    expected = ", ".join(repr(source) for source in DATA_SOURCES[:-1])
    expected = f"{expected} or {DATA_SOURCES[-1]!r}"
    sources = errors.array(("body", "data_sources"), value)
    for index, source in enumerate(sources):
        if source not in DATA_SOURCES:
            loc = ("body", "data_sources", index)
            errors.add(loc, "enum", f"Input should be {expected}", source, {"expected": expected})
    return tuple(str(source) for source in sources)


def _criteria(errors: _Errors, value: object) -> tuple[tuple[str, str, str], ...] | None:
    if value is None:
        return None
    parsed = []
    keys: set[str] = set()
    for index, item in enumerate(errors.array(("body", "criteria"), value)):
        criterion = _criterion(errors, ("body", "criteria", index), item, keys)
        if criterion is not None:
            parsed.append(criterion)
    # An empty list asks for nothing in particular: like null, the service infers criteria.
    return tuple(parsed) or None


def _criterion(
    errors: _Errors, loc: Loc, item: object, keys: set[str]
) -> tuple[str, str, str] | None:
    criterion = errors.mapping(loc, item)
    if criterion is None:
        return None
    key = _required_string(errors, loc, criterion, "key")
    if isinstance(criterion.get("key"), str):
        if not CRITERION_KEY_PATTERN.fullmatch(key):
            pattern = CRITERION_KEY_PATTERN.pattern
            message = f"String should match pattern '{pattern}'"
            errors.add((*loc, "key"), "string_pattern_mismatch", message, key, {"pattern": pattern})
        elif key in keys:
            message = f"Value error, duplicate criterion key {key!r}"
            errors.add((*loc, "key"), "value_error", message, key)
        keys.add(key)
    name = _required_string(errors, loc, criterion, "name", CRITERION_NAME_LENGTH)
    text = _required_string(errors, loc, criterion, "criterion", CRITERION_TEXT_LENGTH)
    errors.extra(loc, criterion, _CRITERION_FIELDS)
    return key, name, text


def _exclude_domains(errors: _Errors, value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    domains = []
    for index, item in enumerate(errors.array(("body", "exclude_domains"), value)):
        text = errors.string(("body", "exclude_domains", index), item)
        if not isinstance(item, str):
            continue
        domain = registered_domain(text)
        if domain is None:
            message = f"Value error, {text!r} is not a domain or URL"
            errors.add(("body", "exclude_domains", index), "value_error", message, text)
        else:
            domains.append(domain)
    return tuple(domains)


def _exclude_task_ids(
    errors: _Errors, value: object, task_status: Callable[[str], str | None]
) -> tuple[str, ...] | None:
    if value is None:
        return None
    ids = errors.array(("body", "exclude_task_ids"), value)
    if len(ids) > MAX_EXCLUDE_TASK_IDS:
        message = (
            f"List should have at most {MAX_EXCLUDE_TASK_IDS} items after validation,"
            f" not {len(ids)}"
        )
        ctx = {"field_type": "List", "max_length": MAX_EXCLUDE_TASK_IDS, "actual_length": len(ids)}
        errors.add(("body", "exclude_task_ids"), "too_long", message, value, ctx)
    for index, item in enumerate(ids):
        loc = ("body", "exclude_task_ids", index)
        task_id = errors.string(loc, item)
        if not isinstance(item, str):
            continue
        status = task_status(task_id)
        if status is None:
            errors.add(loc, "value_error", f"Value error, no task {task_id!r}", task_id)
        elif status != "done":
            message = f"Value error, task {task_id!r} is {status}, not done"
            errors.add(loc, "value_error", message, task_id)
    return tuple(str(item) for item in ids)


def _query_integer(
    errors: _Errors, query: Mapping[str, str], name: str, *, default: int, minimum: int
) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not _INTEGER_TEXT.fullmatch(text):
        message = "Input should be a valid integer, unable to parse string as an integer"
        errors.add(("query", name), "int_parsing", message, text)
        return default
    value = int(text)
    if value < minimum:
        message = f"Input should be greater than or equal to {minimum}"
        errors.add(("query", name), "greater_than_equal", message, text, {"ge": minimum})
    return value
