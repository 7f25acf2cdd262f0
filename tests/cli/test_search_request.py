"""What ``search`` asks for: options over a payload file, checked before anything is sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extruct_async import Criterion, InvalidRequestError, Table
from extruct_async._cli._exit import UsageError
from extruct_async._cli._parser import build_parser
from extruct_async._cli._search import DEFAULT_RESULTS, search_request


def request_of(*argv: str):
    return search_request(build_parser().parse_args(["search", *argv]))


def test_options_alone() -> None:
    request = request_of("q", "--exclude-domain", "a.com", "--exclude-task", "t1",
                         "--table", "tbl", "--table-run", "--table-column", "c1",
                         "--table-column", "c2", "--table-import")
    assert request.arguments == {
        "query": "q", "desired_num_results": DEFAULT_RESULTS, "exclude_domains": ["a.com"],
        "exclude_task_ids": ["t1"],
        "table": Table(id="tbl", run=True, columns=("c1", "c2"), auto_import=True),
    }
    assert request_of("q", "--table", "tbl").arguments["table"] == Table(id="tbl")


def test_sources_turn_automatic_sources_off() -> None:
    arguments = request_of("q", "--source", "maps").arguments
    assert (arguments["auto_data_sources"], arguments["data_sources"]) == (False, ["maps"])
    assert "auto_data_sources" not in request_of("q").arguments  # the service's default


def test_no_auto_sources_takes_the_payloads_sources(tmp_path: Path) -> None:
    path = tmp_path / "body.json"
    path.write_text(json.dumps({"query": "q", "data_sources": ["maps"]}), "utf-8")
    arguments = request_of("--payload-file", str(path), "--no-auto-sources").arguments
    assert (arguments["auto_data_sources"], arguments["data_sources"]) == (False, ["maps"])


def test_options_override_the_payload_field_by_field(tmp_path: Path) -> None:
    path = tmp_path / "body.json"
    path.write_text(json.dumps({"query": "file", "desired_num_results": 40,
                                "exclude_domains": ["f.com"], "criteria": None}), "utf-8")
    from_file = request_of("--payload-file", str(path))
    assert from_file.arguments == {"query": "file", "desired_num_results": 40,
                                   "exclude_domains": ["f.com"]}  # null: as if left out
    assert from_file.origins["exclude_domains"] == f"--payload-file {path}"
    over = request_of("cli", "--payload-file", str(path), "--results", "3",
                      "--criterion", "k:Key:The company does something.")
    assert over.arguments == {"query": "cli", "desired_num_results": 3,
                              "exclude_domains": ["f.com"],
                              "criteria": [Criterion("k", "Key", "The company does something.")]}
    assert (over.origins["query"], over.origins["criteria"]) == ("QUERY", "--criterion")


def test_sdk_complaints_name_the_option_they_came_from(tmp_path: Path) -> None:
    path = tmp_path / "criteria.json"
    path.write_text("[]", "utf-8")
    request = request_of("q", "--criteria-file", str(path), "--exclude-task", "t")
    error = request.usage_error(InvalidRequestError("criteria[1].key", "bad"))
    assert str(error) == f"--criteria-file {path}: criteria[1].key: bad"
    # An option is named as typed, not by the API's field the SDK names.
    assert str(request.usage_error(InvalidRequestError("exclude_task_ids", "too many"))) == (
        "--exclude-task: too many")
    assert str(request.usage_error(InvalidRequestError("exclude_task_ids[0]", "bad"))) == (
        "--exclude-task: bad")  # given once: no need to say which
    assert str(request.usage_error(InvalidRequestError("other", "odd"))) == "other: odd"
    several = request_of("q", "--criterion", "a:A:The company does a thing.",
                         "--criterion", "b:B:The company does a thing.",
                         "--table", "t", "--table-run", "--table-column", "c")
    assert str(several.usage_error(InvalidRequestError("criteria[1].key", "bad"))) == (
        "--criterion #2: key: bad")
    assert str(several.usage_error(InvalidRequestError("table.columns[0]", "bad"))) == (
        "--table-column: bad")
    assert str(several.usage_error(InvalidRequestError("table.id", "bad"))) == "--table: id: bad"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--results", "5"), "no query"),
        (("q", "--table-run"), "--table-run needs --table"),
        (("q", "--table-import"), "--table-import needs --table"),
        (("q", "--table-column", "c"), "--table-column needs --table"),
        (("q", "--table", "t", "--table-column", "c"), "--table-column needs --table-run"),
    ],
)
def test_option_mistakes(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        request_of(*argv)
