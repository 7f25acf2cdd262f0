"""exclude_domains and exclude_task_ids: normalised, resolved at creation, honoured by rows."""

from __future__ import annotations

import pytest

from extruct_async._constraints import MAX_EXCLUDED_DOMAINS
from extruct_async._domains import registered_domain

from ._raw import running

pytestmark = pytest.mark.looptime

QUERY = "payroll software for restaurants"


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("https://www.Acme.com/about", "acme.com"),
        ("acme.com", "acme.com"),
        ("WWW.ACME.COM.", "acme.com"),
        ("http://shop.example.co.uk/path?q=1", "example.co.uk"),
        ("example.co.uk", "example.co.uk"),
        ("https://app.startup.io:8443", "startup.io"),
        ("sub.deep.example.com.au", "example.com.au"),
        ("  https://foo-bar.de  ", "foo-bar.de"),
        ("co.uk", None),
        ("localhost", None),
        ("not a domain", None),
        ("", None),
        ("http://[::1]/", None),
        ("10.0.0.1", None),
    ],
)
def test_registered_domain(text: str, domain: str | None) -> None:
    assert registered_domain(text) == domain


async def test_exclude_domains_are_normalised_sorted_and_never_returned() -> None:
    async with running(seed=4, candidate_pool=10_000) as (_, api):
        probe = await api.create(query=QUERY, desired_num_results=40)
        await api.wait(probe["id"])
        found = [
            registered_domain(row["company_website"]) for row in await api.all_rows(probe["id"])
        ]
        banned = found[:10]
        urls = [f"https://www.{domain.upper()}/about" for domain in banned]
        task = await api.create(
            query=QUERY, desired_num_results=40, exclude_domains=[*urls, urls[0]]
        )
        assert task["exclude_domains"] == sorted(banned)
        await api.wait(task["id"])
        rows = await api.all_rows(task["id"])
    domains = {registered_domain(row["company_website"]) for row in rows}
    assert domains.isdisjoint(banned)
    # The same query finds the same companies, minus the excluded ones.
    assert domains & set(found[10:])


async def test_exclude_task_ids_union_their_visible_results_and_freeze() -> None:
    async with running(seed=5, candidate_pool=10_000) as (server, api):
        first = await api.create(query=QUERY, desired_num_results=30)
        await api.wait(first["id"])
        first_domains = {
            registered_domain(r["company_website"]) for r in await api.all_rows(first["id"])
        }
        second = await api.create(
            query=QUERY,
            desired_num_results=30,
            exclude_task_ids=[first["id"]],
            exclude_domains=["extra.com"],
        )
        assert second["exclude_domains"] == sorted(first_domains | {"extra.com"})
        await api.wait(second["id"])
        second_domains = {
            registered_domain(r["company_website"]) for r in await api.all_rows(second["id"])
        }
        assert second_domains.isdisjoint(first_domains)
        # Frozen at creation: resuming the first task later does not change the second's list.
        await api.resume(first["id"], desired_new_results=10)
        await api.wait(first["id"])
        assert (await api.get(second["id"]))["exclude_domains"] == second["exclude_domains"]
        assert server.tasks[second["id"]].exclude_domains == tuple(second["exclude_domains"])


async def test_empty_exclusions_give_an_empty_list_not_null() -> None:
    async with running() as (_, api):
        assert (await api.create(query=QUERY, exclude_domains=[]))["exclude_domains"] == []
        assert (await api.create(query=QUERY, exclude_task_ids=[]))["exclude_domains"] == []


async def test_the_resolved_list_is_capped() -> None:
    async with running() as (_, api):
        many = [f"company{n:04d}.com" for n in range(MAX_EXCLUDED_DOMAINS + 5)]
        task = await api.create(query=QUERY, exclude_domains=many)
        assert task["exclude_domains"] == sorted(many)[:MAX_EXCLUDED_DOMAINS]
