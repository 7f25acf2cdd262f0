"""``extruct-async demo``: several Deep Searches end to end, on simulated data.

The simulator runs inside this process on loopback, at a pace that finishes the
whole demo in about ten seconds; the SDK talks to it over HTTP exactly as it
would to Extruct. One search's candidate pool is small, to show an exhausted task
finishing with what it found.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

import attrs

from .. import AsyncExtruct, CompanyResult, Criterion, DiscoveryTask
from ._exit import ExitCode
from ._output import Cell, grades, open_output, relevance, row_writer, status_label, website
from ._progress import Display, watching
from ._running import Context
from ._table import Column, Table, line_width

if TYPE_CHECKING:
    from ..testing import FakeExtructServer

__all__ = ["DEFAULT_OUTPUT", "DEFAULT_TASKS", "SEARCHES", "demo", "simulator"]

#: Where the demo writes its rows unless told otherwise.
DEFAULT_OUTPUT = "extruct-demo-results.jsonl"
#: How many searches run unless told otherwise.
DEFAULT_TASKS = 5
# Simulated seconds per candidate step: the largest search takes about 12 s.
_SECONDS_PER_RESULT = 0.15
_POLL_INTERVAL = 0.5
_SEED = 2024
_TOP = 10


@attrs.frozen
class _Search:
    """One of the demo's searches, and how big its candidate pool is in the simulator."""

    query: str
    results: int
    pool: int = 1000
    criteria: tuple[Criterion, ...] | None = None
    sources: tuple[str, ...] | None = None

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"query": self.query, "desired_num_results": self.results}
        if self.criteria:
            spec["criteria"] = self.criteria
        if self.sources:
            spec.update(auto_data_sources=False, data_sources=self.sources)
        return spec


#: The demo's searches, in order; ``--tasks N`` runs the first N.
SEARCHES = (
    _Search("vertical SaaS for freight forwarders", 40),
    # Too few candidates for 50 results: discovery runs dry and the task is exhausted.
    _Search("biodegradable packaging makers in the Nordics", 50, pool=45),
    _Search(
        "cybersecurity vendors selling to hospitals",
        30,
        criteria=(
            Criterion("sells_to_hospitals", "Sells to hospitals",
                      "The company names hospitals or health systems among its customers."),
            Criterion("has_api", "Has an API", "The company offers a documented public API."),
        ),
    ),
    _Search("warehouse robotics integrators in Germany", 35,
            sources=("web_search", "linkedin")),
    _Search("climate risk analytics for insurers", 45),
    _Search("payroll software for restaurant chains", 25),
)

_SIMULATED = (
    "Simulated data: the companies are made up by the simulator built into extruct-async;"
    " no request goes to Extruct and no credits are used."
)


async def demo(ctx: Context) -> int:
    """Run the demo: searches at once, live progress, a ranked table, a JSONL file."""
    searches = SEARCHES[: ctx.args.tasks]
    out = ctx.stdout
    print(f"extruct-async demo: {_searches(len(searches))} at once, end to end.", file=out)
    print(_SIMULATED + "\n", file=out, flush=True)
    with open_output(ctx.args.output, out) as jsonl:
        with ctx.display() as display:
            tasks, rows, elapsed = await _simulate(searches, display)
        writer = row_writer("jsonl", jsonl, score_keys=())
        for task_rows in rows:
            for row in _best_first(task_rows):
                writer.write(row)
        writer.close()
    _report(tasks, rows, elapsed=elapsed, output=ctx.args.output, out=out)
    return ExitCode.OK


async def _simulate(
    searches: Sequence[_Search], display: Display
) -> tuple[list[DiscoveryTask], list[list[CompanyResult]], float]:
    """Run ``searches`` on a simulator of their own; return the tasks, rows and seconds taken."""
    server = simulator(searches)
    loop = asyncio.get_running_loop()
    async with server, server.client(rate_limit=None) as client:
        started = loop.time()
        tasks = await client.discovery_tasks.create_many([s.spec() for s in searches])
        rows = await _run(client, tasks, display)
        return tasks, rows, loop.time() - started


def simulator(searches: Sequence[_Search], **options: Any) -> FakeExtructServer:
    """Return the demo's simulator for ``searches`` (``options`` go to it, e.g. a ``clock``)."""
    from ..testing import FakeExtructServer  # the simulator is only needed here

    pools = {search.query: search.pool for search in searches}
    return FakeExtructServer(
        seed=_SEED, seconds_per_result=_SECONDS_PER_RESULT, candidate_pool=pools, **options
    )


