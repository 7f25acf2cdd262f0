"""What a store is: the interface every backend implements, and the values it speaks in.

A store keeps what must outlive one process, per *namespace* (a hash of the API key
and the base URL, see ``_namespace``; the key itself is never written):

- the shared rate limit and pause: every client of a namespace takes its requests'
  starts from one schedule (``take_start``), and a 429 seen by one pauses all
  (``pause``);
- the create journal (client-side idempotency keys): ``journal_reserve`` and friends;
- claims: ``claim`` makes sure two clients never adopt the same task;
- stream checkpoints: which rows a named consumer has taken from a task.

Every operation is atomic on the store: backends decide on their own clock (the
machine's clock inside a SQLite write transaction, Redis ``TIME`` inside a script),
so clients on machines whose clocks disagree still share one schedule.
"""

from __future__ import annotations

import abc
import enum
import warnings
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import attrs

from .._errors import StoreError

__all__ = [
    "JournalEntry",
    "JournalState",
    "Reservation",
    "ReserveOutcome",
    "Store",
    "StoreError",
]


class JournalState(str, enum.Enum):
    """Where a journaled create stands."""

    #: Reserved: the create is being (or may have been) sent; no task id yet.
    SENDING = "sending"
    #: The service answered: the entry holds the task id.
    CREATED = "created"


@attrs.frozen
class JournalEntry:
    """One create, as the journal remembers it.

    Attributes:
        key: the idempotency key (given, or derived from a run and a position).
        run: the ``create_many`` run the key belongs to, if any.
        position: the spec's position in that run, if any.
        body_json: the create request body, as JSON (it holds no secret).
        state: ``sending`` or ``created``.
        owner: who reserved it last (an opaque id of a client's call).
        reserved_at: when it was first reserved, epoch seconds on the store's clock.
        lease_until: while ``sending``, when the owner's lease runs out (store clock).
        task_id: the created task's id, once ``created``.
        created_at: the created task's ``created_at`` (ISO 8601), once ``created``.
    """

    key: str
    run: str | None
    position: int | None
    body_json: str
    state: JournalState
    owner: str
    reserved_at: float
    lease_until: float | None = None
    task_id: str | None = None
    created_at: str | None = None


class ReserveOutcome(str, enum.Enum):
    """What ``journal_reserve`` found, and so what the caller must do next."""

    #: A new entry, now owned by the caller: send the create.
    RESERVED = "reserved"
    #: The key already has a task: use ``entry.task_id``, send nothing.
    CREATED = "created"
    #: Another call holds a live lease: wait ``wait`` seconds and ask again.
    BUSY = "busy"
    #: A ``sending`` entry whose lease ran out (its owner crashed) is now the
    #: caller's: reconcile against the task list before sending again.
    TAKEN_OVER = "taken_over"


@attrs.frozen
class Reservation:
    """The answer of ``journal_reserve``.

    Attributes:
        outcome: what was found; see ``ReserveOutcome``.
        entry: the entry as it stands after the call (compare its ``body_json``
            with the request: a key reused for a different body is the caller's
            error to raise).
        wait: for ``busy``, seconds until the other owner's lease runs out; else 0.
    """

    outcome: ReserveOutcome
    entry: JournalEntry
    wait: float = 0.0


