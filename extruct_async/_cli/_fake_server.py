"""``extruct-async fake-server``: the embedded simulator, run from the command line.

The simulator and ``aiohttp.web`` are imported only when this command runs, so
that every other command (and ``--help``) starts without them. Its options are
the simulator's own (``python -m extruct_async.testing``), parsed here.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._exit import ExitCode
from ._parser import FAKE_SERVER_DESCRIPTION, Parser

__all__ = ["fake_server"]


def fake_server(argv: Sequence[str]) -> int:
    """Parse the simulator's options in ``argv``, then serve until Ctrl-C; return the status."""
    from ..testing import add_server_arguments, run_server

    parser = Parser(prog="extruct-async fake-server", description=FAKE_SERVER_DESCRIPTION)
    add_server_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error already printed
        return stop.code if isinstance(stop.code, int) else ExitCode.USAGE
    return run_server(args)
