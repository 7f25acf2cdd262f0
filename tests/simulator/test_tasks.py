"""Tasks over HTTP, on looptime's fake clock: phases, counters, results, resume, determinism."""

from __future__ import annotations

import asyncio
import itertools
import math
from datetime import datetime, timezone
from typing import Any

import pytest

from extruct_async.testing import (
    DEFAULT_QUALIFICATION_STEPS,
    DEFAULT_SECONDS_PER_RESULT,
    FakeExtructServer,
)

from ._raw import RawAPI, is_high_fit, running

pytestmark = pytest.mark.looptime

EPOCH = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
QUERY = "vertical SaaS companies serving freight forwarding"
COUNTERS = ("num_results_discovered", "num_results_enriched", "num_results_evaluated")


async def history(api: RawAPI, task_id: str, *, step: float = 0.05) -> list[dict[str, Any]]:
    """Every state seen while polling until the task ends."""
    states = []
    while not states or states[-1]["status"] not in ("done", "failed"):
        states.append(await api.get(task_id))
        await asyncio.sleep(step)
    return states


def assert_monotone_and_ordered(states: list[dict[str, Any]]) -> None:
    for before, after in itertools.pairwise(states):
        for counter in (*COUNTERS, "num_results"):
            assert after[counter] >= before[counter], (counter, before, after)
    for state in states:
        discovered, enriched, evaluated = (state[counter] for counter in COUNTERS)
        assert discovered >= enriched >= evaluated >= state["num_results"]


async def test_a_task_goes_created_in_progress_done(looptime: float) -> None:
    async with running(seed=1, candidate_pool=10_000) as (_, api):
        created = await api.create(query=QUERY, desired_num_results=100)
        assert created["status"] == "created"
        assert created["num_results_discovered"] == 0
        assert created["created_at"].endswith("Z")
        states = await history(api, created["id"])
    statuses = [state["status"] for state in states]
    first = {status: statuses.index(status) for status in ("created", "in_progress", "done")}
    assert first["created"] < first["in_progress"] < first["done"]
    assert statuses[first["done"] :] == ["done"]
    assert set(statuses[first["in_progress"] : first["done"]]) == {"in_progress"}
    assert_monotone_and_ordered(states)
    assert states[-1]["num_results"] == 100
    assert not states[-1]["is_exhausted"]
    # The default pace: a 100-result task takes on the order of 10-20 simulated seconds.
    assert 10 <= looptime <= 20
    assert DEFAULT_SECONDS_PER_RESULT == 0.1


async def test_enrichment_lags_discovery_and_evaluation_lags_enrichment() -> None:
    async with running(seed=2, candidate_pool=10_000) as (_, api):
        created = await api.create(query=QUERY, desired_num_results=50)
        states = await history(api, created["id"])
    running_states = [state for state in states if state["status"] == "in_progress"]
    assert any(
        state["num_results_discovered"] > 0 == state["num_results_enriched"]
        for state in running_states
    )
    assert any(
        state["num_results_enriched"] > 0 == state["num_results_evaluated"]
        for state in running_states
    )
    # Some candidates fail the relevance pre-filter and are never enriched.
    final = states[-1]
    assert final["num_results_discovered"] > final["num_results_enriched"]


async def test_num_results_counts_the_high_fit_rows_and_rows_are_the_evaluated_candidates() -> None:
    # Without the qualification lag, every evaluated candidate is a row at once.
    async with running(seed=3, candidate_pool=10_000, qualification_steps=0) as (_, api):
        created = await api.create(query=QUERY, desired_num_results=60)
        for _ in range(6):
            await asyncio.sleep(2)
            page = await api.results(created["id"], limit=1000)
            rows = page["results"]
            assert len(rows) == page["num_results_evaluated"]
            assert sum(map(is_high_fit, rows)) == page["num_results"]
        assert page["status"] == "done"
        # Grades lean high: most rows are high-fit.
        assert page["num_results"] / len(rows) > 0.75
        keys = [criterion["key"] for criterion in page["criteria"]]
        assert 2 <= len(keys) <= 4
        for row in rows:
            assert set(row["scores"]) == set(keys)
            for score in row["scores"].values():
                assert 1 <= score["grade"] <= 5
                assert score["explanation"]
                assert all(source.startswith("https://") for source in score["sources"])


