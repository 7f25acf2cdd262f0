"""A simulator on a real socket in a background thread, and a way to run the CLI against it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest

from extruct_async.testing import FakeExtructServer

_T = TypeVar("_T")

#: Tasks whose query contains this fail halfway.
DOOMED = "doomed"
#: Tasks whose query contains this run out of candidates after 30.
DRY = "dry"


class ThreadedFake:
    """A FakeExtructServer serving from its own event loop in a daemon thread."""

    def __init__(self, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.server: FakeExtructServer = self._await(self._start(options))

    @staticmethod
    async def _start(options: dict[str, Any]) -> FakeExtructServer:
        server = FakeExtructServer(**options)
        await server.start()
        return server

    def _await(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=10)

    def call(self, function: Callable[..., _T], *args: Any) -> _T:
        """Run ``function(*args)`` on the server's loop (its state is not thread-safe)."""

        async def call() -> _T:
            return function(*args)

        result: _T = self._await(call())
        return result

    def task_state(self, task_id: str) -> dict[str, Any]:
        return self.call(self.server.task_state, task_id)

    def visible_rows(self, task_id: str) -> list[dict[str, Any]]:
        return self.call(self.server.visible_rows, task_id)

    def task_ids(self, query: str) -> list[str]:
        """Ids of the tasks created with ``query``, oldest first."""
        return self.call(lambda: [t.id for t in self.server.tasks.values() if t.query == query])

    def task_id(self, query: str) -> str:
        (task_id,) = self.task_ids(query)
        return task_id

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EXTRUCT_")}
        # Show ResourceWarnings (an unclosed session or socket), which Python hides by default.
        env.update(EXTRUCT_BASE_URL=self.server.base_url, EXTRUCT_API_TOKEN=self.server.api_key,
                   PYTHONWARNINGS="default")
        return env

    def close(self) -> None:
        self._await(self.server.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@pytest.fixture(scope="session")
def fake() -> Iterator[ThreadedFake]:
    """One fast simulator for the whole CLI test session (a 25-result task takes ~0.5 s)."""
    threaded = ThreadedFake(
        seed=11,
        seconds_per_result=0.01,
        fail_queries=[DOOMED],
        candidate_pool=lambda query: 30 if DRY in query else 5000,
    )
    yield threaded
    threaded.close()


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "extruct_async", *args]


@pytest.fixture
def cli(fake: ThreadedFake) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``extruct-async ARGS`` against the simulator; return the finished process."""

    def run(*args: str, env: dict[str, str] | None = None, cwd: str | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command(*args), env=fake.env() if env is None else env, cwd=cwd,
                              capture_output=True, text=True, timeout=timeout, check=False)

    return run


@contextlib.contextmanager
def popen(args: Sequence[str], env: dict[str, str] | None,
          **options: Any) -> Iterator[subprocess.Popen[str]]:
    """Start ``extruct-async ARGS``; whatever the test does, leave no process or pipe behind."""
    process = subprocess.Popen(command(*args), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, **options)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


def assert_clean_error(process: subprocess.CompletedProcess[str], code: int) -> str:
    """Assert exit status ``code`` and one ``error:`` line, last on stderr; return it."""
    assert process.returncode == code, process.stderr
    lines = process.stderr.splitlines()
    assert [line for line in lines if "error" in line.lower()] == lines[-1:], process.stderr
    assert lines[-1].startswith("error: ")
    assert_no_noise(process.stderr)
    return lines[-1]


def assert_no_noise(stderr: str) -> None:
    """Assert no traceback, warning or asyncio complaint reached stderr."""
    for noise in ("Traceback", "Warning", "Task was destroyed", "Exception ignored", "Unclosed"):
        assert noise not in stderr, stderr
