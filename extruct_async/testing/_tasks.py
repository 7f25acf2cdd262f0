"""One simulated Deep Search task: its settings, its runs, and its JSON at any instant."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs

from extruct_async._constraints import DATA_SOURCES, MAX_RESULTS_PER_TASK

from ._lifecycle import ZERO, Funnel, Pace, Progress, Run, evaluated_by, progress, start_run
from ._validation import CreateRequest

__all__ = ["SimulatedTask", "new_task"]


@attrs.define(eq=False)
class SimulatedTask:
    """A task inside the simulator, for tests that want the ground truth.

    Read its attributes; don't change them (the simulator does, on resume).

    Attributes:
        id: The task id.
        number: Creation order, from 0.
        query: The query it was created with.
        created: Server clock time of its creation (see ``FakeExtructServer.time``).
        desired_num_results: The target, raised by resumes, at most ``MAX_RESULTS_PER_TASK``.
        candidate_pool: How many candidates discovery can ever find for it.
        fails: Whether it is set to fail (its query matched ``fail_queries``).
        sources: The data sources its rows come from.
        funnel: Which candidates pass the pre-filter and which rows are high-fit.
        pace: The timing of its phases, with its own ``qualification_lag`` (drawn per task).
        runs: Its creation's run, then one per resume.
    """

    id: str
    number: int
    query: str
    created: float
    desired_num_results: int
    candidate_pool: int
    fails: bool
    sources: tuple[str, ...]
    funnel: Funnel
    pace: Pace
    runs: tuple[Run, ...]
    # The task object's JSON around its changing fields: the settings live only here.
    _head: bytes = attrs.field(repr=False)
    _tail: bytes = attrs.field(repr=False)

    @property
    def criteria(self) -> tuple[tuple[str, str, str], ...]:
        """``(key, name, criterion)`` of each criterion, given or generated."""
        criteria = self._settings()["criteria"]
        return tuple((item["key"], item["name"], item["criterion"]) for item in criteria)

    @property
    def exclude_domains(self) -> tuple[str, ...] | None:
        """The excluded domains, resolved and frozen at creation, or None."""
        domains = self._settings()["exclude_domains"]
        return None if domains is None else tuple(domains)

    @property
    def ends_at(self) -> float:
        """Server clock time at which its current run ends (``done`` or ``failed``)."""
        run = self.runs[-1]
        return run.start + run.end_step * self.pace.seconds_per_step

    @property
    def evaluated_by(self) -> float:
        """Server clock time from which its current run evaluates nothing more.

        For a task whose pool ran dry this is when ``is_exhausted`` holds with
        ``num_results_evaluated == num_results_enriched``, the moment the old completion
        rule fires, while rows still appear until ``ends_at``.
        """
        return evaluated_by(self.runs[-1], pace=self.pace, pool=self.candidate_pool)

    @property
    def qualification_seconds(self) -> float:
        """How long each row takes from its evaluation to appearing in results and ``num_results``.

        It is also how long a task stays ``in_progress`` once evaluation has caught up.
        """
        return self.pace.qualification_lag * self.pace.seconds_per_step

    def progress(self, now: float) -> Progress:
        """Return its lifecycle state at server clock time ``now``."""
        return progress(self.runs, now, pace=self.pace, pool=self.candidate_pool)

    def row_count(self, state: Progress) -> int:
        """Return how many result rows are visible in ``state``: one per qualified candidate."""
        return self.funnel.rows(state.frontiers.qualified)

    def to_json(self, state: Progress) -> bytes:
        """Return the task object in ``state``, serialised."""
        frontiers = state.frontiers
        middle = (
            f'"status":"{state.status}","desired_num_results":{self.desired_num_results},'
            f'"is_exhausted":{"true" if state.is_exhausted else "false"},'
            f'"num_results_discovered":{frontiers.discovered},'
            f'"num_results_enriched":{self.funnel.rows(frontiers.enriched)},'
            f'"num_results_evaluated":{self.funnel.rows(frontiers.evaluated)},'
            f'"num_results":{self.funnel.high_fit(self.row_count(state))},'
        )
        return b"".join((self._head, middle.encode(), self._tail))

    def resume(self, now: float, extra: int) -> None:
        """Raise the target by ``extra`` (capped) and start a new run from where it stands."""
        self.desired_num_results = min(self.desired_num_results + extra, MAX_RESULTS_PER_TASK)
        goal = min(self.funnel.candidates_for(self.desired_num_results), self.candidate_pool)
        run = start_run(
            start=max(now, self.runs[-1].start),
            base=self.progress(now).frontiers,
            goal=goal,
            pace=self.pace,
            fails=self.fails,
        )
        self.runs = (*self.runs, run)

    def _settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = json.loads(b"{" + self._tail)
        return settings


def new_task(
    request: CreateRequest,
    *,
    id: str,
    number: int,
    created: float,
    created_at: str,
    criteria: Sequence[tuple[str, str, str]],
    exclude_domains: Sequence[str] | None,
    candidate_pool: int,
    fails: bool,
    funnel: Funnel,
    pace: Pace,
) -> SimulatedTask:
    """Return the task ``request`` creates; its first run starts after the pace's startup.

    Args:
        request: The validated create body.
        id: Task id.
        number: Creation order.
        created: Server clock time of creation.
        created_at: The same instant as the ISO 8601 text the API shows.
        criteria: ``(key, name, criterion)`` triples, the request's or generated ones.
        exclude_domains: Resolved excluded domains, or None when none were asked for.
        candidate_pool: How many candidates discovery can find.
        fails: Whether the task fails after some progress.
        funnel: Pre-filter and high-fit pattern.
        pace: Timing.
    """
    sources: tuple[str, ...] = DATA_SOURCES
    if not request.auto_data_sources:
        sources = tuple(dict.fromkeys(request.data_sources or ("web_search",)))
    goal = min(funnel.candidates_for(request.desired_num_results), candidate_pool)
    first = start_run(
        start=created + pace.startup_steps * pace.seconds_per_step,
        base=ZERO,
        goal=goal,
        pace=pace,
        fails=fails,
    )
    head = f'{{"id":{json.dumps(id)},"created_at":"{created_at}",'
    static = {
        "query": request.query,
        "table_id": request.table_id,
        "auto_data_sources": request.auto_data_sources,
        "data_sources": None if request.data_sources is None else list(request.data_sources),
        "criteria": [{"key": key, "name": name, "criterion": text} for key, name, text in criteria],
        "exclude_domains": None if exclude_domains is None else list(exclude_domains),
    }
    # Drop the opening brace: the dynamic fields come between head and tail.
    tail = json.dumps(static, separators=(",", ":"))[1:]
    return SimulatedTask(
        id=id,
        number=number,
        query=request.query,
        created=created,
        desired_num_results=request.desired_num_results,
        candidate_pool=candidate_pool,
        fails=fails,
        sources=sources,
        funnel=funnel,
        pace=pace,
        runs=(first,),
        head=head.encode(),
        tail=tail.encode(),
    )
