"""The client through a ``MockTransport``: configuration, request shapes, error mapping.

The transport seam is replaced, nothing of aiohttp is patched: every layer above it (the
gate, the pipeline, decoding, errors) runs for real. Retries, timeouts and faults are
tested against real servers elsewhere (``test_pipeline``, ``test_faults``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import threading
import traceback
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from extruct_async import (
    APIResponseError,
    AsyncExtruct,
    AuthenticationError,
    ClientStateError,
    ConfigurationError,
    Criterion,
    DiscoveryTask,
    InvalidRequestError,
    InvalidTypeError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    TaskExhaustedError,
    TaskStatus,
    Timeout,
    UnprocessableEntityError,
    __version__,
)
from extruct_async.testing import MockTransport
from tests._routes import Routes, body_of
from tests.conftest import API_KEY, BASE_URL, EXACT_RETRIES

pytestmark = pytest.mark.looptime

TASKS = "/v1/discovery_tasks"


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


@pytest.fixture
def routes() -> Routes:
    return Routes()


@pytest.fixture
def transport(routes: Routes) -> MockTransport:
    return MockTransport(routes)


@pytest.fixture
async def client(transport: MockTransport) -> AsyncIterator[AsyncExtruct]:
    async with AsyncExtruct(API_KEY, BASE_URL, retry=EXACT_RETRIES, transport=transport) as api:
        yield api


def sent(transport: MockTransport, method: str, path: str) -> list[Any]:
    return [
        r for r in transport.requests if r.method == method and r.url.startswith(BASE_URL + path)
    ]


# -- configuration ----------------------------------------------------------------


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="EXTRUCT_API_TOKEN"):
        AsyncExtruct()
    with pytest.raises(ConfigurationError, match="EXTRUCT_API_TOKEN"):
        AsyncExtruct(api_key="  ")


async def test_key_and_url_from_environment(
    monkeypatch: pytest.MonkeyPatch, routes: Routes, transport: MockTransport
) -> None:
    monkeypatch.setenv("EXTRUCT_API_TOKEN", API_KEY)
    monkeypatch.setenv("EXTRUCT_BASE_URL", "https://env.example/")
    routes.add("GET", f"{TASKS}/t1", task_json())
    async with AsyncExtruct(transport=transport) as client:
        assert client.base_url == "https://env.example"
        await client.discovery_tasks.get("t1")
    (request,) = transport.requests
    assert request.url == "https://env.example/v1/discovery_tasks/t1"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"


def test_default_base_url() -> None:
    assert AsyncExtruct(API_KEY).base_url == "https://api.extruct.ai"


async def test_a_key_read_from_a_file_loses_its_newline(
    routes: Routes, transport: MockTransport
) -> None:
    routes.add("GET", f"{TASKS}/t1", task_json())
    async with AsyncExtruct(f"  {API_KEY}\r\n", BASE_URL, transport=transport) as client:
        await client.discovery_tasks.get("t1")
    assert transport.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"rate_limit": float("inf")}, "rate_limit"),
        ({"rate_limit": 9e301}, "rate_limit"),
        ({"rate_limit": "10"}, "rate_limit"),
        ({"burst": 0}, "burst"),
        ({"burst": 2, "rate_limit": None}, "burst"),
        ({"max_retries": -1}, "max_retries"),
        ({"retry": {"max_retries": 2}}, "retry"),
        ({"attempt_timeout": 0}, "attempt_timeout"),
        ({"attempt_timeout": "30"}, "attempt_timeout"),
        ({"base_url": "api.extruct.ai"}, "base_url"),
        ({"base_url": b"https://api.extruct.ai"}, "base_url"),
        ({"base_url": 443}, "base_url"),
        ({"base_url": "https://user:pass@api.extruct.ai"}, "base_url"),
        ({"base_url": "https://api.extruct.ai:99999"}, "base_url"),
        ({"base_url": "https://api.extruct.ai/?x=1"}, "base_url"),
        ({"api_key": 12345}, "api_key"),
        ({"api_key": "sk-with a space"}, "api_key"),
        ({"api_key": "sk-\x00"}, "api_key"),
        ({"max_response_size": 10}, "max_response_size"),
        ({"trust_env": "yes"}, "trust_env"),
        ({"default_headers": {"Authorization": "Bearer x"}}, "default_headers['Authorization']"),
        ({"default_headers": {"X-A": "b\nc"}}, "default_headers['X-A']"),
        ({"default_headers": ["X-A"]}, "default_headers"),
        ({"transport": object()}, "transport"),
        ({"transport": MockTransport(lambda r: None), "session": object()}, "session"),  # type: ignore[arg-type,return-value]
    ],
)
def test_bad_options_name_the_option(options: dict[str, Any], field: str) -> None:
    options.setdefault("api_key", API_KEY)
    with pytest.raises(ConfigurationError) as caught:
        AsyncExtruct(**options)
    assert str(caught.value).startswith(f"{field}: ")
    assert "sk-" not in str(caught.value)


def test_timeout_object_and_number() -> None:
    assert Timeout(total=5, connect=1, read=2).read == 2
    with pytest.raises(ValueError, match="connect"):
        Timeout(connect=0)


async def test_requests_carry_version_default_headers_and_timeouts(
    routes: Routes, transport: MockTransport
) -> None:
    routes.add("GET", f"{TASKS}/t1", task_json(), repeat=True)
    async with AsyncExtruct(
        API_KEY,
        BASE_URL,
        transport=transport,
        attempt_timeout=Timeout(total=20, connect=3, read=7),
        default_headers={"X-Team": "growth"},
    ) as client:
        await client.discovery_tasks.get("t1")
        slow = client.with_options(attempt_timeout=90, max_retries=0)
        await slow.discovery_tasks.get("t1")
    first, second = transport.requests
    assert first.headers["User-Agent"] == f"extruct-async/{__version__}"
    assert first.headers["Accept"] == "application/json"
    assert first.headers["X-Team"] == "growth"
    assert first.body is None  # no body, so no Content-Type either
    assert "Content-Type" not in first.headers
    assert (first.timeout.total, first.timeout.connect, first.timeout.read) == (20, 3, 7)
    assert second.timeout.total == 90
    assert second.headers == first.headers


async def test_with_options_shares_the_gate_and_closes_nothing(
    routes: Routes, transport: MockTransport
) -> None:
    routes.add("GET", f"{TASKS}/t1", task_json(), repeat=True)
    client = AsyncExtruct(API_KEY, BASE_URL, transport=transport, max_retries=2)
    copy = client.with_options(max_retries=0)
    assert copy._pipeline.gate is client._pipeline.gate
    assert copy._poller is client._poller
    assert copy._pipeline.policy.max_retries == 0
    assert client._pipeline.policy.max_retries == 2
    await copy.aclose()
    assert not transport.closed
    await copy.discovery_tasks.get("t1")  # still usable: the original owns the resources
    await client.aclose()
    assert transport.closed
    with pytest.raises(ConfigurationError, match=r"^max_retries: "):
        client.with_options(max_retries=-1)


async def test_key_never_in_repr_str_logs_or_tracebacks(
    routes: Routes, transport: MockTransport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    routes.add("GET", f"{TASKS}/t1", {"detail": "Invalid token"}, status=401)
    routes.add("POST", TASKS, task_json())
    async with AsyncExtruct(API_KEY, BASE_URL, transport=transport) as client:
        assert API_KEY not in repr(client)
        assert API_KEY not in str(client)
        assert API_KEY not in repr(client._pipeline)
        task = await client.discovery_tasks.create("q")
        assert API_KEY not in repr(task)
        assert API_KEY not in repr(transport.requests[0])
        with pytest.raises(AuthenticationError) as caught:
            await client.discovery_tasks.get("t1")
    assert "GET" in caplog.text  # requests are logged at DEBUG ...
    assert API_KEY not in caplog.text  # ... without the key
    rendered = "".join(traceback.format_exception(caught.value))
    assert API_KEY not in rendered
    assert API_KEY not in repr(caught.value)
    assert API_KEY not in str(caught.value)


async def test_closed_client_and_second_loop_raise_client_state_errors(
    routes: Routes, transport: MockTransport
) -> None:
    routes.add("GET", f"{TASKS}/t1", task_json(), repeat=True)
    client = AsyncExtruct(API_KEY, BASE_URL, transport=transport)
    task = await client.discovery_tasks.get("t1")
    await client.aclose()
    await client.aclose()  # twice is fine
    for call in (
        lambda: client.discovery_tasks.get("t1"),
        task.refresh,
        lambda: client.discovery_tasks.create("q"),
    ):
        with pytest.raises(ClientStateError, match="closed"):
            await call()
    with pytest.raises(RuntimeError):  # a ClientStateError is a RuntimeError too
        await client.discovery_tasks.get("t1")


@pytest.fixture
def unbound(routes: Routes, transport: MockTransport) -> AsyncExtruct:
    """A client not yet used on any loop; ``t1`` answers as often as asked."""
    routes.add("GET", f"{TASKS}/t1", task_json(), repeat=True)
    return AsyncExtruct(API_KEY, BASE_URL, transport=transport)


def test_a_client_used_from_a_second_loop(unbound: AsyncExtruct) -> None:
    asyncio.run(unbound.discovery_tasks.get("t1"))
    with pytest.raises(ClientStateError, match="another event loop"):
        asyncio.run(unbound.discovery_tasks.get("t1"))


@contextlib.contextmanager
def running_in_a_thread(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Run ``loop`` forever in a thread of its own, up when entered; stop and close it."""
    thread = threading.Thread(target=loop.run_forever)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(timeout=30)
        yield
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def test_a_client_used_from_a_loop_of_another_thread_while_its_own_runs(
    unbound: AsyncExtruct,
) -> None:
    """The same-loop check's fast path (its loop runs, in this thread) sees the thread too."""
    first = asyncio.new_event_loop()
    with running_in_a_thread(first):
        used = asyncio.run_coroutine_threadsafe(unbound.discovery_tasks.get("t1"), first)
        assert used.result(timeout=30).id == "t1"
        with pytest.raises(ClientStateError, match="another event loop"):
            asyncio.run(unbound.discovery_tasks.get("t1"))
        again = asyncio.run_coroutine_threadsafe(unbound.discovery_tasks.get("t1"), first)
        assert again.result(timeout=30).id == "t1"  # its own loop still may


