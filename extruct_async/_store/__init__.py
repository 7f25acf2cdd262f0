"""Where clients keep what must outlive one process: rate limit, journal, claims, checkpoints.

``open_store(url)`` gives a ``Store``: ``MemoryStore`` (this process only),
``SQLiteStore`` (one machine, many processes) or ``RedisStore`` (many machines,
needs the ``redis`` extra). The last two are imported only when used, so a client
without a store never loads sqlite3 or redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._base import JournalEntry, JournalState, Reservation, ReserveOutcome, Store, StoreError
from ._memory import MemoryStore
from ._namespace import namespace_for
from ._open import STORE_ENV, open_store
from ._scope import Scope

if TYPE_CHECKING:
    from ._redis import RedisStore
    from ._sqlite import SQLiteStore

__all__ = [
    "STORE_ENV",
    "JournalEntry",
    "JournalState",
    "MemoryStore",
    "RedisStore",
    "Reservation",
    "ReserveOutcome",
    "SQLiteStore",
    "Scope",
    "Store",
    "StoreError",
    "namespace_for",
    "open_store",
]


def __getattr__(name: str) -> Any:
    # RedisStore needs the optional redis package, SQLiteStore sqlite3 and a thread
    # pool: import them only when asked for.
    if name == "RedisStore":
        from ._redis import RedisStore

        return RedisStore
    if name == "SQLiteStore":
        from ._sqlite import SQLiteStore

        return SQLiteStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
