"""The one cattrs converter: models back into the service's JSON shape.

Answers come *in* through msgspec, straight into the models (``_protocol``); this
converter owns the way *out*: request bodies (criteria, tables) and exports of models
(``to_dict``; ``to_json`` by :func:`json_line`). It sits below the models and knows
none of them by name: its rules hold for every attrs class, and a model sent in a
request body says so with :func:`omit_none`. The rules:

- ``None`` values are left out of request bodies (:func:`omit_none`); exports keep them.
- A datetime is written as ISO 8601 in UTC with a ``Z``, as the service writes it.
- Enum members are written as their plain values (also in a field declared ``str``
  that holds one); numbers and strings as they are.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any, TypeVar

import attrs
import cattrs
import msgspec
from cattrs.gen import make_dict_unstructure_fn

__all__ = ["converter", "json_line", "make_converter", "omit_none", "timestamp"]

_C = TypeVar("_C", bound=type)

#: The models sent in request bodies (see :func:`omit_none`).
_OMIT_NONE: set[type] = set()


def omit_none(model: _C) -> _C:
    """Mark an attrs class as sent in request bodies: its None fields are left out.

    A class decorator; the class is returned unchanged.
    """
    _OMIT_NONE.add(model)
    return model


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
    # Each hook is made on a class's first use and kept. A later registration is
    # asked first: a marked model before any other attrs class.
    conv.register_unstructure_hook_factory(attrs.has, lambda model: _plain(conv, model))
    conv.register_unstructure_hook_factory(
        lambda t: t in _OMIT_NONE, lambda model: _omit_none(conv, model)
    )
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


def json_line(model: object) -> str:
    """A model as one line of the service's JSON (nulls kept)."""
    return msgspec.json.encode(converter.unstructure(model)).decode()
