"""The transport seam: one HTTP exchange as plain values, and what a backend must do.

Everything above the transport speaks in :class:`HTTPRequest` and :class:`HTTPResponse`
(and the client's unchanging :class:`Headers`); a backend is any object with
``async send(request) -> response`` and ``async aclose()`` (:class:`Transport`). The
default one, :class:`~extruct_async._aiohttp.AiohttpTransport`, lives in ``_aiohttp``,
the only module that imports aiohttp's client; this one imports no HTTP library, so a
layer that only builds or reads these values never loads one.
:class:`extruct_async.testing.MockTransport` plugs into the same seam in tests.

A transport sends exactly once: retries, the rate limit and the decision whether a
request may be sent again all live above it, in the pipeline. What it must say when a
request fails is whether the request can have reached the service:
:class:`APIConnectionError` with ``sent=False`` only when it provably did not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import NoReturn, Protocol, runtime_checkable

import attrs

from ._version import __version__

__all__ = [
    "DEFAULT_MAX_RESPONSE_SIZE",
    "USER_AGENT",
    "HTTPRequest",
    "HTTPResponse",
    "Headers",
    "LowerCaseHeaders",
    "Timeout",
    "Transport",
]

USER_AGENT = f"extruct-async/{__version__}"
#: The largest answer read by default (a 250-row results page is about 300 KiB).
DEFAULT_MAX_RESPONSE_SIZE = 32 * 1024 * 1024
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


class Headers(dict[str, str]):
    """Request headers that never change once made, and never print a credential.

    A plain ``dict`` to every library it is passed to; its printed form (in a
    ``repr``, a log line, a traceback with locals) masks ``Authorization``. Read-only,
    so that a transport may take one object for one unchanging set of headers.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        shown = {
            key: ("<redacted>" if key.lower() in _SECRET_HEADERS else value)
            for key, value in self.items()
        }
        return repr(shown)

    __str__ = __repr__

    def __reduce__(self) -> tuple[type[Headers], tuple[dict[str, str]]]:
        return (Headers, (dict(self),))

    # Every way to change a dict refuses (a method each: type checkers read them).
    def __setitem__(self, *args: object, **kwargs: object) -> NoReturn:
        _read_only()

    def __delitem__(self, *args: object, **kwargs: object) -> NoReturn:
        _read_only()

    def __ior__(self, *args: object, **kwargs: object) -> NoReturn:  # type: ignore[misc]
        _read_only()

    def clear(self, *args: object, **kwargs: object) -> NoReturn:
        """Refused: headers are read-only."""
        _read_only()

    def pop(self, *args: object, **kwargs: object) -> NoReturn:
        """Refused: headers are read-only."""
        _read_only()

    def popitem(self, *args: object, **kwargs: object) -> NoReturn:
        """Refused: headers are read-only."""
        _read_only()

    def setdefault(self, *args: object, **kwargs: object) -> NoReturn:
        """Refused: headers are read-only."""
        _read_only()

    def update(self, *args: object, **kwargs: object) -> NoReturn:
        """Refused: headers are read-only."""
        _read_only()


def _read_only() -> NoReturn:
    raise TypeError("request headers are read-only: make a new mapping")


def _headers(headers: Mapping[str, str]) -> Headers:
    return headers if type(headers) is Headers else Headers(headers)


def _lower_keys(headers: Mapping[str, str]) -> Mapping[str, str]:
    if type(headers) is LowerCaseHeaders:
        return headers
    return {str(key).lower(): str(value) for key, value in headers.items()}


class LowerCaseHeaders(Mapping[str, str]):
    """A backend's case-insensitive answer headers, with lower-case keys, not copied.

    An :class:`HTTPResponse` made with one keeps it as it is. aiohttp's headers look up
    case-insensitively already; only their keys keep the case they came in. A copy with
    lowered keys costs more than the rest of reading a status answer, so this view
    lowers keys only when somebody iterates. Look up by lower-case name (what a copy
    keeps); a header sent twice reads as its first value.

    Args:
        headers: a mapping whose lookups ignore case (aiohttp's ``CIMultiDictProxy``).
    """

    # ``get`` is the headers' own (C) method, not a Python one around it: the client
    # reads two headers of every answer.
    __slots__ = ("_headers", "get")

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = headers
        self.get = headers.get  # type: ignore[method-assign]

    def __getitem__(self, key: str) -> str:
        return self._headers[key]

    def __reduce__(self) -> tuple[type[LowerCaseHeaders], tuple[dict[str, str]]]:
        # A copy (pickle, deepcopy) is a view of a plain dict: aiohttp's own is neither.
        return (LowerCaseHeaders, (dict(self.items()),))

    def __contains__(self, key: object) -> bool:
        return key in self._headers

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(key.lower() for key in self._headers))

    def __len__(self) -> int:
        return len(dict.fromkeys(key.lower() for key in self._headers))

    def __repr__(self) -> str:
        return repr(dict(self.items()))


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
    """What the client needs from an HTTP backend (the default: ``AiohttpTransport``).

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
