"""What ``search`` asks the service for: its options over an optional ``--payload-file``.

Everything here happens before any request: files are read and parsed, the options
are merged, and a complaint of the SDK's argument checks is turned into a usage
error naming the option (or file) the bad value came from.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from typing import Any

import attrs

from .. import InvalidRequestError, Table
from ._exit import UsageError

__all__ = ["DEFAULT_RESULTS", "SearchRequest", "search_request"]

#: Results aimed for when neither ``--results`` nor the payload file says.
DEFAULT_RESULTS = 25

# The fields of the API's create body (DiscoveryTaskInput), as `create` takes them.
_FIELDS = ("query", "desired_num_results", "criteria", "auto_data_sources", "data_sources",
           "table", "exclude_domains", "exclude_task_ids")
# An SDK field path: a dotted name, an index, and what is inside the item.
_FIELD = re.compile(r"(?P<name>[a-z_]+(?:\.[a-z_]+)*)(?:\[(?P<index>\d+)\])?(?:\.(?P<rest>.+))?")
_FILES = ("--payload-file ", "--criteria-file ")


@attrs.frozen
class SearchRequest:
    """The arguments of ``discovery_tasks.create``, and where on the command line each came from.

    Attributes:
        arguments: keyword arguments of ``create``, ``query`` included.
        origins: for each argument, the option (or file) that gave it.
    """

    arguments: dict[str, Any]
    origins: dict[str, str]

    def usage_error(self, error: InvalidRequestError) -> UsageError:
        """Return the SDK's complaint about an argument as a usage error naming its origin.

        The SDK names the API's field (``exclude_domains[1]``, ``criteria[0].key``). A
        value from a file keeps that name, which is where it sits in the file; a value
        from an option is named by the option, and by its place among the option's
        values when it was given more than once (``--exclude-domain #2``), since that
        is what the user typed.
        """
        match = _FIELD.fullmatch(error.field)
        if match is None:
            return UsageError(str(error))
        # The longest dotted prefix with an origin: "table.columns" before "table".
        parts = match["name"].split(".")
        for cut in range(len(parts), 0, -1):
            origin = self.origins.get(".".join(parts[:cut]))
            if origin is not None:
                break
        else:
            return UsageError(str(error))
        if origin.startswith(_FILES):
            return UsageError(f"{origin}: {error}")
        where = origin
        index = match["index"]
        if index is not None and cut == len(parts) and len(self._values(parts)) > 1:
            where += f" #{int(index) + 1}"
        inner = ".".join(parts[cut:])
        if index is not None and cut < len(parts):
            inner += f"[{index}]"
        if match["rest"]:
            inner = f"{inner}.{match['rest']}" if inner else match["rest"]
        return UsageError(f"{where}: {inner + ': ' if inner else ''}{error.problem}")

    def _values(self, parts: list[str]) -> Sequence[object]:
        """The values at a field's path (``table.columns``), or none."""
        value: object = self.arguments.get(parts[0])
        for part in parts[1:]:
            value = getattr(value, part, None)
        return value if isinstance(value, (list, tuple)) else ()


def search_request(args: argparse.Namespace) -> SearchRequest:
    """Return what ``search`` asks for: the payload file's fields, overridden by the options.

    Raises:
        UsageError: a file cannot be read or is not the JSON it should be, an option
            needs another one, or there is no query at all.
    """
    arguments: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if args.payload_file is not None:
        where = f"--payload-file {args.payload_file}"
        payload = _read_json(args.payload_file, "--payload-file", expect=dict)
        unknown = sorted(set(payload) - set(_FIELDS))
        if unknown:
            raise UsageError(f"{where}: unknown fields {unknown}; the API takes"
                             f" {', '.join(_FIELDS)}")
        for field, value in payload.items():
            if value is not None:  # JSON null: the API's default, as if the field were left out
                arguments[field] = value
                origins[field] = where

    def given(field: str, value: Any, option: str) -> None:
        arguments[field] = value
        origins[field] = option

    if args.query is not None:
        given("query", args.query, "QUERY")
    if "query" not in arguments:
        raise UsageError("no query: give one (extruct-async search \"...\") or a --payload-file"
                         " with a \"query\"")
    if args.results is not None:
        given("desired_num_results", args.results, "--results")
    arguments.setdefault("desired_num_results", DEFAULT_RESULTS)
    if args.criterion is not None:
        given("criteria", args.criterion, "--criterion")
    if args.criteria_file is not None:
        criteria = _read_json(args.criteria_file, "--criteria-file", expect=list)
        given("criteria", criteria, f"--criteria-file {args.criteria_file}")
    if args.source is not None:
        given("data_sources", args.source, "--source")
    if args.no_auto_sources or args.source is not None:
        given("auto_data_sources", False, "--no-auto-sources")
    if args.exclude_domain is not None:
        given("exclude_domains", args.exclude_domain, "--exclude-domain")
    if args.exclude_task is not None:
        given("exclude_task_ids", args.exclude_task, "--exclude-task")
    table = _table(args)
    if table is not None:
        given("table", table, "--table")
        origins["table.columns"] = "--table-column"
    return SearchRequest(arguments, origins)


def _table(args: argparse.Namespace) -> Table | None:
    if args.table is None:
        for option, value in (("--table-import", args.table_import),
                              ("--table-run", args.table_run),
                              ("--table-column", args.table_column)):
            if value:
                raise UsageError(f"{option} needs --table ID")
        return None
    if args.table_column and not args.table_run:
        raise UsageError("--table-column needs --table-run: columns run only on imported rows")
    columns = None if args.table_column is None else tuple(args.table_column)
    return Table(id=args.table, run=args.table_run, columns=columns,
                 auto_import=args.table_import)


def _read_json(path: str, option: str, *, expect: type[dict[str, Any]] | type[list[Any]]) -> Any:
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{option} {path}: not UTF-8 text") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{option} {path}: not JSON ({exc})") from None
    if not isinstance(value, expect):
        raise UsageError(f"{option} {path}: expected {_JSON_KINDS[expect]},"
                         f" got {_JSON_KINDS.get(type(value), type(value).__name__)}")
    return value


_JSON_KINDS: dict[type, str] = {dict: "an object", list: "a list", str: "a string",
                                int: "a number", float: "a number", bool: "true or false",
                                type(None): "null"}
