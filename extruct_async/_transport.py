"""The HTTP backend: the only module that touches aiohttp's client.

It sends one request and hands back ``(status, headers, body)`` as a
:class:`~extruct_async._protocol.Response`. Every aiohttp and asyncio failure is
translated here into :class:`APIConnectionError` or :class:`APITimeoutError`
(``raise ... from exc``), recording whether the request can have reached the
service: that decides whether a create may be re-sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from ._errors import APIConnectionError, APITimeoutError
from ._protocol import Response

__all__ = ["AiohttpTransport"]

_USER_AGENT = "extruct-async (+https://pypi.org/project/extruct-async/)"


class AiohttpTransport:
    """Send requests over one :class:`aiohttp.ClientSession`.

    Args:
        timeout: seconds a whole request (connect, send, read) may take.
        max_connections: connection pool size; the gate above caps concurrency
            anyway, so this only needs to be as large.
        session: a caller's own session; it is used as is and never closed here.
    """

    def __init__(
        self,
        *,
        timeout: float,
        max_connections: int,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_connections = max_connections
        self._session = session
        self._owns_session = session is None
        self._closed = False

    def _open_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the client is closed")
        if self._session is None:
            # Created on first use, inside the running loop, as aiohttp requires.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                headers={"User-Agent": _USER_AGENT},
                json_serialize=json.dumps,
            )
            # aiohttp silently re-sends an idempotent request once when a connection
            # drops; that hidden attempt would bypass the gate's rate limit and the
            # retry policy. Every attempt must be ours (aiohttp's TestClient does this).
            self._session._retry_connection = False
        return self._session

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str],
        body: Any,
    ) -> Response:
        """Send one request and read the whole answer.

        Raises:
            APIConnectionError: the connection failed or the answer was cut short;
                ``sent`` is False when the connection could not even be opened.
            APITimeoutError: no full answer within the timeout.
        """
        session = self._open_session()
        try:
            async with session.request(
                method,
                url,
                headers=headers,
                params=params or None,
                json=body,
                timeout=self._timeout,
                allow_redirects=False,
            ) as answer:
                payload = await answer.read()
                return Response(answer.status, answer.headers, payload)
        except aiohttp.ConnectionTimeoutError as exc:
            raise APITimeoutError(
                f"{method} {url}: timed out connecting", method=method, url=url, sent=False
            ) from exc
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise APITimeoutError(
                f"{method} {url}: no answer within {self._timeout.total:g}s",
                method=method,
                url=url,
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise APIConnectionError(
                f"{method} {url}: cannot connect ({exc.os_error.strerror or exc.os_error})",
                method=method,
                url=url,
                sent=False,
            ) from exc
        except aiohttp.ClientError as exc:
            raise APIConnectionError(
                f"{method} {url}: connection lost ({type(exc).__name__}: {exc})",
                method=method,
                url=url,
            ) from exc

    async def aclose(self) -> None:
        """Close the session if this transport opened it; idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()