def test_a_client_whose_loop_moved_to_another_thread_refuses_this_one(
    unbound: AsyncExtruct,
) -> None:
    """First used in this thread; its loop now runs in another, and this thread runs a new one."""
    first = asyncio.new_event_loop()
    assert first.run_until_complete(unbound.discovery_tasks.get("t1")).id == "t1"
    with running_in_a_thread(first), pytest.raises(ClientStateError, match="another event loop"):
        asyncio.run(unbound.discovery_tasks.get("t1"))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
def test_a_forked_child_cannot_use_its_parents_client(unbound: AsyncExtruct) -> None:
    """Forked inside the parent's running loop: in the child that loop still looks alive."""

    async def parent() -> int:
        assert (await unbound.discovery_tasks.get("t1")).id == "t1"
        pid = os.fork()
        if pid == 0:  # the child: a loop of its own, the parent's client
            signal.alarm(60)  # a child that hangs dies, and fails the test, not the run
            code = 3
            try:
                asyncio.run(unbound.discovery_tasks.get("t1"))
                code = 1
            except ClientStateError:
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)  # noqa: ASYNC222 -- the child ends at once
        assert (await unbound.discovery_tasks.get("t1")).id == "t1"  # the parent's still works
        return os.waitstatus_to_exitcode(status)

    assert asyncio.run(parent()) == 0  # refused in the child: "another event loop"


