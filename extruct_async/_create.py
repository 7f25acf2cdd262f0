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
adopts a task claimed by someone else. With a shared store the claims are the store's
(``Store.claim``), so two processes never adopt the same task; a journaled create
claims under its idempotency key, so a re-run of that key can adopt what it made.

The look-up window is measured on the service's clock (its ``Date`` header), not the
client's, so a skewed local clock cannot widen or shut it.

**The journal** (client-side idempotency keys, :meth:`Creates.create_once`): a create
with a key first reserves the key in the store (``journal_reserve``). A key that has a
task gives it back without a request; a key another live call is sending is waited
for; a key whose sender died (its lease ran out) is reconciled: the task list is
searched with the identity rule, from the entry's reservation time on, and a match is
adopted (claimed under the key), else the create is sent. A key used before for
another body is refused. While a create is sent, its call renews the lease; a call
that never sent forgets its reservation, one that may have sent leaves the entry for
the next call to reconcile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final

import attrs

from . import _constraints as rules
from ._domains import registered_domain
from ._errors import InvalidRequestError, StoreError
from ._models import Criterion, TaskState
from ._pagination import walk
from ._pipeline import Budget, Pipeline
from ._protocol import Reply, Request, list_request
from ._store import JournalEntry, JournalState, MemoryStore, ReserveOutcome, Scope

__all__ = [
    "LEASE_SECONDS",
    "Claims",
    "CreateIdentity",
    "Creates",
    "SharedClaims",
    "body_json",
    "run_key",
    "same_create",
]

log = logging.getLogger("extruct_async")


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
#: A journal reconciliation may reach further back (to a crash): bigger pages.
_JOURNAL_LOOKUP_PAGE = 100
_REMEMBERED_CLAIMS = 10_000
#: How long a journal reservation holds without renewal: a re-run after a crash
#: waits at most this for the keys that were in flight. Renewed every third of it.
LEASE_SECONDS = 10.0
#: The longest wait between two looks at a key another live call is sending.
_BUSY_POLL = 1.0


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
    """Task ids this client created or adopted; a look-up adopts none of them.

    In memory: for a client without a shared store (see :class:`SharedClaims`).
    """

    def __init__(self, *, remember: int = _REMEMBERED_CLAIMS) -> None:
        self._ids: OrderedDict[str, str | None] = OrderedDict()
        self._remember = remember

    async def claim(self, task_id: str, claimant: str | None = None) -> bool:
        """Claim ``task_id``; True if the caller holds it now (see ``Store.claim``)."""
        if task_id in self._ids:
            return claimant is not None and self._ids[task_id] == claimant
        self._ids[task_id] = claimant
        if len(self._ids) > self._remember:
            self._ids.popitem(last=False)
        return True


class SharedClaims(Claims):
    """Claims kept in a shared store: no two clients of the namespace adopt one task."""

    def __init__(self, scope: Scope) -> None:
        super().__init__()
        self._scope = scope

    async def claim(self, task_id: str, claimant: str | None = None) -> bool:
        """Claim ``task_id`` in the store; True if the caller holds it now."""
        return await self._scope.store.claim(self._scope.namespace, task_id, claimant)


