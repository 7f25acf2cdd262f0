"""Running the simulator on its own: ``python -m extruct_async.testing``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

from ._faults import FAULT_KINDS, GATEWAY_BODIES
from ._server import (
    DEFAULT_API_KEY,
    DEFAULT_QUALIFICATION_STEPS,
    DEFAULT_SECONDS_PER_RESULT,
    RETRY_AFTER_FORMATS,
    FakeExtructServer,
)

__all__ = ["add_server_arguments", "main", "run_server", "serve", "server_options"]


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to ``parser``; ``server_options`` reads the parsed namespace.

    Every ``FakeExtructServer`` option has a flag, except ``clock`` and the forms of
    ``candidate_pool`` and ``fail_queries`` that are functions. The standalone server behaves
    as the service does by default: each task has a qualification lag (``--qualification-steps``).
    """
    low, high = DEFAULT_QUALIFICATION_STEPS
    parser.add_argument("--host", default="127.0.0.1", help="interface (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8080, help="0 picks a free port (default: %(default)s)"
    )
    parser.add_argument(
        "--api-key", default=DEFAULT_API_KEY, help="the token to accept (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of everything random (default: %(default)s)"
    )
    parser.add_argument(
        "--seconds-per-result",
        type=float,
        default=DEFAULT_SECONDS_PER_RESULT,
        help="simulated seconds per candidate step (default: %(default)s)",
    )
    parser.add_argument(
        "--qualification-steps",
        type=_step_range,
        default=f"{low}-{high}",
        metavar="N|LOW-HIGH",
        help="steps from a row's evaluation to its appearing; a range is drawn from per task,"
        " 0 shows rows as they are evaluated (default: %(default)s)",
    )
    parser.add_argument(
        "--candidate-pool",
        type=int,
        help="candidates per query; a small pool exhausts tasks (default: derived per query)",
    )
    parser.add_argument(
        "--fail-query",
        action="append",
        default=[],
        metavar="TEXT",
        help="tasks whose query contains TEXT fail (repeatable; default: none)",
    )
    parser.add_argument("--credits", type=int, help="credits available (default: unlimited)")
    parser.add_argument(
        "--plan-required",
        action="store_true",
        help="answer every create with 402 plan_required (default: %(default)s)",
    )
    parser.add_argument(
        "--payment-failed",
        action="store_true",
        help="answer every create and resume with 402 payment_failed (default: %(default)s)",
    )
    parser.add_argument(
        "--rate-limit", type=float, help="requests per second per API key (default: no limit)"
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds added per answer (default: %(default)s)",
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="probability of a fault per request (default: %(default)s)",
    )
    parser.add_argument(
        "--fault-kind",
        action="append",
        choices=FAULT_KINDS,
        metavar="KIND",
        help=f"random fault kinds (repeatable; default: all of {', '.join(FAULT_KINDS)})",
    )
    parser.add_argument(
        "--slow-seconds",
        type=float,
        default=60.0,
        help="delay of the 'slow' fault (default: %(default)s)",
    )
    parser.add_argument(
        "--retry-after",
        type=int,
        default=1,
        help="Retry-After seconds of the 429 and 503-retry-after faults (default: %(default)s)",
    )
    parser.add_argument(
        "--retry-after-format",
        choices=RETRY_AFTER_FORMATS,
        default="seconds",
        help="how every Retry-After is written; 'none' never sends one (default: %(default)s)",
    )
    parser.add_argument(
        "--gateway-body",
        choices=GATEWAY_BODIES,
        default="html",
        help="body of the 5xx faults (default: %(default)s)",
    )
    clock = parser.add_mutually_exclusive_group()
    clock.add_argument(
        "--epoch",
        type=_utc_datetime,
        metavar="ISO8601",
        help="wall-clock time of the start, for created_at and Date (default: now)",
    )
    clock.add_argument(
        "--clock-skew",
        type=float,
        metavar="SECONDS",
        help="run the wall clock this far ahead of this machine's, or behind if negative"
        " (default: 0)",
    )


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    """Return the ``FakeExtructServer`` keyword options that the parsed ``args`` describe."""
    epoch = args.epoch
    if args.clock_skew is not None:
        epoch = datetime.now(timezone.utc) + timedelta(seconds=args.clock_skew)
    return {
        "host": args.host,
        "port": args.port,
        "api_key": args.api_key,
        "seed": args.seed,
        "seconds_per_result": args.seconds_per_result,
        # argparse passes a string default through its type, so this is always a pair.
        "qualification_steps": args.qualification_steps,
        "candidate_pool": args.candidate_pool,
        "fail_queries": tuple(args.fail_query),
        "credits": args.credits,
        "plan_required": args.plan_required,
        "payment_failed": args.payment_failed,
        "rate_limit": args.rate_limit,
        "latency": args.latency,
        "fault_rate": args.fault_rate,
        "fault_kinds": FAULT_KINDS if args.fault_kind is None else tuple(args.fault_kind),
        "slow_seconds": args.slow_seconds,
        "retry_after": args.retry_after,
        "retry_after_format": args.retry_after_format,
        "gateway_body": args.gateway_body,
        "epoch": epoch,
    }


def _step_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        steps = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or LOW-HIGH, not {text!r}") from None
    if not 0 <= steps[0] <= steps[1]:
        raise argparse.ArgumentTypeError(f"expected 0 <= LOW <= HIGH, not {text!r}")
    return steps


def _utc_datetime(text: str) -> datetime:
    try:
        # Python 3.10's fromisoformat does not read a trailing Z.
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time, not {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


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
