"""Live progress of running tasks on stderr.

On a terminal: a bar per task with ``rich`` when it is installed (the ``cli``
extra), else one line redrawn with carriage returns. Piped: a plain line each
time a task's status changes, so logs stay short. ``--quiet``: nothing.
Displays only draw; the SDK's shared poller does all the reading.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Protocol, TextIO

from .. import ExtructError, TaskState, TaskStatus
from ._output import status_label
from ._table import line_width, truncate

if TYPE_CHECKING:
    from .. import DiscoveryTask

__all__ = ["Display", "open_display", "watching"]


class Display(Protocol):
    """Shows tasks' progress; notes printed through it don't garble a live display."""

    def update(self, task: DiscoveryTask) -> None:
        """Show the task's latest state."""

    def note(self, message: str) -> None:
        """Print a line of commentary."""

    def close(self) -> None:
        """Leave the display as it stands, ending its line."""


def open_display(stream: TextIO, *, quiet: bool, live: bool = True) -> Display:
    """Return the display that suits ``stream``: bars, a line, a log, or nothing.

    ``live=False`` asks for the log (a line per change) even on a terminal.
    """
    if quiet:
        return _Silent()
    if not live or not _is_terminal(stream):
        return _StateChanges(stream)
    try:
        return _RichBars(stream)
    except ImportError:
        return _CarriageReturn(stream)


@contextlib.asynccontextmanager
async def watching(
    tasks: Sequence[DiscoveryTask], display: Display, *, poll_interval: float
) -> AsyncIterator[None]:
    """Keep ``display`` up to date with every task's progress while the block runs."""
    watchers = [asyncio.ensure_future(_watch(task, display, poll_interval)) for task in tasks]
    try:
        yield
    finally:
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        # A watcher cancelled as the block ends may not have shown the last state yet.
        for task in tasks:
            display.update(task)


async def _watch(task: DiscoveryTask, display: Display, poll_interval: float) -> None:
    # A failed read reaches whoever waits on the task too; the display just stops.
    with contextlib.suppress(ExtructError):
        async with contextlib.aclosing(task.watch(poll_interval=poll_interval)) as states:
            async for _ in states:
                display.update(task)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _results(state: TaskState) -> str:
    return f"{state.num_results}/{state.desired_num_results} results"


def _counters(state: TaskState) -> str:
    return (f"{state.num_results_discovered} discovered, {state.num_results_enriched} enriched,"
            f" {state.num_results_evaluated} evaluated")


class _Silent:
    """``--quiet``: shows nothing."""

    def update(self, task: DiscoveryTask) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass


class _StateChanges:
    """Not a terminal: one plain line per change of a task's status, and one when it finishes.

    Exhausted is a change worth a line, but not an end: rows are still qualified until
    the status is ``done`` or ``failed``. That finish is the task's last line: a later
    read could only tell it again.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._shown: dict[str, tuple[object, bool, bool]] = {}

    def update(self, task: DiscoveryTask) -> None:
        state = task.state
        change = (state.status, state.is_exhausted, state.finished)
        shown = self._shown.get(state.id)
        if shown is not None and shown[2]:
            return
        if shown != change:
            self._shown[state.id] = change
            self.note(f"task {state.id} {status_label(state)}: {_results(state)}"
                      f" ({_counters(state)})")

    def note(self, message: str) -> None:
        print(message, file=self._stream, flush=True)

    def close(self) -> None:
        pass


class _CarriageReturn:
    """A terminal without ``rich``: one line, redrawn in place."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._states: dict[str, TaskState] = {}
        self._drawn = 0

    def update(self, task: DiscoveryTask) -> None:
        self._states[task.id] = task.state
        self._draw()

    def note(self, message: str) -> None:
        self._stream.write("\r" + " " * self._drawn + "\r" + message + "\n")
        self._drawn = 0
        self._draw()

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
        self._drawn = 0

    def _draw(self) -> None:
        states = list(self._states.values())
        if not states:
            return
        if len(states) == 1:
            line = f"{status_label(states[0])}: {_results(states[0])} ({_counters(states[0])})"
        else:
            line = " | ".join(f"{s.id[:8]} {s.num_results}/{s.desired_num_results}"
                              f" {status_label(s)}" for s in states)
        line = truncate(line, line_width(self._stream) - 1)
        self._stream.write("\r" + line.ljust(self._drawn))
        self._stream.flush()
        self._drawn = len(line)


class _RichBars:
    """A terminal with ``rich``: a bar per task, results against the target.

    Each line is laid out here, not by rich, so that on a narrow terminal the
    pipeline counters are cut first and the results and status always show.

    Raises:
        ImportError: ``rich`` is not installed.
    """

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskID, TextColumn

        self._bar = BarColumn()
        self._progress = Progress(
            TextColumn("{task.description}"),
            self._bar,
            TextColumn("[{task.fields[style]}]{task.fields[info]}"),
            console=Console(file=stream),
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._bars: dict[str, TaskID] = {}
        self._progress.start()

    def update(self, task: DiscoveryTask) -> None:
        from rich.markup import escape

        state = task.state
        width = self._progress.console.width
        query, bar = (18, 12) if width < 100 else (22, 16)
        label = escape(f"{state.id[:8]}  {truncate(state.query, query):<{query}}")
        # Columns are one space apart: label, bar, then the rest of the line.
        room = max(width - len(label) - bar - 3, 10)
        info = escape(truncate(f"{_results(state)}  {status_label(state)}  {_counters(state)}",
                               room))
        self._bar.bar_width = bar
        found = self._bars.get(state.id)
        if found is None:
            # Every field is given at once: the refresh thread may draw the bar right away.
            found = self._bars[state.id] = self._progress.add_task(
                label, total=state.desired_num_results, completed=state.num_results,
                info=info, style=_style(state),
            )
        self._progress.update(found, total=state.desired_num_results, description=label,
                              completed=state.num_results, info=info, style=_style(state))
        if state.finished:
            self._progress.stop_task(found)

    def note(self, message: str) -> None:
        self._progress.console.print(message, markup=False, highlight=False)

    def close(self) -> None:
        self._progress.stop()


def _style(state: TaskState) -> str:
    """Return the rich style of a task's line: red failed, green finished, else plain."""
    if state.status == TaskStatus.FAILED:
        return "bold red"
    return "green" if state.finished else "default"
