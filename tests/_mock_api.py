"""aioresponses, made to work on every aiohttp the SDK supports.

aioresponses 0.7.9 (the newest) builds ``ClientResponse`` objects itself and does not
pass the ``stream_writer`` argument that aiohttp 3.14 made required, so every mocked
request fails with ``TypeError``. The runtime dependency stays uncapped; instead,
mocked responses here use a ``ClientResponse`` subclass that supplies the missing
argument. On aiohttp < 3.14 it changes nothing.
"""

from __future__ import annotations

import inspect
from typing import Any

from aiohttp import ClientResponse
from aioresponses import aioresponses

_NEEDS_STREAM_WRITER = "stream_writer" in inspect.signature(ClientResponse.__init__).parameters


class _SentRequest:
    """What ``ClientResponse`` reads from the writer of a request already sent."""

    output_size = 0


class CompatClientResponse(ClientResponse):
    """A ``ClientResponse`` that aioresponses can build on aiohttp 3.14 too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if _NEEDS_STREAM_WRITER:
            kwargs.setdefault("stream_writer", _SentRequest())
        super().__init__(*args, **kwargs)


class MockAPI(aioresponses):
    """``aioresponses`` whose mocked responses work on aiohttp 3.13 and 3.14."""

    def add(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", CompatClientResponse)
        super().add(*args, **kwargs)
