"""A simulator whose clock the test moves, and ways to run the CLI against it.

Nothing here races real time. The simulator's clock stands still until a test calls
``fake.advance`` or ``fake.finish_tasks``, so "the task was still running when the row
was printed" is a fact the test set up, not a hope about how fast a subprocess starts.
A subprocess's output is read by one thread per pipe (:class:`Lines`), so waiting for
one line never loses the lines read along with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import IO, Any, TypeVar

import pytest

from extruct_async.testing import FakeExtructServer

_T = TypeVar("_T")

#: Tasks whose query contains this fail halfway.
DOOMED = "doomed"
#: Tasks whose query contains this run out of candidates after 30.
DRY = "dry"
#: How long any wait for a process or an event may take before the test fails: generous,
#: because it only bounds a hang; nothing is decided by how quickly things happen.
DEADLINE = 60.0


class ManualClock:
    """A clock for the simulator that moves only when the test advances it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class ThreadedFake:
    """A FakeExtructServer on a manual clock, serving from its own loop in a daemon thread."""

    def __init__(self, **options: Any) -> None:
        self.clock = ManualClock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.server: FakeExtructServer = self._await(self._start(clock=self.clock, **options))

    @staticmethod
    async def _start(**options: Any) -> FakeExtructServer:
        server = FakeExtructServer(**options)
        await server.start()
        return server

    def _await(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout=DEADLINE)

    def call(self, function: Callable[..., _T], *args: Any) -> _T:
        """Run ``function(*args)`` on the server's loop (its state is not thread-safe)."""

        async def call() -> _T:
            return function(*args)

        result: _T = self._await(call())
        return result

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock ``seconds`` forward, between two of its requests."""

        def move() -> None:
            self.clock.now += seconds

        self.call(move)

    def finish_tasks(self) -> None:
        """Move the clock past the end of every task created so far."""

        def remaining() -> float:
            ends = [task.ends_at for task in self.server.tasks.values()]
            return max([*ends, 0.0]) - self.server.time()

        self.advance(max(self.call(remaining), 0.0) + 1.0)

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Return once ``condition()`` (run on the server's loop) holds; fail after DEADLINE."""
        deadline = time.monotonic() + DEADLINE
        while not self.call(condition):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.01)

    def wait_for_tasks(self, count: int) -> None:
        """Return once the simulator holds ``count`` tasks (a CLI's create has landed)."""
        self.wait_until(lambda: len(self.server.tasks) >= count, f"{count} task(s)")

    def create(self, *queries: str) -> list[str]:
        """Create a task per query straight on the simulator (no CLI); return their ids."""

        async def create() -> list[str]:
            async with self.server.client(rate_limit=None) as client:
                tasks = await client.discovery_tasks.create_many(
                    [{"query": query, "desired_num_results": 5} for query in queries])
            return [task.id for task in tasks]

        ids: list[str] = self._await(create())
        return ids

    def task_state(self, task_id: str) -> dict[str, Any]:
        return self.call(self.server.task_state, task_id)

    def visible_rows(self, task_id: str) -> list[dict[str, Any]]:
        return self.call(self.server.visible_rows, task_id)

    def endpoints(self) -> list[str | None]:
        """The endpoint of every request served so far, in order."""
        return self.call(lambda: [record.endpoint for record in self.server.requests])

    def queries(self, endpoint: str) -> list[dict[str, str]]:
        """The query parameters of every request to ``endpoint`` so far, in order."""
        return self.call(lambda: [dict(record.query) for record in self.server.requests
                                  if record.endpoint == endpoint])

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
        self._thread.join(timeout=DEADLINE)
        self._loop.close()


@pytest.fixture
def fake() -> Iterator[ThreadedFake]:
    """A simulator of the test's own, its clock stopped at 0 until the test moves it."""
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
    """Run ``extruct-async ARGS`` against the simulator, its clock as it stands; return the end."""

    def run(*args: str, env: dict[str, str] | None = None,
            cwd: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command(*args), env=fake.env() if env is None else env, cwd=cwd,
                              capture_output=True, text=True, timeout=DEADLINE, check=False)

    return run


@pytest.fixture
def search(fake: ThreadedFake) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``extruct-async search ARGS`` to its end: once its task exists, every task finishes."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        before = fake.call(lambda: len(fake.server.tasks))
        with popen(["search", *args], fake.env()) as process:
            fake.wait_for_tasks(before + 1)
            fake.finish_tasks()
            return process.finish()

    return run


class Lines:
    """Every line of a pipe, read by a thread of its own: the pipe's one and only reader."""

    def __init__(self, pipe: IO[str]) -> None:
        self._pipe = pipe
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._read: list[str] = []
        self._ended = False
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for line in self._pipe:
                self._queue.put(line)
        finally:
            self._queue.put(None)

    def next(self) -> str:
        """Return the next line; fail at the end of the output or after DEADLINE."""
        line = self._take(time.monotonic() + DEADLINE)
        if line is None:
            raise AssertionError(f"the output ended; it was: {''.join(self._read)!r}")
        return line

    def until(self, predicate: Callable[[str], bool]) -> str:
        """Return the first line from here on for which ``predicate`` holds."""
        while not predicate(line := self.next()):
            pass
        return line

    def text(self) -> str:
        """Return the whole output, the lines already taken included, once it has ended."""
        deadline = time.monotonic() + DEADLINE
        while self._take(deadline) is not None:
            pass
        return "".join(self._read)

    def _take(self, deadline: float) -> str | None:
        if self._ended:
            return None
        try:
            line = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            silent = f"no output for {DEADLINE} s after {''.join(self._read)!r}"
            raise AssertionError(silent) from None
        if line is None:
            self._ended = True
        else:
            self._read.append(line)
        return line

    def join(self) -> None:
        self._thread.join(timeout=DEADLINE)


class Process:
    """A running ``extruct-async``, its stdout and stderr each read by one :class:`Lines`."""

    def __init__(self, args: Sequence[str], env: dict[str, str] | None, **options: Any) -> None:
        self.popen = subprocess.Popen(command(*args), env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, **options)
        assert self.popen.stdout is not None
        assert self.popen.stderr is not None
        self.stdout = Lines(self.popen.stdout)
        self.stderr = Lines(self.popen.stderr)

    def finish(self) -> subprocess.CompletedProcess[str]:
        """Wait for the process to exit; return its status and whole output."""
        stdout, stderr = self.stdout.text(), self.stderr.text()
        returncode = self.popen.wait(timeout=DEADLINE)
        return subprocess.CompletedProcess(self.popen.args, returncode, stdout, stderr)


@contextlib.contextmanager
def popen(args: Sequence[str], env: dict[str, str] | None, **options: Any) -> Iterator[Process]:
    """Start ``extruct-async ARGS``; whatever the test does, leave no process or pipe behind."""
    process = Process(args, env, **options)
    try:
        yield process
    finally:
        if process.popen.poll() is None:
            process.popen.kill()
        process.popen.wait(timeout=DEADLINE)
        for lines in (process.stdout, process.stderr):
            lines.join()
        for pipe in (process.popen.stdout, process.popen.stderr):
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
