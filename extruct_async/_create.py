"""Creating a task exactly once per call: serialised look-alikes and the look-up.

When an attempt fails in a way that may have created the task (a 5xx, a lost answer),
the pipeline asks :meth:`Creates.find` to look for that task among the newest ones
instead of sending again. Two rules make that safe:

- **Identity** (``_identity.same_create``): what "the same create" means.
- **Serialisation**: creates of one client that are the same by that rule never run
  at once: each waits for the earlier ones to finish (:meth:`Creates.turn`). So when a
  create looks for its task, every earlier look-alike has already claimed its own
  (``_claims``), and an unclaimed matching task can only be this one's. Creates that
  differ run in parallel.

The look-up window is measured on the service's clock (its ``Date`` header), not the
client's, so a skewed local clock cannot widen or shut it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from ._claims import Claims
from ._identity import CreateIdentity, same_create
from ._models import TaskState
from ._pagination import walk
from ._pipeline import Budget, Pipeline
from ._protocol import Reply, Request, list_request

__all__ = ["LOCAL_CLOCK_SLACK", "SERVICE_CLOCK_SLACK", "Creates"]

#: A look-up adopts tasks created up to this long before the first attempt, by the
#: service's clock (``Date`` is whole seconds, and the estimate includes latency).
SERVICE_CLOCK_SLACK = timedelta(seconds=10)
#: The same when the service sent no ``Date``, and the client's clock must be trusted.
LOCAL_CLOCK_SLACK = timedelta(seconds=60)
_LOOKUP_PAGE = 20  # the vendor's own list page size: a look-up usually needs one


@attrs.define(eq=False)
class _Turn:
    identity: CreateIdentity
    done: asyncio.Event = attrs.field(factory=asyncio.Event)


class Creates:
    """Sends creates so that each call makes at most one task (see the module doc).

    Args:
        pipeline: the path every request takes.
        claims: the tasks claimed so far (shared by a client's copies).
        turns: the creates under way, by query (shared by a client's copies).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        claims: Claims,
        turns: dict[str, list[_Turn]] | None = None,
    ) -> None:
        self._pipeline = pipeline
        self.claims = claims
        self._turns: dict[str, list[_Turn]] = {} if turns is None else turns

    def with_pipeline(self, pipeline: Pipeline) -> Creates:
        """The same creates through another pipeline: claims and turns shared."""
        return Creates(pipeline, self.claims, self._turns)

    def budget(self) -> Budget:
        """A new time budget of the pipeline's ``max_time``, for a look-up of its own."""
        return Budget(self._pipeline.policy.max_time)

    async def create(
        self, request: Request, *, on_admit: Callable[[], None] | None = None
    ) -> Reply[TaskState]:
        """Send a create; after a failure that may have applied, adopt its task.

        Args:
            request: the create.
            on_admit: called when the create is first let through to be sent.

        Raises:
            APIError: the create failed, and no task of it was found.
        """
        assert request.body is not None
        identity = CreateIdentity.of_body(request.body)
        async with self.turn(identity):
            return await self.send(request, identity, None, on_admit)

    async def send(
        self,
        request: Request,
        identity: CreateIdentity,
        claimant: str | None,
        on_admit: Callable[[], None] | None,
    ) -> Reply[TaskState]:
        """Send a create (holding its turn); claim its task, found or made, for ``claimant``."""
        async def reconcile(budget: Budget) -> Reply[Any] | None:
            return await self.find(identity, budget, claimant=claimant)

        reply: Reply[TaskState] = await self._pipeline.send(
            request, reconcile=reconcile, on_admit=on_admit
        )
        await self.claims.claim(reply.value.id, claimant)  # a no-op if the look-up adopted it
        return reply

    @contextlib.asynccontextmanager
    async def turn(self, identity: CreateIdentity) -> AsyncIterator[None]:
        """Wait until no earlier create of this client may be the same as this one."""
        turns = self._turns.setdefault(identity.query, [])
        earlier = [turn for turn in turns if same_create(turn.identity, identity)]
        mine = _Turn(identity)
        turns.append(mine)
        try:
            for turn in earlier:
                await turn.done.wait()
            yield
        finally:
            mine.done.set()
            turns.remove(mine)
            if not turns:
                del self._turns[identity.query]

    async def find(
        self,
        identity: CreateIdentity,
        budget: Budget,
        *,
        claimant: str | None = None,
        first_attempt: float | None = None,
        page: int = _LOOKUP_PAGE,
    ) -> Reply[TaskState] | None:
        """The task this create may have made, claimed; None if there is none.

        Adopts the newest task that is the same create, was created at most the
        slack before ``first_attempt`` (loop time; by default the budget's start), and
        that the caller can claim (unclaimed, or claimed by ``claimant`` before).
        """
        loop = asyncio.get_running_loop()
        if first_attempt is None:
            first_attempt = budget.started if budget.started is not None else loop.time()
        not_before: datetime | None = None
        request_id: str | None = None

        async def fetch(offset: int, limit: int) -> list[TaskState]:
            nonlocal not_before, request_id
            reply = await self._pipeline.send(
                list_request(offset=offset, limit=limit), budget=budget
            )
            if not_before is None:
                # When the first attempt started, on the service's clock if it tells.
                ago = timedelta(seconds=loop.time() - first_attempt)
                if reply.date is not None:
                    not_before = reply.date - ago - SERVICE_CLOCK_SLACK
                else:
                    not_before = datetime.now(timezone.utc) - ago - LOCAL_CLOCK_SLACK
            request_id = reply.request_id
            tasks: list[TaskState] = reply.value
            return tasks

        async with contextlib.aclosing(walk(fetch, limit=page)) as pages:
            async for _, found in pages:
                assert not_before is not None
                for state in found:
                    if state.created_at < not_before:
                        return None  # newest first: nothing older can be ours
                    if same_create(identity, CreateIdentity.of_task(state)) and (
                        await self.claims.claim(state.id, claimant)
                    ):
                        return Reply(state, request_id)
        return None
