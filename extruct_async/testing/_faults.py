"""Injected transport faults: which request gets which, and how each kind is served.

``FakeExtructServer.inject`` documents the kinds and what each one commits.

The 5xx kinds come from a gateway in front of the service, so their bodies are what such a
gateway writes (``GATEWAY_BODIES``): an nginx-style HTML error page by default, or plain text
(Starlette's own unhandled-exception 500 is ``text/plain``), or the FastAPI-shaped JSON
``{"detail": ...}`` that older versions of the simulator sent. The 429 kinds answer JSON, as the
service's own rate limiter does.
"""

from __future__ import annotations

from collections.abc import Collection

import attrs
from aiohttp import web

from ._seeding import rng

__all__ = [
    "COMMITTING_FAULTS",
    "ENDPOINTS",
    "FAULT_KINDS",
    "GATEWAY_BODIES",
    "RETRY_AFTER_FAULTS",
    "FaultPlan",
    "drop_connection",
    "invalid_json",
    "status_fault",
    "truncate",
]

#: Every fault kind, in the order of the table above.
FAULT_KINDS = (
    "500",
    "502",
    "503",
    "503-retry-after",
    "504",
    "429",
    "429-no-retry-after",
    "drop",
    "truncate",
    "invalid_json",
    "slow",
    "commit_then_drop",
)
#: The kinds served after the request took effect.
COMMITTING_FAULTS = frozenset({"truncate", "invalid_json", "slow", "commit_then_drop"})
#: Endpoint names, for ``FakeExtructServer.inject`` and the request log.
ENDPOINTS = ("create", "list", "get", "results", "resume")

#: Bodies a gateway can give its 5xx answers: ``html``, ``text`` or ``json``.
GATEWAY_BODIES = ("html", "text", "json")

_CREATE_ONLY = frozenset({"commit_then_drop"})
_STATUS_ANSWERS = {
    "500": (500, "Internal Server Error"),
    "502": (502, "Bad Gateway"),
    "503": (503, "Service Unavailable"),
    "503-retry-after": (503, "Service Unavailable"),
    "504": (504, "Gateway Timeout"),
    "429": (429, "Too Many Requests"),
    "429-no-retry-after": (429, "Too Many Requests"),
}
#: The kinds whose answer carries ``Retry-After`` (unless the server is set to send none).
RETRY_AFTER_FAULTS = frozenset({"429", "503-retry-after"})
# nginx's own error page, byte for byte but for the status line; Cloudflare's are longer HTML.
_NGINX_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@attrs.define
class _Scripted:
    kind: str
    endpoint: str | None
    remaining: int


class FaultPlan:
    """Decides the fault, if any, of each request: scripted ones first, then seeded draws."""

    def __init__(self, *, seed: int, rate: float, kinds: Collection[str]) -> None:
        _check_kinds(kinds)
        if not 0 <= rate <= 1:
            raise ValueError(f"fault_rate must be between 0 and 1, not {rate!r}")
        self._random = rng(seed, "faults")
        self._rate = rate
        self._kinds = tuple(kind for kind in FAULT_KINDS if kind in kinds)
        self._script: list[_Scripted] = []

    def inject(self, kind: str, *, endpoint: str | None, times: int) -> None:
        """Queue ``kind`` for the next ``times`` requests to ``endpoint`` (None: any)."""
        _check_kinds((kind,))
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {ENDPOINTS}")
        if kind in _CREATE_ONLY and endpoint not in (None, "create"):
            raise ValueError(f"{kind!r} only applies to the create endpoint")
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times!r}")
        self._script.append(_Scripted(kind, endpoint, times))

    def draw(self, endpoint: str) -> str | None:
        """Return the fault for the next request to ``endpoint``, or None."""
        for scripted in self._script:
            if _applies(scripted.kind, endpoint) and scripted.endpoint in (None, endpoint):
                scripted.remaining -= 1
                if not scripted.remaining:
                    self._script.remove(scripted)
                return scripted.kind
        if self._rate and self._random.random() < self._rate:
            kinds = [kind for kind in self._kinds if _applies(kind, endpoint)]
            return self._random.choice(kinds) if kinds else None
        return None


def status_fault(kind: str, *, body: str, retry_after: str | None) -> web.Response:
    """Return the answer of a status fault (``500`` ... ``429-no-retry-after``).

    Args:
        kind: The fault kind.
        body: The body of a 5xx answer, one of ``GATEWAY_BODIES``; 429s are always JSON.
        retry_after: The ``Retry-After`` value for the kinds in ``RETRY_AFTER_FAULTS``, or
            None to send none.
    """
    status, reason = _STATUS_ANSWERS[kind]
    headers = {}
    if retry_after is not None and kind in RETRY_AFTER_FAULTS:
        headers["Retry-After"] = retry_after
    if status == 429 or body == "json":
        return web.json_response({"detail": reason}, status=status, headers=headers)
    if body == "html":
        page = _NGINX_PAGE.format(status=status, reason=reason)
        return web.Response(text=page, status=status, headers=headers, content_type="text/html")
    return web.Response(text=reason, status=status, headers=headers, content_type="text/plain")


def drop_connection(request: web.BaseRequest) -> web.Response:
    """Close the connection; return a response that aiohttp then fails, quietly, to send."""
    _close(request)
    return web.Response(status=204)


async def truncate(request: web.BaseRequest, answer: web.Response) -> web.StreamResponse:
    """Send ``answer``'s headers and half its body, then close the connection."""
    body = _body(answer)
    response = web.StreamResponse(status=answer.status, headers=answer.headers)
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    _close(request)
    # aiohttp's attempt to finish this response meets a closed connection and gives up quietly.
    return response


def invalid_json(answer: web.Response) -> web.Response:
    """Return ``answer`` with only the first half of its body: complete, but not JSON."""
    body = _body(answer)
    return web.Response(
        status=answer.status, body=body[: len(body) // 2], content_type="application/json"
    )


def _body(answer: web.Response) -> bytes:
    body = answer.body
    if not isinstance(body, bytes):
        raise TypeError("fault injection needs an answer with a bytes body")
    return body


def _close(request: web.BaseRequest) -> None:
    if request.transport is not None:
        request.transport.close()


def _applies(kind: str, endpoint: str) -> bool:
    return kind not in _CREATE_ONLY or endpoint == "create"


def _check_kinds(kinds: Collection[str]) -> None:
    unknown = sorted(set(kinds) - set(FAULT_KINDS))
    if unknown:
        raise ValueError(f"unknown fault kind(s) {unknown}; expected some of {FAULT_KINDS}")
