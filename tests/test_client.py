"""The client against a mocked API: configuration, request shapes, error mapping.

aioresponses replaces aiohttp's request machinery, so these tests cover what the SDK
sends and how it reads answers; retries, timeouts and faults are tested against real
servers elsewhere.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

import aiohttp
import pytest
from yarl import URL

from extruct_async import (
    APIResponseError,
    AsyncExtruct,
    AuthenticationError,
    ConfigurationError,
    Criterion,
    DiscoveryTask,
    InvalidRequestError,
    InvalidTypeError,
    NotFoundError,
    PaymentRequiredError,
    TaskExhaustedError,
    TaskStatus,
    UnprocessableEntityError,
)
from tests._mock_api import MockAPI
from tests.conftest import API_KEY, BASE_URL

pytestmark = pytest.mark.looptime

TASKS = f"{BASE_URL}/v1/discovery_tasks"


def task_json(task_id: str = "t1", **fields: Any) -> dict[str, Any]:
    return {
        "id": task_id,
        "created_at": "2026-11-23T10:00:00Z",
        "status": "created",
        "query": "freight SaaS",
        "desired_num_results": 100,
        **fields,
    }


def row_json(row_id: str, relevance: int = 50) -> dict[str, Any]:
    return {"id": row_id, "task_id": "t1", "company_name": f"Co {row_id}", "relevance": relevance}


def sent(mock_api: MockAPI, method: str, url: str) -> list[dict[str, Any]]:
    return [call.kwargs for call in mock_api.requests.get((method, URL(url)), [])]


# -- configuration ----------------------------------------------------------------


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="EXTRUCT_API_TOKEN"):
        AsyncExtruct()
    with pytest.raises(ConfigurationError, match="EXTRUCT_API_TOKEN"):
        AsyncExtruct(api_key="  ")


async def test_key_and_url_from_environment(monkeypatch: pytest.MonkeyPatch,
                                            mock_api: MockAPI) -> None:
    monkeypatch.setenv("EXTRUCT_API_TOKEN", API_KEY)
    monkeypatch.setenv("EXTRUCT_BASE_URL", "https://env.example/")
    mock_api.get("https://env.example/v1/discovery_tasks/t1", payload=task_json())
    async with AsyncExtruct() as client:
        assert client.base_url == "https://env.example"
        await client.discovery_tasks.get("t1")
    (call,) = sent(mock_api, "GET", "https://env.example/v1/discovery_tasks/t1")
    assert call["headers"]["Authorization"] == f"Bearer {API_KEY}"


def test_default_base_url() -> None:
    assert AsyncExtruct(API_KEY).base_url == "https://api.extruct.ai"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"rate_limit": float("inf")}, "rate_limit"),
        ({"burst": 0}, "burst"),
        ({"burst": 2, "rate_limit": None}, "burst"),
        ({"max_retries": -1}, "max_retries"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "30"}, "timeout"),
        ({"base_url": "api.extruct.ai"}, "base_url"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{field}: "):
        AsyncExtruct(API_KEY, **options)


async def test_key_never_in_repr_str_logs_or_tracebacks(
    mock_api: MockAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mock_api.get(f"{TASKS}/t1", status=401, payload={"detail": "Invalid token"})
    mock_api.post(TASKS, payload=task_json())
    async with AsyncExtruct(API_KEY, BASE_URL) as client:
        assert API_KEY not in repr(client)
        assert API_KEY not in str(client)
        assert API_KEY not in repr(client._session)
        task = await client.discovery_tasks.create("q")
        assert API_KEY not in repr(task)
        with pytest.raises(AuthenticationError) as caught:
            await client.discovery_tasks.get("t1")
    assert "GET" in caplog.text  # requests are logged at DEBUG ...
    assert API_KEY not in caplog.text  # ... without the key
    rendered = "".join(traceback.format_exception(caught.value))
    assert API_KEY not in rendered
    assert API_KEY not in repr(caught.value)
    assert API_KEY not in str(caught.value)


async def test_a_callers_session_is_used_and_never_closed(mock_api: MockAPI) -> None:
    mock_api.get(f"{TASKS}/t1", payload=task_json())
    async with aiohttp.ClientSession() as session:
        async with AsyncExtruct(API_KEY, BASE_URL, session=session) as client:
            await client.discovery_tasks.get("t1")
        assert not session.closed
    (call,) = sent(mock_api, "GET", f"{TASKS}/t1")
    assert call["headers"]["Authorization"] == f"Bearer {API_KEY}"


async def test_one_session_for_all_requests(client: AsyncExtruct, mock_api: MockAPI) -> None:
    mock_api.get(f"{TASKS}/t1", payload=task_json(), repeat=True)
    await client.discovery_tasks.get("t1")
    session = client._session.transport._session
    await client.discovery_tasks.get("t1")
    assert client._session.transport._session is session
    await client.aclose()
    assert session is not None
    assert session.closed
    await client.aclose()  # twice is fine


# -- request shapes -----------------------------------------------------------------


async def test_create_sends_the_documented_body(client: AsyncExtruct, mock_api: MockAPI) -> None:
    mock_api.post(TASKS, payload=task_json(criteria=[
        {"key": "b2b", "name": "B2B", "criterion": "Sells mainly to other businesses."}]))
    task = await client.discovery_tasks.create(
        "vertical SaaS companies serving freight forwarding",
        desired_num_results=25,
        criteria=[Criterion(key="b2b", name="B2B", criterion="Sells mainly to other businesses.")],
        exclude_domains=["https://www.Acme.com/about"],
    )
    assert isinstance(task, DiscoveryTask)
    assert (task.id, task.status) == ("t1", TaskStatus.CREATED)
    assert task.criteria == (Criterion("b2b", "B2B", "Sells mainly to other businesses."),)
    (call,) = sent(mock_api, "POST", TASKS)
    assert call["json"] == {
        "query": "vertical SaaS companies serving freight forwarding",
        "desired_num_results": 25,
        "auto_data_sources": True,
        "criteria": [{"key": "b2b", "name": "B2B",
                      "criterion": "Sells mainly to other businesses."}],
        "exclude_domains": ["https://www.Acme.com/about"],
    }
    headers = call["headers"]
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["Accept"] == "application/json"


async def test_get_refresh_and_resume(client: AsyncExtruct, mock_api: MockAPI) -> None:
    mock_api.get(f"{TASKS}/t1", payload=task_json(status="in_progress"))
    mock_api.get(f"{TASKS}/t1", payload=task_json(status="done", num_results=100))
    mock_api.post(f"{TASKS}/t1/resume",
                  payload=task_json(status="in_progress", desired_num_results=125))
    task = await client.discovery_tasks.get("t1")
    assert task.status == TaskStatus.IN_PROGRESS
    assert await task.refresh() is task
    assert (task.status, task.num_results) == (TaskStatus.DONE, 100)
    assert await task.resume(desired_new_results=25) is task
    assert (task.status, task.desired_num_results) == (TaskStatus.IN_PROGRESS, 125)
    (call,) = sent(mock_api, "POST", f"{TASKS}/t1/resume")
    assert call["json"] == {"desired_new_results": 25}


async def test_list_walks_pages_without_duplicates(client: AsyncExtruct,
                                                   mock_api: MockAPI) -> None:
    mock_api.get(f"{TASKS}?offset=0&limit=2", payload=[task_json("t9"), task_json("t8")])
    # A task created meanwhile shifted the list: t8 shows up again on page two.
    mock_api.get(f"{TASKS}?offset=2&limit=2", payload=[task_json("t8"), task_json("t7")])
    mock_api.get(f"{TASKS}?offset=4&limit=2", payload=[task_json("t6")])
    ids = [task.id async for task in client.discovery_tasks.list(page_size=2)]
    assert ids == ["t9", "t8", "t7", "t6"]


async def test_list_stops_on_an_empty_page(client: AsyncExtruct, mock_api: MockAPI) -> None:
    mock_api.get(f"{TASKS}?offset=0&limit=20", payload=[])
    assert [task async for task in client.discovery_tasks.list()] == []


async def test_pages_and_results(client: AsyncExtruct, mock_api: MockAPI) -> None:
    mock_api.get(f"{TASKS}/t1", payload=task_json(status="done"))
    mock_api.get(f"{TASKS}/t1/results?offset=0&limit=2",
                 payload={**task_json(status="done", num_results=3),
                          "results": [row_json("a", 90), row_json("b", 80)]})
    mock_api.get(f"{TASKS}/t1/results?offset=2&limit=2",
                 payload={**task_json(status="done", num_results=3),
                          "results": [row_json("c", 70)]})
    task = await client.discovery_tasks.get("t1")
    pages = [[row.id for row in page] async for page in task.pages(limit=2)]
    assert pages == [["a", "b"], ["c"]]
    assert task.num_results == 3  # the results endpoint's task fields update the handle


async def test_results_are_flat_and_stop_on_an_exactly_full_last_page(
    client: AsyncExtruct, mock_api: MockAPI
) -> None:
    mock_api.get(f"{TASKS}/t1", payload=task_json(status="done"))
    for offset, rows in ((0, ["a", "b"]), (2, ["c", "d"]), (4, [])):
        mock_api.get(f"{TASKS}/t1/results?offset={offset}&limit=2",
                     payload={**task_json(), "results": [row_json(r) for r in rows]})
    task = await client.discovery_tasks.get("t1")
    assert [row.id async for row in task.results(page_size=2)] == ["a", "b", "c", "d"]


async def test_breaking_out_early_sends_nothing_more(client: AsyncExtruct,
                                                     mock_api: MockAPI) -> None:
    mock_api.get(f"{TASKS}/t1", payload=task_json(status="done"))
    mock_api.get(f"{TASKS}/t1/results?offset=0&limit=2",
                 payload={**task_json(), "results": [row_json("a"), row_json("b")]})
    task = await client.discovery_tasks.get("t1")
    pages = task.pages(limit=2)
    async for _ in pages:
        break
    await pages.aclose()
    calls = [key for key in mock_api.requests if key[1].path.endswith("/results")]
    assert len(calls) == 1


# -- bad input never reaches the network -------------------------------------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.discovery_tasks.create(""), "query"),
        (lambda c: c.discovery_tasks.create("q", desired_num_results=300), "desired_num_results"),
        (lambda c: c.discovery_tasks.create("q", criteria=[Criterion("9", "n", "long enough")]),
         "criteria[0].key"),
        (lambda c: c.discovery_tasks.create("q", data_sources=["fax"]), "data_sources[0]"),
        (lambda c: c.discovery_tasks.get(""), "task_id"),
        (lambda c: c.discovery_tasks.get(None), "task_id"),
    ],
)
async def test_bad_input_sends_nothing(client: AsyncExtruct, mock_api: MockAPI, call: Any,
                                       field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await call(client)
    assert caught.value.field == field
    assert mock_api.requests == {}


async def test_bad_generator_arguments_send_nothing(client: AsyncExtruct,
                                                    mock_api: MockAPI) -> None:
    mock_api.get(f"{TASKS}/t1", payload=task_json())
    task = await client.discovery_tasks.get("t1")
    with pytest.raises(InvalidRequestError, match=r"^limit: "):
        await anext(task.pages(limit=0))
    with pytest.raises(InvalidTypeError, match=r"^page_size: "):
        await anext(client.discovery_tasks.list(page_size="10"))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match=r"^desired_new_results: "):
        await task.resume(desired_new_results=500)
    with pytest.raises(InvalidRequestError, match=r"^poll_interval: "):
        await task.wait(poll_interval=0)
    with pytest.raises(InvalidRequestError, match=r"^timeout: "):
        await task.wait(timeout=-1)
    assert len(mock_api.requests) == 1


# -- error mapping -------------------------------------------------------------------


async def test_error_statuses_map_to_exceptions(client: AsyncExtruct, mock_api: MockAPI) -> None:
    mock_api.get(f"{TASKS}/nope", status=404, payload={"detail": "Task not found"},
                 headers={"x-request-id": "req-404"})
    with pytest.raises(NotFoundError) as not_found:
        await client.discovery_tasks.get("nope")
    assert not_found.value.request_id == "req-404"
    assert not_found.value.messages == ("Task not found",)

    mock_api.post(TASKS, status=402, payload={"detail": {"error": "plan_required"}})
    with pytest.raises(PaymentRequiredError) as payment:
        await client.discovery_tasks.create("q")
    assert payment.value.error == "plan_required"

    mock_api.post(TASKS, status=422, payload={"detail": [
        {"loc": ["body", "query"], "msg": "Field required", "type": "missing"}]})
    with pytest.raises(UnprocessableEntityError, match=re.escape("body.query: Field required")):
        await client.discovery_tasks.create("q")


async def test_resume_on_exhausted_task(client: AsyncExtruct, mock_api: MockAPI) -> None:
    mock_api.get(f"{TASKS}/t1", payload=task_json(status="done", is_exhausted=True))
    mock_api.post(f"{TASKS}/t1/resume", status=400,
                  payload={"detail": "Task is exhausted; no more candidates"})
    task = await client.discovery_tasks.get("t1")
    with pytest.raises(TaskExhaustedError, match="exhausted"):
        await task.resume()
    assert len(sent(mock_api, "POST", f"{TASKS}/t1/resume")) == 1  # a 400 is never retried


@pytest.mark.parametrize(
    "payload",
    [
        [task_json()],  # an array where an object belongs
        {"id": "t1"},  # required fields missing
        {**task_json(), "created_at": "last tuesday"},
    ],
)
async def test_unexpected_shapes_raise_response_errors(client: AsyncExtruct, mock_api: MockAPI,
                                                       payload: Any) -> None:
    mock_api.get(f"{TASKS}/t1", payload=payload)
    with pytest.raises(APIResponseError, match="unexpected answer"):
        await client.discovery_tasks.get("t1")


async def test_unexpected_results_shape(client: AsyncExtruct, mock_api: MockAPI) -> None:
    mock_api.get(f"{TASKS}/t1", payload=task_json())
    mock_api.get(f"{TASKS}/t1/results?offset=0&limit=50", payload={**task_json(), "results": 3})
    mock_api.get(f"{TASKS}/t1/results?offset=0&limit=50",
                 payload={**task_json(), "results": [{"company_name": "no id"}]})
    task = await client.discovery_tasks.get("t1")
    with pytest.raises(APIResponseError, match="'results' array"):
        await anext(task.pages())
    with pytest.raises(APIResponseError, match="unexpected result row"):
        await anext(task.pages())
