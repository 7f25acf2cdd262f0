"""What the CLI says about its requests: a line per retry, every exchange with ``--debug``.

End to end against the simulator (its faults injected, its clock standing still), and in
memory for the formatting. The API key shows nowhere, in any mode.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from extruct_async import (
    APIConnectionError,
    APITimeoutError,
    HTTPRequest,
    HTTPResponse,
    ServerError,
)
from extruct_async._cli._diagnostics import BODY_EXCERPT, Exchanges, reason, retry_lines
from extruct_async._cli._running import Context

from ._states import task
from .conftest import DEADLINE, ThreadedFake, assert_clean_error, assert_no_noise, command
from .test_progress import Terminal

SECRET = "sk-live-NEVER-SHOWN-5e1f9a"


@pytest.fixture
def quick() -> Iterator[ThreadedFake]:
    """A simulator whose 503s ask for no wait at all (``Retry-After: 0``), and a key to hide."""
    threaded = ThreadedFake(seed=5, seconds_per_result=0.01, retry_after=0, api_key=SECRET)
    yield threaded
    threaded.close()


def run(fake: ThreadedFake, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``extruct-async ARGS`` against ``fake``, with ``env`` over its environment."""
    return subprocess.run(command(*args), env={**fake.env(), **env}, capture_output=True,
                          text=True, timeout=DEADLINE, check=False)


def retry_lines_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("retrying")]


def test_a_retry_is_one_line_on_stderr(cli, fake: ThreadedFake) -> None:
    (task_id,) = fake.create("retried")
    fake.call(lambda: fake.server.inject("503-retry-after", endpoint="get"))
    done = cli("tasks", "get", task_id, "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    # The service asked for 1 s (Retry-After), which the SDK waits without jitter.
    assert retry_lines_of(done.stderr) == [
        "retrying in 1.0 s (retry 1 of 4): 503 Service Unavailable"]
    assert done.stderr.splitlines() == retry_lines_of(done.stderr)
    assert done.stdout.startswith("{")  # stdout stays data


def test_retries_then_the_error_then_exit_6(quick: ThreadedFake) -> None:
    (task_id,) = quick.create("always failing")
    quick.call(lambda: quick.server.inject("503-retry-after", endpoint="get", times=10))
    done = run(quick, "tasks", "get", task_id)
    line = assert_clean_error(done, 6)
    assert "503" in line
    # Every retry the SDK makes (max_retries=4) said so, before the error that ended it.
    assert retry_lines_of(done.stderr) == [
        f"retrying in 0.0 s (retry {n} of 4): 503 Service Unavailable" for n in range(1, 5)]
    assert done.stderr.splitlines()[:4] == retry_lines_of(done.stderr)


def test_quiet_keeps_retries_quiet(quick: ThreadedFake) -> None:
    (task_id,) = quick.create("quietly retried")
    quick.call(lambda: quick.server.inject("503-retry-after", endpoint="get"))
    done = run(quick, "tasks", "get", task_id, "-q")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert quick.endpoints().count("get") == 2  # it did retry


def test_debug_shows_each_exchange_and_never_the_key(quick: ThreadedFake) -> None:
    (task_id,) = quick.create("debugged")
    quick.call(lambda: quick.server.inject("503-retry-after", endpoint="get"))
    done = run(quick, "tasks", "get", task_id, "--debug", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    err = done.stderr
    url = f"{quick.server.base_url}/v1/discovery_tasks/{task_id}"
    first, retried = err.split("retrying in 0.0 s (retry 1 of 4): 503 Service Unavailable\n")
    assert first.startswith(f"> GET {url} (#1)\n")
    assert "> Authorization: Bearer ***\n" in first
    assert "> User-Agent: extruct-async/" in first
    assert "< 503 Service Unavailable in " in first
    assert "< content-type: text/html" in first
    assert "< <html>" in first  # the gateway's page, as it came
    assert retried.startswith(f"> GET {url} (#2)\n")
    assert "< 200 OK in " in retried
    assert "< content-type: application/json" in retried
    assert f'< {{"id":"{task_id}"' in retried
    assert SECRET not in err + done.stdout
    assert done.stdout.startswith("{")  # stdout stays data
    assert_no_noise(err)


def test_debug_shows_the_request_body(quick: ThreadedFake) -> None:
    done = run(quick, "-v", "search", "a body to see", "--results", "3", "--no-wait")
    assert done.returncode == 0, done.stderr
    assert f"> POST {quick.server.base_url}/v1/discovery_tasks (#1)\n" in done.stderr
    assert "> Content-Type: application/json\n" in done.stderr
    assert ('> {"query":"a body to see","desired_num_results":3,"auto_data_sources":true}\n'
            in done.stderr)
    assert "< 201 Created in " in done.stderr or "< 200 OK in " in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("tasks", "list"),
        ("tasks", "list", "-q"),
        ("tasks", "list", "--debug"),
        ("tasks", "list", "--debug", "-q"),
        ("--debug", "tasks", "get", "no-such-task"),
        ("--debug", "search", "a search", "--results", "2", "--no-wait"),
    ],
)
@pytest.mark.parametrize("given", ["environment", "option", "wrong"])
def test_the_key_shows_nowhere_in_any_mode(quick: ThreadedFake, args: tuple[str, ...],
                                           given: str) -> None:
    quick.call(lambda: quick.server.inject("503-retry-after", times=2))
    key = {"environment": SECRET, "option": SECRET, "wrong": SECRET + "-revoked"}[given]
    extra = ("--api-key", key) if given == "option" else ()
    done = run(quick, *args, *extra, EXTRUCT_API_TOKEN="" if given == "option" else key)
    if given == "wrong":
        # 3 (401): also for a create whose 503 may have applied, when the look-up that
        # would tell is refused the key (the SDK reports the 401, not the 503).
        assert_clean_error(done, 3)
    assert SECRET not in done.stdout + done.stderr
    if "--debug" in args:
        assert "Authorization: Bearer ***" in done.stderr  # the exchanges were shown


