"""The in-process store: what a client uses when no store is configured.

Nothing outlives the process and nothing is shared with other processes; the rules
are those of every store (``extruct_async._rate``, ``_journal``). Every operation runs without
awaiting anything, so each is atomic on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from .._rate import RateRule, RateState, take
from . import _journal
from ._base import JournalEntry, Reservation, Store, StoreError

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """A store in this process's memory.

    Args:
        clock: the clock of every decision (rate limit, pause, leases, a journal
            entry's ``reserved_at``); the wall clock (epoch seconds) by default.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._rates: dict[str, RateState] = {}
        self._journal: dict[tuple[str, str], JournalEntry] = {}
        self._claims: dict[tuple[str, str], str | None] = {}
        self._checkpoints: dict[tuple[str, str, str], set[str]] = {}

    def __repr__(self) -> str:
        return "MemoryStore()"

    async def take_start(
        self, namespace: str, *, rate: float | None, burst: int = 1, second: float = 1.0
    ) -> float:
        """See ``Store.take_start``."""
        wait, _ = await self._take_start_timed(namespace, rate, burst, second)
        return wait

    async def _take_start_timed(
        self, namespace: str, rate: float | None, burst: int, second: float
    ) -> tuple[float, float]:
        """``take_start``'s wait, and the clock reading it was decided at (for audits)."""
        rule = None if rate is None else RateRule(rate, burst, second)
        state = self._rates.get(namespace)
        if state is None:
            state = self._rates[namespace] = RateState()
        now = self._clock()
        return take(state, now, rule) - now, now

    async def pause(self, namespace: str, seconds: float) -> None:
        """See ``Store.pause``."""
        state = self._rates.get(namespace)
        if state is None:
            state = self._rates[namespace] = RateState()
        state.paused_until = max(state.paused_until, self._clock() + seconds)

    async def journal_reserve(
        self,
        namespace: str,
        key: str,
        *,
        run: str | None,
        position: int | None,
        body_json: str,
        owner: str,
        lease_seconds: float,
    ) -> Reservation:
        """See ``Store.journal_reserve``."""
        reservation, write = _journal.reserve(
            self._journal.get((namespace, key)),
            now=self._clock(),
            key=key,
            run=run,
            position=position,
            body_json=body_json,
            owner=owner,
            lease_seconds=lease_seconds,
        )
        if write is not None:
            self._journal[namespace, key] = write
        return reservation

    async def journal_renew(
        self, namespace: str, key: str, *, owner: str, lease_seconds: float
    ) -> bool:
        """See ``Store.journal_renew``."""
        renewed = _journal.renew(
            self._journal.get((namespace, key)),
            now=self._clock(),
            owner=owner,
            lease_seconds=lease_seconds,
        )
        if renewed is None:
            return False
        self._journal[namespace, key] = renewed
        return True

    async def journal_complete(
        self, namespace: str, key: str, *, task_id: str, created_at: str
    ) -> str:
        """See ``Store.journal_complete``."""
        entry = self._journal.get((namespace, key))
        if entry is None:
            raise StoreError(f"journal_complete: no journal entry for key {key!r}")
        done = self._journal[namespace, key] = _journal.complete(
            entry, task_id=task_id, created_at=created_at
        )
        assert done.task_id is not None
        return done.task_id

    async def journal_release(self, namespace: str, key: str, *, owner: str) -> bool:
        """See ``Store.journal_release``."""
        if not _journal.may_release(self._journal.get((namespace, key)), owner=owner):
            return False
        del self._journal[namespace, key]
        return True

    async def journal_entries(self, namespace: str, run: str | None = None) -> list[JournalEntry]:
        """See ``Store.journal_entries``."""
        entries = [
            entry
            for (ns, _), entry in self._journal.items()
            if ns == namespace and (run is None or entry.run == run)
        ]
        return sorted(entries, key=_journal.order)

    async def claim(self, namespace: str, task_id: str, claimant: str | None = None) -> bool:
        """See ``Store.claim``."""
        if (namespace, task_id) in self._claims:
            holder = self._claims[namespace, task_id]
            return claimant is not None and holder == claimant
        self._claims[namespace, task_id] = claimant
        return True

    async def checkpoint_load(self, namespace: str, task_id: str, consumer: str) -> set[str]:
        """See ``Store.checkpoint_load``."""
        return set(self._checkpoints.get((namespace, task_id, consumer), ()))

    async def checkpoint_add(
        self, namespace: str, task_id: str, consumer: str, row_ids: Iterable[str]
    ) -> None:
        """See ``Store.checkpoint_add``."""
        self._checkpoints.setdefault((namespace, task_id, consumer), set()).update(row_ids)

    async def aclose(self) -> None:
        """Nothing to release."""
