"""Creating exactly once: the identity rule on plain data, serialisation, claims, the window.

The rule is unit-tested field by field (drop any field from the identity and a test
here fails); the end-to-end cases run against the simulator, whose faults commit a
create and lose its answer exactly where the test says.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

import pytest

from extruct_async import AsyncExtruct, Criterion, HTTPRequest, HTTPResponse, TaskState
from extruct_async._claims import Claims
from extruct_async._identity import UNKNOWN, CreateIdentity, same_create
from extruct_async._protocol import create_request
from extruct_async.testing import FakeExtructServer, MockTransport, json_response
from tests._routes import body_of
from tests.conftest import API_KEY, BASE_URL, EXACT_RETRIES

CRITERIA = [{"key": "b2b", "name": "B2B", "criterion": "Sells mainly to businesses."}]


def body(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"query": "freight SaaS", "desired_num_results": 50,
                            "auto_data_sources": True}
    return {**base, **fields}


def state(**fields: Any) -> TaskState:
    base: dict[str, Any] = {
        "id": "t1", "created_at": datetime(2026, 11, 23, tzinfo=timezone.utc),
        "status": "created", "query": "freight SaaS", "desired_num_results": 50,
    }
    return TaskState(**{**base, **fields})


# -- the rule --------------------------------------------------------------------------


def test_a_task_is_the_create_that_made_it() -> None:
    sent = body(criteria=CRITERIA, exclude_domains=["https://www.Acme.com/about", "b.io"],
                table={"id": "tbl", "run": True, "columns": ["c"], "auto_import": True},
                auto_data_sources=False, data_sources=["maps", "linkedin"])
    made = state(criteria=(Criterion(**CRITERIA[0]),), exclude_domains=("acme.com", "b.io"),
                 table_id="tbl", auto_data_sources=False, data_sources=("linkedin", "maps"))
    assert same_create(CreateIdentity.of_body(sent), CreateIdentity.of_task(made))


# Each case differs from the body in one field a task shows: none may match.
DIFFERENT = {
    "query": ({}, {"query": "freight SaaS!"}),
    "desired_num_results": ({}, {"desired_num_results": 51}),
    "auto_data_sources": ({"auto_data_sources": False, "data_sources": ["maps"]},
                          {"auto_data_sources": True}),
    "data_sources": ({"auto_data_sources": False, "data_sources": ["maps"]},
                     {"auto_data_sources": False, "data_sources": ("web_search",)}),
    "criteria": ({"criteria": CRITERIA}, {"criteria": (Criterion("b2b", "B2B", "Other text."),)}),
    "table_id": ({"table": {"id": "tbl", "run": False, "auto_import": False}},
                 {"table_id": "other"}),
    "exclude_domains": ({"exclude_domains": ["a-only.com"]}, {"exclude_domains": ("b-only.com",)}),
    "no exclude_domains": ({}, {"exclude_domains": ("b-only.com",)}),
}


@pytest.mark.parametrize(("sent", "shown"), DIFFERENT.values(), ids=DIFFERENT.keys())
def test_any_field_the_task_shows_tells_creates_apart(sent: dict[str, Any],
                                                     shown: dict[str, Any]) -> None:
    assert not same_create(CreateIdentity.of_body(body(**sent)),
                           CreateIdentity.of_task(state(**shown)))


BODIES_APART = {
    "query": ({}, {"query": "other"}),
    "desired_num_results": ({}, {"desired_num_results": 7}),
    "data_sources": ({"auto_data_sources": False, "data_sources": ["maps"]},
                     {"auto_data_sources": False, "data_sources": ["linkedin"]}),
    "criteria": ({"criteria": CRITERIA}, {"criteria": [{**CRITERIA[0], "name": "Other"}]}),
    "table": ({"table": {"id": "t1"}}, {"table": {"id": "t2"}}),
    "exclude_domains": ({"exclude_domains": ["a.com"]}, {"exclude_domains": ["b.com"]}),
}


@pytest.mark.parametrize(("one", "other"), BODIES_APART.values(), ids=BODIES_APART.keys())
def test_creates_of_one_client_are_told_apart_by_the_same_rule(one: dict[str, Any],
                                                               other: dict[str, Any]) -> None:
    assert not same_create(CreateIdentity.of_body(body(**one)),
                           CreateIdentity.of_body(body(**other)))


# Fields a task cannot show count as "could be the same".
UNSEEN = {
    "criteria the service writes": ({}, {"criteria": (Criterion("x", "X", "Written for you."),)}),
    "sources the service picks": ({}, {"data_sources": ("maps",)}),
    "domains added from excluded tasks": (
        {"exclude_domains": ["a.com"], "exclude_task_ids": ["t0"]},
        {"exclude_domains": ("a.com", "from-t0.com")},
    ),
    "domains capped at 1000": ({"exclude_domains": ["a.com"]},
                               {"exclude_domains": tuple(f"d{i}.com" for i in range(1000))}),
}


@pytest.mark.parametrize(("sent", "shown"), UNSEEN.values(), ids=UNSEEN.keys())
def test_what_a_task_cannot_show_does_not_tell_creates_apart(sent: dict[str, Any],
                                                            shown: dict[str, Any]) -> None:
    assert same_create(CreateIdentity.of_body(body(**sent)),
                       CreateIdentity.of_task(state(**shown)))


def test_unseen_fields_are_unknown_and_exclusions_normalised() -> None:
    identity = CreateIdentity.of_body(body(
        table={"id": "tbl", "run": True, "columns": ["c"], "auto_import": True},
        exclude_domains=["https://www.Acme.com/about", "shop.acme.com", "x.co.uk"],
    ))
    assert identity.exclude_domains == frozenset({"acme.com", "x.co.uk"})
    assert identity.criteria is UNKNOWN
    assert identity.data_sources is UNKNOWN
    # table.run / columns / auto_import and exclude_task_ids are not part of the identity
    assert CreateIdentity.of_body(body(table={"id": "tbl", "run": False, "auto_import": False},
                                       exclude_domains=["acme.com", "x.co.uk"])) == identity


async def test_claims_are_handed_out_once() -> None:
    claims = Claims(remember=2)
    assert await claims.claim("a")
    assert not await claims.claim("a")
    assert await claims.claim("b")
    assert await claims.claim("c")
    assert await claims.claim("a")  # forgotten: only the newest are remembered


# -- serialisation -------------------------------------------------------------------


class Overlaps:
    """A transport that answers creates after 1 s and records which ran at once."""

    def __init__(self) -> None:
        self.open: list[str] = []
        self.together: set[frozenset[str]] = set()
        self.number = 0

    async def __call__(self, request: HTTPRequest) -> HTTPResponse:
        sent = body_of(request)
        label = f"{sent['query']}/{sent['desired_num_results']}/{sent.get('table')}"
        self.together.update(frozenset({label, other}) for other in self.open)
        self.open.append(label)
        await asyncio.sleep(1)
        self.open.remove(label)
        self.number += 1
        return json_response({"id": f"t{self.number}", "created_at": "2026-11-23T10:00:00Z",
                              "status": "created", "query": sent["query"],
                              "desired_num_results": sent["desired_num_results"]})


@pytest.mark.looptime
async def test_look_alike_creates_run_one_at_a_time_and_others_in_parallel() -> None:
    recorder = Overlaps()
    async with AsyncExtruct(API_KEY, BASE_URL, rate_limit=None,
                            transport=MockTransport(recorder)) as client:
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            # same query, differing only in what a task cannot show: one at a time
            client.discovery_tasks.create("a", table={"id": "t", "run": True}),
            client.discovery_tasks.create("a", table={"id": "t", "run": False}),
            client.discovery_tasks.create("a", table={"id": "t"}, exclude_task_ids=["x"]),
            # told apart by what the task object shows: in parallel with them
            client.discovery_tasks.create("a", desired_num_results=7),
            client.discovery_tasks.create("b"),
        )
        assert loop.time() == 3.0  # the three look-alikes, one after the other
    look_alikes = {label for pair in recorder.together for label in pair
                   if label.startswith("a/100/")}
    assert len(look_alikes) == 1  # only the first ran beside anything
    assert not any(pair <= look_alikes for pair in recorder.together if len(pair) == 2)
    assert frozenset({"a/7/None", "b/100/None"}) in recorder.together


# -- against the simulator -----------------------------------------------------------


def client_for(server: FakeExtructServer, **options: Any) -> AsyncExtruct:
    return server.client(**{"retry": EXACT_RETRIES, "rate_limit": None, **options})


@pytest.mark.looptime
async def test_a_retry_never_hands_one_caller_another_callers_task() -> None:
    # Same query, different exclusions; the first create is committed but its answer
    # lost, the second is slow. Each caller must get the task made from its own body.
    async with FakeExtructServer(api_key=API_KEY, slow_seconds=5) as server, \
            client_for(server) as client:
        server.inject("commit_then_drop", endpoint="create")
        server.inject("slow", endpoint="create")
        a, b = await asyncio.gather(
            client.discovery_tasks.create("freight SaaS", exclude_domains=["a-only.com"]),
            client.discovery_tasks.create("freight SaaS", exclude_domains=["b-only.com"]),
        )
        assert a.exclude_domains == ("a-only.com",)
        assert b.exclude_domains == ("b-only.com",)
        assert server.create_count == 2


@pytest.mark.looptime
async def test_a_task_claimed_by_an_earlier_create_is_never_adopted() -> None:
    async with FakeExtructServer(api_key=API_KEY) as server, client_for(server) as client:
        first = await client.discovery_tasks.create("freight SaaS")
        server.inject("502", endpoint="create")  # not committed, but it may have been
        second = await client.discovery_tasks.create("freight SaaS")
        assert second.id != first.id
        assert server.create_count == 2


@pytest.mark.looptime
async def test_identical_creates_that_both_lose_their_answers_get_a_task_each() -> None:
    async with FakeExtructServer(api_key=API_KEY) as server, client_for(server) as client:
        server.inject("commit_then_drop", endpoint="create", times=2)
        a, b = await asyncio.gather(client.discovery_tasks.create("freight SaaS"),
                                    client.discovery_tasks.create("freight SaaS"))
        assert {a.id, b.id} == set(server.tasks)
        assert server.create_count == 2


# -- the window, on the service's clock -----------------------------------------------


def skewed(service_now: str, listed: list[dict[str, Any]], *, date: bool = True) -> MockTransport:
    """Creates lose their answers; the list shows ``listed``; answers carry ``Date``."""
    created: list[str] = []

    def handler(request: HTTPRequest) -> HTTPResponse:
        headers = {"Date": service_now} if date else {}
        if request.method == "POST":
            created.append(request.url)
            if len(created) == 1:
                return json_response({"detail": "bad gateway"}, 502, headers)
            return json_response({**listed[0], "id": "fresh"}, 200, headers)
        return json_response(listed, 200, headers)

    return MockTransport(handler)


TASK = {"id": "old", "status": "created", "query": "freight SaaS", "desired_num_results": 100}


@pytest.mark.looptime
@pytest.mark.parametrize(
    ("created_at", "service_now", "adopted"),
    [
        # The service's clock is days behind the client's: its own task is still found.
        ("2026-11-23T10:00:00Z", "Mon, 23 Nov 2026 10:00:02 GMT", True),
        # The service's clock is 90 s ahead: a look-alike from 90 s ago is not ours.
        ("2026-11-23T10:00:00Z", "Mon, 23 Nov 2026 10:01:30 GMT", False),
    ],
)
async def test_the_look_up_window_is_measured_on_the_services_clock(
    created_at: str, service_now: str, adopted: bool
) -> None:
    transport = skewed(service_now, [{**TASK, "created_at": created_at}])
    async with AsyncExtruct(API_KEY, BASE_URL, retry=EXACT_RETRIES, transport=transport) as client:
        task = await client.discovery_tasks.create("freight SaaS")
    assert task.id == ("old" if adopted else "fresh")
    creates = [r for r in transport.requests if r.method == "POST"]
    assert len(creates) == (1 if adopted else 2)


@pytest.mark.looptime
async def test_without_a_date_the_local_clock_and_a_wider_window_are_used() -> None:
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    transport = skewed("", [{**TASK, "created_at": now}], date=False)
    async with AsyncExtruct(API_KEY, BASE_URL, retry=EXACT_RETRIES, transport=transport) as client:
        task = await client.discovery_tasks.create("freight SaaS")
    assert task.id == "old"


def test_create_request_bodies_feed_the_rule() -> None:
    request = create_request("q", exclude_domains=["www.A.com"])
    assert request.body is not None
    assert CreateIdentity.of_body(request.body).exclude_domains == frozenset({"a.com"})