def test_a_retry_line_says_why_in_a_few_words() -> None:
    url = "https://api.extruct.ai/v1/discovery_tasks"
    refused = APIConnectionError(f"GET {url}: cannot connect (Connection refused)",
                                 method="GET", url=url, sent=False)
    assert reason(refused) == "cannot connect (Connection refused)"
    slow = APITimeoutError(f"GET {url}: no answer within 30 s", method="GET", url=url)
    assert reason(slow) == "no answer within 30 s"
    gateway = ServerError(f"502 Bad Gateway for GET {url}: <html>...", method="GET", url=url,
                          status=502, body="<html>", request_id=None)
    assert reason(gateway) == "502 Bad Gateway"
    odd = ServerError("599 for GET", method="GET", url=url, status=599, body="", request_id=None)
    assert reason(odd) == "599"


def test_retry_lines_format_the_sdks_records_while_installed() -> None:
    said: list[str] = []
    logger = logging.getLogger("extruct_async")
    level = logger.level
    error = APIConnectionError("GET http://h/v1: cannot connect (Connection refused)",
                               method="GET", url="http://h/v1", sent=False)
    with retry_lines(said.append, secret="k-123"):
        logger.info("retrying", extra={"extruct_wait": 2.14, "extruct_retry": 1,
                                       "extruct_error": error, "extruct_max_retries": 4})
        logger.info("something else at INFO")  # not a retry: not a line
        logger.info("retrying", extra={"extruct_wait": 4.0, "extruct_retry": 2,
                                       "extruct_error": ValueError("bad k-123")})
    logger.info("retrying", extra={"extruct_wait": 9.0, "extruct_retry": 3,
                                   "extruct_error": error})
    assert said == ["retrying in 2.1 s (retry 1 of 4): cannot connect (Connection refused)",
                    "retrying in 4.0 s (retry 2): bad ***"]
    assert logger.level == level  # set back as it was


class Canned:
    """A transport that answers from a function and counts closes."""

    def __init__(self, answer: Callable[[HTTPRequest], HTTPResponse]) -> None:
        self._answer = answer
        self.closed = 0

    async def send(self, request: HTTPRequest) -> HTTPResponse:
        return self._answer(request)

    async def aclose(self) -> None:
        self.closed += 1


