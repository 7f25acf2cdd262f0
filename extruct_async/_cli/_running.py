"""Running a command on an event loop: its context, Ctrl-C, and what it leaves running.

Ctrl-C cancels the command like any other asyncio cancellation, so every
``async with`` unwinds (the client closes, the display ends its line); then the
tasks still running on the service are named, with the commands to come back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TextIO

import attrs

from .. import AiohttpTransport, AsyncExtruct, DiscoveryTask
from .._config import API_KEY_ENV
from ._diagnostics import Exchanges, retry_lines
from ._exit import ExitCode, UsageError
from ._progress import Display, open_display

__all__ = ["Command", "Context", "Running", "run"]


class Running:
    """Tasks a command created or follows, to name them if it is interrupted."""

    def __init__(self) -> None:
        self._tasks: dict[str, DiscoveryTask] = {}
        self._creating = 0

    def add(self, *tasks: DiscoveryTask) -> None:
        """Remember ``tasks``."""
        for task in tasks:
            self._tasks.setdefault(task.id, task)

    @contextlib.contextmanager
    def creating(self) -> Iterator[None]:
        """Mark a create in flight: if interrupted now, a task may exist unseen."""
        self._creating += 1
        try:
            yield
        finally:
            self._creating -= 1

    def report(self) -> str:
        """Return what to tell the user after an interruption."""
        unfinished = [task for task in self._tasks.values() if not task.finished]
        lines = ["interrupted"]
        if self._creating:
            lines.append("a task was being created: see extruct-async tasks list")
        if unfinished:
            lines.append("still running on the service (the results are kept):")
            lines += [f"  {task.id}  {task.query}" for task in unfinished]
            ids = " ".join(task.id for task in unfinished)
            lines.append("come back to them with:")
            lines.append(f"  extruct-async tasks wait {ids}")
            lines += [f"  extruct-async tasks results {task.id} --follow" for task in unfinished]
        return "\n".join(lines)


@attrs.define
class Context:
    """What a command works with: its options, its streams, and its running tasks."""

    args: argparse.Namespace
    stdout: TextIO
    stderr: TextIO
    running: Running = attrs.field(factory=Running)
    _display: Display | None = attrs.field(default=None, init=False)

    @property
    def quiet(self) -> bool:
        """Whether ``--quiet`` silenced progress and notes."""
        return bool(self.args.quiet)

    @property
    def debug(self) -> bool:
        """Whether ``--debug`` asked for every HTTP exchange on stderr."""
        return bool(self.args.debug)

    @property
    def secret(self) -> str | None:
        """The API token as sent (stripped), to mask anywhere it might show; None if none."""
        return (self.args.api_key or os.environ.get(API_KEY_ENV) or "").strip() or None

    def client(self, **options: Any) -> AsyncExtruct:
        """Return a client for ``--api-key`` / ``--base-url`` (or their variables).

        With ``--debug`` its transport shows every exchange on stderr.

        Raises:
            UsageError: no API token was given.
        """
        if self.secret is None:
            raise UsageError(f"no API token: pass --api-key or set {API_KEY_ENV}")
        if self.debug and "transport" not in options:
            options["transport"] = Exchanges(AiohttpTransport(), self.say, secret=self.secret)
        store = getattr(self.args, "store", None)
        if store is not None:
            options.setdefault("store", store)
        return AsyncExtruct(api_key=self.args.api_key, base_url=self.args.base_url, **options)

    @contextlib.contextmanager
    def display(self) -> Iterator[Display]:
        """Show progress on stderr while the block runs; notes meanwhile go through it.

        With ``--debug`` progress is a plain line per change, never a live display that
        the exchanges would keep breaking up.
        """
        display = open_display(self.stderr, quiet=self.quiet, live=not self.debug)
        self._display = display
        try:
            yield display
        finally:
            self._display = None
            display.close()

    def say(self, message: str) -> None:
        """Print ``message`` on stderr, even with ``--quiet``, without garbling progress."""
        if self._display is not None and not self.quiet:
            self._display.note(message)
        else:
            print(message, file=self.stderr, flush=True)

    def note(self, message: str) -> None:
        """Print commentary on stderr, unless ``--quiet``."""
        if not self.quiet:
            self.say(message)


Command = Callable[[Context], Coroutine[Any, Any, int]]


def run(command: Command, context: Context) -> int:
    """Run ``command`` to its exit status; Ctrl-C cancels it and returns 130."""
    try:
        with retry_lines(context.note, secret=context.secret):
            status = asyncio.run(_interruptible(command(context)))
    except KeyboardInterrupt:  # where signal handlers can't be set: Windows
        status = None
    if status is None:
        print(context.running.report(), file=context.stderr, flush=True)
        return ExitCode.INTERRUPTED
    return status


async def _interruptible(command: Coroutine[Any, Any, int]) -> int | None:
    """Await ``command``; on SIGINT cancel it, let it unwind, and return None."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        if not interrupted:  # a second Ctrl-C must not cut the clean-up short
            interrupted = True
            main.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, interrupt)
    try:
        return await command
    except asyncio.CancelledError:
        if not interrupted:
            raise
        return None
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)
