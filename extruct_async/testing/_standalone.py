"""Running the simulator on its own: ``python -m extruct_async.testing``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any, TextIO

from ._faults import FAULT_KINDS
from ._server import DEFAULT_API_KEY, DEFAULT_SECONDS_PER_RESULT, FakeExtructServer

__all__ = ["add_server_arguments", "main", "run_server", "serve", "server_options"]


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser``; ``serve`` reads the parsed namespace."""
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="the token to accept")
    parser.add_argument("--seed", type=int, default=0, help="seed of everything random")
    parser.add_argument(
        "--seconds-per-result",
        type=float,
        default=DEFAULT_SECONDS_PER_RESULT,
        help="simulated seconds per candidate step (default: %(default)s)",
    )
    parser.add_argument(
        "--candidate-pool", type=int, help="candidates per query (default: derived per query)"
    )
    parser.add_argument(
        "--fail-query",
        action="append",
        default=[],
        metavar="TEXT",
        help="tasks whose query contains TEXT fail (repeatable)",
    )
    parser.add_argument("--credits", type=int, help="credits available (default: unlimited)")
    parser.add_argument("--rate-limit", type=float, help="requests per second per API key")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per answer")
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="probability of a fault per request"
    )
    parser.add_argument(
        "--fault-kind",
        action="append",
        choices=FAULT_KINDS,
        metavar="KIND",
        help=f"random fault kinds (repeatable; default: all of {', '.join(FAULT_KINDS)})",
    )
    parser.add_argument(
        "--slow-seconds", type=float, default=60.0, help="delay of the 'slow' fault"
    )


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    """Return the ``FakeExtructServer`` keyword options that the parsed ``args`` describe."""
    return {
        "host": args.host,
        "port": args.port,
        "api_key": args.api_key,
        "seed": args.seed,
        "seconds_per_result": args.seconds_per_result,
        "candidate_pool": args.candidate_pool,
        "fail_queries": tuple(args.fail_query),
        "credits": args.credits,
        "rate_limit": args.rate_limit,
        "latency": args.latency,
        "fault_rate": args.fault_rate,
        "fault_kinds": FAULT_KINDS if args.fault_kind is None else tuple(args.fault_kind),
        "slow_seconds": args.slow_seconds,
    }


async def serve(args: argparse.Namespace, *, out: TextIO | None = None) -> None:
    """Run the server ``args`` describes until SIGINT or SIGTERM, printing how to reach it.

    Args:
        args: Options parsed by a parser that ``add_server_arguments`` set up.
        out: Where to print the URL and token (default: standard output).
    """
    out = out or sys.stdout
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for number in (signal.SIGINT, signal.SIGTERM):
        # Not on Windows, nor off the main thread: there Ctrl-C raises KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(number, stop.set)
            handled.append(number)
    try:
        async with FakeExtructServer(**server_options(args)) as server:
            print(f"Fake Extruct API listening on {server.base_url}", file=out)
            print(f"API token: {server.api_key}", file=out)
            print(
                f"  export EXTRUCT_BASE_URL={server.base_url} EXTRUCT_API_TOKEN={server.api_key}",
                file=out,
            )
            print("Press Ctrl-C to stop.", file=out, flush=True)
            await stop.wait()
    finally:
        for number in handled:
            loop.remove_signal_handler(number)


def run_server(args: argparse.Namespace) -> int:
    """Run ``serve(args)`` to completion; Ctrl-C ends it quietly. Return the exit status."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run the simulator until stopped."""
    parser = argparse.ArgumentParser(
        prog="python -m extruct_async.testing",
        description="Run the Extruct Deep Search simulator on loopback.",
    )
    add_server_arguments(parser)
    return run_server(parser.parse_args(argv))
