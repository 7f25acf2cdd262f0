"""The aiohttp transport against real sockets: the wire, failures, and what never leaks.

Hand-made servers on loopback answer with exactly the bytes a test needs (a broken
status line, bad chunking, a body that never ends), so the translation of every
aiohttp failure into the SDK's errors is tested against aiohttp itself.
"""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import subprocess
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from extruct_async import (
    AiohttpTransport,
    APIConnectionError,
    APIResponseError,
    AsyncExtruct,
    ExtructError,
    HTTPRequest,
    ServerError,
    Timeout,
)
from extruct_async._aiohttp import ERROR_BODY_LIMIT
from extruct_async.testing import FakeExtructServer
from tests._mock_api import MockAPI
from tests.conftest import API_KEY, TASK, Serve


def rendered(error: BaseException) -> str:
    """Everything a logger, Sentry or ``pytest -l`` could print of ``error``."""
    with_locals = traceback.TracebackException.from_exception(error, capture_locals=True)
    return "".join([repr(error), str(error), repr(error.args), *with_locals.format()])


async def test_what_goes_on_the_wire(serve: Serve) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({**TASK, "results": []} if "results" in request.path else TASK)

    server = await serve(answer)
    async with AsyncExtruct(API_KEY, server.url, rate_limit=None) as client:
        task = await client.discovery_tasks.create("freight SaaS", desired_num_results=5)
        async for _ in task.pages(page_size=7, offset=14):
            pass
    create, results = server.seen
    assert (create.method, create.path) == ("POST", "/v1/discovery_tasks")
    assert create.body == (
        b'{"query":"freight SaaS","desired_num_results":5,"auto_data_sources":true}'
    )
    assert create.headers["Content-Type"] == "application/json"
    assert create.headers["Authorization"] == f"Bearer {API_KEY}"
    assert create.headers["Accept"] == "application/json"
    assert create.headers["User-Agent"].startswith("extruct-async/")
    assert results.path == "/v1/discovery_tasks/t1/results"
    assert list(results.query.items()) == [("offset", "14"), ("limit", "7")]  # vendor order
    assert "Content-Type" not in results.headers


async def test_connection_refused_is_known_not_sent() -> None:
    sock_server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = sock_server.sockets[0].getsockname()[1]
    sock_server.close()
    await sock_server.wait_closed()
    async with AsyncExtruct(API_KEY, f"http://127.0.0.1:{port}", max_retries=0) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.discovery_tasks.get("t1")
    assert caught.value.sent is False
    assert "cannot connect" in str(caught.value)


# -- hand-made answers ---------------------------------------------------------------

Raw = Callable[[bytes], Awaitable[str]]


@pytest.fixture
async def raw() -> AsyncIterator[Raw]:
    """Start a server that reads a request, writes ``answer`` bytes and closes."""
    servers: list[asyncio.Server] = []

    async def start(answer: bytes) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


MALFORMED = {
    "bad status line": b"HTTP/1.1 OK-ish\r\n\r\n",
    "bad chunking": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n",
    "brotli garbage": (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 4\r\n\r\n\x00\x01\x02\x03"
    ),
    "oversized header": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
    "cut short": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"id\":",
}


