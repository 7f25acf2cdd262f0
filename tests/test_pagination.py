"""The one offset/limit walker: where it starts, when it stops, and that leaving stops it."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from extruct_async._pagination import walk


class Pages:
    """``total`` numbered items, served by offset and limit; records every read."""

    def __init__(self, total: int) -> None:
        self.items = list(range(total))
        self.reads: list[tuple[int, int]] = []

    async def __call__(self, offset: int, limit: int) -> Sequence[int]:
        self.reads.append((offset, limit))
        return self.items[offset:offset + limit]


async def test_walks_until_a_short_page() -> None:
    pages = Pages(7)
    got = [(offset, list(page)) async for offset, page in walk(pages, limit=3)]
    assert got == [(0, [0, 1, 2]), (3, [3, 4, 5]), (6, [6])]
    assert pages.reads == [(0, 3), (3, 3), (6, 3)]


async def test_an_exactly_full_last_page_costs_one_empty_read() -> None:
    # The service's only stop rule is a short page: a full one may have a successor.
    pages = Pages(6)
    got = [list(page) async for _, page in walk(pages, limit=3)]
    assert got == [[0, 1, 2], [3, 4, 5], []]
    assert pages.reads == [(0, 3), (3, 3), (6, 3)]


async def test_starts_at_an_offset() -> None:
    pages = Pages(10)
    got = [offset async for offset, _ in walk(pages, limit=4, offset=5)]
    assert got == [5, 9]


async def test_leaving_early_reads_nothing_more() -> None:
    pages = Pages(100)
    async with contextlib.aclosing(walk(pages, limit=10)) as walker:
        async for offset, _ in walker:
            if offset == 10:
                break
    assert pages.reads == [(0, 10), (10, 10)]