async def test_rows_have_every_field_and_some_optional_ones_are_null() -> None:
    async with running(seed=4, candidate_pool=10_000) as (_, api):
        task = await api.create(query=QUERY, desired_num_results=200)
        await api.wait(task["id"])
        rows = await api.all_rows(task["id"])
    fields = {
        "id", "task_id", "company_name", "company_description", "company_website", "relevance",
        "created_at", "company_profile_id", "source", "scores", "founding_year", "employee_count",
        "hq_country", "hq_state_province", "hq_city", "company_full_description",
    }  # fmt: skip
    assert all(set(row) == fields for row in rows)
    for optional in (
        "founding_year",
        "employee_count",
        "hq_state_province",
        "company_full_description",
    ):
        values = [row[optional] for row in rows]
        assert None in values
        assert any(value is not None for value in values)
    assert {row["source"] for row in rows} == {"web_search", "linkedin", "maps"}
    assert all(0 <= row["relevance"] <= 100 for row in rows)
    assert len({row["company_website"] for row in rows}) == len(rows)
    assert all(row["task_id"] == task["id"] for row in rows)
    assert {row["employee_count"] for row in rows} >= {"1-10", "11-50", "51-200"}


async def test_manual_data_sources_decide_where_rows_come_from() -> None:
    async with running(seed=3, candidate_pool=10_000) as (_, api):
        body = {"auto_data_sources": False, "data_sources": ["maps", "linkedin"]}
        task = await api.create(query=QUERY, desired_num_results=60, **body)
        unset = await api.create(query=QUERY, desired_num_results=20, auto_data_sources=False)
        await api.wait(task["id"])
        await api.wait(unset["id"])
        assert {row["source"] for row in await api.all_rows(task["id"])} == {"maps", "linkedin"}
        assert {row["source"] for row in await api.all_rows(unset["id"])} == {"web_search"}


async def test_results_are_ordered_by_relevance_and_new_rows_land_ahead_of_read_ones() -> None:
    async with running(seed=5, candidate_pool=10_000) as (_, api):
        task = await api.create(query=QUERY, desired_num_results=100)
        await asyncio.sleep(5)
        early = await api.all_rows(task["id"])
        await asyncio.sleep(3)
        later = await api.all_rows(task["id"])
    for rows in (early, later):
        relevance = [row["relevance"] for row in rows]
        assert relevance == sorted(relevance, reverse=True)
    assert 0 < len(early) < len(later)
    by_id = {row["id"]: row for row in later}
    # Rows never change or disappear once visible.
    assert all(by_id[row["id"]] == row for row in early)
    seen = {row["id"] for row in early}
    positions = {row["id"]: index for index, row in enumerate(later)}
    last_seen = max(positions[row_id] for row_id in seen)
    assert any(positions[row_id] < last_seen for row_id in positions.keys() - seen)


async def test_pages_split_the_ordered_rows() -> None:
    async with running(seed=6, candidate_pool=10_000) as (_, api):
        task = await api.create(query=QUERY, desired_num_results=40)
        await api.wait(task["id"])
        everything = await api.all_rows(task["id"])
        default = await api.results(task["id"])
        pages = [
            await api.results(task["id"], offset=offset, limit=15) for offset in range(0, 60, 15)
        ]
    assert default["results"] == everything[:50]
    assert [row for page in pages for row in page["results"]] == everything
    assert len(pages[-1]["results"]) < 15


async def test_a_small_pool_exhausts_while_results_still_arrive_then_finishes_short() -> None:
    async with running(seed=7, candidate_pool=40) as (_, api):
        task = await api.create(query=QUERY, desired_num_results=100)
        states = await history(api, task["id"], step=0.05)
        trap = [s for s in states if s["is_exhausted"] and s["status"] == "in_progress"]
        assert trap, "never saw is_exhausted while in progress"
        assert trap[0]["num_results_evaluated"] < trap[0]["num_results_enriched"]
        assert states[-1]["num_results_evaluated"] > trap[0]["num_results_evaluated"]
        assert states[-1]["status"] == "done"
        assert states[-1]["is_exhausted"]
        assert states[-1]["num_results"] < 100
        assert_monotone_and_ordered(states)
        refused = await api.resume(task["id"], desired_new_results=10)
        assert refused.status == 400
        assert "exhausted" in refused.body["detail"]


async def test_the_default_pool_is_mostly_large_enough() -> None:
    queries = [f"B2B software vendors number {n}" for n in range(40)]
    async with running(seed=8) as (server, api):
        for query in queries:
            await api.create(query=query, desired_num_results=100)
        pools = [task.candidate_pool for task in server.tasks.values()]
    large = sum(pool >= 500 for pool in pools)
    assert 30 <= large < 40