@pytest.mark.parametrize("answer", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_answers_are_connection_errors_that_hold_no_key(
    raw: Raw, answer: bytes
) -> None:
    url = await raw(answer)
    async with AsyncExtruct(API_KEY, url, max_retries=0) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.discovery_tasks.get("t1")
    error = caught.value
    assert error.sent
    # aiohttp's exceptions hold the request headers (and its frames, the headers dict):
    # none of them is chained, and nothing rendered shows the key.
    assert error.__cause__ is None
    assert error.__context__ is None
    assert API_KEY not in rendered(error)


@pytest.mark.parametrize("length", ["declared", "chunked"])
async def test_an_answer_over_the_size_limit_is_not_read_nor_fetched_again(
    serve: Serve, length: str,
) -> None:
    body = json.dumps({**TASK, "padding": "x" * 50_000}).encode()

    async def huge(request: web.Request) -> web.StreamResponse:
        if length == "declared":  # Content-Length says it is too big before a byte is read
            return web.Response(body=body, content_type="application/json")
        answer = web.StreamResponse(headers={"Content-Type": "application/json"})
        answer.enable_chunked_encoding()  # no length: counted while read
        await answer.prepare(request)
        for start in range(0, len(body), 1000):
            await answer.write(body[start:start + 1000])
        await answer.write_eof()
        return answer

    server = await serve(huge)
    async with AsyncExtruct(API_KEY, server.url, max_response_size=4096) as client:
        with pytest.raises(APIResponseError, match="larger than 4096 bytes") as caught:
            await client.discovery_tasks.get("t1")
    assert caught.value.retryable is False
    assert len(server.seen) == 1


async def test_only_an_excerpt_of_an_error_page_is_read(serve: Serve) -> None:
    async def gateway(request: web.Request) -> web.Response:
        return web.Response(status=500, text="<html>" + "oops " * 400_000 + "</html>")

    server = await serve(gateway)
    async with AsyncExtruct(API_KEY, server.url, max_retries=0) as client:
        with pytest.raises(ServerError) as caught:
            await client.discovery_tasks.get("t1")
    assert len(caught.value.body) <= ERROR_BODY_LIMIT
    assert len(str(caught.value)) < 500


# -- a caller's own session --------------------------------------------------------


@pytest.mark.parametrize("own_session", [False, True], ids=["sdk session", "caller session"])
async def test_a_dropped_request_reaches_the_server_once_per_admission(own_session: bool) -> None:
    # aiohttp re-sends an idempotent request once, silently, when a reused connection
    # drops. With max_retries=0 the service must see exactly what the gate admitted.
    async with FakeExtructServer(api_key=API_KEY) as server, aiohttp.ClientSession() as session:
        options: dict[str, Any] = {"max_retries": 0, "rate_limit": None}
        if own_session:
            options["session"] = session
        async with server.client(**options) as client:
            task = await client.discovery_tasks.create("freight SaaS")  # opens a connection
            server.inject("drop", endpoint="get")
            with pytest.raises(APIConnectionError):
                await task.refresh()  # sent on the reused connection, which drops
            gate = client._pipeline.gate
        assert [r.endpoint for r in server.requests] == ["create", "get"]
        assert gate.admitted == 2
        assert not session.closed  # the caller's session is never closed
        assert not session.connector.closed  # type: ignore[union-attr]


# -- header sets and sessions -------------------------------------------------------


async def test_every_header_set_shares_one_pool(serve: Serve) -> None:
    # A client's two header sets (with and without Content-Type) each ride a light
    # session of their own, for speed; all of them share one connection pool.
    ports: list[int] = []

    async def answer(request: web.Request) -> web.Response:
        assert request.transport is not None
        ports.append(request.transport.get_extra_info("peername")[1])
        return web.json_response({**TASK, "results": []} if "results" in request.path else TASK)

    server = await serve(answer)
    async with AsyncExtruct(API_KEY, server.url, rate_limit=None) as client:
        task = await client.discovery_tasks.create("freight SaaS")
        await task.refresh()
        async for _ in task.pages(page_size=5):
            pass
        await client.discovery_tasks.create("robotics")
    assert [seen.method for seen in server.seen] == ["POST", "GET", "GET", "POST"]
    assert len(set(ports)) == 1  # one keep-alive connection carried all four
    for seen in server.seen:
        assert seen.headers["Authorization"] == f"Bearer {API_KEY}"
        assert ("Content-Type" in seen.headers) == (seen.method == "POST")


async def test_a_caller_session_traces_every_header_set(serve: Serve) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response(TASK)

    server = await serve(answer)
    traced: list[tuple[str, str | None]] = []
    connections: list[object] = []

    async def on_start(_: object, __: object, params: aiohttp.TraceRequestStartParams) -> None:
        traced.append((params.method, params.headers.get("Authorization")))

    async def on_connect(*_: object) -> None:
        connections.append(object())

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    trace.on_connection_create_end.append(on_connect)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        async with AsyncExtruct(API_KEY, server.url, rate_limit=None, session=session) as client:
            task = await client.discovery_tasks.create("freight SaaS")
            await task.refresh()
        assert not session.closed
        assert not session.connector.closed
    assert traced == [("POST", f"Bearer {API_KEY}"), ("GET", f"Bearer {API_KEY}")]
    assert len(connections) == 1


async def test_any_number_of_header_sets_each_sent_as_given(serve: Serve) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({})

    server = await serve(answer)
    transport = AiohttpTransport()
    requests = [HTTPRequest("GET", f"{server.url}/{n}", {"X-N": str(n)}) for n in range(12)]
    try:
        for n in range(12):  # header sets made for one request each: no session of their own
            await transport.send(HTTPRequest("GET", f"{server.url}/{n}", {"X-N": str(n)}))
        assert not transport._by_headers
        for request in [*requests, *reversed(requests)]:  # each set seen twice
            await transport.send(request)
        assert len(transport._by_headers) == 8  # and no more: the others go per request
    finally:
        await transport.aclose()
    assert [seen.headers["X-N"] for seen in server.seen] == [
        seen.path[1:] for seen in server.seen
    ]
    assert len(server.seen) == 36
    with pytest.raises(ExtructError, match="closed"):
        await transport.send(requests[0])  # not through a session kept for its headers


def test_request_headers_are_read_only_and_copy_as_themselves() -> None:
    request = HTTPRequest("GET", "http://x", {"Authorization": f"Bearer {API_KEY}"})
    headers = request.headers
    for change in (
        lambda: headers.__setitem__("Authorization", "Bearer other"),
        lambda: headers.update(Authorization="Bearer other"),
        lambda: headers.pop("Authorization"),
        lambda: headers.setdefault("X", "y"),
        headers.clear,
    ):
        with pytest.raises(TypeError, match="read-only"):
            change()
    assert headers == {"Authorization": f"Bearer {API_KEY}"}
    for twin in (copy.copy(headers), copy.deepcopy(headers), pickle.loads(pickle.dumps(headers))):
        assert twin == headers
        assert type(twin) is type(headers)
        assert API_KEY not in repr(twin)
    assert API_KEY not in repr(request)


def test_the_seam_and_the_layers_above_it_load_no_http_library() -> None:
    # Only the aiohttp backend imports aiohttp's client, and only when it first sends:
    # a fresh interpreter importing the seam, the protocol and the client (the backend
    # with it) has not loaded aiohttp. (The cold start benchmark measures what it costs.)
    code = (
        "import sys\n"
        "import extruct_async._transport, extruct_async._protocol, extruct_async._client\n"
        "assert 'extruct_async._aiohttp' in sys.modules\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'aiohttp'))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    assert loaded.stdout.strip() == "[]"


# -- aioresponses ----------------------------------------------------------------------


async def test_an_app_that_mocks_aiohttp_with_aioresponses_mocks_the_sdk_too() -> None:
    # Users whose test suites already patch aiohttp (aioresponses) need nothing else:
    # the SDK's requests are plain aiohttp requests. (The SDK's own tests use
    # MockTransport, at the seam, instead of patching aiohttp.)
    with MockAPI() as mocked:
        mocked.get("https://api.extruct.test/v1/discovery_tasks/t1", payload=TASK)
        async with AsyncExtruct(API_KEY, "https://api.extruct.test") as client:
            task = await client.discovery_tasks.get("t1")
    assert task.id == "t1"
    ((_, url), calls), = mocked.requests.items()
    assert str(url) == "https://api.extruct.test/v1/discovery_tasks/t1"
    assert calls[0].kwargs["headers"]["Authorization"] == f"Bearer {API_KEY}"


async def test_transport_on_its_own(serve: Serve) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"body": json.loads(await request.read())}, status=201,
                                 headers={"X-Request-Id": "r-1"})

    server = await serve(echo)
    transport = AiohttpTransport()
    try:
        answer = await transport.send(HTTPRequest(
            "POST", server.url + "/x", {"Content-Type": "application/json"}, b'{"a":1}',
            Timeout(total=5),
        ))
    finally:
        await transport.aclose()
    assert (answer.status, answer.headers["x-request-id"]) == (201, "r-1")
    assert json.loads(answer.body) == {"body": {"a": 1}}
    # The headers as HTTPResponse promises them: lower-case keys, whatever was sent.
    assert "x-request-id" in list(answer.headers)
    assert all(key == key.lower() for key in answer.headers)
    assert len(answer.headers) == len(list(answer.headers))
    assert dict(answer.headers)["x-request-id"] == answer.headers.get("x-request-id") == "r-1"
    assert answer.headers.get("x-missing", "none") == "none"
    assert {**answer.headers} == dict(answer.headers.items())
    assert "'x-request-id': 'r-1'" in repr(answer.headers)
    for twin in (copy.deepcopy(answer), pickle.loads(pickle.dumps(answer))):
        assert twin == answer
        assert twin.headers.get("x-request-id") == "r-1"


