"""Invented companies, criteria and grades, drawn from small word lists.

A query has its own stream of companies: company ``n`` of a query is the same in every task with
that query (and seed), which is what makes ``exclude_task_ids`` meaningful. Draws are sequential
(one generator per stream or task) because rows are generated in order anyway, and seeding a
generator per row would cost more than everything else. Nothing here reads external data.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from random import Random
from typing import TypeVar

import attrs

from extruct_async._constraints import CRITERION_TEXT_LENGTH

from ._seeding import rng, uuid_from_bits

__all__ = ["Company", "CompanyStream", "Grader", "generate_criteria"]

_T = TypeVar("_T")
_PREFIXES = (
    "Acme", "Atlas", "Beacon", "Blue", "Bright", "Cedar", "Cobalt", "Crest", "Delta", "Ember",
    "Falcon", "Fjord", "Granite", "Harbor", "Helix", "Iron", "Juniper", "Kite", "Lumen", "Maple",
    "Meridian", "Nimbus", "North", "Nova", "Onyx", "Orbit", "Pine", "Pioneer", "Quanta", "Rapid",
    "Sage", "Silver", "Summit", "Tidal", "Vector", "Vertex", "Willow", "Zenith", "Apex", "Lark",
)  # fmt: skip
_STEMS = (
    "Logic", "Works", "Labs", "Systems", "Cloud", "Data", "Metrics", "Grid", "Forge", "Signal",
    "Flow", "Stack", "Link", "Path", "Ware", "Mind", "Ops", "Point", "Scale", "Bridge",
)  # fmt: skip
_ENDINGS = ("ly", "ify", "io", "hub", "base", "wise", "flow", "stack")
_PRODUCTS = (
    "a workflow automation platform", "an analytics suite", "an API-first platform",
    "a marketplace", "managed services", "a mobile app", "planning software", "a data platform",
)  # fmt: skip
_AUDIENCES = (
    "mid-market companies", "enterprises", "small businesses", "operations teams",
    "finance teams", "developers", "public-sector agencies", "retailers",
)  # fmt: skip
_TRAITS = (
    "It sells through a direct sales team.", "Its customers are mostly in North America.",
    "It raised a Series A round last year.", "It is bootstrapped and profitable.",
    "It offers a free tier and usage-based pricing.", "It partners with large system integrators.",
    "It is hiring across engineering and sales.", "It publishes an open API.",
)  # fmt: skip
# (country, state or province, city, top-level domain, legal suffix)
_PLACES = (
    ("United States", "California", "San Francisco", "com", "Inc."),
    ("United States", "New York", "New York", "com", "Inc."),
    ("United States", "Texas", "Austin", "com", "Inc."),
    ("United States", "Massachusetts", "Boston", "com", "Inc."),
    ("United States", "Washington", "Seattle", "com", "LLC"),
    ("United States", "Illinois", "Chicago", "com", "LLC"),
    ("United Kingdom", "England", "London", "co.uk", "Ltd"),
    ("United Kingdom", "Scotland", "Edinburgh", "co.uk", "Ltd"),
    ("Germany", "Berlin", "Berlin", "de", "GmbH"),
    ("Germany", "Bavaria", "Munich", "de", "GmbH"),
    ("France", "Île-de-France", "Paris", "fr", "SAS"),
    ("Netherlands", "North Holland", "Amsterdam", "nl", "B.V."),
    ("Canada", "Ontario", "Toronto", "ca", "Inc."),
    ("Australia", "New South Wales", "Sydney", "com.au", "Pty Ltd"),
    ("India", "Karnataka", "Bengaluru", "in", "Pvt Ltd"),
    ("Singapore", None, "Singapore", "sg", "Pte Ltd"),
    ("Sweden", "Stockholm County", "Stockholm", "se", "AB"),
    ("Spain", "Catalonia", "Barcelona", "es", "S.L."),
    ("Israel", "Tel Aviv District", "Tel Aviv", "co.il", "Ltd"),
    ("Estonia", "Harju County", "Tallinn", "ee", "OÜ"),
)
_EMPLOYEE_BUCKETS = (
    "1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001-10000", "10001+",
)  # fmt: skip
_EMPLOYEE_CUMULATIVE_WEIGHTS = tuple(itertools.accumulate((20, 30, 25, 12, 6, 4, 2, 1)))
_LAST_FOUNDING_YEAR = 2024
_PAGES = ("about", "product", "customers", "careers", "blog", "pricing", "news")
_EXPLANATIONS = {
    5: "Clear evidence for {name!r} on the company's own pages.",
    4: "Good evidence for {name!r}, from the website and public profiles.",
    3: "Mixed evidence for {name!r}: some signals, nothing conclusive.",
    2: "Little evidence for {name!r}; most signals point the other way.",
    1: "No evidence for {name!r} was found.",
}
_GENERIC_CRITERIA = (
    ("is_b2b", "Sells to businesses", "The company sells mainly to businesses, not consumers."),
    ("has_product", "Has a product", "The company sells its own product, not only services."),
    ("is_independent", "Independent", "The company is independent, not part of a larger group."),
    ("is_growing", "Growing", "The company shows growth, such as hiring or recent funding."),
)
_STOPWORDS = frozenset(
    (
        "about", "after", "also", "based", "companies", "company", "that", "their", "them",
        "they", "this", "those", "with", "from", "into", "serving", "provide", "provides",
        "which", "where", "what", "have", "more", "most", "only", "other", "over", "than",
        "such", "very", "firms", "businesses", "startups", "vendors", "providers", "like",
        "make", "makes", "using", "used",
    )
)  # fmt: skip
_WORD = re.compile(r"[a-z]+")
_NOT_SLUG = re.compile(r"[^a-z0-9]")


@attrs.frozen
class Company:
    """A company as the simulator's imaginary web knows it."""

    name: str
    domain: str
    website: str
    description: str
    full_description: str | None
    founding_year: int | None
    employee_count: str | None
    country: str | None
    state_province: str | None
    city: str | None
    profile_id: str


