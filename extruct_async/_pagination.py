"""The one offset/limit walker, for task lists and result pages alike.

The service pages with ``offset`` and ``limit`` and publishes one stop rule: keep
reading until a page holds fewer items than ``limit``. Every reader of pages (the
task list, a task's results, the stream, the poller's list scan, the create
look-up) walks with :func:`walk` and adds only its own reason to stop early, by
leaving the loop (close the generator with ``contextlib.aclosing``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import TypeVar

__all__ = ["walk"]

_T = TypeVar("_T")


async def walk(
    fetch: Callable[[int, int], Awaitable[Sequence[_T]]], *, limit: int, offset: int = 0
) -> AsyncGenerator[tuple[int, Sequence[_T]], None]:
    """Yield ``(offset, page)`` from ``offset`` on, until a page shorter than ``limit``.

    Args:
        fetch: reads the page at ``(offset, limit)``.
        limit: items per page.
        offset: where to start.
    """
    while True:
        page = await fetch(offset, limit)
        yield offset, page
        if len(page) < limit:
            return
        offset += limit
