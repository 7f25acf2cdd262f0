"""The identity of a create normalises what the service normalises, and tolerates the unknown.

Two spellings of one create (spaces around the query, a URL or its bare domain, an
internationalised name in Unicode or punycode) are one create: to the look-up after an
ambiguous failure, to serialisation, and to an idempotency key. What the service keeps
for a name is not published, so every form it may keep agrees with the entry.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from extruct_async import AsyncExtruct, HTTPRequest, HTTPResponse, InvalidRequestError, TaskState
from extruct_async._identity import CreateIdentity, same_body, same_create
from extruct_async._store import MemoryStore
from extruct_async.testing import FakeExtructServer, MockTransport, json_response
from tests.conftest import API_KEY, BASE_URL, EXACT_RETRIES


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


def as_task(sent: dict[str, Any], shown: dict[str, Any]) -> bool:
    return same_create(CreateIdentity.of_body(body(**sent)), CreateIdentity.of_task(state(**shown)))


# -- the rule ------------------------------------------------------------------------------

# Each: a create, and the task the service may show for it.
SAME = {
    "spaces around the query": ({"query": "  freight SaaS\n"}, {}),
    "spaces inside the query": ({"query": "freight\t SaaS"}, {}),
    "the service keeps the query as sent": ({}, {"query": " freight  SaaS "}),
    "a URL and its registered domain": (
        {"exclude_domains": ["https://www.Acme.com/about"]}, {"exclude_domains": ("acme.com",)}),
    "the public suffix list": (
        {"exclude_domains": ["shop.example.com.ar"]}, {"exclude_domains": ("example.com.ar",)}),
    "an IDN kept in Unicode": (
        {"exclude_domains": ["https://www.Über.de/impressum"]}, {"exclude_domains": ("über.de",)}),
    "an IDN kept in punycode": (
        {"exclude_domains": ["über.de"]}, {"exclude_domains": ("xn--ber-goa.de",)}),
    "an IDN sent in punycode, kept in Unicode": (
        {"exclude_domains": ["xn--ber-goa.de"]}, {"exclude_domains": ("Über.de",)}),
    "IDNA 2003 maps ß to ss": (
        {"exclude_domains": ["straße.de"]}, {"exclude_domains": ("strasse.de",)}),
    "the list's private section": (
        {"exclude_domains": ["shop.foo.github.io"]}, {"exclude_domains": ("foo.github.io",)}),
    "a domain the SDK cannot read": (
        {"exclude_domains": ["a.com"]}, {"exclude_domains": ("a.com", "not a domain")}),
    "a service whose list lacks a suffix": (
        {"exclude_domains": ["shop.example.com.ar"]}, {"exclude_domains": ("com.ar",)}),
    "data sources the service adds": (
        {"auto_data_sources": False, "data_sources": ["Extruct DB", "maps", "maps"]},
        {"auto_data_sources": False, "data_sources": ("maps", "Extruct DB")}),
}


@pytest.mark.parametrize(("sent", "shown"), SAME.values(), ids=SAME.keys())
def test_spellings_of_one_create_are_one_create(sent: dict[str, Any],
                                                shown: dict[str, Any]) -> None:
    assert as_task(sent, shown)


# Each: a create, and a task that differs in what both show.
APART = {
    "another query": ({"query": "freight  SaaS!"}, {}),
    "a word split": ({"query": "freight Sa aS"}, {}),
    "another IDN": ({"exclude_domains": ["über.de"]}, {"exclude_domains": ("uber.de",)}),
    "another domain under a multi-label suffix": (
        {"exclude_domains": ["shop.example.com.ar"]}, {"exclude_domains": ("other.com.ar",)}),
    "one domain fewer": (
        {"exclude_domains": ["a.com", "über.de"]}, {"exclude_domains": ("xn--ber-goa.de",)}),
    "one domain more": (
        {"exclude_domains": ["über.de"]}, {"exclude_domains": ("über.de", "b.com")}),
    "another data source": (
        {"auto_data_sources": False, "data_sources": ["Extruct DB"]},
        {"auto_data_sources": False, "data_sources": ("extruct_db",)}),
}


@pytest.mark.parametrize(("sent", "shown"), APART.values(), ids=APART.keys())
def test_what_both_show_still_tells_creates_apart(sent: dict[str, Any],
                                                  shown: dict[str, Any]) -> None:
    assert not as_task(sent, shown)


def test_two_bodies_of_one_create_are_one_create() -> None:
    one = body(query=" freight SaaS ", exclude_domains=["https://www.Über.de/x", "acme.com"],
               auto_data_sources=False, data_sources=["maps", "Extruct DB"])
    other = body(query="freight SaaS", exclude_domains=["www.acme.com", "xn--ber-goa.de"],
                 auto_data_sources=False, data_sources=["Extruct DB", "maps"])
    assert same_create(CreateIdentity.of_body(one), CreateIdentity.of_body(other))
    assert same_body(one, other)


SAME_BODY_APART = {
    "query": {"query": "freight SaaS!"},
    "domains": {"exclude_domains": ["acme.com", "uber.de"]},
    "data sources": {"auto_data_sources": False, "data_sources": ["maps"]},
    # Fields no task shows count for a key all the same.
    "table run": {"table": {"id": "tbl", "run": False}},
    "excluded tasks": {"exclude_task_ids": ["t2"]},
}


@pytest.mark.parametrize("change", SAME_BODY_APART.values(), ids=SAME_BODY_APART.keys())
def test_a_body_differing_in_any_field_is_another_body(change: dict[str, Any]) -> None:
    one = body(exclude_domains=["acme.com", "über.de"], table={"id": "tbl", "run": True},
               exclude_task_ids=["t1"])
    assert not same_body(one, {**one, **change})


# -- through the client ----------------------------------------------------------------------

COMMITTED = {"id": "kept", "created_at": "2026-11-23T10:00:00Z", "status": "created",
             "query": "freight SaaS", "desired_num_results": 100}


def normalising_service(shown: dict[str, Any]) -> MockTransport:
    """A service that commits the create, loses its answer, and shows ``shown`` for it."""

    def handler(request: HTTPRequest) -> HTTPResponse:
        headers = {"Date": "Mon, 23 Nov 2026 10:00:02 GMT"}
        if request.method == "POST":
            return json_response({"detail": "bad gateway"}, 502, headers)
        return json_response([{**COMMITTED, **shown}], 200, headers)

    return MockTransport(handler)


LOOK_UPS = {
    "query spaces": ({"query": "  freight   SaaS\n"}, {}),
    "IDN in Unicode": ({"exclude_domains": ["https://www.Über.de/impressum"]},
                       {"exclude_domains": ["über.de"]}),
    "IDN in punycode": ({"exclude_domains": ["über.de", "shop.example.com.ar"]},
                        {"exclude_domains": ["example.com.ar", "xn--ber-goa.de"]}),
}


@pytest.mark.looptime
@pytest.mark.parametrize(("sent", "shown"), LOOK_UPS.values(), ids=LOOK_UPS.keys())
async def test_the_look_up_after_a_lost_answer_finds_the_create_as_the_service_spells_it(
    sent: dict[str, Any], shown: dict[str, Any]
) -> None:
    transport = normalising_service(shown)
    async with AsyncExtruct(API_KEY, BASE_URL, retry=EXACT_RETRIES, transport=transport) as client:
        task = await client.discovery_tasks.create(sent.pop("query", "freight SaaS"), **sent)
    assert task.id == "kept"
    assert [r.method for r in transport.requests].count("POST") == 1  # never sent twice


@pytest.mark.looptime
async def test_an_idempotency_key_holds_for_two_spellings_of_one_create() -> None:
    async with FakeExtructServer(api_key=API_KEY) as server, server.client(
            retry=EXACT_RETRIES, rate_limit=None, store=MemoryStore()) as client:
        first = await client.discovery_tasks.create(
            "freight SaaS", exclude_domains=["https://www.Acme.com/about", "über.de"],
            idempotency_key="nightly")
        again = await client.discovery_tasks.create(
            "  freight SaaS ", exclude_domains=["xn--ber-goa.de", "acme.com"],
            idempotency_key="nightly")
        assert again.id == first.id
        assert server.create_count == 1
        with pytest.raises(InvalidRequestError) as caught:  # another create: refused
            await client.discovery_tasks.create("freight SaaS", exclude_domains=["uber.de"],
                                                idempotency_key="nightly")
        assert caught.value.field == "idempotency_key"
        assert server.create_count == 1


@pytest.mark.looptime
async def test_a_run_holds_for_two_spellings_of_its_specs() -> None:
    specs: list[dict[str, Any]] = [{"query": "freight SaaS", "exclude_domains": ["über.de"]},
                                   {"query": "payroll software"}]
    respelled: list[dict[str, Any]] = [{"query": "freight SaaS ",
                                        "exclude_domains": ["https://xn--ber-goa.de/"]},
                                       {"query": " payroll  software"}]
    async with FakeExtructServer(api_key=API_KEY) as server, server.client(
            retry=EXACT_RETRIES, rate_limit=None, store=MemoryStore()) as client:
        first = await client.discovery_tasks.create_many(specs, run="nightly")
        again = await client.discovery_tasks.create_many(respelled, run="nightly")
        assert [task.id for task in again] == [task.id for task in first]
        assert server.create_count == 2
