"""Invented companies and criteria."""

from __future__ import annotations

from extruct_async._constraints import (
    CRITERION_KEY_PATTERN,
    CRITERION_NAME_LENGTH,
    CRITERION_TEXT_LENGTH,
)
from extruct_async._domains import registered_domain
from extruct_async.testing._companies import CompanyStream, generate_criteria


def test_a_company_website_reduces_to_its_domain() -> None:
    stream = CompanyStream(0, "logistics software")
    for _ in range(500):
        company = stream.next()
        assert registered_domain(company.website) == company.domain
        assert company.website.startswith("https://")


def test_streams_are_deterministic_per_seed_and_query() -> None:
    def names(seed: int, query: str) -> list[str]:
        stream = CompanyStream(seed, query)
        return [stream.next().name for _ in range(20)]

    assert names(1, "robots") == names(1, "robots")
    assert names(1, "robots") != names(2, "robots")
    assert names(1, "robots") != names(1, "drones")


def test_generated_criteria_follow_the_rules() -> None:
    for query in ("x", "freight forwarding software in Europe", "a" * 600, "Ünïcode ßearch ✓"):
        criteria = generate_criteria(0, query)
        assert 2 <= len(criteria) <= 4
        assert len({key for key, _, _ in criteria}) == len(criteria)
        for key, name, text in criteria:
            assert CRITERION_KEY_PATTERN.fullmatch(key)
            assert CRITERION_NAME_LENGTH[0] <= len(name) <= CRITERION_NAME_LENGTH[1]
            assert CRITERION_TEXT_LENGTH[0] <= len(text) <= CRITERION_TEXT_LENGTH[1]
