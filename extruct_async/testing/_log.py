"""The request log the simulator keeps for tests."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

__all__ = ["RequestRecord"]


@attrs.frozen
class RequestRecord:
    """One request the simulator received, and what became of it.

    Attributes:
        time: Server clock time of its arrival (see ``FakeExtructServer.time``).
        endpoint: ``create``, ``list``, ``get``, ``results``, ``resume``, or None for other paths.
        method: HTTP method.
        path: URL path.
        query: Query parameters.
        status: HTTP status answered, or None when no answer was sent (``drop``,
            ``commit_then_drop``).
        fault: The injected fault kind, or None.
        api_key_ok: Whether the request carried the right bearer token.
    """

    time: float
    endpoint: str | None
    method: str
    path: str
    query: Mapping[str, str]
    status: int | None
    fault: str | None
    api_key_ok: bool