# -- request shapes -----------------------------------------------------------------


async def test_create_sends_the_documented_body(
    client: AsyncExtruct, routes: Routes, transport: MockTransport
) -> None:
    routes.add(
        "POST",
        TASKS,
        data=task_json(
            criteria=[
                {"key": "b2b", "name": "B2B", "criterion": "Sells mainly to other businesses."}
            ]
        ),
    )
    task = await client.discovery_tasks.create(
        "vertical SaaS companies serving freight forwarding",
        desired_num_results=25,
        criteria=[Criterion(key="b2b", name="B2B", criterion="Sells mainly to other businesses.")],
        exclude_domains=["https://www.Acme.com/about"],
    )
    assert isinstance(task, DiscoveryTask)
    assert (task.id, task.status) == ("t1", TaskStatus.CREATED)
    assert task.criteria == (Criterion("b2b", "B2B", "Sells mainly to other businesses."),)
    (call,) = sent(transport, "POST", TASKS)
    assert body_of(call) == {
        "query": "vertical SaaS companies serving freight forwarding",
        "desired_num_results": 25,
        "auto_data_sources": True,
        "criteria": [
            {"key": "b2b", "name": "B2B", "criterion": "Sells mainly to other businesses."}
        ],
        "exclude_domains": ["https://www.Acme.com/about"],
    }
    headers = call.headers
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["Accept"] == "application/json"


async def test_get_refresh_and_resume(
    client: AsyncExtruct, routes: Routes, transport: MockTransport
) -> None:
    routes.add("GET", f"{TASKS}/t1", data=task_json(status="in_progress"))
    routes.add("GET", f"{TASKS}/t1", data=task_json(status="done", num_results=100))
    routes.add(
        "POST", f"{TASKS}/t1/resume", data=task_json(status="in_progress", desired_num_results=125)
    )
    task = await client.discovery_tasks.get("t1")
    assert task.status == TaskStatus.IN_PROGRESS
    assert await task.refresh() is task
    assert (task.status, task.num_results) == (TaskStatus.DONE, 100)
    assert await task.resume(desired_new_results=25) is task
    assert (task.status, task.desired_num_results) == (TaskStatus.IN_PROGRESS, 125)
    (call,) = sent(transport, "POST", f"{TASKS}/t1/resume")
    assert body_of(call) == {"desired_new_results": 25}