async def test_failing_queries_fail_after_some_progress() -> None:
    async with running(seed=9, candidate_pool=10_000, fail_queries=["Broken"]) as (server, api):
        fine = await api.create(query=QUERY, desired_num_results=30)
        broken = await api.create(query="broken pipeline vendors", desired_num_results=30)
        failed = await api.wait(broken["id"])
        assert (await api.wait(fine["id"]))["status"] == "done"
    assert failed["status"] == "failed"
    assert failed["num_results_discovered"] > 0
    assert failed["num_results"] < 30
    assert [task.fails for task in server.tasks.values()] == [False, True]


async def test_fail_queries_can_be_a_predicate() -> None:
    async with running(seed=9, fail_queries=lambda query: query.endswith("!")) as (_, api):
        task = await api.create(query="anything at all!", desired_num_results=10)
        assert (await api.wait(task["id"]))["status"] == "failed"


async def test_resume_raises_the_target_and_runs_again() -> None:
    async with running(seed=10, candidate_pool=10_000) as (server, api):
        task = await api.create(query=QUERY, desired_num_results=20)
        done = await api.wait(task["id"])
        assert done["num_results"] == 20
        resumed = await api.resume(task["id"], desired_new_results=25)
        assert resumed.status == 200
        assert resumed.body["status"] == "in_progress"
        assert resumed.body["desired_num_results"] == 45
        # Discovery continues from where it stopped.
        assert resumed.body["num_results_discovered"] == done["num_results_discovered"]
        states = await history(api, task["id"])
        assert_monotone_and_ordered([done, *states])
        assert states[-1]["status"] == "done"
        assert states[-1]["num_results"] == 45
        capped = await api.resume(task["id"], desired_new_results=250)
        assert capped.body["desired_num_results"] == 250
        default = await api.resume(task["id"])
        assert default.body["desired_num_results"] == 250
        assert (await api.wait(task["id"]))["num_results"] == 250
        assert len(server.tasks[task["id"]].runs) == 4


async def test_resume_with_an_empty_body_adds_25_and_works_while_running() -> None:
    async with running(seed=11, candidate_pool=10_000) as (_, api):
        task = await api.create(query=QUERY, desired_num_results=10)
        await asyncio.sleep(2)
        answer = await api.call("POST", f"/v1/discovery_tasks/{task['id']}/resume")
        assert answer.status == 200
        assert answer.body["desired_num_results"] == 35
        assert (await api.wait(task["id"]))["num_results"] == 35


async def test_rows_created_at_is_when_they_appeared() -> None:
    async with running(seed=12, candidate_pool=10_000) as (_, api):
        task = await api.create(query=QUERY, desired_num_results=30)
        await asyncio.sleep(4)  # past the first rows' qualification lag
        first = {row["id"] for row in await api.all_rows(task["id"])}
        await api.wait(task["id"])
        rows = await api.all_rows(task["id"])
    early = [row["created_at"] for row in rows if row["id"] in first]
    late = [row["created_at"] for row in rows if row["id"] not in first]
    assert early
    assert late
    assert task["created_at"] < max(early) < min(late)


async def test_same_seed_same_everything_other_seed_different() -> None:
    async def scenario(seed: int) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
        async with running(seed=seed, candidate_pool=10_000, epoch=EPOCH) as (_, api):
            tasks = [await api.create(query=q, desired_num_results=15) for q in (QUERY, "robotics")]
            await asyncio.sleep(30)
            states = [await api.get(task["id"]) for task in tasks]
            return states, [await api.all_rows(task["id"]) for task in tasks]

    first, again, other = await scenario(7), await scenario(7), await scenario(8)
    assert first == again
    assert [state["id"] for state in first[0]] != [state["id"] for state in other[0]]
    assert first[1][0][0]["company_name"] != other[1][0][0]["company_name"]


async def test_created_at_counts_from_the_epoch_on_the_server_clock() -> None:
    async with running(seed=1, epoch=EPOCH) as (_, api):
        await asyncio.sleep(90.25)
        task = await api.create(query=QUERY)
    assert task["created_at"] == "2024-05-01T12:01:30.250000Z"


async def test_ends_at_tells_when_the_current_run_ends() -> None:
    async with running(seed=13, candidate_pool=10_000) as (server, api):
        created = await api.create(query=QUERY, desired_num_results=25)
        task = server.tasks[created["id"]]
        await asyncio.sleep(task.ends_at - server.time() - 0.01)
        assert (await api.get(task.id))["status"] == "in_progress"
        await asyncio.sleep(0.02)
        assert (await api.get(task.id))["status"] == "done"
        await api.resume(task.id, desired_new_results=5)
        assert task.ends_at > server.time()


