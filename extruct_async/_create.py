"""Creating a task exactly once: what "the same create" means, and where it is used.

The API has no idempotency key, and a create costs credits. When an attempt fails in a
way that may have created the task (a 5xx, a lost answer), the next step looks for
that task among the newest ones instead of sending again. Two rules make that safe:

- **Identity** (:func:`same_create`): a create and a listed task are the same when
  every field the task object shows agrees with the create body: query, target,
  data-source mode and sources, criteria, table, excluded domains (normalised to
  registered domains, as the service does). A field the task cannot show (the
  table's ``run``/``columns``/``auto_import``, ``exclude_task_ids``; criteria or
  sources the service picks itself; domains the service adds from excluded tasks or
  caps) counts as "could be the same".
- **Serialisation**: creates of one client that are the same by that rule never run
  at once: each waits for the earlier ones to finish. So when a create looks for its
  task, every earlier look-alike has already claimed its own, and an unclaimed
  matching task can only be this one's. Creates that differ run in parallel.

Claims: a task id is claimed by the create that made or adopted it; a look-up never
adopts a claimed task.

The look-up window is measured on the service's clock (its ``Date`` header), not the
client's, so a skewed local clock cannot widen or shut it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final

import attrs

from . import _constraints as rules
from ._domains import registered_domain
from ._models import TaskState
from ._pagination import walk
from ._pipeline import Budget, Pipeline
from ._protocol import Reply, Request, list_request

__all__ = ["Claims", "CreateIdentity", "Creates", "same_create"]


class _Unknown:
    """A field one side cannot show: it agrees with anything."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()

#: A look-up adopts tasks created up to this long before the first attempt, by the
#: service's clock (``Date`` is whole seconds, and the estimate includes latency).
SERVICE_CLOCK_SLACK = timedelta(seconds=10)
#: The same when the service sent no ``Date``, and the client's clock must be trusted.
LOCAL_CLOCK_SLACK = timedelta(seconds=60)
_LOOKUP_PAGE = 20  # the vendor's own list page size: a look-up usually needs one
_REMEMBERED_CLAIMS = 10_000


@attrs.frozen
class CreateIdentity:
    """The fields of a create that a task object shows, normalised; UNKNOWN if unseen."""

    query: str
    desired_num_results: int
    auto_data_sources: bool
    data_sources: frozenset[str] | _Unknown
    criteria: tuple[tuple[str, str, str], ...] | _Unknown
    table_id: str | None
    exclude_domains: frozenset[str] | _Unknown

    @classmethod
    def of_body(cls, body: Mapping[str, Any]) -> CreateIdentity:
        """The identity of a create request body (as ``_protocol`` builds it)."""
        auto = bool(body.get("auto_data_sources", True))
        sources = body.get("data_sources")
        criteria = body.get("criteria")
        table = body.get("table")
        domains: frozenset[str] | _Unknown = UNKNOWN
        if not body.get("exclude_task_ids"):  # else the service adds those tasks' domains
            domains = _domains(body.get("exclude_domains") or ())
        return cls(
            query=body["query"],
            desired_num_results=body.get("desired_num_results", 100),
            auto_data_sources=auto,
            data_sources=UNKNOWN if auto or sources is None else frozenset(sources),
            criteria=UNKNOWN if criteria is None else tuple(
                (c["key"], c["name"], c["criterion"]) for c in criteria
            ),
            table_id=table["id"] if table else None,
            exclude_domains=domains,
        )

    @classmethod
    def of_task(cls, state: TaskState) -> CreateIdentity:
        """The identity of a task as the service shows it."""
        domains = state.exclude_domains or ()
        capped = len(domains) >= rules.MAX_EXCLUDED_DOMAINS
        return cls(
            query=state.query,
            desired_num_results=state.desired_num_results,
            auto_data_sources=state.auto_data_sources,
            data_sources=(
                UNKNOWN if state.auto_data_sources
                else frozenset(str(s) for s in state.data_sources or ())
            ),
            criteria=tuple((c.key, c.name, c.criterion) for c in state.criteria or ()),
            table_id=state.table_id,
            exclude_domains=UNKNOWN if capped else frozenset(domains),
        )


def _domains(values: Sequence[str]) -> frozenset[str]:
    found = (registered_domain(value) for value in values)
    return frozenset(domain for domain in found if domain is not None)


def same_create(a: CreateIdentity, b: CreateIdentity) -> bool:
    """Whether ``a`` and ``b`` may be the same create: no field both show differs."""
    for field in attrs.fields(CreateIdentity):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if x is not UNKNOWN and y is not UNKNOWN and x != y:
            return False
    return True


class Claims:
    """Task ids this client created or adopted; a look-up adopts none of them."""

    def __init__(self, *, remember: int = _REMEMBERED_CLAIMS) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._remember = remember

    async def claim(self, task_id: str) -> bool:
        """Claim ``task_id``; False if it was claimed before."""
        if task_id in self._ids:
            return False
        self._ids[task_id] = None
        if len(self._ids) > self._remember:
            self._ids.popitem(last=False)
        return True


@attrs.define(eq=False)
class _Turn:
    identity: CreateIdentity
    done: asyncio.Event = attrs.field(factory=asyncio.Event)


class Creates:
    """Sends creates so that each call makes at most one task (see the module doc)."""

    def __init__(self, pipeline: Pipeline, claims: Claims | None = None) -> None:
        self._pipeline = pipeline
        self.claims = claims or Claims()
        self._turns: dict[str, list[_Turn]] = {}  # by query: only those can be the same

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
        async with self._turn(identity):

            async def reconcile(budget: Budget) -> Reply[Any] | None:
                return await self._find(identity, budget)

            reply: Reply[TaskState] = await self._pipeline.send(
                request, reconcile=reconcile, on_admit=on_admit
            )
            await self.claims.claim(reply.value.id)  # a no-op if the look-up adopted it
            return reply

    @contextlib.asynccontextmanager
    async def _turn(self, identity: CreateIdentity) -> AsyncIterator[None]:
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

    async def _find(self, identity: CreateIdentity, budget: Budget) -> Reply[TaskState] | None:
        """The unclaimed task this create may have made, claimed; None if there is none."""
        loop = asyncio.get_running_loop()
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

        async with contextlib.aclosing(walk(fetch, limit=_LOOKUP_PAGE)) as pages:
            async for _, page in pages:
                assert not_before is not None
                for state in page:
                    if state.created_at < not_before:
                        return None  # newest first: nothing older can be ours
                    if same_create(identity, CreateIdentity.of_task(state)) and (
                        await self.claims.claim(state.id)
                    ):
                        return Reply(state, request_id)
        return None