class Store(abc.ABC):
    """Where clients keep what must outlive one process; see the module docstring.

    All methods are coroutines that never block the event loop. Use a store as an
    async context manager, or call ``aclose()`` when done.
    """

    # -- shared rate limit and pause ----------------------------------------------

    @abc.abstractmethod
    async def take_start(
        self, namespace: str, *, rate: float | None, burst: int = 1, second: float = 1.0
    ) -> float:
        """Take the earliest request start the namespace's limit allows, now or later.

        The start is recorded at the earliest moment the rule allows, from all
        clients of the namespace together, on the store's clock, and the seconds
        until then are returned (0.0: now). The caller sleeps that long and starts,
        without asking again: one store operation per start, however many processes
        contend. The rule (``extruct_async._rate``): no ``second`` holds more than
        ``int(rate)`` starts (at least 1); with ``burst=1`` starts follow a schedule
        ``second / rate`` apart that late callers do not push back; with
        ``burst=N`` at most N start in any ``N * second / rate`` seconds; nobody
        starts during a pause. ``second`` (>= 1) stretches the rule's second, for
        headroom. With ``rate=None`` nothing is recorded: the wait is the pause's.

        The caller keeps its own concurrency cap and queue, and asks for its queue's
        head only. Raises ``StoreError`` if the store fails, ``ValueError`` for a
        ``rate`` not > 0, a ``burst`` not >= 1 or a ``second`` not >= 1.
        """

    async def reserve(
        self, namespace: str, *, rate: float | None, burst: int = 1, second: float = 1.0
    ) -> float:
        """Deprecated alias of :meth:`take_start`; removed in the next release.

        A subclass that still overrides ``reserve`` (and not ``take_start``) keeps
        working for this release: its ``reserve`` serves ``take_start``.
        """
        warnings.warn(
            "Store.reserve is deprecated, use Store.take_start (same arguments)",
            DeprecationWarning,
            stacklevel=2,
        )
        return await self.take_start(namespace, rate=rate, burst=burst, second=second)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.reserve is not Store.reserve and getattr(
            cls.take_start, "__isabstractmethod__", False
        ):
            # A store written for the earlier interface, whose rate operation was named
            # reserve: its reserve serves take_start, for one release.
            warnings.warn(
                f"{cls.__qualname__} overrides Store.reserve, renamed Store.take_start:"
                " override take_start instead (reserve is removed in the next release)",
                DeprecationWarning,
                stacklevel=3,  # the class statement (through ABCMeta.__new__)
            )
            cls.take_start = _take_start_by_reserve  # type: ignore[method-assign]

    @abc.abstractmethod
    async def pause(self, namespace: str, seconds: float) -> None:
        """Admit nobody in the namespace for ``seconds`` from now (a 429 was seen).

        A shorter pause never cuts a longer one short.
        """

    # -- the create journal --------------------------------------------------------

    @abc.abstractmethod
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
        """Atomically look up ``key`` and reserve it if it is free.

        Returns a ``Reservation`` whose outcome is ``reserved`` (a new entry,
        ``sending``, owned by ``owner``, leased until now + ``lease_seconds``),
        ``created`` (the key has a task), ``busy`` (someone's lease is live, even
        ``owner``'s own: a key is sent by one call at a time) or ``taken_over`` (a
        ``sending`` entry whose lease ran out now belongs to ``owner``, leased anew:
        reconcile before sending).
        """

    @abc.abstractmethod
    async def journal_renew(
        self, namespace: str, key: str, *, owner: str, lease_seconds: float
    ) -> bool:
        """Extend ``owner``'s lease to now + ``lease_seconds`` while a create retries.

        Returns False, changing nothing, if the entry is not ``sending`` or belongs
        to someone else (it was taken over: stop, and let the new owner decide).
        """

    @abc.abstractmethod
    async def journal_complete(
        self, namespace: str, key: str, *, task_id: str, created_at: str
    ) -> str:
        """Record the task a create made; the entry becomes ``created``.

        Returns the task id the journal holds: ``task_id``, or the one an earlier
        completion recorded (the first completion wins). Raises ``StoreError`` if
        the key was never reserved (or was released).
        """

    @abc.abstractmethod
    async def journal_release(self, namespace: str, key: str, *, owner: str) -> bool:
        """Forget a ``sending`` entry: the create definitively failed, a re-run sends it.

        Returns False, changing nothing, unless the entry is ``sending`` and
        ``owner``'s.
        """

    @abc.abstractmethod
    async def journal_entries(self, namespace: str, run: str | None = None) -> list[JournalEntry]:
        """The journal's entries, of one ``run`` or all, in (run, position, key) order.

        Entries without a run come first, then runs by name, each by position.
        """

    # -- claims --------------------------------------------------------------------

    @abc.abstractmethod
    async def claim(self, namespace: str, task_id: str, claimant: str | None = None) -> bool:
        """Claim a task; True if the caller holds it now, False if someone else does.

        The first claim of a task wins, for ever. ``claimant`` names who claims (an
        idempotency key): a later claim by the same claimant is True again, so a
        process that re-runs a crashed create can adopt the task its key made. An
        anonymous claim (None) is True only for the very first claim.
        """

    # -- stream checkpoints --------------------------------------------------------

    @abc.abstractmethod
    async def checkpoint_load(self, namespace: str, task_id: str, consumer: str) -> set[str]:
        """The ids of the rows ``consumer`` has taken from the task so far."""

    @abc.abstractmethod
    async def checkpoint_add(
        self, namespace: str, task_id: str, consumer: str, row_ids: Iterable[str]
    ) -> None:
        """Record rows as taken by ``consumer`` (adding an id twice is harmless)."""

    # -- lifetime ------------------------------------------------------------------

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release connections and threads; the store is unusable afterwards."""

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def _take_start_by_reserve(
    self: Store, namespace: str, *, rate: float | None, burst: int = 1, second: float = 1.0
) -> float:
    """``take_start`` of a store that implements only the old name, ``reserve``."""
    return await self.reserve(namespace, rate=rate, burst=burst, second=second)