def ticking() -> Callable[[], float]:
    now = [0.0]

    def clock() -> float:
        now[0] += 0.25
        return now[0]

    return clock


def test_exchanges_cut_a_long_answer_and_mask_credentials() -> None:
    said: list[str] = []
    body = b'{"rows": "' + b"x" * (3 * BODY_EXCERPT) + b'"}'
    inner = Canned(lambda request: HTTPResponse(200, {"Set-Cookie": "s=abc"}, body))
    exchanges = Exchanges(inner, said.append, secret="tok-9", clock=ticking())
    request = HTTPRequest("POST", "http://h/v1/x?token=tok-9",
                          {"Authorization": "Bearer tok-9", "Cookie": "c=1"}, b'{"a":1}')
    response = asyncio.run(exchanges.send(request))
    assert response.body == body  # passed on whole
    sent, answered = said
    assert sent.splitlines() == ["> POST http://h/v1/x?token=*** (#1)",
                                 "> Authorization: Bearer ***", "> Cookie: ***", ">",
                                 '> {"a":1}']
    lines = answered.splitlines()
    assert lines[:4] == ["< 200 OK in 0.250 s (#1)", "< set-cookie: ***", "<",
                         lines[3]]
    assert len(lines[3]) < BODY_EXCERPT + 50
    assert lines[3].endswith(f"… ({len(body):,} bytes in all)")
    asyncio.run(exchanges.aclose())
    assert inner.closed == 1


def test_exchanges_show_a_failure_and_pass_it_on() -> None:
    said: list[str] = []

    def refuse(request: HTTPRequest) -> HTTPResponse:
        raise APIConnectionError(f"GET {request.url}: cannot connect (Connection refused)",
                                 method="GET", url=request.url, sent=False)

    exchanges = Exchanges(Canned(refuse), said.append, secret=None, clock=ticking())
    with pytest.raises(APIConnectionError):
        asyncio.run(exchanges.send(HTTPRequest("GET", "http://h/v1")))
    assert said[1] == "< no answer after 0.250 s (#1): cannot connect (Connection refused)\n"


def test_exchanges_show_a_cancellation() -> None:
    said: list[str] = []

    class Hanging(Canned):
        async def send(self, request: HTTPRequest) -> HTTPResponse:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    async def cancel() -> None:
        sending = asyncio.ensure_future(Exchanges(Hanging(lambda r: HTTPResponse(200)),
                                                  said.append, secret=None,
                                                  clock=ticking()).send(HTTPRequest("GET", "u")))
        await asyncio.sleep(0)  # the request is shown, then it hangs in the transport
        assert said
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending

    asyncio.run(cancel())
    assert said[1].startswith("< cancelled after ")


def context(stderr: io.StringIO, **options: bool) -> Context:
    args = argparse.Namespace(**{"quiet": False, "debug": False, "api_key": "k",
                                 "base_url": None, **options})
    return Context(args, io.StringIO(), stderr)


def test_notes_go_through_the_live_display_and_debug_gets_a_plain_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "rich.console", None)  # the one-line display, no rich
    live = Terminal()
    ctx = context(live)
    with ctx.display() as display:
        display.update(task())
        ctx.note("retrying in 1.0 s (retry 1): 503 Service Unavailable")
    # The redrawn line was cleared first, then drawn again under the note.
    assert "\rretrying in 1.0 s" in live.getvalue()
    assert live.getvalue().count("in_progress: 20/50 results") == 2
    plain = Terminal()
    ctx = context(plain, debug=True)
    with ctx.display() as display:
        display.update(task())
        ctx.say("> GET http://h/v1 (#1)")
    assert "\r" not in plain.getvalue()  # a line per change, as when piped
    assert plain.getvalue().splitlines()[-1] == "> GET http://h/v1 (#1)"


def test_debug_speaks_even_when_quiet() -> None:
    err = io.StringIO()
    ctx = context(err, quiet=True, debug=True)
    with ctx.display():
        ctx.note("a note")
        ctx.say("> GET http://h/v1 (#1)")
    assert err.getvalue() == "> GET http://h/v1 (#1)\n"
