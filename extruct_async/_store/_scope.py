"""What one client sees of a store: the store, its namespace, and who else shares it."""

from __future__ import annotations

import attrs

from ._base import Store

__all__ = ["Scope"]


@attrs.frozen
class Scope:
    """A client's place in a store.

    Attributes:
        store: the store.
        namespace: the client's namespace in it (a hash of API key and base URL).
        shared: other clients may use the store too (a SQLite file, a Redis server, a
            store object passed in): rate limit, pause and claims go through it.
            False for the private in-memory store of a client configured without one,
            whose gate and claims stay in the client's memory, as fast as ever.
        owned: the client opened the store from a URL, so the client closes it.
    """

    store: Store
    namespace: str
    shared: bool
    owned: bool
