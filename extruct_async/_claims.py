"""Claims: which tasks a create made or adopted, so that no look-up adopts them again.

A task id is claimed by the create that made or adopted it; a look-up never adopts a
task claimed by someone else. With a shared store the claims are the store's
(``Store.claim``), so two processes never adopt the same task; a journaled create claims
under its idempotency key, so a re-run of that key can adopt what it made.
"""

from __future__ import annotations

from collections import OrderedDict

from ._store import Scope

__all__ = ["Claims", "SharedClaims"]

_REMEMBERED_CLAIMS = 10_000


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
