"""What the command line says about its requests on stderr, the API key never among it.

- A retry is one line (``retrying in 2.1 s (retry 1 of 4): cannot connect (Connection
  refused)``), so that a flaky network reads as such instead of as seconds of silence.
  The SDK logs each retry at INFO on the ``extruct_async`` logger with the wait, the
  retry's number and the error as ``extra`` fields; :func:`retry_lines` formats them.
- ``--debug`` shows every HTTP exchange, as ``gh --debug`` or ``httpie -v`` do: method,
  URL, request headers and body, then status, time, response headers and the start of
  the body. :class:`Exchanges` wraps the transport to see them, at the SDK's public seam.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from http import HTTPStatus

from .. import APIError, APIStatusError, HTTPRequest, HTTPResponse, Transport

__all__ = ["Exchanges", "retry_lines"]

#: Prints one line (or several, joined by newlines) on stderr.
Say = Callable[[str], None]

# Headers that carry credentials, whatever their case: their value is never shown.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
#: How much of an answer's body --debug shows; a results page can be 300 KiB.
BODY_EXCERPT = 2000


class _RetryLines(logging.Handler):
    """Formats the SDK's retry records as ``retrying in W s (retry N): reason``."""

    def __init__(self, say: Say, secret: str | None) -> None:
        super().__init__(logging.INFO)
        self._say = say
        self._secret = secret

    def emit(self, record: logging.LogRecord) -> None:
        wait = getattr(record, "extruct_wait", None)
        if wait is None:  # not a retry; --debug shows the exchanges themselves instead
            return
        try:
            retry = getattr(record, "extruct_retry", None)
            most = getattr(record, "extruct_max_retries", None)
            number = "" if retry is None else f" (retry {retry}" + (
                f" of {most})" if most is not None else ")")
            why = reason(getattr(record, "extruct_error", None))
            line = f"retrying in {wait:.1f} s{number}: {why}"
            self._say(_masked(line, self._secret))
        except Exception:  # a broken stderr must not break the request being retried
            self.handleError(record)


def reason(error: object) -> str:
    """Return why a request failed, in a few words: ``503 Service Unavailable``.

    The method and URL that open the SDK's messages are left out: the retry is of the
    request the user is waiting for, and its URL would hide the reason at the line's end.
    """
    if isinstance(error, APIStatusError):
        return _status(error.status)
    text = " ".join(str(error).split())
    if isinstance(error, APIError):
        text = text.removeprefix(f"{error.method} {error.url}: ")
    return text or type(error).__name__


@contextlib.contextmanager
def retry_lines(say: Say, *, secret: str | None) -> Iterator[None]:
    """While the block runs, tell ``say`` about every retry the SDK makes.

    The ``extruct_async`` logger is set to INFO if it is quieter (and set back after):
    the SDK creates its retry records only when someone listens.
    """
    logger = logging.getLogger("extruct_async")
    handler = _RetryLines(say, secret)
    level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class Exchanges:
    """A transport that shows each exchange of the one it wraps (``--debug``).

    Args:
        transport: the transport that does the sending.
        say: prints the lines of one exchange.
        secret: the API key, masked should it appear anywhere (it is only ever sent in
            the ``Authorization`` header, which is shown masked anyway).
        clock: seconds, for the time an exchange took.
    """

    def __init__(self, transport: Transport, say: Say, *, secret: str | None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self._transport = transport
        self._say = say
        self._secret = secret
        self._clock = clock
        self._count = 0

    def __repr__(self) -> str:
        return f"Exchanges({self._transport!r})"

    async def send(self, request: HTTPRequest) -> HTTPResponse:
        """Show ``request``, send it through the wrapped transport, show the answer.

        Each block is printed whole; its first line carries the exchange's number, so
        that answers can be told apart when requests overlap.
        """
        self._count += 1
        number = self._count
        lines = [f"> {request.method} {request.url} (#{number})",
                 *_headers(">", request.headers)]
        if request.body is not None:
            lines += [">", *_body(">", request.body, limit=None)]
        self._show(lines)
        start = self._clock()
        try:
            response = await self._transport.send(request)
        except asyncio.CancelledError:
            self._show([f"< cancelled after {self._clock() - start:.3f} s (#{number})", ""])
            raise
        except Exception as error:
            took = self._clock() - start
            self._show([f"< no answer after {took:.3f} s (#{number}): {reason(error)}", ""])
            raise
        took = self._clock() - start
        lines = [f"< {_status(response.status)} in {took:.3f} s (#{number})",
                 *_headers("<", response.headers)]
        if response.body:
            lines += ["<", *_body("<", response.body, limit=BODY_EXCERPT)]
        self._show([*lines, ""])
        return response

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()

    def _show(self, lines: list[str]) -> None:
        self._say(_masked("\n".join(lines), self._secret))


def _headers(mark: str, headers: Mapping[str, str]) -> list[str]:
    return [f"{mark} {name}: {_hidden(value) if name.lower() in _SECRET_HEADERS else value}"
            for name, value in headers.items()]


def _hidden(value: str) -> str:
    """A credential's scheme (``Bearer``), the credential itself as ``***``."""
    scheme, _, credential = value.partition(" ")
    return f"{scheme} ***" if credential and scheme.isalpha() else "***"


def _body(mark: str, body: bytes, *, limit: int | None) -> list[str]:
    text = body.decode("utf-8", errors="replace")
    cut = ""
    if limit is not None and len(text) > limit:
        text, cut = text[:limit], f"… ({len(body):,} bytes in all)"
    lines = (text + cut).splitlines() or [""]
    return [f"{mark} {line}" for line in lines]


def _status(status: int) -> str:
    """``503 Service Unavailable``; a status with no standard phrase alone."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _masked(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text
