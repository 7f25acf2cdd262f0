"""The runnable examples under examples/, started in process against the simulator.

The web app (examples/webapp/app.py) runs on a real aiohttp server on loopback, its client
talks to a FakeExtructServer, and the tests read what a browser would: the event stream
until the task is done, then the results. Everything follows the fake loop clock, so a
search of minutes takes milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import attrs
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from examples.webapp.app import POLL_INTERVAL, create_app
from extruct_async.testing import FakeExtructServer

pytestmark = pytest.mark.looptime

ROOT = Path(__file__).resolve().parent.parent
#: Every example file, and the test below that runs it (docs include these files).
EXAMPLE_FILES = {"examples/webapp/app.py": "test_webapp_streams_a_search_then_serves_its_results"}


@attrs.frozen
class Event:
    name: str
    data: dict[str, object]


async def events(response: ClientResponse) -> AsyncIterator[Event]:
    """The server-sent events of an answer, as a browser's EventSource parses them."""
    name, data = "message", ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if not line:
            yield Event(name, json.loads(data))
            name, data = "message", ""
        elif line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data += line.removeprefix("data: ")


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeExtructServer]:
    async with FakeExtructServer(seed=11) as server:
        monkeypatch.setenv("EXTRUCT_BASE_URL", server.base_url)
        monkeypatch.setenv("EXTRUCT_API_TOKEN", server.api_key)
        yield server


@pytest.fixture
async def http(fake: FakeExtructServer) -> AsyncIterator[TestClient]:
    # TestServer cancels the handler of a request whose client left, as the example's
    # __main__ asks aiohttp to (handler_cancellation=True).
    async with TestClient(TestServer(create_app())) as client:
        yield client


async def test_webapp_streams_a_search_then_serves_its_results(
    http: TestClient, fake: FakeExtructServer
) -> None:
    answer = await http.post("/searches", data={"query": "freight forwarding software",
                                                "results": "20"})
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "text/event-stream"
    received = [event async for event in events(answer)]

    created, *changes, last = received
    task_id = created.data["id"]
    assert created == Event("created", {"id": task_id, "page": f"/searches/{task_id}",
                                        "results": f"/searches/{task_id}/results"})
    assert last.name == "done"
    assert last.data["status"] == "done"
    assert fake.task_state(str(task_id))["status"] == "done"
    assert {event.name for event in changes} == {"progress"}
    assert changes[0].data["status"] == "created"
    evaluated = [event.data["evaluated"] for event in [*changes, last]]
    assert evaluated == sorted(evaluated)  # counters only grow
    assert last.data["results"] == fake.task_state(str(task_id))["num_results"] >= 20

    rows = await (await http.get(f"/searches/{task_id}/results")).json()
    assert rows["status"] == "done"
    assert rows["finished"] is True
    assert rows["rows"] == fake.visible_rows(str(task_id))  # every row, best first

    page = await http.get(f"/searches/{task_id}")
    assert page.content_type == "text/html"
    text = await page.text()
    assert f"{len(rows['rows'])} rows" in text
    assert all(row["company_name"].replace("&", "&amp;") in text for row in rows["rows"])
    assert fake.create_count == 1


async def test_following_a_finished_search_sends_its_end_and_creates_nothing(
    http: TestClient, fake: FakeExtructServer
) -> None:
    answer = await http.post("/searches", json={"query": "cold-chain logistics", "results": 5})
    created, *_rest = [event async for event in events(answer)]  # read to the end
    task_id = created.data["id"]

    again = await http.get(f"/searches/{task_id}/events")
    assert [event.name async for event in events(again)] == ["done"]
    assert fake.create_count == 1


async def test_a_browser_that_leaves_stops_the_polling(
    http: TestClient, fake: FakeExtructServer
) -> None:
    answer = await http.post("/searches", data={"query": "port logistics software"})
    stream = events(answer)
    created = await anext(stream)
    assert (await anext(stream)).name == "progress"
    await stream.aclose()
    answer.close()  # the browser tab is closed
    left_at = fake.time()
    await asyncio.sleep(120)  # fake time: the task runs on, and would have been polled
    assert fake.task_state(str(created.data["id"]))["status"] == "done"
    assert [r for r in fake.requests if r.time > left_at] == []


async def test_without_handler_cancellation_the_next_write_stops_the_polling(
    fake: FakeExtructServer, caplog: pytest.LogCaptureFixture
) -> None:
    runner = web.AppRunner(create_app())  # aiohttp's default: handlers run on
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession(f"http://{host}:{port}") as browser:
            answer = await browser.post("/searches", data={"query": "port logistics software"})
            stream = events(answer)
            created = await anext(stream)
            assert (await anext(stream)).name == "progress"
            await stream.aclose()
            answer.close()
        left_at = fake.time()
        await asyncio.sleep(120)
        assert fake.task_state(str(created.data["id"]))["status"] == "done"
        # One more status read finds a change; writing it fails; polling stops there.
        late = [r.time for r in fake.requests if r.time > left_at]
        assert late == [left_at + POLL_INTERVAL]
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    finally:
        await runner.cleanup()


async def test_bad_input_is_a_400_and_nothing_is_created(
    http: TestClient, fake: FakeExtructServer
) -> None:
    blank = await http.post("/searches", data={"query": " "})
    assert blank.status == 400
    assert "query" in await blank.text()
    words = await http.post("/searches", data={"query": "ok", "results": "many"})
    assert words.status == 400
    assert (await http.get("/searches/no such id/results")).status == 400
    assert fake.create_count == 0


async def test_an_unknown_search_is_a_404(http: TestClient) -> None:
    assert (await http.get("/searches/0123456789abcdef/results")).status == 404


async def test_the_index_page_posts_to_the_search_endpoint(http: TestClient) -> None:
    text = await (await http.get("/")).text()
    assert 'fetch("/searches", {method: "POST"' in text


def test_every_example_file_is_run_by_a_test() -> None:
    on_disk = {str(p.relative_to(ROOT)) for p in (ROOT / "examples").rglob("*.py")}
    mine = {p for p in on_disk if p.startswith("examples/webapp/")}
    assert mine == set(EXAMPLE_FILES)
    assert all(name in globals() for name in EXAMPLE_FILES.values())
