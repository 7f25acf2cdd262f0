"""The one cattrs converter: every rule for turning JSON into models and back.

- ``created_at`` becomes an aware :class:`~datetime.datetime` (``Z`` and offsets
  understood; a naive timestamp is taken as UTC).
- A field the service adds is ignored; a missing optional field becomes its
  default (None, or an empty collection).
- An enum value the SDK does not know yet is kept as the plain string.
- ``None`` values are left out of request bodies.

Production code is lenient with unknown keys; tests build a strict converter
(``make_converter(forbid_extra_keys=True)``) to catch drift between the models and
the simulator.
"""

from __future__ import annotations

import enum
import typing
from datetime import datetime, timezone
from typing import Any, TypeVar

import cattrs
from cattrs.gen import make_dict_unstructure_fn

from .models import CompanyResult, Criterion, DataSource, Score, Table, TaskState, TaskStatus

__all__ = ["converter", "make_converter"]

_E = TypeVar("_E", bound=enum.Enum)


def _parse_datetime(value: Any, _: object) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        parsed = datetime.fromisoformat(text)
    else:
        raise TypeError(f"expected an ISO 8601 timestamp, got {type(value).__name__}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _lenient_enum(enum_type: type[_E], *, nullable: bool) -> Any:
    known = {member.value: member for member in enum_type}

    def structure(value: Any, _: object) -> _E | str | None:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            raise TypeError(f"expected a string for {enum_type.__name__}, got {value!r}")
        return known.get(value, value)

    return structure


# Result pages carry hundreds of rows of optional fields. cattrs' generic Optional
# handling dispatches on every one of them; these direct hooks do the same conversion
# (None stays None, anything else is coerced as cattrs would) at a third of the cost.
def _optional_str(value: Any, _: object) -> str | None:
    return value if value is None or value.__class__ is str else str(value)


def _optional_int(value: Any, _: object) -> int | None:
    return None if value is None else int(value)


def _optional_float(value: Any, _: object) -> float | None:
    return None if value is None else float(value)


def _strings(value: Any, _: object) -> tuple[str, ...]:
    return () if value is None else tuple(map(str, value))


def _is_optional_tuple(type_: Any) -> bool:
    args = typing.get_args(type_)
    return (
        len(args) == 2
        and args[1] is type(None)
        and typing.get_origin(args[0]) is tuple
        and typing.get_args(args[0])[1:] == (Ellipsis,)
    )


def _optional_tuple(conv: cattrs.Converter) -> Any:
    def factory(type_: Any) -> Any:
        item_type = typing.get_args(typing.get_args(type_)[0])[0]
        item = conv.get_structure_hook(item_type)

        def structure(value: Any, _: object) -> tuple[Any, ...] | None:
            return None if value is None else tuple([item(x, item_type) for x in value])

        return structure

    return factory


_source = _lenient_enum(DataSource, nullable=True)


def _score(data: Any) -> Score:
    get = data.get
    return Score(
        grade=_optional_int(get("grade"), None),
        explanation=_optional_str(get("explanation"), None),
        sources=_strings(get("sources"), None),
    )


def _scores(value: Any, _: object) -> dict[str, Score]:
    return {} if value is None else {str(key): _score(item) for key, item in value.items()}


def _row(data: Any, _: object) -> CompanyResult:
    # The hot path: a results page holds up to hundreds of rows. Written out, this is
    # twice as fast as the generated hook, which tests check it always agrees with.
    get = data.get
    created_at = get("created_at")
    return CompanyResult(
        id=str(data["id"]),
        task_id=_optional_str(get("task_id"), None),
        company_name=_optional_str(get("company_name"), None),
        company_description=_optional_str(get("company_description"), None),
        company_website=_optional_str(get("company_website"), None),
        relevance=_optional_float(get("relevance"), None),
        created_at=None if created_at is None else _parse_datetime(created_at, None),
        company_profile_id=_optional_str(get("company_profile_id"), None),
        source=_source(get("source"), None),
        scores=_scores(get("scores"), None),
        founding_year=_optional_int(get("founding_year"), None),
        employee_count=_optional_str(get("employee_count"), None),
        hq_country=_optional_str(get("hq_country"), None),
        hq_state_province=_optional_str(get("hq_state_province"), None),
        hq_city=_optional_str(get("hq_city"), None),
        company_full_description=_optional_str(get("company_full_description"), None),
    )


def make_converter(*, forbid_extra_keys: bool = False) -> cattrs.Converter:
    """Build a converter holding every conversion rule of the SDK.

    Args:
        forbid_extra_keys: raise on keys the models do not declare (for tests).
    """
    conv = cattrs.Converter(forbid_extra_keys=forbid_extra_keys, detailed_validation=False)
    conv.register_structure_hook(str | None, _optional_str)
    conv.register_structure_hook(int | None, _optional_int)
    conv.register_structure_hook(float | None, _optional_float)
    conv.register_structure_hook_func(lambda t: t == tuple[str, ...], _strings)
    conv.register_structure_hook_factory(_is_optional_tuple, _optional_tuple(conv))
    conv.register_structure_hook(datetime, _parse_datetime)
    conv.register_unstructure_hook(datetime, lambda value: value.isoformat())
    for enum_type in (TaskStatus, DataSource):
        conv.register_structure_hook(enum_type | str, _lenient_enum(enum_type, nullable=False))
        conv.register_structure_hook(
            enum_type | str | None, _lenient_enum(enum_type, nullable=True)
        )
    if not forbid_extra_keys:  # the strict converter keeps the generated hooks: they catch drift
        conv.register_structure_hook_func(lambda t: t == dict[str, Score], _scores)
        conv.register_structure_hook(CompanyResult, _row)
    for model in (Criterion, Table, TaskState, CompanyResult):
        conv.register_unstructure_hook(model, _omit_none(conv, model))
    return conv


def _omit_none(conv: cattrs.Converter, model: type[Any]) -> Any:
    base = make_dict_unstructure_fn(model, conv)

    def unstructure(value: Any) -> dict[str, Any]:
        return {key: item for key, item in base(value).items() if item is not None}

    return unstructure


#: The converter the SDK uses.
converter = make_converter()
