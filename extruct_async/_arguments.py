"""Checks on caller arguments, raising an error that names the offending field.

Each check returns the value it accepted, so a caller reads as
``size = integer("limit", limit, low=1)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import TypeVar

from ._errors import InvalidRequestError, InvalidTypeError

__all__ = ["boolean", "integer", "number", "renamed", "sequence", "strings", "text"]

_T = TypeVar("_T")


def text(field: str, value: object, *, length: tuple[int, int] | None = None) -> str:
    """A string; non-blank, or within ``length`` (inclusive) when given."""
    if not isinstance(value, str):
        raise InvalidTypeError(field, f"expected a string, got {type(value).__name__}")
    if length is None:
        if not value.strip():
            raise InvalidRequestError(field, "must not be empty")
    elif not length[0] <= len(value) <= length[1]:
        raise InvalidRequestError(
            field, f"must be {length[0]}..{length[1]} characters long, got {len(value)}"
        )
    return value


def boolean(field: str, value: object) -> bool:
    """True or False (not merely truthy)."""
    if not isinstance(value, bool):
        raise InvalidTypeError(field, f"expected True or False, got {type(value).__name__}")
    return value


def integer(field: str, value: object, *, low: int, high: int | None = None) -> int:
    """An int (not a bool) in ``low..high``, inclusive."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidTypeError(field, f"expected an integer, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        allowed = f"{low}..{high}" if high is not None else f">= {low}"
        raise InvalidRequestError(field, f"must be {allowed}, got {value}")
    return value


def number(field: str, value: object, *, positive: bool = True) -> float:
    """A finite real number, > 0 (or >= 0 with ``positive=False``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidTypeError(field, f"expected a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise InvalidRequestError(
            field, f"must be a finite number {'> 0' if positive else '>= 0'}, got {value}"
        )
    return float(value)


def sequence(field: str, value: object) -> list[object]:
    """A list, tuple or other iterable, but not a lone string."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidTypeError(field, f"expected a list, got {type(value).__name__}")
    return list(value)


def strings(field: str, value: object) -> list[str]:
    """A list of non-blank strings; items are named ``field[i]``."""
    return [text(f"{field}[{i}]", item) for i, item in enumerate(sequence(field, value))]


def renamed(
    old: str, old_value: _T | None, new: str, new_value: _T, *, default: _T, stacklevel: int = 3
) -> _T:
    """The value of an argument renamed from ``old`` to ``new``; the old name warns.

    The old spelling keeps working for one release, with a ``DeprecationWarning``
    pointing at the caller (``stacklevel`` frames up); giving both names is an error.
    """
    if old_value is None:
        return new_value
    if new_value != default:
        raise InvalidRequestError(old, f"the old name of {new!r}: give only {new!r}")
    warnings.warn(
        f"{old}= is deprecated and will be removed in the next release; use {new}=",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    return old_value
