"""Canned answers by method and URL for ``MockTransport``: request shapes and error mapping."""

from __future__ import annotations

import json
from collections import defaultdict, deque
from typing import Any
from urllib.parse import urlsplit

from extruct_async import HTTPRequest, HTTPResponse
from extruct_async.testing import json_response


class Routes:
    """A ``MockTransport`` handler: answers queued per ``(method, path?query)``.

    Each answer is used once, in order; the last one of a route stays if ``repeat``.
    A request with no answer queued fails the test.
    """

    def __init__(self) -> None:
        self._answers: defaultdict[tuple[str, str], deque[HTTPResponse]] = defaultdict(deque)
        self._repeat: set[tuple[str, str]] = set()

    def add(self, method: str, target: str, data: Any = None, *, status: int = 200,
            headers: dict[str, str] | None = None, body: bytes | None = None,
            repeat: bool = False) -> None:
        answer = (json_response(data, status, headers) if body is None
                  else HTTPResponse(status, headers or {}, body))
        self._answers[(method, target)].append(answer)
        if repeat:
            self._repeat.add((method, target))

    def __call__(self, request: HTTPRequest) -> HTTPResponse:
        parts = urlsplit(request.url)
        key = (request.method, parts.path + (f"?{parts.query}" if parts.query else ""))
        queue = self._answers.get(key)
        if not queue:
            raise AssertionError(f"unexpected request {key}")
        return queue[0] if key in self._repeat and len(queue) == 1 else queue.popleft()


def body_of(request: HTTPRequest) -> Any:
    assert request.body is not None
    return json.loads(request.body)