class CompanyStream:
    """The companies that match one query, in the order discovery finds them.

    Company ``n`` of a stream is the same in every stream for that seed and query.
    """

    def __init__(self, seed: int, query: str) -> None:
        self._random = rng(seed, "companies", query)
        self._topics = _topic_words(query)

    def next(self) -> Company:
        """Return the stream's next company."""
        random = self._random
        country, state, city, tld, legal = _pick(random, _PLACES)
        core = self._core()
        slug = _NOT_SLUG.sub("", core.lower())
        domain = f"{slug}.{tld if random.random() < 0.8 else _pick(random, ('io', 'ai'))}"
        description = (
            f"{core} {_pick(random, ('builds', 'offers', 'develops', 'runs'))} "
            f"{self._product()} for {_pick(random, _AUDIENCES)}."
        )
        first = int(random.random() * len(_TRAITS))
        traits = " ".join((_TRAITS * 2)[first : first + 1 + int(random.random() * 3)])
        full_description = f"{description} Headquartered in {city}, {country}. {traits}"
        # Young companies are the common case, as in any startup database.
        founding_year = _LAST_FOUNDING_YEAR - min(int(random.expovariate(1 / 10)), 60)
        return Company(
            name=f"{core} {legal}" if random.random() < 0.4 else core,
            domain=domain,
            website=f"https://www.{domain}" if random.random() < 0.7 else f"https://{domain}",
            description=description,
            full_description=_often(random, full_description, 0.9),
            founding_year=_often(random, founding_year, 0.9),
            employee_count=_often(random, _employees(random), 0.92),
            country=_often(random, country, 0.98),
            state_province=_often(random, state, 0.9),
            city=_often(random, city, 0.95),
            profile_id=uuid_from_bits(random.getrandbits(128)),
        )

    def _core(self) -> str:
        random = self._random
        topics = self._topics
        stem = _pick(random, topics).capitalize() if topics and random.random() < 0.5 else None
        stem = stem or _pick(random, _STEMS)
        pattern = random.random()
        if pattern < 1 / 3:
            return _pick(random, _PREFIXES) + stem.lower()
        if pattern < 2 / 3:
            return f"{_pick(random, _PREFIXES)} {stem}"
        return stem + _pick(random, _ENDINGS)

    def _product(self) -> str:
        if self._topics and self._random.random() < 0.6:
            return f"{_pick(self._random, self._topics)} software"
        return _pick(self._random, _PRODUCTS)


