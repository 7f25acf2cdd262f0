"""The commands that talk to the service: ``search`` and ``tasks ...``."""

from __future__ import annotations

import contextlib
import os
from typing import TextIO

from .. import (
    CompanyResult,
    DiscoveryTask,
    InvalidRequestError,
    TaskFailedError,
    TaskState,
    TaskStatus,
)
from ._exit import ExitCode, UsageError
from ._output import open_output, output_format, row_writer, task_line, task_writer, write_task
from ._progress import watching
from ._running import Context
from ._search import search_request

__all__ = ["get_task", "list_tasks", "resume_task", "search", "task_results", "wait_tasks"]


async def search(ctx: Context) -> int:
    """``search QUERY``: create a task, follow it, print its rows best first."""
    args = ctx.args
    if args.no_wait and args.output:
        raise UsageError("--output has no rows to write with --no-wait")
    fmt = output_format(args.format, args.output)
    request = search_request(args)
    with open_output(args.output, ctx.stdout) as out:
        async with ctx.client() as client:
            with ctx.running.creating():
                try:
                    task = await client.discovery_tasks.create(**request.arguments)
                except InvalidRequestError as error:  # raised before anything is sent
                    raise request.usage_error(error) from None
            ctx.running.add(task)
            if args.no_wait:
                print(task.id, file=out, flush=True)
                ctx.note(_come_back(task))
                return ExitCode.OK
            with ctx.display() as display:
                await task.wait(poll_interval=args.poll_interval, timeout=args.timeout,
                                on_progress=display.update)
            rows = await _rows(task)
        _write_rows(ctx, fmt, task, rows, out)
    return ExitCode.OK


async def list_tasks(ctx: Context) -> int:
    """``tasks list``: the newest tasks of the workspace."""
    args = ctx.args
    limit = None if args.all else args.limit
    statuses = None if args.status is None else set(args.status)
    # Unfiltered, the service skips the first --offset tasks and pages hold just the tasks
    # wanted. The API filters nothing, though: with --status, --offset counts matching
    # tasks, so those are skipped here, reading pages as large as the API serves.
    if statuses is None:
        start, skip = args.offset, 0
        page_size = 100 if limit is None else min(limit, 100)
    else:
        start, skip, page_size = 0, args.offset, 100
    states: list[TaskState] = []
    skipped = 0
    async with ctx.client() as client:
        listing = client.discovery_tasks.list(page_size=page_size, offset=start)
        async with contextlib.aclosing(listing):
            async for task in listing:
                if statuses is not None and str(task.status) not in statuses:
                    continue
                if skipped < skip:
                    skipped += 1
                    continue
                states.append(task.state)
                if len(states) == limit:
                    break
    writer = task_writer(args.format, ctx.stdout, sample=states)
    for state in states:
        writer.write(state)
    writer.close()
    return ExitCode.OK


async def recover_tasks(ctx: Context) -> int:
    """``tasks recover [--run NAME]``: the tasks the store's journal holds, as ``tasks list``."""
    if not (getattr(ctx.args, "store", None) or os.environ.get("EXTRUCT_STORE")):
        # In memory, the journal died with the process that wrote it.
        raise UsageError("tasks recover needs the store the tasks were journaled in:"
                         " --store URL or $EXTRUCT_STORE")
    async with ctx.client() as client:
        tasks = await client.discovery_tasks.recover(run=ctx.args.run)
    states = [task.state for task in tasks]
    writer = task_writer(ctx.args.format, ctx.stdout, sample=states)
    for state in states:
        writer.write(state)
    writer.close()
    return ExitCode.OK


async def get_task(ctx: Context) -> int:
    """``tasks get ID``: one task's state."""
    async with ctx.client() as client:
        task = await client.discovery_tasks.get(ctx.args.task_id)
    write_task(task.state, ctx.args.format, ctx.stdout)
    return ExitCode.OK


async def wait_tasks(ctx: Context) -> int:
    """``tasks wait ID...``: follow tasks until each finishes; a line per finished task."""
    args = ctx.args
    finished: list[DiscoveryTask] = []
    async with ctx.client() as client:
        # One at a time: an unknown id stops the command before anything else is in flight.
        # Keyed by the id the service gives: a dashboard URL and its plain id are one task.
        found: dict[str, DiscoveryTask] = {}
        for reference in dict.fromkeys(args.task_ids):
            task = await client.discovery_tasks.get(reference)
            found.setdefault(task.id, task)
        tasks = list(found.values())
        ctx.running.add(*tasks)
        try:
            with ctx.display() as display:
                async with watching(tasks, display, poll_interval=args.poll_interval):
                    completed = client.discovery_tasks.as_completed(
                        tasks, timeout=args.timeout, poll_interval=args.poll_interval
                    )
                    async with contextlib.aclosing(completed):
                        async for task in completed:
                            finished.append(task)
        finally:
            for task in finished:
                print(task_line(task.state), file=ctx.stdout, flush=True)
    _raise_if_failed(finished)
    return ExitCode.OK


