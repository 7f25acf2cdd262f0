"""The transport seam: one HTTP exchange as plain values, and the aiohttp backend.

Everything above this module speaks in :class:`HTTPRequest` and :class:`HTTPResponse`;
the only code that imports aiohttp's client is :class:`AiohttpTransport`. Any object with
``async send(request) -> response`` and ``async aclose()`` can take its place
(``AsyncExtruct(transport=...)``), as :class:`extruct_async.testing.MockTransport` does
in tests.

A transport sends exactly once: retries, the rate limit and the decision whether a
request may be sent again all live above it, in the pipeline. What it must say when a
request fails is whether the request can have reached the service:
:class:`APIConnectionError` with ``sent=False`` only when it provably did not.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import urlsplit

import attrs

from ._errors import APIConnectionError, APIResponseError, APITimeoutError, ExtructError
from ._version import __version__

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "DEFAULT_MAX_RESPONSE_SIZE",
    "ERROR_BODY_LIMIT",
    "USER_AGENT",
    "AiohttpTransport",
    "HTTPRequest",
    "HTTPResponse",
    "Timeout",
    "Transport",
]

USER_AGENT = f"extruct-async/{__version__}"
#: The largest answer read by default (a 250-row results page is about 300 KiB).
DEFAULT_MAX_RESPONSE_SIZE = 32 * 1024 * 1024
#: How much of an error answer (a non-2xx status) is read; the rest is never downloaded.
ERROR_BODY_LIMIT = 64 * 1024
_CHUNK = 64 * 1024
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


class Headers(dict[str, str]):
    """Request headers whose ``repr`` never shows a credential.

    A plain ``dict`` to every library it is passed to; only its printed form (in a
    ``repr``, a log line, a traceback with locals) masks ``Authorization``.
    """

    def __repr__(self) -> str:
        shown = {
            key: ("<redacted>" if key.lower() in _SECRET_HEADERS else value)
            for key, value in self.items()
        }
        return repr(shown)

    __str__ = __repr__


def _headers(headers: Mapping[str, str]) -> Headers:
    return headers if type(headers) is Headers else Headers(headers)


def _lower_keys(headers: Mapping[str, str]) -> Mapping[str, str]:
    return {str(key).lower(): str(value) for key, value in headers.items()}


def _positive(_: object, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name}: must be > 0 or None, got {value!r}")


@attrs.frozen
class Timeout:
    """How long one request may take, in seconds; None means no limit of that kind.

    Args:
        total: the whole exchange, from asking for a connection to the last byte.
        connect: opening the connection (and waiting for a free one in the pool).
        read: the longest silence while reading the answer.
    """

    total: float | None = 30.0
    connect: float | None = None
    read: float | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("total", "connect", "read"):
            _positive(self, attrs.fields_dict(Timeout)[name], getattr(self, name))


@attrs.frozen
class HTTPRequest:
    """One HTTP request, ready to send.

    Attributes:
        method: ``GET`` or ``POST``.
        url: the absolute URL, query string included.
        headers: every header to send (``Authorization`` included; masked in reprs).
        body: the request body (compact JSON), or None.
        timeout: the limits for this one exchange.
        max_response_size: read at most this many bytes of a successful answer.
    """

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(factory=Headers, converter=_headers)
    body: bytes | None = None
    timeout: Timeout = Timeout()
    max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE


@attrs.frozen
class HTTPResponse:
    """One HTTP answer; ``headers`` keys are lower-case."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_lower_keys)
    body: bytes = b""


@runtime_checkable
class Transport(Protocol):
    """What the client needs from an HTTP backend.

    ``send`` makes exactly one attempt. On failure it raises
    :class:`APIConnectionError` (``sent=False`` only when the request provably never
    reached the service) or :class:`APITimeoutError`; anything else it raises is
    treated as a lost connection after sending. An answer larger than
    ``request.max_response_size`` raises :class:`APIResponseError`.
    """

    async def send(self, request: HTTPRequest) -> HTTPResponse:
        """Send ``request`` once and return the whole answer."""
        ...

    async def aclose(self) -> None:
        """Release connections; called once by the client that owns the transport."""
        ...