# -- proxies from the environment (trust_env) -----------------------------------------


@pytest.fixture
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment without any proxy setting of the machine's own."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


async def test_a_proxy_named_in_the_environment_carries_the_requests(
    serve: Serve, no_proxy_settings: pytest.MonkeyPatch,
) -> None:
    async def proxy(request: web.Request) -> web.Response:
        return web.json_response(TASK)

    through = await serve(proxy)
    no_proxy_settings.setenv("HTTP_PROXY", through.url)
    # A host nobody can resolve: only the proxy can answer for it.
    async with AsyncExtruct(API_KEY, "http://extruct.invalid", max_retries=0) as client:
        task = await client.discovery_tasks.get("t1")
        no_proxy_settings.delenv("HTTP_PROXY")  # read once per host: the next still goes there
        await client.discovery_tasks.get("t1")
    assert task.id == "t1"
    assert [seen.path for seen in through.seen] == ["/v1/discovery_tasks/t1"] * 2
    assert through.seen[0].headers["Host"] == "extruct.invalid"


async def test_an_environment_without_proxies_is_read_once(
    serve: Serve, no_proxy_settings: pytest.MonkeyPatch,
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({})

    first, second = await serve(answer), await serve(answer)
    transport = AiohttpTransport()
    lookups: list[str] = []
    real = asyncio.to_thread

    async def counted(function: Callable[..., Any], *args: Any) -> Any:
        lookups.append(function.__name__)
        return await real(function, *args)

    no_proxy_settings.setattr(asyncio, "to_thread", counted)
    try:
        for url in (first.url, first.url, second.url, second.url):
            await transport.send(HTTPRequest("GET", url + "/x"))
        # A proxy named later is not looked for: as with a host already looked up.
        no_proxy_settings.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        await transport.send(HTTPRequest("GET", second.url + "/x"))
    finally:
        await transport.aclose()
    assert lookups == ["_environment_proxy"]
    assert (len(first.seen), len(second.seen)) == (2, 3)


@pytest.mark.parametrize("how", ["NO_PROXY", "trust_env=False"])
async def test_no_proxy_or_trust_env_off_goes_direct(
    serve: Serve, no_proxy_settings: pytest.MonkeyPatch, how: str,
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response(TASK)

    through, direct = await serve(answer), await serve(answer)
    no_proxy_settings.setenv("HTTP_PROXY", through.url)
    options: dict[str, Any] = {"max_retries": 0}
    if how == "NO_PROXY":
        no_proxy_settings.setenv("NO_PROXY", "127.0.0.1")
    else:
        options["trust_env"] = False
    async with AsyncExtruct(API_KEY, direct.url, **options) as client:
        await client.discovery_tasks.get("t1")
    assert (len(through.seen), len(direct.seen)) == (0, 1)
