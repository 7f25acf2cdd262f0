"""The one cattrs converter: models back into the service's JSON shape.

Answers come *in* through msgspec, straight into the models (``_protocol``); this
converter owns the way *out*: request bodies (criteria, tables) and exports of
models. Its rules:

- ``None`` values are left out of request bodies (``omit_none``); exports keep them.
- A datetime is written as ISO 8601 in UTC with a ``Z``, as the service writes it.
- Enum members are written as their plain values; numbers and strings as they are.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

import cattrs
from cattrs.gen import make_dict_unstructure_fn

from ._models import CompanyResult, Criterion, Score, Table, TaskState

__all__ = ["converter", "make_converter", "timestamp"]


def timestamp(value: datetime) -> str:
    """An aware datetime as the service writes it: ISO 8601, UTC, ``Z``.

    A time that UTC cannot hold (in year 1 east of Greenwich, or year 9999 west of it)
    keeps its own offset: still the same instant, and it decodes back equal.
    """
    try:
        utc = value.astimezone(timezone.utc)
    except OverflowError:
        return value.isoformat()
    return utc.isoformat().replace("+00:00", "Z")


def make_converter() -> cattrs.Converter:
    """Build a converter holding every rule for turning models into JSON data."""
    conv = cattrs.Converter()
    conv.register_unstructure_hook(datetime, timestamp)
    conv.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), lambda member: member.value
    )
    exported: tuple[type[Any], ...] = (TaskState, CompanyResult, Score)
    for model in exported:
        conv.register_unstructure_hook(model, _plain(conv, model))
    sent: tuple[type[Any], ...] = (Criterion, Table)
    for model in sent:
        conv.register_unstructure_hook(model, _omit_none(conv, model))
    return conv


def _plain(conv: cattrs.Converter, model: type[Any]) -> Any:
    base = make_dict_unstructure_fn(model, conv)

    def unstructure(value: Any) -> dict[str, Any]:
        data: dict[str, Any] = base(value)
        for key, item in data.items():
            if isinstance(item, enum.Enum):  # a field declared str holding a member
                data[key] = item.value
            elif isinstance(item, (list, tuple)):
                data[key] = [x.value if isinstance(x, enum.Enum) else x for x in item]
        return data

    return unstructure


def _omit_none(conv: cattrs.Converter, model: type[Any]) -> Any:
    base = make_dict_unstructure_fn(model, conv)

    def unstructure(value: Any) -> dict[str, Any]:
        return {key: item for key, item in base(value).items() if item is not None}

    return unstructure


#: The converter the SDK uses.
converter = make_converter()
