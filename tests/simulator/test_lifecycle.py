"""The lifecycle model on its own: pure functions of time."""

from __future__ import annotations

import itertools

import attrs
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
    evaluated_by,
    progress,
    qualified_at,
    start_run,
)

PACE = Pace(seconds_per_step=0.1)
QUALIFYING = Pace(seconds_per_step=0.1, qualification_lag=15)
FUNNEL = Funnel(pass_rate=0.85, pass_phase=0.3, fit_rate=0.9, fit_phase=0.6)


def first_run(
    *, target: int, pool: int, fails: bool = False, funnel: Funnel = FUNNEL, pace: Pace = PACE
) -> Run:
    goal = min(funnel.candidates_for(target), pool)
    return start_run(start=0.5, base=ZERO, goal=goal, pace=pace, fails=fails)


def timeline(
    runs: list[Run], pool: int, until: float, step: float = 0.05, pace: Pace = PACE
) -> list[Progress]:
    return [progress(runs, n * step, pace=pace, pool=pool) for n in range(int(until / step))]


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
    assert FUNNEL.high_fit(FUNNEL.rows(final.qualified)) == 100
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
    assert states[-1].frontiers == Frontiers(40, 40, 40, 40)
    assert FUNNEL.high_fit(FUNNEL.rows(40)) < 100


@pytest.mark.parametrize("pace", [PACE, QUALIFYING])
def test_a_failing_task_fails_after_some_progress_and_freezes(pace: Pace) -> None:
    run = first_run(target=100, pool=10_000, fails=True, pace=pace)
    states = timeline([run], 10_000, until=30, pace=pace)
    assert states[-1].status == "failed"
    assert "done" not in {state.status for state in states}
    # Some rows were visible before it failed, whatever the qualification lag.
    assert FUNNEL.rows(states[-1].frontiers.qualified) >= 5
    assert states[-1] == progress([run], 1e6, pace=pace, pool=10_000)
    # Startup, then the failing steps and the qualification lag, whatever the target.
    duration = (pace.failing_steps + pace.qualification_lag) * pace.seconds_per_step
    assert run.start + run.end_step * pace.seconds_per_step == pytest.approx(0.5 + duration)
    tiny = first_run(target=1, pool=10_000, fails=True, pace=pace)
    assert tiny.failed
    assert tiny.end_step < pace.failing_steps + pace.qualification_lag


@pytest.mark.parametrize("pace", [PACE, QUALIFYING])
def test_qualified_at_is_when_the_qualification_frontier_passes_the_candidate(pace: Pace) -> None:
    runs = [first_run(target=30, pool=10_000, pace=pace)]
    for candidate in (0, 1, 17, 30):
        at = qualified_at(runs, candidate, pace=pace)
        assert progress(runs, at, pace=pace, pool=10_000).frontiers.qualified > candidate
        before = progress(runs, at - pace.seconds_per_step / 2, pace=pace, pool=10_000)
        assert before.frontiers.qualified <= candidate


def test_without_a_qualification_lag_candidates_qualify_as_they_are_evaluated() -> None:
    states = timeline([first_run(target=100, pool=40)], 40, until=30)
    assert all(state.frontiers.qualified == state.frontiers.evaluated for state in states)


def test_an_exhausted_task_keeps_qualifying_after_evaluation_caught_up() -> None:
    run = first_run(target=100, pool=40, pace=QUALIFYING)
    states = timeline([run], 40, until=30, pace=QUALIFYING)
    # The old completion rule: exhausted, and evaluation caught up with enrichment.
    old_rule = [
        s for s in states if s.is_exhausted and s.frontiers.evaluated >= s.frontiers.enriched
    ]
    assert old_rule[0].status == "in_progress"
    assert old_rule[0].frontiers.qualified < old_rule[0].frontiers.evaluated == 40
    final = states[-1]
    assert final.status == "done"
    assert final.frontiers.qualified == 40
    lagging = [s for s in old_rule if s.status == "in_progress"]
    qualified = [s.frontiers.qualified for s in lagging]
    assert qualified == sorted(qualified)
    assert qualified[-1] > qualified[0]
    # Evaluation ends one qualification lag before the run does.
    caught_up = evaluated_by(run, pace=QUALIFYING, pool=40)
    assert progress([run], caught_up, pace=QUALIFYING, pool=40).frontiers.evaluated == 40
    earlier = progress([run], caught_up - 0.05, pace=QUALIFYING, pool=40)
    assert earlier.frontiers.evaluated < 40
    ends_at = run.start + run.end_step * QUALIFYING.seconds_per_step
    assert ends_at - caught_up == pytest.approx(15 * 0.1)


@settings(max_examples=60, deadline=None)
@given(
    target=st.integers(1, 250),
    pool=st.integers(1, 600),
    fails=st.booleans(),
    extra=st.integers(0, 250),
    resume_at=st.floats(0, 60),
    lag=st.integers(0, 30),
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
    lag: int,
    rates: tuple[float, float, float, float],
) -> None:
    funnel = Funnel(*rates)
    pace = attrs.evolve(PACE, qualification_lag=lag)
    runs = [first_run(target=target, pool=pool, fails=fails, funnel=funnel, pace=pace)]
    before = progress(runs, resume_at, pace=pace, pool=pool)
    runs.append(
        start_run(
            start=max(resume_at, runs[-1].start),
            base=before.frontiers,
            goal=min(funnel.candidates_for(min(target + extra, 250)), pool),
            pace=pace,
            fails=fails,
        )
    )
    previous = None
    for n in range(0, 1400, 7):
        now = n * 0.1
        history = runs if now >= resume_at else runs[:1]
        state = progress(history, now, pace=pace, pool=pool)
        frontiers = state.frontiers
        assert pool >= frontiers.discovered >= frontiers.enriched >= frontiers.evaluated
        assert frontiers.evaluated >= frontiers.qualified >= 0
        if previous is not None:
            assert frontiers.discovered >= previous.discovered
            assert frontiers.enriched >= previous.enriched
            assert frontiers.evaluated >= previous.evaluated
            assert frontiers.qualified >= previous.qualified
        previous = frontiers
    assert state.status in ("done", "failed")
    if state.status == "done":
        # A finished task shows a row for every candidate it evaluated.
        assert state.frontiers.qualified == state.frontiers.evaluated
