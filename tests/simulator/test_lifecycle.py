"""The lifecycle model on its own: pure functions of time."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extruct_async.testing._lifecycle import (
    ZERO,
    Frontiers,
    Funnel,
    Pace,
    Progress,
    Run,
    evaluated_at,
    progress,
    start_run,
)

PACE = Pace(seconds_per_step=0.1)
FUNNEL = Funnel(pass_rate=0.85, pass_phase=0.3, fit_rate=0.9, fit_phase=0.6)


def first_run(*, target: int, pool: int, fails: bool = False, funnel: Funnel = FUNNEL) -> Run:
    goal = min(funnel.candidates_for(target), pool)
    return start_run(start=0.5, base=ZERO, goal=goal, pace=PACE, fails=fails)


def timeline(runs: list[Run], pool: int, until: float, step: float = 0.05) -> list[Progress]:
    return [progress(runs, n * step, pace=PACE, pool=pool) for n in range(int(until / step))]


def test_funnel_counts_are_closed_form_and_consistent() -> None:
    rows = [FUNNEL.rows(n) for n in range(400)]
    assert all(b - a in (0, 1) for a, b in itertools.pairwise(rows))
    assert 0.8 < rows[-1] / 400 < 0.9
    assert sum(FUNNEL.is_high_fit(row) for row in range(300)) == FUNNEL.high_fit(300)
    for results in (0, 1, 37, 250):
        needed = FUNNEL.candidates_for(results)
        assert FUNNEL.high_fit(FUNNEL.rows(needed)) >= results
        assert needed == 0 or FUNNEL.high_fit(FUNNEL.rows(needed - 1)) < results


def test_a_task_is_created_then_in_progress_then_done_with_its_target() -> None:
    runs = [first_run(target=100, pool=10_000)]
    states = timeline(runs, 10_000, until=30)
    statuses = [state.status for state in states]
    assert statuses[0] == "created"
    assert statuses.index("in_progress") < statuses.index("done")
    assert statuses[statuses.index("done") :] == ["done"] * (len(statuses) - statuses.index("done"))
    final = states[-1].frontiers
    assert FUNNEL.high_fit(FUNNEL.rows(final.evaluated)) == 100
    # Discovery ran ahead while evaluation finished: the counters are not all equal at the end.
    assert final.discovered > final.evaluated
    assert not states[-1].is_exhausted


def test_a_small_pool_exhausts_while_evaluation_continues() -> None:
    runs = [first_run(target=100, pool=40)]
    states = timeline(runs, 40, until=30)
    trap = [s for s in states if s.is_exhausted and s.status == "in_progress"]
    assert trap, "is_exhausted never showed while in progress"
    assert trap[0].frontiers.evaluated < trap[0].frontiers.enriched
    assert states[-1].status == "done"
    assert states[-1].frontiers == Frontiers(40, 40, 40)
    assert FUNNEL.high_fit(FUNNEL.rows(40)) < 100


def test_a_failing_task_fails_after_some_progress_and_freezes() -> None:
    run = first_run(target=100, pool=10_000, fails=True)
    states = timeline([run], 10_000, until=30)
    assert states[-1].status == "failed"
    assert "done" not in {state.status for state in states}
    assert FUNNEL.rows(states[-1].frontiers.evaluated) >= 5
    assert states[-1] == progress([run], 1e6, pace=PACE, pool=10_000)
    # Startup, then the failing steps, whatever the target.
    assert run.start + run.end_step * PACE.seconds_per_step == pytest.approx(0.5 + 2.0)
    tiny = first_run(target=1, pool=10_000, fails=True)
    assert tiny.failed
    assert tiny.end_step < PACE.failing_steps


def test_evaluated_at_is_when_the_evaluation_frontier_passes_the_candidate() -> None:
    runs = [first_run(target=30, pool=10_000)]
    for candidate in (0, 1, 17, 30):
        at = evaluated_at(runs, candidate, pace=PACE)
        assert progress(runs, at, pace=PACE, pool=10_000).frontiers.evaluated > candidate
        before = progress(runs, at - PACE.seconds_per_step / 2, pace=PACE, pool=10_000)
        assert before.frontiers.evaluated <= candidate


@settings(max_examples=60, deadline=None)
@given(
    target=st.integers(1, 250),
    pool=st.integers(1, 600),
    fails=st.booleans(),
    extra=st.integers(0, 250),
    resume_at=st.floats(0, 60),
    rates=st.tuples(
        st.floats(0.5, 0.99), st.floats(0, 0.99), st.floats(0.5, 0.99), st.floats(0, 0.99)
    ),
)
def test_counters_only_grow_and_stay_ordered(
    target: int,
    pool: int,
    fails: bool,
    extra: int,
    resume_at: float,
    rates: tuple[float, float, float, float],
) -> None:
    funnel = Funnel(*rates)
    runs = [first_run(target=target, pool=pool, fails=fails, funnel=funnel)]
    before = progress(runs, resume_at, pace=PACE, pool=pool)
    runs.append(
        start_run(
            start=max(resume_at, runs[-1].start),
            base=before.frontiers,
            goal=min(funnel.candidates_for(min(target + extra, 250)), pool),
            pace=PACE,
            fails=fails,
        )
    )
    previous = None
    for n in range(0, 1400, 7):
        now = n * 0.1
        history = runs if now >= resume_at else runs[:1]
        state = progress(history, now, pace=PACE, pool=pool)
        frontiers = state.frontiers
        assert pool >= frontiers.discovered >= frontiers.enriched >= frontiers.evaluated >= 0
        if previous is not None:
            assert frontiers.discovered >= previous.discovered
            assert frontiers.enriched >= previous.enriched
            assert frontiers.evaluated >= previous.evaluated
        previous = frontiers
    assert state.status in ("done", "failed")
