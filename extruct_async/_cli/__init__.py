"""The ``extruct-async`` command line (``python -m extruct_async``).

Nothing in the library imports this package, so the CLI costs ``import
extruct_async`` nothing. In turn the CLI imports the simulator (and ``aiohttp.web``)
only in ``demo`` and ``fake-server``, and ``rich`` only to draw progress bars, so
``--help`` and every other command start at the cost of the SDK alone.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

from .._config import API_KEY_ENV
from ._exit import ExitCode, describe, exit_code
from ._fake_server import fake_server
from ._parser import build_parser
from ._running import Context, run

__all__ = ["main"]


def _one_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
              file: TextIO | None = None, line: str | None = None, **_: Any) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``extruct-async`` with ``argv`` (default: the command line); return the exit status.

    Failures end as one ``error: ...`` line on stderr and the status of their kind
    (see ``extruct-async --help``), never as a traceback.
    """
    parser = build_parser()
    try:
        # Known arguments only: the rest belong to `fake-server`, whose options are the simulator's.
        args, rest = parser.parse_known_args(argv)
        if rest and args.command != "fake-server":
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
    except SystemExit as stop:  # --help, --version, or a usage error already printed
        return stop.code if isinstance(stop.code, int) else ExitCode.USAGE
    if args.handler is None and args.command != "fake-server":
        # No command at all (or `tasks` alone): show what there is. The status is the usage
        # error's, 2, so that a script whose command came out empty does not pass for done;
        # the help goes to stderr with the other usage errors, keeping stdout for data.
        args.usage_of.print_help(sys.stderr)
        return ExitCode.USAGE
    try:
        if args.command == "fake-server":
            return fake_server(rest)
        with warnings.catch_warnings():
            warnings.showwarning = _one_line  # the SDK's warnings, as the CLI's own lines
            return run(args.handler, Context(args, sys.stdout, sys.stderr))
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python's final flush quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    except Exception as error:
        secret = args.api_key or os.environ.get(API_KEY_ENV)
        print(f"error: {describe(error, secret=secret)}", file=sys.stderr, flush=True)
        return exit_code(error)