class Grader:
    """Grades result rows on a task's criteria, leaning high so most rows are high-fit."""

    def __init__(self, criteria: Sequence[tuple[str, str, str]]) -> None:
        self._keys = [key for key, _, _ in criteria]
        self._explanations = [
            {grade: text.format(name=name) for grade, text in _EXPLANATIONS.items()}
            for _, name, _ in criteria
        ]
        count = len(criteria)
        # High-fit: at least 75% of the criteria graded 4 or 5.
        self._needed = (3 * count + 3) // 4

    def grades(self, random: Random, *, high_fit: bool) -> list[int]:
        """Return one grade per criterion, making the row high-fit or not."""
        count = len(self._keys)
        needed = self._needed
        if high_fit:
            high = needed + int(random.random() * (count - needed + 1))
        else:
            high = int(random.random() * needed)
        grades = [4 + (random.random() < 0.6) for _ in range(high)]
        grades += [1 + int(random.random() * 3) for _ in range(count - high)]
        random.shuffle(grades)
        return grades

    def scores(
        self, random: Random, grades: Sequence[int], website: str
    ) -> dict[str, dict[str, object]]:
        """Return a row's ``scores``: per criterion key, its grade, why, and where from."""
        result: dict[str, dict[str, object]] = {}
        for key, explanations, grade in zip(self._keys, self._explanations, grades, strict=True):
            pages = [_pick(random, _PAGES)]
            if random.random() < 0.5:
                pages.append(_pick(random, _PAGES))
            result[key] = {
                "grade": grade,
                "explanation": explanations[grade],
                "sources": [f"{website}/{page}" for page in dict.fromkeys(pages)],
            }
        return result


def generate_criteria(seed: int, query: str) -> tuple[tuple[str, str, str], ...]:
    """Return ``(key, name, criterion)`` of the 2 to 4 criteria inferred from ``query``."""
    random = rng(seed, "criteria", query)
    fits = f"The company matches this description: {query.strip()}"[: CRITERION_TEXT_LENGTH[1]]
    criteria = [("fits_query", "Fits the search", fits)]
    for word in _topic_words(query)[:2]:
        text = f"The company's main product or service is about {word}."
        criteria.append((f"works_on_{word}", f"Works on {word}", text))
    generic = list(_GENERIC_CRITERIA)
    random.shuffle(generic)
    return tuple((criteria + generic)[: random.randint(2, 4)])


def _pick(random: Random, choices: Sequence[_T]) -> _T:
    # Faster than Random.choice, which matters at thousands of rows per second.
    return choices[int(random.random() * len(choices))]


def _often(random: Random, value: _T, chance: float) -> _T | None:
    """Return ``value`` with probability ``chance``, else None (optional fields, left null)."""
    return value if random.random() < chance else None


def _employees(random: Random) -> str:
    return random.choices(_EMPLOYEE_BUCKETS, cum_weights=_EMPLOYEE_CUMULATIVE_WEIGHTS)[0]


def _topic_words(query: str) -> list[str]:
    words = _WORD.findall(query.lower())
    topics = [word for word in words if len(word) >= 4 and word not in _STOPWORDS]
    return list(dict.fromkeys(word[:30] for word in topics))
