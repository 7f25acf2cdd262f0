"""The reading endpoints and resume as typed calls: a request from ``_protocol`` in, a model out.

No parsing and no retrying here: ``_protocol`` decides what an answer means and the
pipeline sends. What lives here is which request each call builds, and the one
thing a resume needs to be safe to retry: how to tell that it took effect. (Creating,
the fifth endpoint, has rules of its own: ``_create``.)
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from ._models import TaskState
from ._pipeline import Budget, Pipeline
from ._protocol import (
    Reply,
    ResultsPage,
    get_request,
    list_request,
    results_request,
    resume_request,
)

__all__ = ["Endpoints"]


class Endpoints:
    """Typed calls for ``/v1/discovery_tasks``, shared by a client and its handles.

    Args:
        pipeline: the path every request takes.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    # The reads hand back the pipeline's own coroutine (no coroutine of their own
    # around it): one layer less on the path of every status read and results page.

    def get(self, task_id: str) -> Coroutine[Any, Any, Reply[TaskState]]:
        """A task's current state (to await)."""
        return self.pipeline.send(get_request(task_id))

    def list_page(self, *, offset: int, limit: int) -> Coroutine[Any, Any, Reply[list[TaskState]]]:
        """One page of the task list, newest first (to await)."""
        return self.pipeline.send(list_request(offset=offset, limit=limit))

    def results_page(
        self, task_id: str, *, offset: int, limit: int
    ) -> Coroutine[Any, Any, Reply[ResultsPage]]:
        """One page of a task's results, best first, with the task's state (to await)."""
        return self.pipeline.send(results_request(task_id, offset=offset, limit=limit))

    async def resume(self, state: TaskState, desired_new_results: object) -> Reply[TaskState]:
        """Ask for more results; never applied twice for one call, whatever fails.

        After a failure that may have applied, the task is read: if its
        ``desired_num_results`` moved from ``state``'s, the resume took effect.
        """
        request = resume_request(state.id, desired_new_results=desired_new_results)

        async def reconcile(budget: Budget) -> Reply[Any] | None:
            now: Reply[TaskState] = await self.pipeline.send(
                get_request(state.id), budget=budget
            )
            moved = now.value.desired_num_results != state.desired_num_results
            return now if moved else None

        return await self.pipeline.send(request, reconcile=reconcile)
