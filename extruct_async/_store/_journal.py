"""The create journal's transitions, as plain functions over entries (no I/O).

The memory and SQLite stores read an entry, apply one of these and write the result
inside one atomic step; the Redis store runs the same rules as Lua scripts
(``_redis_scripts``), and one test suite checks all three.
"""

from __future__ import annotations

import attrs

from ._base import JournalEntry, JournalState, Reservation, ReserveOutcome

__all__ = ["complete", "may_release", "order", "renew", "reserve"]


def reserve(
    entry: JournalEntry | None,
    *,
    now: float,
    key: str,
    run: str | None,
    position: int | None,
    body_json: str,
    owner: str,
    lease_seconds: float,
) -> tuple[Reservation, JournalEntry | None]:
    """Decide a reservation of ``key``, whose current entry is ``entry``, at ``now``.

    Returns the answer and the entry to write (None: nothing changes).
    """
    if entry is None:
        new = JournalEntry(
            key=key,
            run=run,
            position=position,
            body_json=body_json,
            state=JournalState.SENDING,
            owner=owner,
            reserved_at=now,
            lease_until=now + lease_seconds,
        )
        return Reservation(ReserveOutcome.RESERVED, new), new
    if entry.state is JournalState.CREATED:
        return Reservation(ReserveOutcome.CREATED, entry), None
    lease_until = entry.lease_until if entry.lease_until is not None else now
    if lease_until > now:
        return Reservation(ReserveOutcome.BUSY, entry, wait=lease_until - now), None
    taken = attrs.evolve(entry, owner=owner, lease_until=now + lease_seconds)
    return Reservation(ReserveOutcome.TAKEN_OVER, taken), taken


def renew(
    entry: JournalEntry | None, *, now: float, owner: str, lease_seconds: float
) -> JournalEntry | None:
    """The renewed entry, or None if ``owner`` does not hold a ``sending`` entry."""
    if entry is None or entry.state is not JournalState.SENDING or entry.owner != owner:
        return None
    return attrs.evolve(entry, lease_until=now + lease_seconds)


def complete(entry: JournalEntry, *, task_id: str, created_at: str) -> JournalEntry:
    """The entry with its task recorded; an earlier completion stands."""
    if entry.state is JournalState.CREATED:
        return entry
    return attrs.evolve(
        entry,
        state=JournalState.CREATED,
        lease_until=None,
        task_id=task_id,
        created_at=created_at,
    )


def may_release(entry: JournalEntry | None, *, owner: str) -> bool:
    """Whether ``owner`` may forget the entry (it is theirs and still ``sending``)."""
    return entry is not None and entry.state is JournalState.SENDING and entry.owner == owner


def order(entry: JournalEntry) -> tuple[bool, str, bool, int, str]:
    """Sort key of ``journal_entries``: entries without a run first, then (run, position)."""
    return (
        entry.run is not None,
        entry.run or "",
        entry.position is not None,
        entry.position or 0,
        entry.key,
    )
