"""A task's progress as a pure function of time.

Every candidate company goes through four phases, one after the other, as in the service::

    discovery --(enrichment lag)--> enrichment --(evaluation lag)--> evaluation
              --(qualification lag)--> qualification

Each phase handles one candidate per *step* (``Pace.seconds_per_step``) and never overtakes the
phase before it. A phase's *frontier* is how many candidates, in discovery order, it has handled.
Enrichment drops the candidates that fail the relevance pre-filter; the others are evaluated, then
qualified, and only then become visible result rows, some of them high-fit. Which candidates pass
and which rows are high-fit follow a Beatty sequence, so every count here is closed-form and
nothing runs in the background: the simulator computes a task's state from the clock whenever it
is asked.

A task is a list of *runs*: its creation starts the first, each resume freezes the current one
where it stands and starts the next from there. A run ends when qualification reaches its goal
(enough candidates for the desired number of high-fit results, or the whole candidate pool when
that is smaller), or early, after some progress, when the task's query is set to fail.

Qualification is why ``is_exhausted`` is not the end: once the pool runs dry, enrichment catches
up, then evaluation (``num_results_evaluated == num_results_enriched``), and the task still stays
``in_progress`` for the qualification lag while its last rows appear.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from random import Random

import attrs

__all__ = [
    "ZERO",
    "Frontiers",
    "Funnel",
    "Pace",
    "Progress",
    "Run",
    "evaluated_by",
    "progress",
    "qualified_at",
    "start_run",
]

# Absorbs float error in (now - start) / seconds_per_step when a read lands exactly on a step.
_STEP_EPSILON = 1e-9


@attrs.frozen
class Pace:
    """How fast tasks move.

    Attributes:
        seconds_per_step: Simulated seconds each phase spends per candidate.
        startup_steps: Steps a new task stays ``created`` before discovery starts.
        enrichment_lag: Steps enrichment runs behind discovery.
        evaluation_lag: Steps evaluation runs behind enrichment.
        qualification_lag: Steps qualification runs behind evaluation: a row (and its share of
            ``num_results``) appears this long after its evaluation. Once a pool runs dry, a task
            stays ``in_progress`` with ``is_exhausted`` true for the evaluation lag and then,
            with evaluation caught up, for this long.
        failing_steps: Steps a run of a failing task lasts, plus the qualification lag (half the
            run, if that is shorter): long enough for some rows to appear first.
    """

    seconds_per_step: float
    startup_steps: int = 5
    enrichment_lag: int = 3
    evaluation_lag: int = 8
    qualification_lag: int = 0
    failing_steps: int = 20

    def steps(self, seconds: float) -> int:
        """Return how many whole steps fit in ``seconds`` (negative before the start)."""
        return math.floor(seconds / self.seconds_per_step + _STEP_EPSILON)


@attrs.frozen
class Funnel:
    """Which candidates pass the relevance pre-filter and which result rows are high-fit.

    Attributes:
        pass_rate: Share of candidates that pass the pre-filter and become rows.
        pass_phase: Offset in [0, 1) of the pre-filter's Beatty sequence.
        fit_rate: Share of rows that are high-fit.
        fit_phase: Offset in [0, 1) of the high-fit Beatty sequence.
    """

    pass_rate: float
    pass_phase: float
    fit_rate: float
    fit_phase: float

    @classmethod
    def draw(cls, random: Random) -> Funnel:
        """Return a funnel with rates drawn from ``random``; most rows come out high-fit."""
        return cls(
            pass_rate=random.uniform(0.80, 0.92),
            pass_phase=random.random(),
            fit_rate=random.uniform(0.82, 0.95),
            fit_phase=random.random(),
        )

    def rows(self, candidates: int) -> int:
        """Return how many of the first ``candidates`` pass the pre-filter."""
        return candidates - math.floor(candidates * (1 - self.pass_rate) + self.pass_phase)

    def high_fit(self, rows: int) -> int:
        """Return how many of the first ``rows`` rows are high-fit."""
        return rows - math.floor(rows * (1 - self.fit_rate) + self.fit_phase)

    def is_high_fit(self, row: int) -> bool:
        """Return whether row number ``row`` (0-based, in evaluation order) is high-fit."""
        return self.high_fit(row + 1) > self.high_fit(row)

    def candidates_for(self, results: int) -> int:
        """Return how many candidates must be evaluated to reach ``results`` high-fit rows."""
        return _smallest(lambda candidates: self.high_fit(self.rows(candidates)) >= results)


@attrs.frozen
class Frontiers:
    """How many candidates, in discovery order, each phase has handled."""

    discovered: int
    enriched: int
    evaluated: int
    qualified: int


#: The frontiers of a task that has not started.
ZERO = Frontiers(0, 0, 0, 0)


@attrs.frozen
class Run:
    """One stretch of work on a task: from its creation or a resume to its end.

    Attributes:
        start: Clock time of step 0.
        base: The frontiers at step 0.
        goal: The candidates it evaluates and qualifies, counted from the first.
        end_step: The step at which the run ends (frontiers freeze there).
        failed: Whether the run ends with the task ``failed`` rather than ``done``.
    """

    start: float
    base: Frontiers
    goal: int
    end_step: int
    failed: bool


@attrs.frozen
class Progress:
    """A task's lifecycle state at one instant.

    Attributes:
        status: One of ``created``, ``in_progress``, ``done``, ``failed``.
        frontiers: Candidates handled by each phase so far.
        is_exhausted: Whether enrichment has caught up with a candidate pool used up.
    """

    status: str
    frontiers: Frontiers
    is_exhausted: bool


def start_run(*, start: float, base: Frontiers, goal: int, pace: Pace, fails: bool) -> Run:
    """Return a run that starts at ``start`` from ``base`` and ends when ``goal`` is qualified.

    Args:
        start: Clock time of step 0.
        base: Frontiers at step 0.
        goal: Qualification frontier that completes the run (never more than the pool).
        pace: Timing of the phases.
        fails: End the run ``failed`` early instead (unless it is too short to fail).
    """
    finish = _steps_to_reach(base, goal, pace)
    # The qualification lag is added so that a failing task still shows a few rows first.
    failure = min(pace.failing_steps + pace.qualification_lag, finish // 2)
    if fails and failure >= 1:
        return Run(start=start, base=base, goal=goal, end_step=failure, failed=True)
    return Run(start=start, base=base, goal=goal, end_step=finish, failed=False)


def progress(runs: Sequence[Run], now: float, *, pace: Pace, pool: int) -> Progress:
    """Return the state at clock time ``now`` of a task made of ``runs``, oldest first."""
    if now < runs[0].start:
        return Progress(status="created", frontiers=runs[0].base, is_exhausted=False)
    run = runs[-1]
    step = pace.steps(now - run.start)
    frontiers = _frontiers_at(run, step, pace=pace, pool=pool)
    ended = "failed" if run.failed else "done"
    status = "in_progress" if step < run.end_step else ended
    return Progress(status=status, frontiers=frontiers, is_exhausted=frontiers.enriched >= pool)


def qualified_at(runs: Sequence[Run], candidate: int, *, pace: Pace) -> float:
    """Return the clock time at which candidate number ``candidate`` was qualified."""
    run = next(run for run in reversed(runs) if run.base.qualified <= candidate)
    step = _steps_to_reach(run.base, candidate + 1, pace)
    return run.start + step * pace.seconds_per_step


def evaluated_by(run: Run, *, pace: Pace, pool: int) -> float:
    """Return the clock time from which the evaluation frontier of ``run`` stops moving."""
    final = _frontiers_at(run, run.end_step, pace=pace, pool=pool)
    step = _steps_to_reach(run.base, final.evaluated, pace, qualify=False)
    return run.start + min(step, run.end_step) * pace.seconds_per_step


def _frontiers_at(run: Run, step: int, *, pace: Pace, pool: int) -> Frontiers:
    step = min(step, run.end_step)
    base = run.base

    def discovered(at: int) -> int:
        return min(pool, base.discovered + max(at, 0))

    def enriched(at: int) -> int:
        return min(discovered(at - pace.enrichment_lag), base.enriched + max(at, 0))

    # Discovery and enrichment run on while the last candidates are qualified; evaluation stops
    # at the goal, so that a finished task has a row for every candidate it evaluated.
    evaluation_goal = max(run.goal, base.evaluated)

    def evaluated(at: int) -> int:
        return min(
            enriched(at - pace.evaluation_lag), base.evaluated + max(at, 0), evaluation_goal
        )

    qualified = min(evaluated(step - pace.qualification_lag), base.qualified + max(step, 0))
    return Frontiers(discovered(step), enriched(step), evaluated(step), qualified)


def _steps_to_reach(base: Frontiers, goal: int, pace: Pace, *, qualify: bool = True) -> int:
    # The inverse of _frontiers_at: each phase must reach the goal, one lag after the phase before.
    if qualify:
        steps = goal - base.qualified
        lag = pace.qualification_lag
        if goal > base.evaluated:
            steps = max(steps, goal - base.evaluated + lag)
    else:
        steps = goal - base.evaluated
        lag = 0
    lag += pace.evaluation_lag
    if goal > base.enriched:
        steps = max(steps, goal - base.enriched + lag)
    lag += pace.enrichment_lag
    if goal > base.discovered:
        steps = max(steps, goal - base.discovered + lag)
    return max(steps, 0)


def _smallest(holds: Callable[[int], bool]) -> int:
    """Return the smallest n >= 0 for which the monotone predicate ``holds`` is true."""
    high = 1
    while not holds(high):
        high *= 2
    low = 0
    while low < high:
        middle = (low + high) // 2
        if holds(middle):
            high = middle
        else:
            low = middle + 1
    return low
