"""The store's clock reading at each decision: what exact tests and audits compare.

``Store.take_start`` returns only the wait; each backend's private
``_take_start_timed`` also returns its clock reading at the decision (epoch seconds
for SQLite and Redis), so a test can place every start on the store's own clock.
"""

from __future__ import annotations

from extruct_async._store import Store


async def take_start_timed(
    store: Store, namespace: str, *, rate: float | None, burst: int = 1, second: float = 1.0
) -> tuple[float, float]:
    """``take_start``'s ``(wait, now)``: the start is at ``now + wait``, store clock."""
    wait, now = await store._take_start_timed(namespace, rate, burst, second)  # type: ignore[attr-defined]
    return float(wait), float(now)