def body_json(body: Mapping[str, Any]) -> str:
    """A create body as the journal keeps it: canonical JSON, equal for equal bodies."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def run_key(run: str, position: int) -> str:
    """The idempotency key ``create_many(..., run=...)`` derives for a position."""
    return f"run:{run}:{position}"


def journal_state(entry: JournalEntry) -> TaskState:
    """The state of a journaled task as created, from its entry: no request needed.

    Counters are 0 and status ``created``: what the service showed when it answered
    the create. ``refresh()`` or ``wait()`` read the current state.
    """
    assert entry.task_id is not None
    assert entry.created_at is not None
    body = json.loads(entry.body_json)
    criteria = body.get("criteria")
    sources = body.get("data_sources")
    domains = body.get("exclude_domains")
    table = body.get("table")
    return TaskState(
        id=entry.task_id,
        created_at=datetime.fromisoformat(entry.created_at),
        status="created",
        query=body["query"],
        desired_num_results=body.get("desired_num_results", 100),
        table_id=table["id"] if table else None,
        auto_data_sources=body.get("auto_data_sources", True),
        data_sources=None if sources is None else tuple(sources),
        criteria=None if criteria is None else tuple(Criterion(**c) for c in criteria),
        exclude_domains=None if domains is None else tuple(sorted(_domains(domains))),
    )


@attrs.define(eq=False)
class _Turn:
    identity: CreateIdentity
    done: asyncio.Event = attrs.field(factory=asyncio.Event)


class Creates:
    """Sends creates so that each call makes at most one task (see the module doc).

    Args:
        pipeline: the path every request takes.
        claims: the claims to share (a ``with_options`` copy shares its original's).
        scope: the client's store; by default a private in-memory one.
    """

    def __init__(
        self, pipeline: Pipeline, claims: Claims | None = None, scope: Scope | None = None
    ) -> None:
        self._pipeline = pipeline
        self.scope: Scope = scope or Scope(MemoryStore(), "", shared=False, owned=True)
        if claims is None:
            claims = SharedClaims(self.scope) if self.scope.shared else Claims()
        self.claims = claims
        self._turns: dict[str, list[_Turn]] = {}  # by query: only those can be the same

    def with_pipeline(self, pipeline: Pipeline) -> Creates:
        """The same creates through another pipeline: claims, store and turns shared."""
        copy = Creates(pipeline, self.claims, self.scope)
        copy._turns = self._turns
        return copy

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
            return await self._send(request, identity, None, on_admit)

    async def _send(
        self,
        request: Request,
        identity: CreateIdentity,
        claimant: str | None,
        on_admit: Callable[[], None] | None,
    ) -> Reply[TaskState]:
        async def reconcile(budget: Budget) -> Reply[Any] | None:
            return await self._find(identity, budget, claimant=claimant)

        reply: Reply[TaskState] = await self._pipeline.send(
            request, reconcile=reconcile, on_admit=on_admit
        )
        await self.claims.claim(reply.value.id, claimant)  # a no-op if the look-up adopted it
        return reply

    # -- the journal ---------------------------------------------------------------

    async def create_once(
        self,
        request: Request,
        *,
        key: str,
        run: str | None = None,
        position: int | None = None,
        field: str = "idempotency_key",
        on_admit: Callable[[], None] | None = None,
    ) -> Reply[TaskState]:
        """Create under an idempotency key: the key's task, made at most once.

        Args:
            request: the create.
            key: the idempotency key.
            run: the ``create_many`` run the key belongs to, if any.
            position: the spec's position in that run.
            field: what to name in the error about a key reused for another body.
            on_admit: called when the create is first let through to be sent.

        Raises:
            InvalidRequestError: the key was used before for a different create.
            APIError: the create failed, and no task of it was found.
            StoreError: the store failed before anything was sent.
        """
        assert request.body is not None
        store, namespace = self.scope.store, self.scope.namespace
        sent = body_json(request.body)
        owner = uuid.uuid4().hex
        while True:
            reservation = await store.journal_reserve(
                namespace, key, run=run, position=position, body_json=sent, owner=owner,
                lease_seconds=LEASE_SECONDS,
            )
            entry = reservation.entry
            if entry.body_json != sent:
                if reservation.outcome is ReserveOutcome.TAKEN_OVER:
                    await self._expire(key, owner)  # not ours to settle: the next caller's
                raise _reused(field, key, entry)
            if reservation.outcome is ReserveOutcome.CREATED:
                return Reply(journal_state(entry))
            if reservation.outcome is not ReserveOutcome.BUSY:
                break
            await asyncio.sleep(min(reservation.wait, _BUSY_POLL))
        return await self._settle(request, entry, reservation.outcome, owner, on_admit)

    async def _settle(
        self,
        request: Request,
        entry: JournalEntry,
        outcome: ReserveOutcome,
        owner: str,
        on_admit: Callable[[], None] | None,
    ) -> Reply[TaskState]:
        """Send (or, after a crash, first look for) the create of a key now ours."""
        assert request.body is not None
        key = entry.key
        loop = asyncio.get_running_loop()
        identity = CreateIdentity.of_body(request.body)
        admitted = False

        def admit() -> None:
            nonlocal admitted
            admitted = True
            if on_admit is not None:
                on_admit()

        keeper = loop.create_task(self._keep_lease(key, owner))
        try:
            async with self._turn(identity):
                reply = None
                if outcome is ReserveOutcome.TAKEN_OVER:
                    # The store's own clock says how long ago the key was reserved.
                    assert entry.lease_until is not None
                    age = entry.lease_until - LEASE_SECONDS - entry.reserved_at
                    reply = await self._find(
                        identity, Budget(self._pipeline.policy.max_time), claimant=key,
                        first_attempt=loop.time() - max(age, 0.0),
                        page=_JOURNAL_LOOKUP_PAGE,
                    )
                if reply is None:
                    reply = await self._send(request, identity, key, admit)
        except BaseException:
            keeper.cancel()
            with contextlib.suppress(StoreError):
                if outcome is ReserveOutcome.RESERVED and not admitted:
                    await self.scope.store.journal_release(
                        self.scope.namespace, key, owner=owner
                    )  # nothing was ever sent for this key: a re-run sends it
                else:
                    await self._expire(key, owner)  # maybe sent: the next call reconciles
            raise
        keeper.cancel()
        return await self._complete(key, reply)

    async def _complete(self, key: str, reply: Reply[TaskState]) -> Reply[TaskState]:
        state = reply.value
        try:
            recorded = await self.scope.store.journal_complete(
                self.scope.namespace, key, task_id=state.id,
                created_at=state.created_at.isoformat(),
            )
        except StoreError as exc:
            # The task exists and is claimed under the key: a re-run adopts it.
            log.warning("the journal could not record task %s of key %r: %s", state.id, key, exc)
            return reply
        if recorded != state.id:
            log.warning(
                "key %r already had task %s when task %s was created for it (this call"
                " lost its lease); %s is kept",
                key, recorded, state.id, recorded,
            )
            entry = await self._entry(key)
            if entry is not None and entry.state is JournalState.CREATED:
                return Reply(journal_state(entry))
        return reply

    async def _entry(self, key: str) -> JournalEntry | None:
        for entry in await self.scope.store.journal_entries(self.scope.namespace):
            if entry.key == key:
                return entry
        return None

    async def _keep_lease(self, key: str, owner: str) -> None:
        """Renew the key's lease while its create is under way."""
        store, namespace = self.scope.store, self.scope.namespace
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            try:
                held = await store.journal_renew(
                    namespace, key, owner=owner, lease_seconds=LEASE_SECONDS
                )
            except StoreError as exc:
                log.warning("could not renew the lease of key %r: %s", key, exc)
                continue
            if not held:
                return

    async def _expire(self, key: str, owner: str) -> None:
        """End our lease now: the next call with the key reconciles at once."""
        await self.scope.store.journal_renew(
            self.scope.namespace, key, owner=owner, lease_seconds=0.0
        )

    async def check_run(self, run: str, bodies: Sequence[Mapping[str, Any]]) -> None:
        """Refuse a run whose journaled positions hold other bodies, before any send.

        Raises:
            InvalidRequestError: ``specs[i]`` differs from what the run journaled.
        """
        entries = await self.scope.store.journal_entries(self.scope.namespace, run)
        for entry in entries:
            position = entry.position
            if (
                position is not None
                and 0 <= position < len(bodies)
                and entry.body_json != body_json(bodies[position])
            ):
                raise _reused(f"specs[{position}]", entry.key, entry)

    async def recover(self, run: str | None) -> list[Reply[TaskState]]:
        """The tasks of the journal (one run's, or all), in journal order.

        Keys another live call is sending are waited for; keys whose sender died are
        reconciled against the task list (adopted if found). Keys with no task are
        left out, and left in the journal for the next create to send.
        """
        entries = await self.scope.store.journal_entries(self.scope.namespace, run)
        found = await asyncio.gather(*(self._recover(entry) for entry in entries))
        return [reply for reply in found if reply is not None]

    async def _recover(self, entry: JournalEntry) -> Reply[TaskState] | None:
        if entry.state is JournalState.CREATED:
            return Reply(journal_state(entry))
        store, namespace = self.scope.store, self.scope.namespace
        body = json.loads(entry.body_json)
        owner = uuid.uuid4().hex
        while True:
            reservation = await store.journal_reserve(
                namespace, entry.key, run=entry.run, position=entry.position,
                body_json=entry.body_json, owner=owner, lease_seconds=LEASE_SECONDS,
            )
            outcome, current = reservation.outcome, reservation.entry
            if outcome is ReserveOutcome.CREATED:
                return Reply(journal_state(current))
            if outcome is ReserveOutcome.BUSY:
                await asyncio.sleep(min(reservation.wait, _BUSY_POLL))
                continue
            break
        if outcome is ReserveOutcome.RESERVED:  # released meanwhile: nothing to recover
            await store.journal_release(namespace, entry.key, owner=owner)
            return None
        loop = asyncio.get_running_loop()
        identity = CreateIdentity.of_body(body)
        assert current.lease_until is not None
        age = current.lease_until - LEASE_SECONDS - current.reserved_at
        try:
            async with self._turn(identity):
                reply = await self._find(
                    identity, Budget(self._pipeline.policy.max_time), claimant=entry.key,
                    first_attempt=loop.time() - max(age, 0.0), page=_JOURNAL_LOOKUP_PAGE,
                )
        except BaseException:
            with contextlib.suppress(StoreError):
                await self._expire(entry.key, owner)
            raise
        if reply is None:
            await self._expire(entry.key, owner)
            return None
        return await self._complete(entry.key, reply)

    # -- serialisation and the look-up ---------------------------------------------

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

    async def _find(
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


def _reused(field: str, key: str, entry: JournalEntry) -> InvalidRequestError:
    return InvalidRequestError(
        field,
        f"the idempotency key {key!r} was used before for a different create"
        f" (query {json.loads(entry.body_json).get('query')!r}); a key stands for one"
        " create: give this one another key"
        + (" (a new run name)" if entry.run is not None else ""),
    )
