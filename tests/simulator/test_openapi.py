"""The OpenAPI document, and schemathesis against the simulator on a real socket."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
import requests
import schemathesis

from extruct_async._constraints import DATA_SOURCES, TASK_STATUSES
from extruct_async.testing import FakeExtructServer

from ._threaded import ManualClock, server_in_a_thread

DOCUMENT = resources.files("extruct_async.testing").joinpath("openapi.json")
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            "mode": "all",
            "max-examples": 15,
            "deterministic": True,
            "database": "none",
        },
        "phases": {"stateful": {"enabled": False}},
        # Valid-looking requests still meet 404s (random task ids) and 422s (unknown
        # exclude_task_ids, duplicate criterion keys), so acceptance is not a check here.
        "checks": {"positive_data_acceptance": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_path(str(DOCUMENT), config=CONFIG)


@pytest.fixture(scope="module")
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="module")
def simulator(clock: ManualClock) -> Iterator[FakeExtructServer]:
    with server_in_a_thread(seed=1, clock=clock, candidate_pool={"tiny niche": 20}) as server:
        yield server


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@schema.parametrize()
def test_the_simulator_conforms_to_its_openapi_document(
    case: schemathesis.Case, simulator: FakeExtructServer, http: requests.Session
) -> None:
    case.call_and_validate(
        base_url=simulator.base_url,
        session=http,
        headers={"Authorization": f"Bearer {simulator.api_key}"},
    )


def call(
    server: FakeExtructServer,
    http: requests.Session,
    method: str,
    path: str,
    **case: Any,
) -> requests.Response:
    """Send one hand-made case and validate the answer against the document."""
    operation = schema[path][method]
    response = operation.Case(**case).call_and_validate(
        base_url=server.base_url,
        session=http,
        headers={"Authorization": f"Bearer {server.api_key}"},
    )
    return response  # type: ignore[no-any-return]


def test_every_documented_answer_conforms(
    simulator: FakeExtructServer, http: requests.Session, clock: ManualClock
) -> None:
    tasks = "/v1/discovery_tasks"
    body = {"query": "observability vendors", "desired_num_results": 30}
    created = call(simulator, http, "POST", tasks, body=body).json()
    small = call(simulator, http, "POST", tasks, body={"query": "tiny niche"}).json()
    task = {"task_id": created["id"]}
    clock.now += 120
    assert (
        call(simulator, http, "GET", f"{tasks}/{{task_id}}", path_parameters=task).status_code
        == 200
    )
    results = call(
        simulator,
        http,
        "GET",
        f"{tasks}/{{task_id}}/results",
        path_parameters=task,
        query={"limit": 250},
    )
    assert len(results.json()["results"]) > 30
    assert call(simulator, http, "GET", tasks, query={"limit": 5}).status_code == 200
    resume = f"{tasks}/{{task_id}}/resume"
    assert call(simulator, http, "POST", resume, path_parameters=task, body={}).status_code == 200
    exhausted = call(simulator, http, "POST", resume, path_parameters={"task_id": small["id"]})
    assert exhausted.status_code == 400


def test_billing_and_rate_limit_answers_conform(http: requests.Session) -> None:
    tasks = "/v1/discovery_tasks"
    with server_in_a_thread(credits=5, rate_limit=2, clock=ManualClock()) as server:
        assert call(server, http, "POST", tasks, body={"query": "robots"}).status_code == 402
        assert call(server, http, "GET", tasks).status_code == 200
        assert call(server, http, "GET", tasks).status_code == 429


def test_the_document_matches_the_constraints_and_is_served(
    simulator: FakeExtructServer, http: requests.Session
) -> None:
    document = json.loads(DOCUMENT.read_text("utf-8"))
    schemas = document["components"]["schemas"]
    assert tuple(schemas["DiscoveryDataSource"]["enum"]) == DATA_SOURCES
    assert tuple(schemas["Status"]["enum"]) == TASK_STATUSES
    assert set(document["paths"]) == {
        "/v1/discovery_tasks",
        "/v1/discovery_tasks/{task_id}",
        "/v1/discovery_tasks/{task_id}/results",
        "/v1/discovery_tasks/{task_id}/resume",
    }
    served = http.get(f"{simulator.base_url}/openapi.json").json()
    assert served["servers"] == [{"url": simulator.base_url}]
    assert served["paths"] == document["paths"]
