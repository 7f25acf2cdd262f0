"""Client-side idempotency keys: the create journal's flow (``create_once``, runs, ``recover``).

A create with a key first reserves the key in the store (``journal_reserve``). A key
that has a task gives it back without a request; a key another live call is sending is
waited for; a key whose sender died (its lease ran out) is reconciled: the task list is
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
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ._create import Creates
from ._errors import InvalidRequestError, StoreError
from ._identity import CreateIdentity, registered_domains, same_body
from ._models import Criterion, TaskState
from ._protocol import Reply, Request
from ._store import JournalEntry, JournalState, ReserveOutcome, Scope

__all__ = ["LEASE_SECONDS", "Journal", "body_json", "journal_state", "run_key"]

log = logging.getLogger("extruct_async")

#: A journal reconciliation may reach further back (to a crash): bigger pages.
_JOURNAL_LOOKUP_PAGE = 100
#: How long a journal reservation holds without renewal: a re-run after a crash
#: waits at most this for the keys that were in flight. Renewed every third of it.
LEASE_SECONDS = 10.0
#: The longest wait between two looks at a key another live call is sending.
_BUSY_POLL = 1.0


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
        exclude_domains=None if domains is None else tuple(sorted(registered_domains(domains))),
    )


class Journal:
    """Creates under idempotency keys, kept in the client's store (see the module doc).

    Args:
        creates: how a create is sent (serialised, looked up, claimed).
        scope: the client's store and namespace.
    """

    def __init__(self, creates: Creates, scope: Scope) -> None:
        self._creates = creates
        self.scope = scope

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
            if entry.body_json != sent and not same_body(json.loads(entry.body_json), request.body):
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
            async with self._creates.turn(identity):
                reply = None
                if outcome is ReserveOutcome.TAKEN_OVER:
                    # The store's own clock says how long ago the key was reserved.
                    assert entry.lease_until is not None
                    age = entry.lease_until - LEASE_SECONDS - entry.reserved_at
                    reply = await self._creates.find(
                        identity, self._creates.budget(), claimant=key,
                        first_attempt=loop.time() - max(age, 0.0),
                        page=_JOURNAL_LOOKUP_PAGE,
                    )
                if reply is None:
                    reply = await self._creates.send(request, identity, key, admit)
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
                and not same_body(json.loads(entry.body_json), bodies[position])
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
            async with self._creates.turn(identity):
                reply = await self._creates.find(
                    identity, self._creates.budget(), claimant=entry.key,
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

def _reused(field: str, key: str, entry: JournalEntry) -> InvalidRequestError:
    return InvalidRequestError(
        field,
        f"the idempotency key {key!r} was used before for a different create"
        f" (query {json.loads(entry.body_json).get('query')!r}); a key stands for one"
        " create: give this one another key"
        + (" (a new run name)" if entry.run is not None else ""),
    )
