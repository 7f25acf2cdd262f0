"""Where followed tasks sit in the task list, and which list pages are worth reading.

A list page (``GET /v1/discovery_tasks``, newest first, :data:`SCAN_PAGE_SIZE` tasks)
refreshes every followed task on it for one request; a direct read one task. So the
poller remembers where each followed task sits in the list (its :class:`Spot`), as a
lower bound on its offset: new tasks are only ever added at the top, so a task only
moves down, and all tasks move down together. One shared *shift*
(:class:`Placement`: tasks created since) corrects every remembered position at once;
each page that shows a task whose position was known measures the shift exactly.

One cycle's reads are a :class:`Plan`:

- **Placed tasks** (seen in the list before): the next page starts at the highest
  due task's position and is read only if it is expected to hold at least two due
  tasks; a task alone in its window is read directly instead. Pages of unfollowed
  tasks in between are skipped, not walked.
- **Unplaced tasks** (never seen in the list): the newest of them sits highest. The
  plan looks for it from its lower bound, skipping ahead further after each page
  that is entirely newer than it (``created_at``: the list is newest first), and
  halving back once it has overshot. A page's ``created_at`` range also tells when a
  task is not in the list at all: it is then read directly from then on.
- **Misses.** A page that refreshes fewer than two followed tasks (due or not: every
  followed task on a page read is refreshed) is a miss; after :data:`MAX_MISSES`
  misses in a cycle, the rest is read directly. So a cycle that refreshes ``r``
  followed tasks never sends more than ``r + MAX_MISSES`` requests, and when the due
  tasks sit together in ``s`` consecutive list positions it reads ``ceil(s / 100)``
  pages, one more when new tasks were created above them since the last cycle.

Positions only decide the cost, never the outcome: whatever the pages did not refresh
the poller reads directly.
"""

from __future__ import annotations

import bisect
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from ._models import TaskState
from ._pagination import walk

__all__ = ["MAX_MISSES", "SCAN_PAGE_SIZE", "Listed", "Placement", "Plan", "Spot", "side"]

#: Tasks per list page.
SCAN_PAGE_SIZE = 100
#: Pages per cycle that may refresh fewer than two followed tasks before the rest is
#: read directly: the most a cycle can cost beyond one request per task it refreshes.
MAX_MISSES = 2

BELOW, ABOVE, GONE = "below", "above", "gone"


class Spot:
    """Where one followed task sits in the list, as far as anyone knows."""

    __slots__ = ("exact", "pos")

    def __init__(self, pos: int | None) -> None:
        #: A lower bound of (offset in the list - the placement's shift); None when the
        #: list's dates showed it is not in the list (then it is read directly, until a
        #: page shows it after all).
        self.pos: int | None = pos
        #: Whether ``pos`` was the task's exact place when last seen.
        self.exact: bool = False


class Listed(Protocol):
    """A followed task as the plan sees it: its latest state and its spot."""

    @property
    def state(self) -> TaskState: ...

    @property
    def spot(self) -> Spot: ...


_L = TypeVar("_L", bound=Listed)


class Placement:
    """What is known of the list as a whole, across cycles."""

    __slots__ = ("shift", "skip")

    def __init__(self) -> None:
        #: Tasks created above the followed ones since the poller began (a lower bound).
        self.shift: int = 0
        #: How far the search for unplaced tasks skips ahead (grows while it undershoots).
        self.skip: int = 0

    def new_spot(self) -> Spot:
        """The spot of a task followed from now on: somewhere below the top."""
        return Spot(-self.shift)


def side(created_at: datetime, offset: int, page: Sequence[TaskState], limit: int) -> str:
    """Where a task missing from the page at ``offset`` must be, judged by the list's dates.

    ``below`` the page, ``above`` it, or ``gone``: not in the list at all.
    """
    if not page:
        return GONE if offset == 0 else ABOVE  # an empty list holds nothing
    newest, oldest = page[0].created_at, page[-1].created_at
    if created_at > newest:
        return ABOVE
    if created_at < oldest:
        return BELOW if len(page) == limit else GONE
    # Equal dates may be listed in any order: such a task may be just past the page.
    if created_at == oldest and len(page) == limit:
        return BELOW
    if created_at == newest:
        return ABOVE
    return GONE  # its place is on this page, and it is not there