async def task_results(ctx: Context) -> int:
    """``tasks results ID``: the task's rows now, or with ``--follow`` as they arrive."""
    args = ctx.args
    if args.follow and (args.limit is not None or args.offset):
        raise UsageError("--follow prints every row as it arrives: leave out --limit and --offset")
    fmt = output_format(args.format, args.output)
    with open_output(args.output, ctx.stdout) as out:
        async with ctx.client() as client:
            task = await client.discovery_tasks.get(args.task_id)
            if args.follow:
                ctx.running.add(task)
                count = await _follow(ctx, task, fmt, out)
                ctx.note(_summary(task, count=count))
            else:
                rows = await _rows(task, offset=args.offset, limit=args.limit)
                _write_rows(ctx, fmt, task, rows, out, first=args.offset + 1)
                if not task.finished:
                    ctx.note(f"task {task.id} is still {task.status}: these are the rows so far;"
                             f" add --follow to get the rest as they arrive")
    _raise_if_failed([task])
    return ExitCode.OK


async def resume_task(ctx: Context) -> int:
    """``tasks resume ID``: raise a task's target; print its id."""
    async with ctx.client() as client:
        task = await client.discovery_tasks.get(ctx.args.task_id)
        await task.resume(ctx.args.more)
    print(task.id, file=ctx.stdout, flush=True)
    ctx.note(f"task {task.id} resumed: now aiming for {task.desired_num_results} results")
    ctx.note(_come_back(task))
    return ExitCode.OK


async def _rows(
    task: DiscoveryTask, *, offset: int = 0, limit: int | None = None
) -> list[CompanyResult]:
    """Return the task's rows, best first: all of them, or ``limit`` after the first ``offset``."""
    rows: list[CompanyResult] = []
    # A page no larger than the rows wanted, so --limit 5 reads 5 rows, not 50.
    size = 50 if limit is None else min(limit, 50)
    async with contextlib.aclosing(task.pages(page_size=size, offset=offset)) as pages:
        async for page in pages:
            rows += page
            if limit is not None and len(rows) >= limit:
                return rows[:limit]
    return rows


async def _follow(ctx: Context, task: DiscoveryTask, fmt: str, out: TextIO) -> int:
    """Write each row as it arrives until the task finishes; return how many."""

    def dropped(columns: list[str]) -> None:
        ctx.note(f"rows hold {', '.join(columns)}, which the task did not announce: the CSV"
                 " leaves them out (--format jsonl keeps everything)")

    writer = row_writer(fmt, out, score_keys=_score_keys(task), dropped=dropped)
    count = 0
    # Closed however the stream ends (a failure, Ctrl-C): a JSON array stays valid JSON.
    try:
        stream = task.stream(poll_interval=ctx.args.poll_interval)
        async with contextlib.aclosing(stream) as rows:
            async for row in rows:
                writer.write(row)
                count += 1
    finally:
        writer.close()
    return count


def _write_rows(
    ctx: Context, fmt: str, task: DiscoveryTask, rows: list[CompanyResult], out: TextIO, *,
    first: int = 1,
) -> None:
    """Write ``rows``, numbered from ``first`` in a table (their rank), then a summary."""
    writer = row_writer(fmt, out, score_keys=_score_keys(task), sample=rows, first=first)
    for row in rows:
        writer.write(row)
    writer.close()
    shown = f" (#{first}-{first + len(rows) - 1})" if first > 1 and rows else ""
    where = f"; written to {ctx.args.output}" if ctx.args.output else ""
    ctx.note(_summary(task, count=len(rows)) + shown + where)


def _score_keys(task: DiscoveryTask) -> list[str]:
    """The task's criterion keys, in its order."""
    return [criterion.key for criterion in task.criteria or ()]


def _summary(task: DiscoveryTask, *, count: int) -> str:
    exhausted = "; exhausted: no candidates were left" if task.is_exhausted else ""
    return (f"task {task.id} {task.status}: {count} rows, {task.num_results} high-fit of"
            f" {task.desired_num_results} desired{exhausted}")


def _come_back(task: DiscoveryTask) -> str:
    return (f"task {task.id} is running; come back to it with:\n"
            f"  extruct-async tasks wait {task.id}\n"
            f"  extruct-async tasks results {task.id} --follow")


def _raise_if_failed(tasks: list[DiscoveryTask]) -> None:
    for task in tasks:
        if task.status == TaskStatus.FAILED:
            raise TaskFailedError(task)
