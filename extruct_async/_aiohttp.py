"""The default transport: aiohttp, one connection pool, exactly one attempt per send.

The only module that imports aiohttp's client (on the first request, not at import:
``import extruct_async`` stays cheap). It turns an :class:`HTTPRequest` into one aiohttp
request and the answer into an :class:`HTTPResponse`, caps how much of an answer is
read, and translates every aiohttp failure into :class:`APIConnectionError` (``sent``
False only when the connection provably never opened) or :class:`APITimeoutError`,
raised without aiohttp's exception as its cause: that one holds the request headers,
and so the API key. A client's unchanging :class:`Headers` ride light sessions as their
defaults, all on one pool; aiohttp's hidden re-send of a dropped request stays off.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from ._errors import APIConnectionError, APIResponseError, APITimeoutError, ExtructError
from ._transport import Headers, HTTPRequest, HTTPResponse, LowerCaseHeaders, Timeout

if TYPE_CHECKING:
    import aiohttp

__all__ = ["ERROR_BODY_LIMIT", "AiohttpTransport"]

#: How much of an error answer (a non-2xx status) is read; the rest is never downloaded.
ERROR_BODY_LIMIT = 64 * 1024
_CHUNK = 64 * 1024


class AiohttpTransport:
    """The default transport: aiohttp, with one connection pool for every request.

    Args:
        max_connections: connection pool size (the client's gate caps concurrency
            anyway, so this only needs to be as large).
        trust_env: take proxies (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``) from the
            environment, read once per host (once in all when it names no proxy).
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
        self._by_headers: dict[int, tuple[Headers, aiohttp.ClientSession]] = {}
        self._seen_once: dict[int, Headers] = {}
        self._closed = False
        self._proxies: dict[str, str | None] = {}
        self._timeouts: dict[Timeout, aiohttp.ClientTimeout] = {}
        self._last_timeout: Timeout | None = None
        self._last_limits: aiohttp.ClientTimeout | None = None

    def __repr__(self) -> str:
        return f"AiohttpTransport(max_connections={self._max_connections})"

    def _open(self) -> aiohttp.ClientSession:
        """The shared session (made on first use, inside the running loop, as aiohttp asks)."""
        if self._closed:
            raise ExtructError("the transport is closed")
        if self._session is None:
            import aiohttp

            # aiohttp's own trust_env costs two thread hops per request (a netrc and a
            # proxy lookup): the environment's proxy is looked up here, once per host
            # (once in all when the environment names no proxy).
            if self._callers is None:
                connector = aiohttp.TCPConnector(limit=self._max_connections)
                self._session = _no_hidden_resend(aiohttp.ClientSession(connector=connector))
            else:
                self._session = self._light(None)
        return self._session

    def _light(self, headers: Headers | None) -> aiohttp.ClientSession:
        """A session on the shared connector (or the caller's) that sends ``headers``."""
        import aiohttp

        callers = self._callers
        source = callers if callers is not None else self._session
        assert source is not None  # the shared session is made first
        return _no_hidden_resend(aiohttp.ClientSession(
            connector=source.connector,
            connector_owner=False,
            headers=headers,
            trace_configs=list(callers.trace_configs) if callers is not None else None,
        ))

    def _session_for(
        self, headers: Mapping[str, str]
    ) -> tuple[aiohttp.ClientSession, Mapping[str, str] | None]:
        """The session to send ``headers`` with, and the headers left to pass per request.

        aiohttp merges a request's own headers into its session's at every request, a
        cost as large as the rest of this transport's. A client sends one or two
        unchanging :class:`Headers` objects again and again: each, the second time it
        is seen, gets a light session (same connector, same pool) that sends them as
        its defaults. Headers made for one request only never get one.
        """
        session = self._open()
        if type(headers) is not Headers or len(self._by_headers) >= _HEADER_SESSIONS:
            return session, headers
        key = id(headers)
        if self._seen_once.pop(key, None) is not headers:
            if len(self._seen_once) >= _HEADER_SESSIONS:  # forget the oldest
                del self._seen_once[next(iter(self._seen_once))]
            self._seen_once[key] = headers  # kept: its id stays its own
            return session, headers
        light = self._light(headers)
        self._by_headers[key] = (headers, light)
        return light, None

    async def send(self, request: HTTPRequest) -> HTTPResponse:
        """Send ``request`` once and read its answer.

        Raises:
            APIConnectionError: the connection failed or the answer was cut short;
                ``sent`` is False when the connection could not even be opened.
            APITimeoutError: no full answer within ``request.timeout``.
            APIResponseError: the answer is larger than ``request.max_response_size``.
        """
        import aiohttp

        headers: Mapping[str, str] | None = request.headers
        known = self._by_headers.get(id(headers))
        if known is not None and known[0] is headers:
            session, headers = known[1], None
        else:
            session, headers = self._session_for(request.headers)
        method, url = request.method, request.url
        timeout = request.timeout
        # A client sends one Timeout object, mostly: no hashing it per request.
        limits = self._last_limits if timeout is self._last_timeout else self._limits(timeout)
        if self._trust_env:
            proxy = self._proxies.get(_origin(url), _UNKNOWN)
            if proxy is _UNKNOWN:
                proxy = await self._proxy(url)
        else:
            proxy = None
        failure: ExtructError
        try:
            async with session.request(
                method,
                url,
                headers=headers,
                data=request.body,
                timeout=limits,
                proxy=proxy,
                allow_redirects=False,
            ) as answer:
                status = answer.status
                if not 200 <= status < 300:
                    # Only an excerpt of an error page is worth reading, however big it is.
                    excerpt, _ = await _read(answer, ERROR_BODY_LIMIT)
                    return HTTPResponse(status, LowerCaseHeaders(answer.headers), excerpt)
                length = answer.content_length
                if length is not None and length <= request.max_response_size:
                    body, complete = await answer.read(), True  # aiohttp reads that many
                else:
                    body, complete = await _read(answer, request.max_response_size)
                if complete:
                    return HTTPResponse(status, LowerCaseHeaders(answer.headers), body)
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

    def _limits(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        import aiohttp

        limits = self._timeouts.get(timeout)
        if limits is None:
            limits = aiohttp.ClientTimeout(
                total=timeout.total, connect=timeout.connect, sock_read=timeout.read
            )
            if len(self._timeouts) < 64:  # the budget cuts totals: don't keep every one
                self._timeouts[timeout] = limits
        self._last_timeout, self._last_limits = timeout, limits
        return limits

    async def _proxy(self, url: str) -> str | None:
        """The proxy the environment names for ``url``'s host (``HTTPS_PROXY``, ``NO_PROXY``)."""
        parts = urlsplit(url)
        proxy, anywhere = await asyncio.to_thread(
            _environment_proxy, parts.scheme, parts.hostname or ""
        )
        self._proxies[_origin(url)] = proxy
        if not anywhere:  # the environment names no proxy at all: stop asking
            self._trust_env = False
        return proxy

    async def aclose(self) -> None:
        """Close the session (a caller's connector stays open); idempotent."""
        self._closed = True
        sessions = [session for _, session in self._by_headers.values()]
        self._by_headers.clear()
        self._seen_once.clear()
        if self._session is not None:
            sessions.append(self._session)  # last: it may own the connector
            self._session = None
        for session in sessions:
            await session.close()


#: Header sets a transport gives a session of their own (a client uses two).
_HEADER_SESSIONS = 8


def _no_hidden_resend(session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    # aiohttp silently re-sends an idempotent request once when a reused connection
    # drops (3.11+). That hidden attempt would pass neither the gate nor the retry
    # policy: every attempt must be ours. aiohttp's own TestClient turns it off the same
    # way; a test proves it stays off.
    session._retry_connection = False
    return session


#: Not looked up yet (None is an answer: no proxy).
_UNKNOWN: Any = object()


def _origin(url: str) -> str:
    """``scheme://authority`` of an absolute URL, without parsing it."""
    end = url.find("/", url.find("//") + 2)
    return url if end < 0 else url[:end]


def _environment_proxy(scheme: str, host: str) -> tuple[str | None, bool]:
    """The proxy for ``host``, and whether the environment names any proxy at all."""
    proxies = urllib.request.getproxies()
    if not host or urllib.request.proxy_bypass(host):
        return None, bool(proxies)
    return proxies.get(scheme) or proxies.get("all"), bool(proxies)


async def _read(answer: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """Read at most ``limit`` bytes of the body, in chunks; also say whether that was all.

    For a body of unknown length or one said to be too long (``send`` reads a body of
    known, allowed length in one call).
    """
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
