"""A batch of creates at once, and what a cancellation of the batch may and may not do.

``create_many`` sends every create of a batch concurrently (the gate paces them). The
rule that matters is what happens when the batch is **cancelled** (a timeout, Ctrl-C, a
web request that went away): a task that exists has cost credits, so it must reach the
caller. Creates not yet sent are never sent; creates already sent are finished first
(their look-ups included), so each task that exists is reported before the
cancellation goes on. A second cancellation stops waiting for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ._errors import APIError

__all__ = ["Admit", "create_all"]

_T = TypeVar("_T")

#: Called by a create when it is first let through to be sent: from then on it may
#: reach the service.
Admit = Callable[[], None]


async def create_all(
    count: int, create: Callable[[int, Admit], Coroutine[Any, Any, _T]]
) -> list[_T | APIError]:
    """Run ``create(index, admit)`` for every index at once; their outcomes, in order.

    Each outcome is the create's result, or the :class:`APIError` it failed with.

    Raises:
        BaseException: a create's error that is not an ``APIError`` (a bug, a store
            failure, a reused key): not a failed create.
        asyncio.CancelledError: the batch was cancelled, after the sent creates ended.
    """
    loop = asyncio.get_running_loop()
    admitted = [False] * count

    def admit_for(index: int) -> Admit:
        def admit() -> None:
            admitted[index] = True

        return admit

    children = [loop.create_task(create(i, admit_for(i))) for i in range(count)]
    try:
        if children:
            await asyncio.wait(children)
    except asyncio.CancelledError:
        for child, went in zip(children, admitted, strict=True):
            if not went:
                child.cancel()  # never sent: it never will be
        sent = [c for c, went in zip(children, admitted, strict=True) if went and not c.done()]
        if sent:
            await asyncio.wait(sent)  # may have applied: finish; a second cancel ends it
        raise
    finally:
        for child in children:  # on any way out, nothing runs on unattended
            child.cancel()
            if child.done() and not child.cancelled():
                child.exception()  # retrieved here, reported below (or not, if cancelled)
    outcomes: list[_T | APIError] = []
    for child in children:
        error = child.exception()
        if error is not None and not isinstance(error, APIError):
            raise error
        outcomes.append(child.result() if error is None else error)
    return outcomes