async def test_list_walks_pages_without_duplicates(
    client: AsyncExtruct, routes: Routes, transport: MockTransport
) -> None:
    routes.add("GET", f"{TASKS}?offset=0&limit=2", data=[task_json("t9"), task_json("t8")])
    # A task created meanwhile shifted the list: t8 shows up again on page two.
    routes.add("GET", f"{TASKS}?offset=2&limit=2", data=[task_json("t8"), task_json("t7")])
    routes.add("GET", f"{TASKS}?offset=4&limit=2", data=[task_json("t6")])
    ids = [task.id async for task in client.discovery_tasks.list(page_size=2)]
    assert ids == ["t9", "t8", "t7", "t6"]


async def test_list_from_an_offset(client: AsyncExtruct, routes: Routes) -> None:
    routes.add("GET", f"{TASKS}?offset=40&limit=20", [task_json("t3")])
    assert [task.id async for task in client.discovery_tasks.list(offset=40)] == ["t3"]
    with pytest.raises(InvalidRequestError, match=r"^offset: "):
        await anext(client.discovery_tasks.list(offset=-1))


async def test_list_stops_on_an_empty_page(
    client: AsyncExtruct, routes: Routes, transport: MockTransport
) -> None:
    routes.add("GET", f"{TASKS}?offset=0&limit=20", data=[])
    assert [task async for task in client.discovery_tasks.list()] == []


async def test_pages_and_results(
    client: AsyncExtruct, routes: Routes, transport: MockTransport
) -> None:
    routes.add("GET", f"{TASKS}/t1", data=task_json(status="done"))
    routes.add(
        "GET",
        f"{TASKS}/t1/results?offset=0&limit=2",
        data={
            **task_json(status="done", num_results=3),
            "results": [row_json("a", 90), row_json("b", 80)],
        },
    )
    routes.add(
        "GET",
        f"{TASKS}/t1/results?offset=2&limit=2",
        data={**task_json(status="done", num_results=3), "results": [row_json("c", 70)]},
    )
    task = await client.discovery_tasks.get("t1")
    pages = [[row.id for row in page] async for page in task.pages(page_size=2)]
    assert pages == [["a", "b"], ["c"]]
    assert task.num_results == 3  # the results endpoint's task fields update the handle


async def test_results_are_flat_and_stop_on_an_exactly_full_last_page(
    client: AsyncExtruct, routes: Routes, transport: MockTransport
) -> None:
    routes.add("GET", f"{TASKS}/t1", data=task_json(status="done"))
    for offset, rows in ((0, ["a", "b"]), (2, ["c", "d"]), (4, [])):
        routes.add(
            "GET",
            f"{TASKS}/t1/results?offset={offset}&limit=2",
            data={**task_json(), "results": [row_json(r) for r in rows]},
        )
    task = await client.discovery_tasks.get("t1")
    assert [row.id async for row in task.results(page_size=2)] == ["a", "b", "c", "d"]


async def test_breaking_out_early_sends_nothing_more(
    client: AsyncExtruct, routes: Routes, transport: MockTransport
) -> None:
    routes.add("GET", f"{TASKS}/t1", data=task_json(status="done"))
    routes.add(
        "GET",
        f"{TASKS}/t1/results?offset=0&limit=2",
        data={**task_json(), "results": [row_json("a"), row_json("b")]},
    )
    task = await client.discovery_tasks.get("t1")
    pages = task.pages(page_size=2)
    async for _ in pages:
        break
    await pages.aclose()
    calls = [r for r in transport.requests if "/results" in r.url]
    assert len(calls) == 1


