"""Task states and rows built in memory, for the in-process tests."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from extruct_async import CompanyResult, Criterion, DiscoveryTask, Score, TaskState

CREATED_AT = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


def state(**changes: Any) -> TaskState:
    fields: dict[str, Any] = {
        "id": "3f2c0000-0000-0000-0000-000000000001",
        "created_at": CREATED_AT,
        "status": "in_progress",
        "query": "vertical SaaS for freight forwarders",
        "desired_num_results": 50,
        "num_results_discovered": 40,
        "num_results_enriched": 32,
        "num_results_evaluated": 25,
        "num_results": 20,
        "criteria": (Criterion("has_api", "Has an API", "The company offers a public API."),),
    }
    fields.update(changes)
    return TaskState(**fields)


def task(**changes: Any) -> DiscoveryTask:
    # Displays and reports only read the state; nothing here talks to a service.
    return DiscoveryTask(state(**changes), context=None)  # type: ignore[arg-type]


def row(**changes: Any) -> CompanyResult:
    fields: dict[str, Any] = {
        "id": "row-1",
        "task_id": "task-1",
        "company_name": "Acme Freight",
        "company_website": "https://www.acme.example/about",
        "relevance": 87.5,
        "created_at": CREATED_AT,
        "source": "linkedin",
        "scores": {"has_api": Score(grade=5, explanation="Docs", sources=("https://a",)),
                   "is_b2b": Score(grade=2)},
        "hq_city": "Tallinn",
        "hq_country": "Estonia",
    }
    fields.update(changes)
    return CompanyResult(**fields)