def _report(
    tasks: Sequence[DiscoveryTask],
    rows: Sequence[Sequence[CompanyResult]],
    *,
    elapsed: float,
    output: str,
    out: TextIO,
) -> None:
    total = sum(map(len, rows))
    print(f"{_searches(len(tasks))} finished in {elapsed:.1f} s.\n", file=out)
    _print_tasks(tasks, rows, out)
    print(f"\nTop {_TOP} of {total} companies across all searches:", file=out)
    _print_top(tasks, rows, out)
    where = os.path.abspath(output) if output != "-" else "stdout"
    print(f"\nWrote {total} rows from {_searches(len(tasks))} to {where}", file=out)
    print(_SIMULATED.replace("goes", "went").replace("are used", "were used"), file=out)
    print("With an Extruct API token, the same in earnest:\n"
          "  export EXTRUCT_API_TOKEN=...\n"
          f'  extruct-async search "{tasks[0].query}" --results 25', file=out, flush=True)


async def _run(
    client: AsyncExtruct, tasks: list[DiscoveryTask], display: Display
) -> list[list[CompanyResult]]:
    """Follow every task to its end while streaming its rows; return each task's rows.

    The display shows each finish, once; what a finish means (rows, high-fit, exhausted)
    is explained under the report's table, not repeated per task.
    """
    async with watching(tasks, display, poll_interval=_POLL_INTERVAL):
        readers = [asyncio.ensure_future(_read(task)) for task in tasks]
        try:
            await client.discovery_tasks.wait_all(tasks, poll_interval=_POLL_INTERVAL)
            return list(await asyncio.gather(*readers))
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)


async def _read(task: DiscoveryTask) -> list[CompanyResult]:
    async with contextlib.aclosing(task.stream(poll_interval=_POLL_INTERVAL)) as stream:
        return [row async for row in stream]


def _searches(count: int) -> str:
    return f"{count} Deep Search{'' if count == 1 else 'es'}"


def _best_first(rows: Sequence[CompanyResult]) -> list[CompanyResult]:
    return sorted(rows, key=_rank, reverse=True)


def _rank(row: CompanyResult) -> tuple[float, int]:
    grade_sum = sum(score.grade or 0 for score in row.scores.values())
    return (row.relevance if row.relevance is not None else -1.0, grade_sum)


def _print_tasks(
    tasks: Sequence[DiscoveryTask], rows: Sequence[Sequence[CompanyResult]], out: TextIO
) -> None:
    columns = [Column("task", 8), Column("status", 15), Column("high-fit", 8, right=True),
               Column("rows", 4, right=True), Column("query", 60, flex=True)]
    lines = [[task.id[:8], status_label(task.state),
              f"{task.num_results}/{task.desired_num_results}", str(len(task_rows)), task.query]
             for task, task_rows in zip(tasks, rows, strict=True)]
    table = Table(columns, width=line_width(out), sample=lines)
    print(table.header(), file=out)
    for line in lines:
        print(table.line(line), file=out)
    notes = ["rows: every company a search evaluated and returned (all are in the file);"
             " high-fit: the rows that meet its criteria well (graded 4-5 on most), which is"
             " what a search's target counts."]
    notes += [f"exhausted: {task.id[:8]} ran out of candidates after"
              f" {task.num_results_discovered}, short of its target of"
              f" {task.desired_num_results} high-fit; it still finishes, with every row it"
              " found." for task in tasks if task.is_exhausted]
    for note in notes:
        print(textwrap.fill(note, width=line_width(out), subsequent_indent="  "), file=out)


def _print_top(
    tasks: Sequence[DiscoveryTask], rows: Sequence[Sequence[CompanyResult]], out: TextIO
) -> None:
    queries = {task.id: task.query for task in tasks}
    top = _best_first([row for task_rows in rows for row in task_rows])[:_TOP]
    cells: list[Cell[CompanyResult]] = [
        (Column("company", 30, flex=True), lambda row: row.company_name or ""),
        (Column("website", 26, flex=True), website),
        (Column("relevance", 9, right=True), relevance),
        (Column("grades", 9), grades),
        (Column("search", 40, flex=True), lambda row: queries.get(row.task_id or "", "")),
    ]
    writer = row_writer("table", out, score_keys=(), sample=top, cells=cells)
    for row in top:
        writer.write(row)
    writer.close()