async def follow_results(api: RawAPI, task_id: str, *, step: float = 0.05) -> list[dict[str, Any]]:
    """Every results page (the task and all its rows, at one instant) until the task ends."""
    pages = []
    while not pages or pages[-1]["status"] not in ("done", "failed"):
        pages.append(await api.results(task_id, limit=1000))
        await asyncio.sleep(step)
    return pages


def old_rule_fires(state: dict[str, Any]) -> bool:
    """The completion rule the vendor's poller used before 2026-03-17."""
    return bool(state["is_exhausted"]) and (
        state["num_results_evaluated"] >= state["num_results_enriched"]
    )


async def test_an_exhausted_task_adds_rows_after_evaluation_caught_up_until_done() -> None:
    lagging = {"qualification_steps": DEFAULT_QUALIFICATION_STEPS}
    async with running(seed=7, candidate_pool=40, **lagging) as (server, api):
        created = await api.create(query=QUERY, desired_num_results=100)
        pages = await follow_results(api, created["id"])
        task = server.tasks[created["id"]]
    final = pages[-1]
    assert final["status"] == "done"
    fired = [page for page in pages if old_rule_fires(page)]
    first = fired[0]
    # Where the old rule stops, the task still runs, and a share of its rows is still to come.
    assert first["status"] == "in_progress"
    assert first["num_results_evaluated"] == first["num_results_enriched"]
    assert len(first["results"]) < len(final["results"])
    assert first["num_results"] < final["num_results"]
    counts = [len(page["results"]) for page in fired]
    assert counts == sorted(counts)
    # Rows keep arriving: several different counts while the task still runs.
    running_counts = {len(page["results"]) for page in fired if page["status"] == "in_progress"}
    assert len(running_counts) > 2
    for page in pages:
        assert len(page["results"]) <= page["num_results_evaluated"]
        assert sum(map(is_high_fit, page["results"])) == page["num_results"]
    assert len(final["results"]) == final["num_results_evaluated"]
    # The ground truth tells when: evaluation catches up, then rows appear for the lag.
    assert 1.0 <= task.qualification_seconds <= 2.0
    assert task.ends_at - task.evaluated_by == pytest.approx(task.qualification_seconds)
    assert rows_at(pages, task.evaluated_by) < rows_at(pages, task.ends_at)


def rows_at(pages: list[dict[str, Any]], moment: float, step: float = 0.05) -> int:
    """The row count of the first page read at or after ``moment`` (pages are ``step`` apart)."""
    return len(pages[math.ceil(moment / step - 1e-9)]["results"])


async def test_rows_lag_their_evaluation_in_every_task_when_qualification_takes_time() -> None:
    async with running(seed=2, candidate_pool=10_000, qualification_steps=12) as (server, api):
        created = await api.create(query=QUERY, desired_num_results=40)
        pages = await follow_results(api, created["id"])
        task = server.tasks[created["id"]]
    assert task.qualification_seconds == pytest.approx(1.2)
    assert any(len(page["results"]) < page["num_results_evaluated"] for page in pages)
    assert not any(page["is_exhausted"] for page in pages)
    assert pages[-1]["num_results"] == 40
    assert len(pages[-1]["results"]) == pages[-1]["num_results_evaluated"]


async def test_each_task_draws_its_qualification_lag_from_the_seed() -> None:
    async def lags(seed: int) -> list[float]:
        async with running(seed=seed, qualification_steps=(10, 20)) as (server, api):
            for n in range(12):
                await api.create(query=f"{QUERY} {n}", desired_num_results=5)
            return [task.qualification_seconds for task in server.tasks.values()]

    first = await lags(1)
    assert first == await lags(1)
    assert first != await lags(2)
    assert len(set(first)) > 3
    assert all(1.0 - 1e-9 <= lag <= 2.0 + 1e-9 for lag in first)


async def test_without_qualification_steps_rows_appear_as_they_are_evaluated() -> None:
    async with running(seed=7, candidate_pool=40, qualification_steps=0) as (server, api):
        created = await api.create(query=QUERY, desired_num_results=100)
        pages = await follow_results(api, created["id"])
        assert server.tasks[created["id"]].qualification_seconds == 0
    assert all(len(page["results"]) == page["num_results_evaluated"] for page in pages)


@pytest.mark.parametrize("steps", [-1, (5, 3), (-1, 2)])
def test_qualification_steps_must_be_a_range_of_non_negative_steps(
    steps: int | tuple[int, int],
) -> None:
    with pytest.raises(ValueError, match="qualification_steps"):
        FakeExtructServer(qualification_steps=steps)
