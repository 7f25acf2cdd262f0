"""Many result rows out of the SDK at once: flat records with one set of columns, DataFrames.

One model's own export is its method, by the converter's rules (``_converter``):
``to_dict`` / ``to_json`` give the service's own JSON shape, and
``CompanyResult.to_record`` flattens a row for CSV: one column per field, and for each
criterion ``scores.<key>.grade``, ``scores.<key>.explanation`` and
``scores.<key>.sources`` (the URLs, space-separated). Here, for many rows:

- ``to_records``: the records and their columns (the row fields, then every criterion's).
- ``to_dataframe``: the same as a pandas or polars DataFrame.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from typing import Any

import attrs

from ._models import CompanyResult, Score

__all__ = ["to_dataframe", "to_records"]

_ROW_FIELDS = tuple(field.name for field in attrs.fields(CompanyResult) if field.name != "scores")
_SCORE_PARTS = tuple(field.name for field in attrs.fields(Score))


def to_records(rows: Iterable[CompanyResult]) -> tuple[list[str], list[dict[str, Any]]]:
    """Flat records of ``rows`` and their columns: the row fields, then every criterion's.

    A criterion some row lacks is an empty (None) cell in that row.
    """
    records = [row.to_record() for row in rows]
    keys: dict[str, None] = {}
    for record in records:
        keys.update(dict.fromkeys(k for k in record if k.startswith("scores.")))
    columns = [*_ROW_FIELDS, *sorted(keys, key=_criterion_order)]
    return columns, [{column: record.get(column) for column in columns} for record in records]


def _criterion_order(column: str) -> tuple[str, int]:
    _, key, part = column.split(".", 2)
    return key, _SCORE_PARTS.index(part)


def to_dataframe(rows: Iterable[CompanyResult], *, library: str | None = None) -> Any:
    """Result rows as a pandas or polars DataFrame of flat records, one row each.

    Args:
        rows: the rows (e.g. ``[row async for row in task.results()]``).
        library: ``"pandas"`` or ``"polars"``; by default pandas if installed, else polars.

    Raises:
        ImportError: the library is not installed (``pip install pandas``).
        ValueError: ``library`` is neither.
    """
    if library not in (None, "pandas", "polars"):
        raise ValueError(f"library: 'pandas' or 'polars', not {library!r}")
    columns, records = to_records(rows)
    chosen = library or ("pandas" if importlib.util.find_spec("pandas") else "polars")
    try:
        module = importlib.import_module(chosen)
    except ImportError:
        raise ImportError(
            f"to_dataframe needs {chosen}: pip install {chosen}"
            + ("" if library else " (or polars)")
        ) from None
    if chosen == "pandas":
        return module.DataFrame.from_records(records, columns=columns)
    return module.DataFrame(records, schema=columns, orient="row", infer_schema_length=None)