class AiohttpTransport:
    """The default transport: one :class:`aiohttp.ClientSession` for every request.

    Args:
        max_connections: connection pool size (the client's gate caps concurrency
            anyway, so this only needs to be as large).
        trust_env: take proxies (``HTTPS_PROXY``, ``NO_PROXY``) and ``.netrc`` from the
            environment, as httpx does.
        session: a caller's own session. Its connector (pool, TLS, proxy settings) is
            shared, never closed; requests go through a light session of the
            transport's own on top of it, so aiohttp's silent re-send of a dropped
            idempotent request stays off and every attempt passes the client's gate.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        trust_env: bool = True,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._max_connections = max_connections
        self._trust_env = trust_env if session is None else session.trust_env
        self._callers = session
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._proxies: dict[str, str | None] = {}
        self._timeouts: dict[Timeout, aiohttp.ClientTimeout] = {}

    def __repr__(self) -> str:
        return f"AiohttpTransport(max_connections={self._max_connections})"

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ExtructError("the transport is closed")
        if self._session is None:
            import aiohttp

            # Created on first use, inside the running loop, as aiohttp requires.
            # aiohttp's own trust_env costs two thread hops per request (a netrc and a
            # proxy lookup): the environment's proxy is looked up here, once per host.
            callers = self._callers
            if callers is None:
                session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=self._max_connections)
                )
            else:
                session = aiohttp.ClientSession(
                    connector=callers.connector,
                    connector_owner=False,
                    trace_configs=list(callers.trace_configs),
                )
            # aiohttp silently re-sends an idempotent request once when a reused
            # connection drops (3.11+). That hidden attempt would pass neither the gate
            # nor the retry policy: every attempt must be ours. aiohttp's own
            # TestClient turns it off the same way; a test proves it stays off.
            session._retry_connection = False
            self._session = session
        return self._session

    async def send(self, request: HTTPRequest) -> HTTPResponse:
        """Send ``request`` once and read its answer.

        Raises:
            APIConnectionError: the connection failed or the answer was cut short;
                ``sent`` is False when the connection could not even be opened.
            APITimeoutError: no full answer within ``request.timeout``.
            APIResponseError: the answer is larger than ``request.max_response_size``.
        """
        import aiohttp

        session = self._open()
        method, url = request.method, request.url
        timeout = request.timeout
        limits = self._timeouts.get(timeout)
        if limits is None:
            limits = aiohttp.ClientTimeout(
                total=timeout.total, connect=timeout.connect, sock_read=timeout.read
            )
            if len(self._timeouts) < 64:  # the budget cuts totals: don't keep every one
                self._timeouts[timeout] = limits
        proxy = await self._proxy(url) if self._trust_env else None
        failure: ExtructError
        try:
            async with session.request(
                method,
                url,
                headers=request.headers,
                data=request.body,
                timeout=limits,
                proxy=proxy,
                allow_redirects=False,
            ) as answer:
                if not 200 <= answer.status < 300:
                    # Only an excerpt of an error page is worth reading, however big it is.
                    excerpt, _ = await _read(answer, ERROR_BODY_LIMIT)
                    return HTTPResponse(answer.status, answer.headers, excerpt)
                body, complete = await _read(answer, request.max_response_size)
                if complete:
                    return HTTPResponse(answer.status, answer.headers, body)
                failure = APIResponseError(
                    f"{method} {url}: answer larger than {request.max_response_size} bytes;"
                    " not read",
                    method=method,
                    url=url,
                    retryable=False,
                )
        except aiohttp.ConnectionTimeoutError:
            failure = APITimeoutError(
                f"{method} {url}: timed out connecting", method=method, url=url, sent=False
            )
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            failure = APITimeoutError(
                f"{method} {url}: no answer within {_limits(timeout)}", method=method, url=url
            )
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror or type(exc.os_error).__name__
            failure = APIConnectionError(
                f"{method} {url}: cannot connect ({reason})", method=method, url=url, sent=False
            )
        except aiohttp.ClientResponseError as exc:
            # Its repr holds the request's headers: keep only the status and message.
            failure = APIConnectionError(
                f"{method} {url}: malformed answer ({type(exc).__name__}: {exc.message})",
                method=method,
                url=url,
            )
        except aiohttp.ClientError as exc:
            failure = APIConnectionError(
                f"{method} {url}: connection lost ({type(exc).__name__})", method=method, url=url
            )
        # Raised outside the except blocks, with no cause: aiohttp's exceptions and the
        # frames they carry hold the request headers, and so the API key.
        raise failure

    async def _proxy(self, url: str) -> str | None:
        """The proxy the environment names for ``url``'s host (``HTTPS_PROXY``, ``NO_PROXY``)."""
        end = url.find("/", url.find("//") + 2)
        origin = url if end < 0 else url[:end]  # scheme://authority, without parsing
        try:
            return self._proxies[origin]
        except KeyError:
            pass
        parts = urlsplit(url)
        proxy = await asyncio.to_thread(_environment_proxy, parts.scheme, parts.hostname or "")
        self._proxies[origin] = proxy
        return proxy

    async def aclose(self) -> None:
        """Close the session (a caller's connector stays open); idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _environment_proxy(scheme: str, host: str) -> str | None:
    proxies = urllib.request.getproxies()
    if not host or urllib.request.proxy_bypass(host):
        return None
    return proxies.get(scheme) or proxies.get("all")


async def _read(answer: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """Read at most ``limit`` bytes of the body; also say whether that was all of it."""
    length = answer.content_length
    if length is not None and length <= limit:  # aiohttp reads exactly that many
        return await answer.read(), True
    content = answer.content
    chunks: list[bytes] = []
    size = 0
    while chunk := await content.read(min(_CHUNK, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], False
    return b"".join(chunks), True


def _limits(timeout: Timeout) -> str:
    parts = [f"{name} {value:g}s" for name, value in attrs.asdict(timeout).items() if value]
    return ", ".join(parts) or "the timeout"
