"""The five endpoints as typed calls: models in, models out.

This is also where the two requests that cost credits, create and resume, get
their safe retries: after an ambiguous failure (the request may have reached the
service) they look for the effect before sending again.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from ._converter import converter
from ._errors import APIResponseError
from ._models import CompanyResult, TaskState
from ._protocol import Request, get_request, list_request, results_request, resume_request
from ._session import Session

__all__ = ["CREATE_MATCH_WINDOW", "Endpoints", "ResultsPage"]

#: After an ambiguous create failure, a matching task created up to this long before
#: the first attempt is taken to be ours (allows for clock skew with the service).
CREATE_MATCH_WINDOW = timedelta(seconds=60)
_RECENT_IDS = 10_000  # remembered task ids this client created; plenty for the window
_LOOKUP_PAGE = 20


@attrs.frozen
class ResultsPage:
    """One page of results, with the task state that came with it."""

    state: TaskState
    rows: list[CompanyResult]


class Endpoints:
    """Typed calls for ``/v1/discovery_tasks``, shared by a client and its handles."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._created: OrderedDict[str, None] = OrderedDict()
        self._sending: Counter[str] = Counter()
        self._settled: dict[str, asyncio.Event] = {}

    async def create(self, request: Request) -> TaskState:
        """Create a task; never creates two for one call, whatever fails.

        A failure that provably had no effect (connection refused, 408, 429) is
        retried as usual. After an ambiguous one (5xx, lost or garbled answer) the
        next attempt first lists the newest tasks and adopts one matching this
        request (same query, target, criteria and table, created since shortly
        before the first attempt, not already claimed by this client); only if
        there is none is the request sent again.
        """
        body: dict[str, Any] = request.body
        fingerprint = json.dumps(body, sort_keys=True)
        not_before = datetime.now(timezone.utc) - CREATE_MATCH_WINDOW

        async def attempt() -> TaskState:
            with self._in_flight(fingerprint):
                state = self._task(request, await self.session.send_once(request))
                self._claim(state.id)
            return state

        async def reconcile() -> TaskState | None:
            await self._quiet(fingerprint)
            found = await self._find_created(body, not_before)
            if found is not None:
                self._claim(found.id)
            return found

        return await self.session.send_unsafe(attempt, reconcile)

    async def get(self, task_id: str) -> TaskState:
        """Fetch a task's current state."""
        request = get_request(task_id)
        return self._task(request, await self.session.send(request))

    async def list_page(self, *, offset: int, limit: int) -> list[TaskState]:
        """Fetch one page of the task list, newest first."""
        request = list_request(offset=offset, limit=limit)
        data = await self.session.send(request)
        if not isinstance(data, list):
            raise self._shape_error(request, f"expected an array, got {type(data).__name__}")
        return [self._task(request, item) for item in data]

    async def results_page(self, task_id: str, *, offset: int, limit: int) -> ResultsPage:
        """Fetch one page of a task's results, ordered by relevance."""
        request = results_request(task_id, offset=offset, limit=limit)
        data = await self.session.send(request)
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise self._shape_error(request, "expected an object with a 'results' array")
        rows = data.pop("results")
        try:
            results = converter.structure(rows, list[CompanyResult])
        except (KeyError, TypeError, ValueError) as exc:
            raise self._shape_error(request, f"unexpected result row: {exc!r}") from exc
        return ResultsPage(self._task(request, data), results)

    async def resume(self, state: TaskState, desired_new_results: object) -> TaskState:
        """Ask for more results; never applied twice for one call, whatever fails.

        After an ambiguous failure the task is fetched: if its
        ``desired_num_results`` moved from ``state``'s, the resume took effect and
        is not sent again.
        """
        request = resume_request(state.id, desired_new_results=desired_new_results)

        async def attempt() -> TaskState:
            return self._task(request, await self.session.send_once(request))

        async def reconcile() -> TaskState | None:
            now = await self.get(state.id)
            return now if now.desired_num_results != state.desired_num_results else None

        return await self.session.send_unsafe(attempt, reconcile)

    def _task(self, request: Request, data: Any) -> TaskState:
        if not isinstance(data, dict):
            raise self._shape_error(request, f"expected an object, got {type(data).__name__}")
        try:
            return converter.structure(data, TaskState)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._shape_error(request, f"unexpected task object: {exc!r}") from exc

    def _shape_error(self, request: Request, problem: str) -> APIResponseError:
        url = self.session.url(request)
        return APIResponseError(
            f"{request.method} {url}: unexpected answer: {problem}",
            method=request.method,
            url=url,
        )

    # -- create bookkeeping ---------------------------------------------------------

    def _claim(self, task_id: str) -> None:
        self._created[task_id] = None
        if len(self._created) > _RECENT_IDS:
            self._created.popitem(last=False)

    @contextmanager
    def _in_flight(self, fingerprint: str) -> Iterator[None]:
        self._sending[fingerprint] += 1
        try:
            yield
        finally:
            self._sending[fingerprint] -= 1
            if not self._sending[fingerprint]:
                del self._sending[fingerprint]
                event = self._settled.pop(fingerprint, None)
                if event is not None:
                    event.set()

    async def _quiet(self, fingerprint: str) -> None:
        # An identical create of ours still in flight may be the one that made the
        # task we are about to find; wait until it has claimed it.
        while self._sending[fingerprint]:
            await self._settled.setdefault(fingerprint, asyncio.Event()).wait()

    async def _find_created(self, body: dict[str, Any], not_before: datetime) -> TaskState | None:
        offset = 0
        while True:
            page = await self.list_page(offset=offset, limit=_LOOKUP_PAGE)
            for state in page:
                if state.created_at < not_before:
                    return None
                if state.id not in self._created and _same_request(state, body):
                    return state
            if len(page) < _LOOKUP_PAGE:
                return None
            offset += _LOOKUP_PAGE


def _same_request(state: TaskState, body: dict[str, Any]) -> bool:
    if state.query != body["query"] or state.desired_num_results != body["desired_num_results"]:
        return False
    if state.auto_data_sources != body["auto_data_sources"]:
        return False
    if "criteria" in body:
        sent = [tuple(c[k] for k in ("key", "name", "criterion")) for c in body["criteria"]]
        got = [(c.key, c.name, c.criterion) for c in state.criteria or ()]
        if sent != got:
            return False
    return "table" not in body or state.table_id == body["table"]["id"]
