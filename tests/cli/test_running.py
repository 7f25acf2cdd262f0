"""Running a command: Ctrl-C cancels it cleanly and names the tasks left running."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal

import pytest

from extruct_async._cli._running import Context, Running, run

from ._states import task


def context() -> Context:
    args = argparse.Namespace(quiet=False, debug=False, api_key=None, base_url=None)
    return Context(args, io.StringIO(), io.StringIO())


def test_report_names_unfinished_tasks_and_how_to_come_back() -> None:
    running = Running()
    done, busy = task(id="done-task", status="done"), task(id="busy-task")
    running.add(done, busy, busy)
    report = running.report()
    assert "done-task" not in report
    assert report.count("busy-task  vertical SaaS") == 1
    assert "extruct-async tasks wait busy-task" in report
    assert "extruct-async tasks results busy-task --follow" in report


def test_report_warns_of_a_create_in_flight() -> None:
    running = Running()
    with running.creating():
        assert "tasks list" in running.report()
    assert running.report() == "interrupted"


def test_a_finished_command_returns_its_status() -> None:
    async def command(ctx: Context) -> int:
        await asyncio.sleep(0)
        return 7

    assert run(command, context()) == 7


def test_sigint_cancels_the_command_which_unwinds_then_130() -> None:
    unwound = []

    async def command(ctx: Context) -> int:
        ctx.running.add(task(id="busy-task"))
        try:
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.sleep(10)
        finally:
            unwound.append(True)
        return 0

    ctx = context()
    assert run(command, ctx) == 130
    assert unwound == [True]
    assert "extruct-async tasks wait busy-task" in ctx.stderr.getvalue()  # type: ignore[attr-defined]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_other_cancellations_are_not_mistaken_for_ctrl_c() -> None:
    async def command(ctx: Context) -> int:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        run(command, context())
