"""The command line's grammar: every command, option and help text."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from typing import NoReturn

from .. import Criterion, DataSource, TaskStatus, __version__
from .._config import API_KEY_ENV
from . import _commands, _demo
from ._exit import EXIT_CODES_HELP, ExitCode
from ._output import FORMATS
from ._search import DEFAULT_RESULTS

__all__ = ["FAKE_SERVER_DESCRIPTION", "Parser", "build_parser"]

_DESCRIPTION = """\
Run Extruct Deep Searches from the shell: find companies matching a description,
follow the tasks live, and get the results as a table, JSON lines or CSV.

New here? `extruct-async demo` runs a few searches end to end against an embedded
simulator (fake companies, no account needed)."""

#: What ``extruct-async fake-server --help`` says the command does.
FAKE_SERVER_DESCRIPTION = (
    "Run the embedded Deep Search simulator (the same as `python -m extruct_async.testing`);"
    " point the CLI or the SDK at the URL it prints."
)

_ENVIRONMENT = """\
environment:
  EXTRUCT_API_TOKEN  the API token when --api-key is not given (prefer it: command
                     lines show up in process lists and shell history)
  EXTRUCT_BASE_URL   the service when --base-url is not given (default: https://api.extruct.ai)
  EXTRUCT_STORE      the store when --store is not given (default: in memory)
"""


_TASK_ID_HELP = ("a task id, or the task's dashboard URL as pasted"
                 " (https://app.extruct.ai/.../ID)")

# A mistyped option such as `--apikey=sk-...` is echoed back as unrecognized: hide its value.
_SECRET_OPTION = re.compile(r"(--[\w-]*(?:key|token)[\w-]*=)\S+", re.IGNORECASE)


class Parser(argparse.ArgumentParser):
    """An argument parser that reports a usage error as one ``error:`` line."""

    def error(self, message: str) -> NoReturn:
        """Print ``message`` as one line, secrets hidden, and exit with the usage status."""
        message = _SECRET_OPTION.sub(r"\1***", message)
        token = os.environ.get(API_KEY_ENV, "").strip()
        if token:
            message = message.replace(token, "***")
        self.exit(ExitCode.USAGE, f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``extruct-async``; ``handler`` names each command's coroutine."""
    parser = Parser(
        prog="extruct-async",
        description=_DESCRIPTION,
        epilog=f"{_ENVIRONMENT}\n{EXIT_CODES_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_options(parser, default=None)
    parser.add_argument("--version", action="version", version=f"extruct-async {__version__}")
    # Global options are accepted after the command too; there they override nothing unless given.
    common = Parser(add_help=False)
    _global_options(common, default=argparse.SUPPRESS)
    # No command, or `tasks` alone, prints that parser's help (see `main`), hence not required.
    parser.set_defaults(handler=None, usage_of=parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(parent: argparse._SubParsersAction[Parser], name: str, summary: str) -> Parser:
        return parent.add_parser(
            name, help=summary, description=summary, parents=[common],
            epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    _search(command(commands, "search", "Start a Deep Search, follow it, print its results."))
    tasks = command(commands, "tasks", "List, inspect, wait for, read and resume tasks.")
    tasks.set_defaults(usage_of=tasks)
    task_commands = tasks.add_subparsers(dest="tasks_command", metavar="COMMAND")
    _tasks_list(command(task_commands, "list", "List your tasks, newest first."))
    _tasks_get(command(task_commands, "get", "Show one task."))
    _tasks_wait(command(task_commands, "wait", "Wait until the tasks finish, showing progress."))
    _tasks_results(command(task_commands, "results", "Print a task's result rows."))
    _tasks_resume(command(task_commands, "resume", "Ask a finished task for more results."))
    _tasks_recover(command(task_commands, "recover",
                           "List the tasks the store's journal holds (after a crash)."))
    _demo_command(command(commands, "demo", "Run several Deep Searches on simulated data."))
    # The simulator's options are left unparsed here (see `_fake_server`): importing the
    # simulator to declare them would slow every other command down.
    commands.add_parser(
        "fake-server", help="Run the Deep Search simulator on loopback until Ctrl-C.",
        add_help=False,
    )
    return parser


def _global_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument(
        "--api-key", default=default, metavar="TOKEN",
        help="the API token (default: $EXTRUCT_API_TOKEN)",
    )
    parser.add_argument(
        "--base-url", default=default, metavar="URL",
        help="the service (default: $EXTRUCT_BASE_URL, else https://api.extruct.ai)",
    )
    parser.add_argument(
        "--store", default=default, metavar="URL",
        help="share the rate limit, the create journal and stream checkpoints with other"
             " processes: sqlite:///path/extruct.db or redis://host:6379/0"
             " (default: $EXTRUCT_STORE, else in memory)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default if default is not None else False,
        help="no progress, notes or retry lines on stderr (errors still show)",
    )
    parser.add_argument(
        "-v", "--debug", action="store_true", default=default if default is not None else False,
        help="show every HTTP exchange on stderr: request line, headers and body, status,"
             " time, answer headers and the start of its body (the API token masked)",
    )


def _search(parser: Parser) -> None:
    parser.add_argument(
        "query", nargs="?",
        help="what companies to find, in plain language (or \"query\" in --payload-file)",
    )
    parser.add_argument(
        "--results", type=_int_between(1, 250), metavar="N",
        help=f"how many high-fit results to aim for, 1-250 (default: {DEFAULT_RESULTS})",
    )
    criteria = parser.add_mutually_exclusive_group()
    criteria.add_argument(
        "--criterion", type=_criterion, action="append", metavar="KEY:NAME:TEXT",
        help="grade every result on this (repeatable; default: the service writes criteria"
             " from the query), e.g. has_api:Has an API:The company offers a public API",
    )
    criteria.add_argument(
        "--criteria-file", metavar="FILE",
        help='the criteria as a JSON list of {"key", "name", "criterion"} objects',
    )
    parser.add_argument(
        "--source", action="append", choices=[source.value for source in DataSource],
        help="search only here (repeatable; implies --no-auto-sources)",
    )
    parser.add_argument(
        "--no-auto-sources", action="store_true",
        help="don't let the service choose where to search: search only the --source ones"
             " (or the payload file's data_sources)",
    )
    parser.add_argument(
        "--exclude-domain", action="append", metavar="DOMAIN",
        help="leave out the company at this domain or URL (repeatable)",
    )
    parser.add_argument(
        "--exclude-task", action="append", metavar="ID",
        help="leave out the results of this finished task, by id or dashboard URL"
             " (repeatable, up to 100)",
    )
    parser.add_argument(
        "--table", metavar="ID", help="an Extruct table to receive the results",
    )
    parser.add_argument(
        "--table-import", action="store_true",
        help="with --table: import the results into it as they arrive",
    )
    parser.add_argument(
        "--table-run", action="store_true",
        help="with --table: run the table's enrichment columns on the imported rows",
    )
    parser.add_argument(
        "--table-column", action="append", metavar="COLUMN",
        help="with --table-run: run only this column (repeatable; default: the table's own)",
    )
    parser.add_argument(
        "--payload-file", metavar="FILE",
        help="the whole create request as JSON, as the API takes it (query,"
             " desired_num_results, criteria, ...); the options above override its fields",
    )
    parser.add_argument(
        "--no-wait", action="store_true",
        help="print the task id and exit; come back with `tasks wait` or `tasks results`",
    )
    _output_options(parser)
    _wait_options(parser)
    parser.set_defaults(handler=_commands.search)


def _tasks_list(parser: Parser) -> None:
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--limit", type=_int_between(1, None), default=20, metavar="N",
        help="show at most N tasks (default: %(default)s)",
    )
    size.add_argument("--all", action="store_true", help="show every task, however many")
    parser.add_argument(
        "--offset", type=_int_between(0, None), default=0, metavar="N",
        help="skip the N newest (matching) tasks first (default: %(default)s)",
    )
    parser.add_argument(
        "--status", action="append", choices=[status.value for status in TaskStatus],
        help="show only tasks with this status (repeatable)",
    )
    _format_option(parser, default="table")
    parser.set_defaults(handler=_commands.list_tasks)


def _tasks_recover(parser: Parser) -> None:
    parser.add_argument("--run", metavar="NAME",
                        help="only the tasks of this run (create_many(run=...)); default: all")
    _format_option(parser, default="table")
    parser.set_defaults(handler=_commands.recover_tasks)


def _tasks_get(parser: Parser) -> None:
    parser.add_argument("task_id", metavar="ID", help=_TASK_ID_HELP)
    _format_option(parser, default="table")
    parser.set_defaults(handler=_commands.get_task)


def _tasks_wait(parser: Parser) -> None:
    parser.add_argument("task_ids", nargs="+", metavar="ID", help=_TASK_ID_HELP)
    _wait_options(parser)
    parser.set_defaults(handler=_commands.wait_tasks)


def _tasks_results(parser: Parser) -> None:
    parser.add_argument("task_id", metavar="ID", help=_TASK_ID_HELP)
    parser.add_argument(
        "--follow", action="store_true",
        help="print rows as they arrive, each once, until the task finishes",
    )
    parser.add_argument(
        "--limit", type=_int_between(1, None), metavar="N",
        help="print at most N rows (default: all)",
    )
    parser.add_argument(
        "--offset", type=_int_between(0, None), default=0, metavar="N",
        help="skip the N best rows first (default: %(default)s)",
    )
    _output_options(parser)
    parser.add_argument(
        "--poll-interval", type=_positive_float, default=5.0, metavar="S",
        help="with --follow, seconds between status reads (default: %(default)s)",
    )
    parser.set_defaults(handler=_commands.task_results)


def _tasks_resume(parser: Parser) -> None:
    parser.add_argument("task_id", metavar="ID", help=_TASK_ID_HELP)
    parser.add_argument(
        "--more", type=_int_between(0, 250), default=25, metavar="N",
        help="raise the task's target by N results, 0-250 (default: %(default)s)",
    )
    parser.set_defaults(handler=_commands.resume_task)


def _demo_command(parser: Parser) -> None:
    parser.add_argument(
        "--output", default=_demo.DEFAULT_OUTPUT, metavar="FILE",
        help="where to write every row as JSON lines (default: %(default)s)",
    )
    parser.add_argument(
        "--tasks", type=_int_between(1, len(_demo.SEARCHES)), default=_demo.DEFAULT_TASKS,
        metavar="N", help=f"how many searches to run, 1-{len(_demo.SEARCHES)}"
                          " (default: %(default)s)",
    )
    parser.set_defaults(handler=_demo.demo)


def _format_option(parser: Parser, *, default: str | None) -> None:
    shown = default or "from --output's extension, else table"
    parser.add_argument(
        "--format", choices=FORMATS, default=default,
        help="table (aligned and cut to fit, for people), or in full: jsonl (the service's"
             f" JSON, one object a line), json (one array) or csv (default: {shown})",
    )


def _output_options(parser: Parser) -> None:
    _format_option(parser, default=None)
    parser.add_argument(
        "--output", metavar="FILE",
        help="write the rows to FILE instead of stdout, as its name says: .csv, .jsonl or"
             " .json (never a table)",
    )


def _wait_options(parser: Parser) -> None:
    parser.add_argument(
        "--poll-interval", type=_positive_float, default=5.0, metavar="S",
        help="seconds between status reads (default: %(default)s)",
    )
    parser.add_argument(
        "--timeout", type=_positive_float, metavar="S",
        help="give up waiting after S seconds (exit status 8); the tasks keep running",
    )


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _int_between(low: int, high: int | None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"{low}-{high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"expected {bounds}, got {value}")
        return value

    return parse


def _criterion(text: str) -> Criterion:
    key, _, rest = text.partition(":")
    name, _, question = rest.partition(":")
    if not (key and name and question):
        raise argparse.ArgumentTypeError(f"expected KEY:NAME:TEXT, got {text!r}")
    return Criterion(key=key.strip(), name=name.strip(), criterion=question.strip())
