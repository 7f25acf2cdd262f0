"""Writing result rows and tasks as an aligned table, JSON lines, a JSON array or CSV.

Only the table is for people: it cuts long cells to fit the terminal. Every other format
is lossless and made by the SDK's public exports: JSON is the service's own
(``to_json`` / ``to_dict``: integers stay integers, ``Z`` timestamps, nulls kept), and a
CSV row is the flat record of ``to_records`` (per criterion ``scores.<key>.grade``,
``.explanation`` and ``.sources``). A file is never written as a table.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TextIO, TypeVar
from urllib.parse import urlsplit

import attrs

from .. import CompanyResult, TaskState, to_records
from ._exit import UsageError
from ._table import Column, Table, line_width, truncate

__all__ = [
    "FORMATS",
    "Cell",
    "Writer",
    "grades",
    "open_output",
    "output_format",
    "relevance",
    "row_writer",
    "status_label",
    "task_line",
    "task_writer",
    "timestamp",
    "website",
    "write_task",
    "write_task_detail",
]

#: The values of ``--format``.
FORMATS = ("table", "jsonl", "json", "csv")
#: The format an ``--output`` file name implies by its extension.
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}

_T = TypeVar("_T")
_T_contra = TypeVar("_T_contra", contravariant=True)

#: A table column and how to fill it from a record.
Cell = tuple[Column, Callable[[_T], str]]


def output_format(fmt: str | None, output: str | None) -> str:
    """Return the format to write: ``--format`` if given, else ``--output``'s extension.

    Standard output defaults to the table; a file defaults to what its name ends in
    (``.csv``, ``.jsonl``, ``.json``) and is never a table, whose cells are cut to fit
    a terminal.

    Raises:
        UsageError: a file is asked for as a table, or its name implies no format.
    """
    to_file = output is not None and output != "-"
    if not to_file:
        return fmt or "table"
    if fmt == "table":
        raise UsageError(f"--output {output}: a table is for the terminal and cuts long cells;"
                         " write the file as --format csv, jsonl or json")
    if fmt is not None:
        return fmt
    implied = _EXTENSIONS.get(os.path.splitext(output or "")[1].lower())
    if implied is None:
        raise UsageError(f"--output {output}: say which format with --format csv, jsonl or json"
                         " (or end the file name in .csv, .jsonl or .json)")
    return implied


class _Exported(Protocol):
    """A model the SDK exports: a task state or a result row."""

    def to_dict(self) -> dict[str, Any]: ...

    def to_json(self) -> str: ...


class Writer(Protocol[_T_contra]):
    """Writes records one at a time, each flushed at once (so ``--follow`` shows them)."""

    def write(self, record: _T_contra) -> None:
        """Write one record."""

    def close(self) -> None:
        """Finish the output (a JSON array's closing bracket); the stream stays open."""


class _JsonLines:
    """One object per line, the service's own JSON (``to_json``)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, record: _Exported) -> None:
        self._stream.write(record.to_json() + "\n")
        self._stream.flush()

    def close(self) -> None:
        pass


class _JsonArray:
    """One JSON array, an object per line, so rows can still be written as they arrive."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._count = 0
        stream.write("[")
        stream.flush()

    def write(self, record: _Exported) -> None:
        self._stream.write(("," if self._count else "") + "\n" + record.to_json())
        self._stream.flush()
        self._count += 1

    def close(self) -> None:
        self._stream.write("\n]\n")
        self._stream.flush()


class _Csv(Generic[_T]):
    """A header row, then one row per record, one value per named column.

    Args:
        stream: where to write.
        columns: the header.
        values: a record as ``{column: value}``; a column it lacks is an empty cell.
        dropped: told once, with their names, if a record holds values no column takes.
    """

    def __init__(self, stream: TextIO, columns: Sequence[str],
                 values: Callable[[_T], dict[str, Any]], *,
                 dropped: Callable[[list[str]], None] | None = None) -> None:
        self._stream = stream
        self._columns = columns
        self._known = frozenset(columns)
        self._values = values
        self._dropped = dropped
        self._csv = csv.writer(stream, lineterminator="\n")
        self._csv.writerow(columns)
        stream.flush()

    def write(self, record: _T) -> None:
        values = self._values(record)
        if self._dropped is not None and not self._known.issuperset(values):
            self._dropped([column for column in values if column not in self._known])
            self._dropped = None
        self._csv.writerow([_csv_cell(values.get(column)) for column in self._columns])
        self._stream.flush()

    def close(self) -> None:
        pass


class _Table(Generic[_T]):
    """Aligned columns fitted to the terminal (or 100 characters), optionally numbered."""

    def __init__(self, stream: TextIO, cells: Sequence[Cell[_T]], sample: Sequence[_T], *,
                 numbered: bool, first: int = 1) -> None:
        self._stream = stream
        self._cells = [get for _, get in cells]
        self._numbered = numbered
        columns = [column for column, _ in cells]
        if numbered:
            columns.insert(0, Column("#", 3, right=True))
        rows = [self._line(i, record) for i, record in enumerate(sample, first)]
        self._table = Table(columns, width=line_width(stream), sample=rows)
        self._count = first - 1
        stream.write(self._table.header() + "\n")
        stream.flush()

    def _line(self, number: int, record: _T) -> list[str]:
        cells = [get(record) for get in self._cells]
        return [str(number), *cells] if self._numbered else cells

    def write(self, record: _T) -> None:
        self._count += 1
        self._stream.write(self._table.line(self._line(self._count, record)) + "\n")
        self._stream.flush()

    def close(self) -> None:
        pass


def row_writer(
    fmt: str,
    stream: TextIO,
    *,
    score_keys: Sequence[str] = (),
    sample: Sequence[CompanyResult] = (),
    cells: Sequence[Cell[CompanyResult]] | None = None,
    first: int = 1,
    dropped: Callable[[list[str]], None] | None = None,
) -> Writer[CompanyResult]:
    """Return a writer of result rows in format ``fmt``; close it when done.

    Args:
        fmt: one of :data:`FORMATS`.
        stream: where to write.
        score_keys: the task's criterion keys: CSV has their three columns even when no
            row in ``sample`` is graded on them.
        sample: the rows about to be written, to size table columns and name CSV
            columns by; leave it empty when rows are written as they arrive.
        cells: the table's columns (default: company, website, relevance, grades,
            headquarters, employees).
        first: the table's number of the first row (its rank, when rows are skipped).
        dropped: in CSV, told the columns a row has that the header lacks (a criterion
            neither the task nor ``sample`` showed); those values are not written.
    """
    if fmt == "jsonl":
        return _JsonLines(stream)
    if fmt == "json":
        return _JsonArray(stream)
    if fmt == "csv":
        return _Csv(stream, _row_columns(score_keys, sample), _row_record, dropped=dropped)
    return _Table(stream, _ROW_CELLS if cells is None else cells, sample, numbered=True,
                  first=first)


def task_writer(fmt: str, stream: TextIO, *, sample: Sequence[TaskState] = ()) -> Writer[TaskState]:
    """Return a writer of tasks in format ``fmt`` (see :func:`row_writer`); close it when done.

    In CSV, a list of plain values is one cell, space-separated (as ``to_records``
    writes a criterion's sources), and the criteria are their JSON.
    """
    if fmt == "jsonl":
        return _JsonLines(stream)
    if fmt == "json":
        return _JsonArray(stream)
    if fmt == "csv":
        return _Csv(stream, _TASK_COLUMNS, _task_record)
    return _Table(stream, _TASK_CELLS, sample, numbered=False)


def write_task(state: TaskState, fmt: str, stream: TextIO) -> None:
    """Write one task: as ``label  value`` lines for the table, else in format ``fmt``.

    As ``json`` it is the task's object itself, indented, not an array of one.
    """
    if fmt == "table":
        write_task_detail(state, stream)
    elif fmt == "json":
        stream.write(json.dumps(state.to_dict(), indent=2, ensure_ascii=False) + "\n")
        stream.flush()
    else:
        writer = task_writer(fmt, stream)
        writer.write(state)
        writer.close()


def write_task_detail(state: TaskState, stream: TextIO) -> None:
    """Write one task as ``label  value`` lines, criteria in full."""
    sources = "auto" if state.auto_data_sources else ", ".join(map(str, state.data_sources or ()))
    lines = [
        ("id", state.id),
        ("status", status_label(state)),
        ("query", state.query),
        ("created_at", timestamp(state.created_at, seconds=True)),
        ("results", f"{state.num_results} high-fit of {state.desired_num_results} desired"),
        ("pipeline", f"{state.num_results_discovered} discovered, {state.num_results_enriched}"
                     f" enriched, {state.num_results_evaluated} evaluated"),
        ("data sources", sources),
    ]
    for i, criterion in enumerate(state.criteria or ()):
        label = "criteria" if i == 0 else ""
        lines.append((label, f"{criterion.key}: {criterion.name}: {criterion.criterion}"))
    if state.exclude_domains:
        lines.append(("excluded", f"{len(state.exclude_domains)} domains"))
    if state.table_id:
        lines.append(("table", state.table_id))
    width = line_width(stream)
    for label, value in lines:
        stream.write(truncate(f"{label:<13}{value}", width) + "\n")
    stream.flush()


def task_line(state: TaskState) -> str:
    """Return a one-line summary of a task: id, status, results."""
    return (f"{state.id}  {status_label(state)}  {state.num_results}/{state.desired_num_results}"
            f" results  {state.query}")


def grades(row: CompanyResult) -> str:
    """Return the row's grades in criterion order, such as ``5 4 5 2``."""
    return " ".join("-" if score.grade is None else str(score.grade)
                    for score in row.scores.values())


def website(row: CompanyResult) -> str:
    """Return the row's website as a bare host, such as ``acme.com``."""
    url = row.company_website or ""
    host = urlsplit(url).netloc or url
    return host.removeprefix("www.")


def status_label(state: TaskState) -> str:
    """Return the task's status, with ``exhausted`` when its candidates ran out.

    Exhausted is not finished: rows can still be qualified until the status is ``done``.
    """
    return f"{state.status}, exhausted" if state.is_exhausted else str(state.status)


def timestamp(moment: datetime, *, seconds: bool = False) -> str:
    """Return ``moment`` with its year and time zone, such as ``2025-03-04 05:06 UTC``.

    Shown in the zone the service gave it (UTC), named, so that no reader has to guess.
    """
    text = moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    zone = moment.tzname()
    return f"{text} {zone}" if zone else text


def _headquarters(row: CompanyResult) -> str:
    return ", ".join(part for part in (row.hq_city, row.hq_country) if part)


def relevance(row: CompanyResult) -> str:
    """Return the row's relevance without trailing zeros, such as ``87.5``."""
    return "" if row.relevance is None else f"{row.relevance:g}"


#: The default columns of a results table.
_ROW_CELLS: tuple[Cell[CompanyResult], ...] = (
    (Column("company", 32, flex=True), lambda row: row.company_name or ""),
    (Column("website", 30, flex=True), website),
    (Column("relevance", 9, right=True), relevance),
    (Column("grades", 14), grades),
    (Column("headquarters", 26, flex=True), _headquarters),
    (Column("employees", 9), lambda row: row.employee_count or ""),
)

_TASK_CELLS: tuple[Cell[TaskState], ...] = (
    (Column("id", 36), lambda state: state.id),
    (Column("status", 15), status_label),
    (Column("results", 7, right=True),
     lambda state: f"{state.num_results}/{state.desired_num_results}"),
    (Column("created", 20), lambda state: timestamp(state.created_at)),
    (Column("query", 80, flex=True), lambda state: state.query),
)


_SCORE_PARTS = ("grade", "explanation", "sources")
_TASK_COLUMNS = tuple(field.name for field in attrs.fields(TaskState))


def _row_columns(score_keys: Sequence[str], sample: Sequence[CompanyResult]) -> list[str]:
    """The CSV header: ``to_records``' columns for ``sample``, then any criterion it lacks."""
    columns, _ = to_records(sample)
    shown = set(columns)
    for key in score_keys:
        columns += [c for c in (f"scores.{key}.{part}" for part in _SCORE_PARTS)
                    if c not in shown]
    return columns


def _row_record(row: CompanyResult) -> dict[str, Any]:
    return row.to_record()


def _task_record(state: TaskState) -> dict[str, Any]:
    record = state.to_dict()
    if record.get("criteria") is not None:
        # Objects in a cell: their JSON, so nothing of them is lost.
        record["criteria"] = json.dumps(record["criteria"], ensure_ascii=False)
    return record


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return value


@contextlib.contextmanager
def open_output(path: str | None, stdout: TextIO) -> Iterator[TextIO]:
    """Yield ``--output``'s file, opened (so a bad path fails first), or ``stdout``.

    Raises:
        UsageError: the file cannot be opened for writing.
    """
    if path is None or path == "-":
        yield stdout
        return
    try:
        stream = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise UsageError(f"--output {path}: {exc.strerror or exc}") from None
    with stream:
        yield stream
