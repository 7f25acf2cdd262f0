"""The simulated Deep Search service: tasks, billing and answers, with no HTTP in sight.

Each endpoint is a method from the request's parts (and the server clock's ``now``) to the JSON
body of a 200, raising :class:`~._validation.InvalidRequest` for a 422 and :class:`Refusal` for
the other errors.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

import attrs

from extruct_async._constraints import MAX_EXCLUDED_DOMAINS

from ._companies import generate_criteria
from ._lifecycle import Funnel, Pace
from ._rows import RowCache, TaskRows
from ._seeding import rng, stable_int, stable_uuid
from ._tasks import SimulatedTask, new_task
from ._validation import CreateRequest, parse_create, parse_page, parse_resume

__all__ = ["CandidatePool", "FailQueries", "Refusal", "SimulatedService"]

CandidatePool = int | Mapping[str, int] | Callable[[str], int] | None
FailQueries = Collection[str] | Callable[[str], bool]

_LIST_LIMIT = 20
_RESULTS_LIMIT = 50
# Rows kept serialised across all tasks (about 1.5 kB each). Beyond that, the rows of the tasks
# read least recently are dropped, and generated again, identical, if read again.
_CACHED_ROWS = 50_000


class Refusal(Exception):
    """An error answer other than 422: its HTTP status and ``detail``."""

    def __init__(self, status: int, detail: object) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail


class SimulatedService:
    """The tasks of one workspace, and the five endpoints that act on them.

    Args:
        seed: Seeds everything random.
        pace: Timing of the tasks' phases.
        qualification_steps: Inclusive range of each task's qualification lag, in steps; each
            task draws its own from the seed (see ``FakeExtructServer``).
        candidate_pool: Candidates per query (see ``FakeExtructServer``).
        fail_queries: Queries whose tasks fail (see ``FakeExtructServer``).
        credits: Credits left, None for unlimited.
        plan_required: Refuse every create with 402 ``plan_required``.
        payment_failed: Refuse every create and resume with 402 ``payment_failed``.
        timestamp: Turns a server clock time into the API's ISO 8601 text.
    """

    def __init__(
        self,
        *,
        seed: int,
        pace: Pace,
        qualification_steps: tuple[int, int],
        candidate_pool: CandidatePool,
        fail_queries: FailQueries,
        credits: int | None,
        plan_required: bool,
        payment_failed: bool,
        timestamp: Callable[[float], str],
    ) -> None:
        self.credits = credits
        self.tasks: dict[str, SimulatedTask] = {}
        self._seed = seed
        self._pace = pace
        self._qualification_steps = qualification_steps
        self._candidate_pool = candidate_pool
        self._fail_queries = (fail_queries,) if isinstance(fail_queries, str) else fail_queries
        self._plan_required = plan_required
        self._payment_failed = payment_failed
        self._timestamp = timestamp
        self._newest_last: list[SimulatedTask] = []
        self._rows = RowCache(seed=seed, timestamp=timestamp, max_rows=_CACHED_ROWS)

    def create_task(self, body: bytes, now: float) -> bytes:
        """Create a task from a create body; return it."""
        request = parse_create(body, task_status=lambda task_id: self._status(task_id, now))
        if self._payment_failed:
            raise _payment_failed()
        if self._plan_required:
            message = "Deep Search needs a paid plan; upgrade to create tasks."
            raise Refusal(402, {"error": "plan_required", "message": message})
        self._charge(request.desired_num_results)
        task = self._new_task(request, now)
        self.tasks[task.id] = task
        self._newest_last.append(task)
        return task.to_json(task.progress(now))

    def list_tasks(self, query: Mapping[str, str], now: float) -> bytes:
        """Return a page of tasks, newest first."""
        offset, limit = parse_page(query, default_limit=_LIST_LIMIT)
        end = max(len(self._newest_last) - offset, 0)
        page = reversed(self._newest_last[max(end - limit, 0) : end])
        return b"[" + b",".join(task.to_json(task.progress(now)) for task in page) + b"]"

    def get_task(self, task_id: str, now: float) -> bytes:
        """Return a task."""
        task = self._find(task_id)
        return task.to_json(task.progress(now))

    def task_results(self, task_id: str, query: Mapping[str, str], now: float) -> bytes:
        """Return a task with a page of its rows, in relevance order."""
        offset, limit = parse_page(query, default_limit=_RESULTS_LIMIT)
        task = self._find(task_id)
        state = task.progress(now)
        page = b",".join(self._rows.rows(task, task.row_count(state)).page(offset, limit))
        return b"".join((task.to_json(state)[:-1], b',"results":[', page, b"]}"))

    def resume_task(self, task_id: str, body: bytes, now: float) -> bytes:
        """Raise a task's target and set it running again; return it."""
        extra = parse_resume(body)
        task = self._find(task_id)
        if task.progress(now).is_exhausted:
            raise Refusal(400, "The task is exhausted: there are no more candidates to discover.")
        if self._payment_failed:
            raise _payment_failed()
        self._charge(extra)
        task.resume(now, extra)
        return task.to_json(task.progress(now))

    def visible_rows(self, task: SimulatedTask, now: float) -> TaskRows:
        """Return the rows of ``task`` that a reader could see at ``now``."""
        return self._rows.rows(task, task.row_count(task.progress(now)))

    def _find(self, task_id: str) -> SimulatedTask:
        task = self.tasks.get(task_id)
        if task is None:
            raise Refusal(404, "Discovery task not found")
        return task

    def _status(self, task_id: str, now: float) -> str | None:
        task = self.tasks.get(task_id)
        return None if task is None else task.progress(now).status

    def _charge(self, amount: int) -> None:
        if self.credits is None:
            return
        if amount > self.credits:
            message = f"This request needs {amount} credits; {self.credits} remain."
            raise Refusal(402, {"error": "insufficient_credits", "message": message})
        self.credits -= amount

    def _new_task(self, request: CreateRequest, now: float) -> SimulatedTask:
        number = len(self._newest_last)
        query = request.query
        return new_task(
            request,
            id=stable_uuid(self._seed, "task", number, query),
            number=number,
            created=now,
            created_at=self._timestamp(now),
            criteria=request.criteria or generate_criteria(self._seed, query),
            exclude_domains=self._excluded_domains(request, now),
            candidate_pool=self._pool(query),
            fails=self._fails(query),
            funnel=Funnel.draw(rng(self._seed, "funnel", number, query)),
            pace=attrs.evolve(self._pace, qualification_lag=self._qualification_lag(number, query)),
        )

    def _qualification_lag(self, number: int, query: str) -> int:
        low, high = self._qualification_steps
        return rng(self._seed, "qualification", number, query).randint(low, high)

    def _excluded_domains(self, request: CreateRequest, now: float) -> list[str] | None:
        if request.exclude_domains is None and request.exclude_task_ids is None:
            return None
        domains = set(request.exclude_domains or ())
        for task_id in request.exclude_task_ids or ():
            domains.update(self.visible_rows(self.tasks[task_id], now).domains())
        return sorted(domains)[:MAX_EXCLUDED_DOMAINS]

    def _pool(self, query: str) -> int:
        option = self._candidate_pool
        if isinstance(option, int):
            pool = option
        elif isinstance(option, Mapping):
            pool = option.get(query, _default_pool(self._seed, query))
        elif callable(option):
            pool = option(query)
        else:
            pool = _default_pool(self._seed, query)
        if pool < 0:
            raise ValueError(f"a candidate pool must be >= 0, not {pool!r}")
        return pool

    def _fails(self, query: str) -> bool:
        option = self._fail_queries
        if callable(option):
            return bool(option(query))
        lowered = query.lower()
        return any(pattern.lower() in lowered for pattern in option)


def _default_pool(seed: int, query: str) -> int:
    value = stable_int(seed, "pool", query)
    # One query in ten is narrow: fewer candidates than most targets need.
    if value % 10 == 0:
        return 60 + value % 240
    return 500 + value % 1500


def _payment_failed() -> Refusal:
    message = "The last payment failed; update the payment method to continue."
    return Refusal(402, {"error": "payment_failed", "message": message})
