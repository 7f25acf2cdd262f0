"""The completion rule: never "finished" while results can still arrive."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from extruct_async import TaskState, TaskStatus


def state(status: TaskStatus | str, *, exhausted: bool = False, enriched: int = 0,
          evaluated: int = 0) -> TaskState:
    return TaskState(
        id="t1",
        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        status=status,
        query="q",
        desired_num_results=100,
        is_exhausted=exhausted,
        num_results_discovered=enriched + 10,
        num_results_enriched=enriched,
        num_results_evaluated=evaluated,
    )


@pytest.mark.parametrize(
    ("task", "finished"),
    [
        (state("created"), False),
        (state("in_progress", enriched=50, evaluated=20), False),
        # The trap: exhausted, but evaluation still running and rows still arriving.
        (state("in_progress", exhausted=True, enriched=50, evaluated=20), False),
        (state("in_progress", exhausted=True, enriched=50, evaluated=49), False),
        # ... and even once evaluation caught up: qualification still adds rows.
        (state("in_progress", exhausted=True, enriched=50, evaluated=50), False),
        (state("done", enriched=50, evaluated=50), True),
        (state("done", enriched=50, evaluated=10), True),
        (state("failed"), True),
        (state("paused", enriched=5, evaluated=5), False),
    ],
)
def test_finished(task: TaskState, finished: bool) -> None:
    assert task.finished is finished


@given(
    status=st.sampled_from(["created", "in_progress", "done", "failed", "queued"]),
    exhausted=st.booleans(),
    enriched=st.integers(0, 300),
    evaluated=st.integers(0, 300),
)
def test_finished_is_status_done_or_failed_and_nothing_else(
    status: str, exhausted: bool, enriched: int, evaluated: int
) -> None:
    task = state(status, exhausted=exhausted, enriched=enriched, evaluated=evaluated)
    assert task.finished is (status in ("done", "failed"))
    assert task.evaluation_caught_up is (exhausted and evaluated >= enriched)


def test_progress_changes_with_status_and_counters_only() -> None:
    a = state("in_progress", enriched=5, evaluated=2)
    assert a.progress == state("in_progress", enriched=5, evaluated=2).progress
    assert a.progress != state("in_progress", enriched=6, evaluated=2).progress
    assert a.progress != state("done", enriched=5, evaluated=2).progress
    assert a.progress != state("in_progress", exhausted=True, enriched=5, evaluated=2).progress


def test_enum_str() -> None:
    assert str(TaskStatus.IN_PROGRESS) == "in_progress"
    assert TaskStatus.DONE == "done"
