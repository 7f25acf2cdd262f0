"""Request validation with FastAPI's 422 answers: every error at once, each with its ``loc``.

The rules come from :mod:`extruct_async._constraints`, as in the SDK. Types are converted as the
service (FastAPI, pydantic v2 in lax mode, validating the body as Python's ``json`` decodes it)
converts them, no stricter:

- **Integers** (``desired_num_results``, ``desired_new_results``, the ``offset`` and ``limit``
  query parameters): an int; a bool (``true`` is 1); a float with no fractional part (``2.0``);
  a string that pydantic's cleaning turns into an integer (surrounding whitespace, one leading
  ``+``, leading zeros, an all-zero fraction, underscores between digits: ``" 5 "``, ``"+5"``,
  ``"005"``, ``"5.00"``, ``"1_0"``). Refused as pydantic refuses them: ``2.5``
  (``int_from_float``), ``NaN`` and ``Infinity`` (``finite_number``), ``"5.5"``, ``"5."``,
  ``"5e0"`` or ``""`` (``int_parsing``), ``null``, lists and objects (``int_type``). The range
  is checked after conversion, and the 422 shows the input as it was sent.
- **Booleans** (``auto_data_sources``, ``table.run``, ``table.auto_import``): ``true`` and
  ``false``; the numbers 0 and 1 (``0.0`` and ``1.0`` too); the strings ``0 off f false n no``
  and ``1 on t true y yes`` in any letter case. Other numbers and strings are
  ``bool_parsing``, anything else ``bool_type``.
- **Strings** are strict, as in pydantic's lax mode too: ``5`` is not a string
  (``string_type``).

Where the reference pages say nothing, the simulator chooses, and the SDK never relies on these:
a blank ``query`` is a 422 (``value_error``); so are duplicate criterion keys, an
``exclude_task_ids`` entry that is not a ``done`` task of the workspace, ``offset`` below 0 and
``limit`` below 1 (the published schema gives no bounds). An empty ``criteria`` list counts as
none given (criteria are generated); fields nobody declared are refused (``extra_forbidden``: the
create page lists "unsupported fields" among the causes of a 422); ``table`` may be null.
"""

from __future__ import annotations

import json
import math
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
    "UnreadableBody",
    "lax_bool",
    "lax_int",
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
# Integers as JSON writes them, which pydantic-core's parser (jiter) reads from a string as is.
_JSON_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
# jiter refuses longer numbers, as CPython's int() does.
_MAX_DIGITS = 4300
# What Rust's str::trim strips (the Unicode White_Space property), as pydantic-core does.
_WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_FALSE_TEXT = frozenset({"0", "off", "f", "false", "n", "no"})
_TRUE_TEXT = frozenset({"1", "on", "t", "true", "y", "yes"})
# pydantic's messages for each error type used here.
_INT_MESSAGES = {
    "int_type": "Input should be a valid integer",
    "int_parsing": "Input should be a valid integer, unable to parse string as an integer",
    "int_from_float": "Input should be a valid integer, got a number with a fractional part",
    "int_parsing_size": "Unable to parse input string as an integer, exceeded maximum size",
    "finite_number": "Input should be a finite number",
}


