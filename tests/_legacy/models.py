"""Plain data: what the service sends and what callers send it.

Models are attrs classes with no I/O and no conversion logic; every rule for turning
JSON into them (and back) lives in :mod:`extruct_async._converter`. Inputs and task
snapshots are frozen. Result rows are plain (slotted, mutable) records: pages bring
them by the hundred, and a frozen attrs class takes four times as long to build.
Enum-typed fields are declared ``Enum | str``: a value the service adds later
arrives as the plain string instead of breaking the caller.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

__all__ = [
    "CompanyResult",
    "Criterion",
    "DataSource",
    "Score",
    "Table",
    "TaskState",
    "TaskStatus",
]


class TaskStatus(str, enum.Enum):
    """Where a Deep Search task is in its life."""

    CREATED = "created"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


class DataSource(str, enum.Enum):
    """Where Deep Search looks for candidates."""

    WEB_SEARCH = "web_search"
    LINKEDIN = "linkedin"
    MAPS = "maps"

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class Criterion:
    """A yes/no question every candidate is graded on, 1 (no) to 5 (clearly yes).

    Args:
        key: identifier used in result ``scores``; a letter, then letters, digits, ``_``.
        name: human-readable label, 1-100 characters.
        criterion: the question itself, 10-500 characters.
    """

    key: str
    name: str
    criterion: str


@attrs.frozen
class Table:
    """An Extruct table that receives the task's results.

    Args:
        id: the table's id.
        run: run the table's enrichment columns on imported rows.
        columns: ids of the columns to run; None runs the service's default.
        auto_import: import results into the table as they arrive.
    """

    id: str
    run: bool = False
    columns: tuple[str, ...] | None = None
    auto_import: bool = False


@attrs.define
class Score:
    """One criterion's verdict on one company."""

    grade: int | None = None
    explanation: str | None = None
    sources: tuple[str, ...] = ()


@attrs.define
class CompanyResult:
    """One result row: a company found by a Deep Search task, with its scores.

    Every field but ``id`` may be None: the service adds, drops and nulls fields
    over time. ``scores`` maps a criterion ``key`` to its :class:`Score`.
    """

    id: str
    task_id: str | None = None
    company_name: str | None = None
    company_description: str | None = None
    company_website: str | None = None
    relevance: float | None = None
    created_at: datetime | None = None
    company_profile_id: str | None = None
    source: DataSource | str | None = None
    scores: dict[str, Score] = attrs.field(factory=dict)
    founding_year: int | None = None
    employee_count: str | None = None
    hq_country: str | None = None
    hq_state_province: str | None = None
    hq_city: str | None = None
    company_full_description: str | None = None


@attrs.frozen
class TaskState:
    """A Deep Search task as the service last reported it (an immutable snapshot).

    Counters only grow: ``num_results_discovered`` (candidates found) >=
    ``num_results_enriched`` (passed the relevance pre-filter and got a profile) >=
    ``num_results_evaluated`` (scored on every criterion); ``num_results`` counts the
    evaluated candidates that are a high fit (at least 75% of criteria graded 4 or 5).
    """

    id: str
    created_at: datetime
    status: TaskStatus | str
    query: str
    desired_num_results: int
    is_exhausted: bool = False
    num_results_discovered: int = 0
    num_results_enriched: int = 0
    num_results_evaluated: int = 0
    num_results: int = 0
    table_id: str | None = None
    auto_data_sources: bool = True
    data_sources: tuple[DataSource | str, ...] | None = None
    criteria: tuple[Criterion, ...] | None = None
    exclude_domains: tuple[str, ...] | None = None

    @property
    def finished(self) -> bool:
        """Whether no more results will arrive without a resume.

        True when ``status`` is ``done`` or ``failed``, or when the task
        ``is_exhausted`` *and* evaluation has caught up with enrichment
        (evaluated >= enriched). ``is_exhausted`` alone is not enough, although the
        reference pages say so: it only means discovery has run dry, while
        candidates already found can still be in evaluation, with status
        ``in_progress`` and rows still arriving.
        """
        if self.status in (TaskStatus.DONE, TaskStatus.FAILED):
            return True
        return self.is_exhausted and self.num_results_evaluated >= self.num_results_enriched

    @property
    def progress(self) -> tuple[object, ...]:
        """The fields whose change is worth reporting: status and the counters."""
        return (
            self.status,
            self.is_exhausted,
            self.num_results_discovered,
            self.num_results_enriched,
            self.num_results_evaluated,
            self.num_results,
        )
