"""``python -m extruct_async.testing`` as a real process (real time, a second or two)."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import re
import signal
import sys
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest

from extruct_async.testing import (
    DEFAULT_QUALIFICATION_STEPS,
    FAULT_KINDS,
    FakeExtructServer,
    add_server_arguments,
    server_options,
)


async def start_standalone(*arguments: str) -> tuple[asyncio.subprocess.Process, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "extruct_async.testing", "--port", "0", *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    printed = ""
    while "Ctrl-C" not in printed:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert line, f"the server exited early: {(await process.communicate())[1].decode()}"
        printed += line.decode()
    url = re.search(r"listening on (http://\S+)", printed)
    token = re.search(r"API token: (\S+)", printed)
    assert url is not None, printed
    assert token is not None, printed
    assert f"export EXTRUCT_BASE_URL={url[1]} EXTRUCT_API_TOKEN={token[1]}" in printed
    return process, url[1], token[1]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
async def test_the_standalone_server_serves_until_stopped(stop: signal.Signals) -> None:
    process, url, token = await start_standalone("--api-key", "sk-standalone", "--seed", "3")
    try:
        assert token == "sk-standalone"
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            aiohttp.ClientSession(url, headers=headers) as session,
            session.post("/v1/discovery_tasks", json={"query": "robotics"}) as response,
        ):
            assert response.status == 200
            assert (await response.json())["status"] == "created"
    finally:
        process.send_signal(stop)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0
    assert b"Traceback" not in stderr


def test_the_arguments_become_server_options() -> None:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    args = parser.parse_args(
        ["--port", "0", "--seed", "9", "--candidate-pool", "30", "--fail-query", "a",
         "--fail-query", "b", "--rate-limit", "4", "--latency", "0.5", "--fault-rate", "0.1",
         "--fault-kind", "500", "--fault-kind", "drop", "--credits", "7",
         "--seconds-per-result", "2", "--api-key", "k", "--host", "0.0.0.0",
         "--slow-seconds", "9", "--qualification-steps", "3-8", "--plan-required",
         "--payment-failed", "--retry-after", "4", "--retry-after-format", "http-date",
         "--gateway-body", "text", "--epoch", "2024-05-01T12:00:00Z"]
    )  # fmt: skip
    assert server_options(args) == {
        "host": "0.0.0.0",
        "port": 0,
        "api_key": "k",
        "seed": 9,
        "seconds_per_result": 2.0,
        "qualification_steps": (3, 8),
        "candidate_pool": 30,
        "fail_queries": ("a", "b"),
        "credits": 7,
        "plan_required": True,
        "payment_failed": True,
        "rate_limit": 4.0,
        "latency": 0.5,
        "fault_rate": 0.1,
        "fault_kinds": ("500", "drop"),
        "slow_seconds": 9.0,
        "retry_after": 4,
        "retry_after_format": "http-date",
        "gateway_body": "text",
        "epoch": datetime(2024, 5, 1, 12, tzinfo=timezone.utc),
    }
    defaults = server_options(parser.parse_args([]))
    assert defaults["port"] == 8080
    assert defaults["fault_kinds"] == FAULT_KINDS
    assert defaults["credits"] is None
    # The standalone server behaves as the service does: rows take time to qualify.
    assert defaults["qualification_steps"] == DEFAULT_QUALIFICATION_STEPS
    assert (defaults["retry_after_format"], defaults["gateway_body"]) == ("seconds", "html")
    assert defaults["epoch"] is None
    FakeExtructServer(**defaults)


def test_every_constructor_option_has_a_flag_with_its_default_in_the_help() -> None:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    options = set(server_options(parser.parse_args([])))
    constructor = set(inspect.signature(FakeExtructServer).parameters)
    # A clock is a function, which no command line can give.
    assert constructor - options == {"clock"}
    for action in parser._actions:
        if action.dest != "help":
            assert "default" in (action.help or ""), action.dest
    assert "(default: 10-20)" in parser.format_help()


@pytest.mark.parametrize(
    ("arguments", "epoch"),
    [(["--epoch", "2024-05-01T12:00:00"], datetime(2024, 5, 1, 12, tzinfo=timezone.utc)),
     (["--epoch", "2024-05-01T14:00:00+02:00"], datetime(2024, 5, 1, 12, tzinfo=timezone.utc))],
)  # fmt: skip
def test_the_epoch_is_read_as_utc(arguments: list[str], epoch: datetime) -> None:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    assert server_options(parser.parse_args(arguments))["epoch"] == epoch


def test_a_clock_skew_moves_the_epoch_from_now() -> None:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    epoch = server_options(parser.parse_args(["--clock-skew", "-3600"]))["epoch"]
    behind = datetime.now(timezone.utc) - epoch
    assert timedelta(minutes=59) < behind < timedelta(minutes=61)


@pytest.mark.parametrize(
    "arguments",
    [["--qualification-steps", "5-2"], ["--qualification-steps", "x"],
     ["--epoch", "yesterday"], ["--epoch", "2024-05-01", "--clock-skew", "5"],
     ["--gateway-body", "xml"], ["--retry-after-format", "minutes"]],
)  # fmt: skip
def test_nonsense_flags_are_refused(arguments: list[str]) -> None:
    parser = argparse.ArgumentParser()
    add_server_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(arguments)


async def test_the_standalone_server_takes_the_new_flags() -> None:
    process, url, token = await start_standalone(
        "--rate-limit", "0.001", "--retry-after-format", "none", "--epoch",
        "2024-05-01T12:00:00Z",
    )  # fmt: skip
    try:
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(url, headers=headers) as session:
            async with session.get("/v1/discovery_tasks") as first:
                assert first.status == 200
                assert first.headers["Date"].startswith("Wed, 01 May 2024 12:")
            # One request per 1,000 s: the second is refused whatever the machine's speed.
            async with session.get("/v1/discovery_tasks") as second:
                assert second.status == 429
                assert "Retry-After" not in second.headers
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0
