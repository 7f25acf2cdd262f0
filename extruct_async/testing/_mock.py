"""A transport that answers from a function: test code that uses the SDK, no network.

Plugs into the same seam as the real HTTP backend (``AsyncExtruct(transport=...)``), so
nothing of aiohttp is patched and every layer above the transport (the gate, retries,
decoding, errors) runs for real.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .._transport import HTTPRequest, HTTPResponse

__all__ = ["Handler", "MockTransport", "json_response"]

#: Answers one request; may be a coroutine function, and may raise
#: ``APIConnectionError`` or ``APITimeoutError`` to play a network failure.
Handler = Callable[[HTTPRequest], "HTTPResponse | Awaitable[HTTPResponse]"]


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> HTTPResponse:
    """An answer whose body is ``data`` as JSON.

    >>> json_response({"detail": "Task not found"}, status=404).status
    404
    """
    return HTTPResponse(
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(data).encode(),
    )


class MockTransport:
    """A transport that answers every request with ``handler(request)``.

    >>> def handler(request):
    ...     return json_response({"detail": "Task not found"}, status=404)
    >>> client = AsyncExtruct(api_key="test", transport=MockTransport(handler))  # doctest: +SKIP

    Attributes:
        requests: every request sent, in order (headers, body and URL as sent).
        closed: whether the client closed it.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[HTTPRequest] = []
        self.closed: bool = False

    def __repr__(self) -> str:
        return f"MockTransport({len(self.requests)} requests)"

    async def send(self, request: HTTPRequest) -> HTTPResponse:
        """Record ``request`` and answer it with the handler."""
        self.requests.append(request)
        answer = self._handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, HTTPResponse):
            raise TypeError(f"the handler returned {type(answer).__name__}, not an HTTPResponse")
        return answer

    async def aclose(self) -> None:
        """Mark the transport closed."""
        self.closed = True