# -- bad input never reaches the network -------------------------------------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.discovery_tasks.create(""), "query"),
        (lambda c: c.discovery_tasks.create("q", desired_num_results=300), "desired_num_results"),
        (
            lambda c: c.discovery_tasks.create("q", criteria=[Criterion("9", "n", "long enough")]),
            "criteria[0].key",
        ),
        (lambda c: c.discovery_tasks.create("q", data_sources=[""]), "data_sources[0]"),
        (lambda c: c.discovery_tasks.get(""), "task_id"),
        (lambda c: c.discovery_tasks.get(None), "task_id"),
    ],
)
async def test_bad_input_sends_nothing(
    client: AsyncExtruct, routes: Routes, transport: MockTransport, call: Any, field: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await call(client)
    assert caught.value.field == field
    assert transport.requests == []


async def test_bad_generator_arguments_send_nothing(
    client: AsyncExtruct, routes: Routes, transport: MockTransport
) -> None:
    routes.add("GET", f"{TASKS}/t1", data=task_json())
    task = await client.discovery_tasks.get("t1")
    with pytest.raises(InvalidRequestError, match=r"^page_size: "):
        await anext(task.pages(page_size=0))
    with pytest.raises(InvalidTypeError, match=r"^page_size: "):
        await anext(client.discovery_tasks.list(page_size="10"))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError, match=r"^desired_new_results: "):
        await task.resume(desired_new_results=500)
    with pytest.raises(InvalidRequestError, match=r"^poll_interval: "):
        await task.wait(poll_interval=0)
    with pytest.raises(InvalidRequestError, match=r"^timeout: "):
        await task.wait(timeout=-1)
    assert len(transport.requests) == 1


# -- error mapping -------------------------------------------------------------------


async def test_error_statuses_map_to_exceptions(
    client: AsyncExtruct, routes: Routes, transport: MockTransport
) -> None:
    routes.add(
        "GET",
        f"{TASKS}/nope",
        status=404,
        data={"detail": "Task not found"},
        headers={"x-request-id": "req-404"},
    )
    with pytest.raises(NotFoundError) as not_found:
        await client.discovery_tasks.get("nope")
    assert not_found.value.request_id == "req-404"
    assert not_found.value.messages == ("Task not found",)

    routes.add("POST", TASKS, status=402, data={"detail": {"error": "plan_required"}})
    with pytest.raises(PaymentRequiredError) as payment:
        await client.discovery_tasks.create("q")
    assert payment.value.error == "plan_required"

    routes.add(
        "POST",
        TASKS,
        status=422,
        data={"detail": [{"loc": ["body", "query"], "msg": "Field required", "type": "missing"}]},
    )
    with pytest.raises(UnprocessableEntityError, match=re.escape("body.query: Field required")):
        await client.discovery_tasks.create("q")


async def test_403_is_an_authentication_error(client: AsyncExtruct, routes: Routes) -> None:
    # The vendor's own client treats 401 and 403 alike.
    routes.add("GET", f"{TASKS}/t1", {"detail": "Not allowed"}, status=403)
    with pytest.raises(AuthenticationError) as caught:
        await client.discovery_tasks.get("t1")
    assert type(caught.value) is PermissionDeniedError
    assert caught.value.status == 403


async def test_resume_on_exhausted_task(
    client: AsyncExtruct, routes: Routes, transport: MockTransport
) -> None:
    routes.add("GET", f"{TASKS}/t1", data=task_json(status="done", is_exhausted=True))
    routes.add(
        "POST",
        f"{TASKS}/t1/resume",
        status=400,
        data={"detail": "Task is exhausted; no more candidates"},
    )
    task = await client.discovery_tasks.get("t1")
    with pytest.raises(TaskExhaustedError, match="exhausted"):
        await task.resume()
    assert len(sent(transport, "POST", f"{TASKS}/t1/resume")) == 1  # a 400 is never retried


@pytest.mark.parametrize(
    "payload",
    [
        [task_json()],  # an array where an object belongs
        {"id": "t1"},  # required fields missing
        {**task_json(), "created_at": "last tuesday"},
    ],
)
async def test_unexpected_shapes_raise_response_errors(
    client: AsyncExtruct, routes: Routes, transport: MockTransport, payload: Any
) -> None:
    routes.add("GET", f"{TASKS}/t1", data=payload)
    with pytest.raises(APIResponseError, match="unexpected answer"):
        await client.discovery_tasks.get("t1")


async def test_unexpected_results_shape(
    client: AsyncExtruct, routes: Routes, transport: MockTransport
) -> None:
    routes.add("GET", f"{TASKS}/t1", data=task_json())
    routes.add("GET", f"{TASKS}/t1/results?offset=0&limit=50", data={**task_json(), "results": 3})
    routes.add(
        "GET",
        f"{TASKS}/t1/results?offset=0&limit=50",
        data={**task_json(), "results": [{"company_name": "no id"}]},
    )
    task = await client.discovery_tasks.get("t1")
    with pytest.raises(APIResponseError, match=r"Expected `array`, got `int` - at `\$.results`"):
        await anext(task.pages())
    missing_id = r"missing required field `id` - at `\$.results\[0\]`"
    with pytest.raises(APIResponseError, match=missing_id):
        await anext(task.pages())