class Plan(Generic[_L]):
    """One cycle's list reads: which page next, and what each page showed.

    Args:
        placement: what is known of the list; the plan updates it.
        pending: the due tasks by id; a task a page refreshes leaves it.
        lookup: any followed task by id (due or not), or None.
        accept: takes a listed state for a followed task; False if it was older
            than what is known (then the task is read directly).
    """

    def __init__(
        self,
        placement: Placement,
        pending: dict[str, _L],
        lookup: Callable[[str], _L | None],
        accept: Callable[[_L, TaskState], bool],
    ) -> None:
        self._placement = placement
        self.pending = pending
        self._lookup = lookup
        self._accept = accept
        #: Due tasks read directly this cycle, whatever the pages show.
        self.direct: set[str] = set()
        # Placed tasks in list order: one shared shift never changes their order.
        self._placed = sorted((t for t in pending.values() if t.spot.exact), key=_place)
        self._placed_pos = [_place(t) for t in self._placed]
        self._first_placed = 0
        # Unplaced tasks, newest (highest in the list) first.
        self._unplaced = deque(sorted(
            (t for t in pending.values() if not t.spot.exact and t.spot.pos is not None),
            key=lambda t: t.state.created_at, reverse=True,
        ))
        #: Pages read this cycle, as (offset, page).
        self._pages: list[tuple[int, Sequence[TaskState]]] = []
        self._end: int | None = None  # the list's length, once a short page showed it
        self._misses = 0
        self._target: _L | None = None  # the unplaced task the last page looked for

    def _open(self, tracked: _L) -> bool:
        """Still to refresh this cycle, and not given up to a direct read.

        A task found on a page leaves ``pending``; one whose place turned out wrong
        goes to ``direct``: so an open task is as placed (or not) as it was at the start.
        """
        task_id = tracked.state.id
        return self.pending.get(task_id) is tracked and task_id not in self.direct

    def next_offset(self) -> int | None:
        """The offset of the next page worth reading, or None: read the rest directly."""
        self._target = None
        if self._misses >= MAX_MISSES:
            return None
        shift = self._placement.shift
        # Placed tasks: a page at the highest one, if it would hold two due tasks.
        while self._first_placed < len(self._placed):
            first = self._placed[self._first_placed]
            if not self._open(first):
                self._first_placed += 1
                continue
            start = max(0, _place(first) + shift)
            if self._end is not None and start >= self._end:
                self._unplace(first)  # the list ends above where it was: look for it anew
                self._first_placed += 1
                continue
            stop = bisect.bisect_left(self._placed_pos, start + SCAN_PAGE_SIZE - shift)
            inside = self._placed[self._first_placed:stop]
            if sum(1 for t in inside if self._open(t)) >= 2:
                return start
            self.direct.add(first.state.id)  # alone in its window: one direct read is cheaper
            self._first_placed += 1
        # Unplaced tasks: look for the newest one.
        while self._unplaced and not self._open(self._unplaced[0]):
            self._unplaced.popleft()
        if len(_take(self._unplaced, 2, self._open)) < 2:
            return None
        target = self._unplaced[0]
        floor, ceiling, gone = self._bounds(target)
        if gone:  # a page already read holds its place, and not it
            self._unplace(target, listed=False)
            return self.next_offset()
        if ceiling is not None and ceiling <= floor:  # the list changed under us
            self._unplace(target)
            return self.next_offset()
        self._target = target
        if ceiling is None:
            return floor + self._placement.skip
        # Overshot: halve back (a page at the floor once the gap fits in one).
        return floor + (ceiling - floor) // (2 * SCAN_PAGE_SIZE) * SCAN_PAGE_SIZE

    def _bounds(self, tracked: _L) -> tuple[int, int | None, bool]:
        """Where ``tracked`` can be, from its lower bound and this cycle's pages.

        Returns the lowest offset it can have, the offset it must be above (or None),
        and whether a page showed it is not in the list at all.
        """
        floor = max(0, _place(tracked) + self._placement.shift)
        ceiling = self._end
        created = tracked.state.created_at
        for offset, page in self._pages:
            where = side(created, offset, page, SCAN_PAGE_SIZE)
            if where == BELOW:
                floor = max(floor, offset + len(page))
            elif where == ABOVE:
                ceiling = offset if ceiling is None else min(ceiling, offset)
            else:
                return floor, ceiling, True
        return floor, ceiling, False

    def _unplace(self, tracked: _L, *, listed: bool = True) -> None:
        """Its remembered place was wrong: forget it, read it directly this cycle.

        With ``listed`` False, the list does not show it at all: no page is looked for
        it again, unless one read for others shows it.
        """
        tracked.spot.exact = False
        tracked.spot.pos = -self._placement.shift if listed else None
        self.direct.add(tracked.state.id)

    def take(self, offset: int, page: Sequence[TaskState]) -> None:
        """Refresh every followed task on the page; learn positions, the shift, the misses."""
        placement = self._placement
        tracked_here: list[tuple[int, _L, TaskState]] = []
        measured: int | None = None
        for i, state in enumerate(page):
            tracked = self._lookup(state.id)
            if tracked is None:
                continue
            tracked_here.append((offset + i, tracked, state))
            if tracked.spot.exact:
                shift = offset + i - _place(tracked)
                measured = shift if measured is None else max(measured, shift)
        if measured is not None:
            placement.shift = measured
        refreshed = 0  # followed tasks, due or not: a page of them is worth its request
        for at, tracked, state in tracked_here:
            tracked.spot.pos = at - placement.shift
            tracked.spot.exact = True
            was_due = self.pending.get(state.id) is tracked
            if self._accept(tracked, state):
                refreshed += 1
                if was_due:
                    del self.pending[state.id]
            elif was_due:
                self.direct.add(state.id)  # older than what is known: read it directly
        self._pages.append((offset, page))
        if len(page) < SCAN_PAGE_SIZE:
            self._end = offset + len(page)
        self._placed_not_found(offset, page, measured=measured is not None)
        self._searched(offset, page, followed=bool(tracked_here))
        if refreshed < 2:
            self._misses += 1

    def _placed_not_found(self, offset: int, page: Sequence[TaskState], *, measured: bool) -> None:
        """Placed due tasks expected on the page but absent: correct the shift, or unplace."""
        placement = self._placement
        shift = placement.shift
        low = bisect.bisect_left(self._placed_pos, offset - shift)
        high = bisect.bisect_left(self._placed_pos, offset + len(page) - shift)
        for tracked in self._placed[low:high]:
            if not self._open(tracked):
                continue
            where = side(tracked.state.created_at, offset, page, SCAN_PAGE_SIZE)
            if where == BELOW and not measured:
                # More tasks were created above than known: every place moves down.
                placement.shift = max(placement.shift, offset + len(page) - _place(tracked))
            elif where == BELOW:
                # The page measured the shift, yet this one is further down: its own
                # place was off. Keep the lower bound; read it directly this time.
                tracked.spot.exact = False
                tracked.spot.pos = offset + len(page) - shift
                self.direct.add(tracked.state.id)
            elif where == ABOVE:
                self._unplace(tracked)
            else:
                self._unplace(tracked, listed=False)

    def _searched(self, offset: int, page: Sequence[TaskState], *, followed: bool) -> None:
        """After a page that looked for an unplaced task: skip further, or stop skipping.

        Only pages of nobody's tasks but others' are skipped: a page of followed tasks
        (due later) is worth reading on the way.
        """
        target, placement = self._target, self._placement
        if target is None:
            return
        if not self._open(target):
            placement.skip = 0  # found (or given up to a direct read)
            return
        below = side(target.state.created_at, offset, page, SCAN_PAGE_SIZE) == BELOW
        if below and not followed:
            placement.skip = placement.skip * 2 or SCAN_PAGE_SIZE
        else:
            placement.skip = 0  # overshot, not listed, or among followed tasks: go closer

    async def read(self, fetch: Callable[[int, int], Awaitable[Sequence[TaskState]]]) -> None:
        """Read the pages worth reading with ``fetch(offset, limit)``; take each.

        Consecutive pages are walked; the plan skips ahead, or stops, where it says.
        """
        offset = self.next_offset()
        while offset is not None:
            following: int | None = None
            pages = walk(fetch, limit=SCAN_PAGE_SIZE, offset=offset)
            async with contextlib.aclosing(pages):
                async for at, page in pages:
                    self.take(at, page)
                    following = self.next_offset()
                    if following != at + len(page):
                        break  # skip ahead, or done: leave the walk
            offset = following
        self._remember()

    def _remember(self) -> None:
        """Keep what the pages taught about the places of tasks they did not show."""
        if not self._pages:
            return
        shift = self._placement.shift
        for tracked in self.pending.values():
            if tracked.spot.pos is not None:
                floor, _, _ = self._bounds(tracked)
                tracked.spot.pos = max(tracked.spot.pos, floor - shift)


def _place(tracked: Listed) -> int:
    """The lower bound of a task the list shows (placed, or looked for)."""
    pos = tracked.spot.pos
    assert pos is not None, "a task not in the list has no place"
    return pos


def _take(items: Iterable[_L], n: int, keep: Callable[[_L], bool]) -> list[_L]:
    """The first ``n`` items that ``keep`` accepts."""
    taken: list[_L] = []
    for item in items:
        if keep(item):
            taken.append(item)
            if len(taken) == n:
                break
    return taken
