"""A task's result rows: generated lazily, serialised once, kept in relevance order."""

from __future__ import annotations

import bisect
import itertools
import json
from collections import OrderedDict
from collections.abc import Callable, Sequence

from ._companies import Company, CompanyStream, Grader
from ._lifecycle import qualified_at
from ._seeding import rng, uuid_from_bits
from ._tasks import SimulatedTask

__all__ = ["RowCache", "TaskRows"]

# Where automatically chosen data sources find companies: mostly the web.
_SOURCE_WEIGHTS = {"web_search": 6, "linkedin": 3, "maps": 1}


class TaskRows:
    """The rows of one task that have become visible so far.

    Row ``n`` is the ``n``-th candidate to pass the pre-filter; it becomes visible when it is
    qualified (after its evaluation) and never changes afterwards. Reads only ask for more rows
    as time passes, so rows are generated in order, once, with sequential random draws, and
    kept as JSON.
    """

    def __init__(
        self, task: SimulatedTask, *, seed: int, timestamp: Callable[[float], str]
    ) -> None:
        self._task = task
        self._timestamp = timestamp
        self._companies = CompanyStream(seed, task.query)
        self._random = rng(seed, "rows", task.id)
        self._grader = Grader(task.criteria)
        self._sources = list(task.sources)
        weights = [_SOURCE_WEIGHTS[source] for source in task.sources]
        self._source_weights = list(itertools.accumulate(weights))
        self._taken = set(task.exclude_domains or ())
        self._candidate = -1
        self._json: list[bytes] = []
        self._domains: list[str] = []
        # (-relevance, row number): ascending order is relevance descending, then oldest first.
        self._order: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return len(self._json)

    def extend(self, count: int) -> None:
        """Generate rows until there are ``count``."""
        while len(self._json) < count:
            self._add(len(self._json))

    def page(self, offset: int, limit: int) -> list[bytes]:
        """Return the JSON of rows ``offset`` to ``offset + limit`` in relevance order."""
        rows = self._json
        return [rows[number] for _, number in self._order[offset : offset + limit]]

    def domains(self) -> Sequence[str]:
        """Return the registered domains of the rows, in row order."""
        return self._domains

    def _add(self, number: int) -> None:
        task = self._task
        random = self._random
        found = self._company()
        high_fit = task.funnel.is_high_fit(number)
        grades = self._grader.grades(random, high_fit=high_fit)
        relevance = 55 + int(random.random() * 46) if high_fit else 10 + int(random.random() * 71)
        row = {
            "id": uuid_from_bits(random.getrandbits(128)),
            "task_id": task.id,
            "company_name": found.name,
            "company_description": found.description,
            "company_website": found.website,
            "relevance": relevance,
            "created_at": self._timestamp(self._qualified_at(number)),
            "company_profile_id": found.profile_id,
            "source": random.choices(self._sources, cum_weights=self._source_weights)[0],
            "scores": self._grader.scores(random, grades, found.website),
            "founding_year": found.founding_year,
            "employee_count": found.employee_count,
            "hq_country": found.country,
            "hq_state_province": found.state_province,
            "hq_city": found.city,
            "company_full_description": found.full_description,
        }
        self._json.append(json.dumps(row, separators=(",", ":")).encode())
        self._domains.append(found.domain)
        bisect.insort(self._order, (-relevance, number))

    def _company(self) -> Company:
        """Return the query's next company that is neither excluded nor already a row."""
        while True:
            found = self._companies.next()
            if found.domain not in self._taken:
                self._taken.add(found.domain)
                return found

    def _qualified_at(self, number: int) -> float:
        # Rows come in order, so the candidate behind each is found by walking forward.
        rows = self._task.funnel.rows
        while rows(self._candidate + 1) <= number:
            self._candidate += 1
        return qualified_at(self._task.runs, self._candidate, pace=self._task.pace)


class RowCache:
    """The rows of the tasks read most recently, holding at most about ``max_rows`` rows.

    Rows are deterministic, so a task whose rows were dropped gets the same rows again.
    """

    def __init__(self, *, seed: int, timestamp: Callable[[float], str], max_rows: int) -> None:
        self._seed = seed
        self._timestamp = timestamp
        self._max_rows = max_rows
        self._held = 0
        self._tasks: OrderedDict[str, TaskRows] = OrderedDict()

    def rows(self, task: SimulatedTask, count: int) -> TaskRows:
        """Return the rows of ``task``, at least ``count`` of them."""
        rows = self._tasks.pop(task.id, None)
        if rows is None:
            rows = TaskRows(task, seed=self._seed, timestamp=self._timestamp)
        before = len(rows)
        rows.extend(count)
        self._held += len(rows) - before
        self._tasks[task.id] = rows
        while self._held > self._max_rows and len(self._tasks) > 1:
            _, dropped = self._tasks.popitem(last=False)
            self._held -= len(dropped)
        return rows