class InvalidRequest(Exception):
    """The request breaks the input rules; ``errors`` is the 422 ``detail`` list."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors


class UnreadableBody(Exception):
    """The body is not text in the encoding its JSON declares: FastAPI answers 400 to that."""

    detail = "There was an error parsing the body"


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
        UnreadableBody: If the body cannot be decoded as text.
    """
    errors = _Errors()
    data = _json_object(errors, body, required=True)
    if data is None:
        raise InvalidRequest(errors.items)
    desired = data.get("desired_num_results", _DEFAULT_DESIRED_NUM_RESULTS)
    request = CreateRequest(
        query=_query(errors, data),
        desired_num_results=errors.integer(
            ("body", "desired_num_results"), desired, *DESIRED_NUM_RESULTS
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
        UnreadableBody: If the body cannot be decoded as text.
    """
    errors = _Errors()
    data = _json_object(errors, body, required=False)
    value = _DEFAULT_DESIRED_NEW_RESULTS
    if data is not None:
        raw = data.get("desired_new_results", _DEFAULT_DESIRED_NEW_RESULTS)
        value = errors.integer(("body", "desired_new_results"), raw, *DESIRED_NEW_RESULTS)
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

    def integer(self, loc: Loc, value: object, low: int, high: int | None = None) -> int:
        number = lax_int(value)
        if isinstance(number, str):
            self.add(loc, number, _INT_MESSAGES[number], value)
            return low
        if number < low:
            message = f"Input should be greater than or equal to {low}"
            self.add(loc, "greater_than_equal", message, value, {"ge": low})
        elif high is not None and number > high:
            message = f"Input should be less than or equal to {high}"
            self.add(loc, "less_than_equal", message, value, {"le": high})
        return number

    def boolean(self, loc: Loc, value: object) -> bool:
        answer = lax_bool(value)
        if isinstance(answer, str):
            message = "Input should be a valid boolean"
            if answer == "bool_parsing":
                message += ", unable to interpret input"
            self.add(loc, answer, message, value)
            return False
        return answer

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
    if not body:
        if required:
            errors.missing(("body",), None)
        return None
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        errors.add(("body", exc.pos), "json_invalid", "JSON decode error", {}, {"error": exc.msg})
        return None
    except ValueError as exc:
        # Undecodable bytes, or an integer too long for int(): FastAPI's generic 400.
        raise UnreadableBody from exc
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
    return errors.integer(("query", name), text, minimum)


def lax_int(value: object) -> int | str:
    """Return ``value`` as pydantic v2's lax mode turns it into an int, or its error type."""
    if isinstance(value, int):  # a bool too: lax mode takes true as 1
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "finite_number"
        if not value.is_integer():
            return "int_from_float"
        if not -(2**63) < value < 2**63:
            return "int_parsing_size"
        return int(value)
    if isinstance(value, str):
        return _int_from_text(value)
    return "int_type"


def lax_bool(value: object) -> bool | str:
    """Return ``value`` as pydantic v2's lax mode turns it into a bool, or its error type."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.lower() if value.isascii() else value
        if lowered in _FALSE_TEXT:
            return False
        return True if lowered in _TRUE_TEXT else "bool_parsing"
    number = lax_int(value) if isinstance(value, int | float) else "bool_type"
    if isinstance(number, str):
        # pydantic tries a float as an int first, and calls a failure a type error.
        return "bool_type"
    if number in (0, 1):
        return bool(number)
    # A whole number other than 0 and 1: parsing failed, unless it is too big for an i64.
    return "bool_parsing" if -(2**63) <= number < 2**63 else "bool_type"


def _int_from_text(text: str) -> int | str:
    # pydantic-core's str_as_int: the text as a JSON integer, else cleaned first.
    if _JSON_INTEGER.fullmatch(text) is None:
        cleaned = _clean_int_text(text)
        if cleaned is None or _JSON_INTEGER.fullmatch(cleaned) is None:
            return "int_parsing"
        text = cleaned
    if len(text) - text.startswith("-") > _MAX_DIGITS:
        return "int_parsing_size"
    return int(text)


def _clean_int_text(text: str) -> str | None:
    # pydantic-core's clean_int_str, step by step; None when nothing would change.
    cleaned = text.strip(_WHITESPACE)
    if cleaned.startswith("+"):
        if cleaned[1:].startswith("-"):
            return None
        cleaned = cleaned[1:]
    sign = ""
    if cleaned.startswith("-"):
        if cleaned[1:].startswith(("-", "+")):
            return None
        sign, cleaned = "-", cleaned[1:]
    digits = _strip_leading_zeros(cleaned)
    if digits is None:
        return None
    whole, dot, fraction = digits.partition(".")
    if dot and fraction and set(fraction) == {"0"}:
        digits = whole
    if not (digits.startswith("_") or digits.endswith("_") or "__" in digits) and "_" in digits:
        return sign + digits.replace("_", "")
    if len(sign + digits) == len(text):
        return None
    return sign + digits


def _strip_leading_zeros(text: str) -> str | None:
    # Keeps one zero of "000" and of "00.0"; "0_0" counts as leading zeros too.
    if not text:
        return None
    if text[0] != "0":
        return text if text[0] in "123456789-" else None
    for index, char in enumerate(text[1:], start=1):
        if char in "0_":
            continue
        if char in "123456789-":
            return text[index:]
        if char == ".":
            return text[index - 1 :]
        return None
    return text[-1]
