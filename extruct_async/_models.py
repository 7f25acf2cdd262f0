"""Plain data: what the service sends and what callers send it.

Models are attrs classes, and they are the schema: answers are decoded straight into
them by msgspec (``_protocol``), with no dict stage, so a field is declared once, here.
Inputs and task snapshots are frozen; result rows are plain slotted records (pages bring
them by the hundred).

What the service may send, and what the models make of it:

- A field the models do not know is ignored; a missing one takes its default.
- A result row's scalar fields may be null (the service adds, drops and nulls them).
  Everything else is checked: a value of the wrong type (``"false"`` for a boolean, a
  string where a list belongs, a null id or collection) is refused, never coerced.
- Enum-like fields (``status``, ``source``, ``data_sources``) are declared ``str``: a
  known value becomes its :class:`TaskStatus` / :class:`DataSource` member (a ``str``
  too, so ``state.status == "done"`` and ``state.status is TaskStatus.DONE`` both
  hold), and a value the service adds later stays the plain string.
- Timestamps are aware datetimes; one without an offset is taken as UTC.

The way back out (``to_dict``, ``to_json``, ``to_record``) follows the rules of the one
converter (``_converter``, below this module); many rows at once are ``_export``'s.
"""

from __future__ import annotations

import enum
import operator
from datetime import datetime, timezone
from typing import Any

import attrs

from ._converter import converter, json_line, omit_none

__all__ = [
    "COUNTERS",
    "CompanyResult",
    "Criterion",
    "DataSource",
    "Score",
    "Table",
    "TaskState",
    "TaskStatus",
    "older",
]

#: Field metadata of a counter of :class:`TaskState` (see :data:`COUNTERS`).
_COUNTER = {"counter": True}


class TaskStatus(str, enum.Enum):
    """Where a Deep Search task is in its life."""

    CREATED = "created"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


class DataSource(str, enum.Enum):
    """Where Deep Search looks for candidates: the sources its reference pages name.

    The service searches more than these (its guide names "Extruct DB" too), so a
    ``data_sources`` entry or a result's ``source`` it adds later stays the plain string
    it sent, and ``create(data_sources=...)`` sends any string as given.
    """

    WEB_SEARCH = "web_search"
    LINKEDIN = "linkedin"
    MAPS = "maps"

    def __str__(self) -> str:
        return self.value


@omit_none
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


@omit_none
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


_STATUSES: dict[str, TaskStatus] = {member.value: member for member in TaskStatus}
_SOURCES: dict[str, DataSource] = {member.value: member for member in DataSource}


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


@attrs.define
class Score:
    """One criterion's verdict on one company: a grade 1-5, why, and where from."""

    grade: int | None = None
    explanation: str | None = None
    sources: tuple[str, ...] = ()


@attrs.define
class CompanyResult:
    """One result row: a company found by a Deep Search task, with its scores.

    Every field but ``id`` and ``scores`` may be None: the service adds, drops and
    nulls fields over time. ``scores`` maps a criterion ``key`` to its :class:`Score`.
    ``source`` is a :class:`DataSource` when known, else the string sent.
    """

    id: str
    task_id: str | None = None
    company_name: str | None = None
    company_description: str | None = None
    company_website: str | None = None
    relevance: int | float | None = None
    created_at: datetime | None = None
    company_profile_id: str | None = None
    source: str | None = None
    scores: dict[str, Score] = attrs.field(factory=dict)
    founding_year: int | None = None
    employee_count: str | None = None
    hq_country: str | None = None
    hq_state_province: str | None = None
    hq_city: str | None = None
    company_full_description: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.source is not None:
            self.source = _SOURCES.get(self.source, self.source)
        if self.created_at is not None:
            self.created_at = _utc(self.created_at)

    def to_dict(self) -> dict[str, Any]:
        """The row as the service's JSON object: nulls kept, ``Z`` timestamps, ints as ints."""
        data: dict[str, Any] = converter.unstructure(self)
        return data

    def to_json(self) -> str:
        """The row as one line of the service's JSON."""
        return json_line(self)

    def to_record(self) -> dict[str, Any]:
        """The row flattened for CSV and DataFrames.

        One column per field, and per criterion ``scores.<key>.grade``,
        ``scores.<key>.explanation`` and ``scores.<key>.sources`` (space-separated URLs).
        """
        data = self.to_dict()
        scores = data.pop("scores")
        for key, score in scores.items():
            for part, value in score.items():  # in Score's field order
                data[f"scores.{key}.{part}"] = " ".join(value) if part == "sources" else value
        return data


