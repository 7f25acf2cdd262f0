"""``python -m extruct_async.testing`` as a real process (real time, a second or two)."""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys

import aiohttp
import pytest

from extruct_async.testing import (
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
         "--slow-seconds", "9"]
    )  # fmt: skip
    assert server_options(args) == {
        "host": "0.0.0.0",
        "port": 0,
        "api_key": "k",
        "seed": 9,
        "seconds_per_result": 2.0,
        "candidate_pool": 30,
        "fail_queries": ("a", "b"),
        "credits": 7,
        "rate_limit": 4.0,
        "latency": 0.5,
        "fault_rate": 0.1,
        "fault_kinds": ("500", "drop"),
        "slow_seconds": 9.0,
    }
    defaults = server_options(parser.parse_args([]))
    assert defaults["port"] == 8080
    assert defaults["fault_kinds"] == FAULT_KINDS
    assert defaults["credits"] is None
    FakeExtructServer(**defaults)