@attrs.frozen
class TaskState:
    """A Deep Search task as the service last reported it (an immutable snapshot).

    ``status`` is a :class:`TaskStatus` when known, else the string the service sent.

    Counters only grow: ``num_results_discovered`` (candidates found) >=
    ``num_results_enriched`` (passed the relevance pre-filter and got a profile) >=
    ``num_results_evaluated`` (scored on every criterion); ``num_results`` counts the
    evaluated candidates that are a high fit (at least 75% of criteria graded 4 or 5).
    """

    id: str
    created_at: datetime
    status: str
    query: str
    desired_num_results: int
    is_exhausted: bool = False
    num_results_discovered: int = attrs.field(default=0, metadata=_COUNTER)
    num_results_enriched: int = attrs.field(default=0, metadata=_COUNTER)
    num_results_evaluated: int = attrs.field(default=0, metadata=_COUNTER)
    num_results: int = attrs.field(default=0, metadata=_COUNTER)
    table_id: str | None = None
    auto_data_sources: bool = True
    data_sources: tuple[str, ...] | None = None
    criteria: tuple[Criterion, ...] | None = None
    exclude_domains: tuple[str, ...] | None = None

    def __attrs_post_init__(self) -> None:
        # Known values become enum members (still strs); new ones stay as sent.
        status = self.status
        if type(status) is str:
            object.__setattr__(self, "status", _STATUSES.get(status, status))
        if self.created_at.tzinfo is None:
            object.__setattr__(self, "created_at", _utc(self.created_at))
        sources = self.data_sources
        if sources:
            object.__setattr__(self, "data_sources", tuple([_SOURCES.get(s, s) for s in sources]))

    @property
    def finished(self) -> bool:
        """Whether the task has ended: ``status`` is ``done`` or ``failed``, nothing else.

        ``is_exhausted`` is not an end, although the reference pages say so: it only
        means discovery has run dry. Evaluation and qualification go on after it, and
        rows keep arriving while ``status`` is ``in_progress``. The vendor fixed its own
        poller for this on 2026-03-17 ("Fix deep-search poll exiting prematurely on
        is_exhausted"); its guidance: "``status`` is the only reliable completion
        indicator".
        """
        return self.status in (TaskStatus.DONE, TaskStatus.FAILED)

    @property
    def evaluation_caught_up(self) -> bool:
        """Whether discovery is exhausted and every enriched candidate is evaluated.

        Information, not an ending: no new candidates will be found (a resume would be
        refused with :class:`TaskExhaustedError`), but qualification can still add rows
        until ``status`` turns ``done``.
        """
        return self.is_exhausted and self.num_results_evaluated >= self.num_results_enriched

    def to_dict(self) -> dict[str, Any]:
        """The task as the service's JSON object: nulls kept, ``Z`` timestamps."""
        data: dict[str, Any] = converter.unstructure(self)
        return data

    def to_json(self) -> str:
        """The task as one line of the service's JSON."""
        return json_line(self)

    @property
    def progress(self) -> tuple[object, ...]:
        """The fields whose change is worth reporting: status, ``is_exhausted``, the counters."""
        return _progress(self)


#: The task's counters (fields declared with ``metadata=_COUNTER``), in pipeline order:
#: they only grow while a run lasts. Everything that shows or compares progress (the
#: handle, the poller, the command line) reads this list; a new counter is declared
#: once, above.
COUNTERS: tuple[str, ...] = tuple(
    field.name for field in attrs.fields(TaskState) if field.metadata.get("counter")
)
_progress = operator.attrgetter("status", "is_exhausted", *COUNTERS)
_counters = operator.attrgetter(*COUNTERS)
_STATUS_RANK: dict[str, int] = {TaskStatus.CREATED: 0, TaskStatus.DONE: 2, TaskStatus.FAILED: 2}


def older(new: TaskState, known: TaskState) -> bool:
    """Whether ``new`` is an earlier snapshot of the task than ``known``.

    A resume raises the target and starts a new run; within a run the status only
    moves on (created, in progress, done or failed) and the counters only grow. A
    snapshot older than one already seen (a lagging list page, a read that overtook
    another) must never replace it: it could make a resumed task look finished.
    """
    if new.desired_num_results != known.desired_num_results:
        return new.desired_num_results < known.desired_num_results
    return _STATUS_RANK.get(new.status, 1) < _STATUS_RANK.get(known.status, 1) or any(
        a < b for a, b in zip(_counters(new), _counters(known), strict=True)
    )
