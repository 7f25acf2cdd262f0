"""Stream checkpoints: which rows a named consumer has taken from a task, in the store.

``task.stream(consumer="writer")`` loads the ids the consumer has taken, skips them,
and records each row as taken **when the consumer asks for the next one** (or for the
end of the stream), in the store, before the next row is handed over. So the delivery
guarantee of a checkpointed stream is *at least once*: a stream restarted after a crash
(of the process, a deploy, a worker) yields every row the consumer had not taken, and
of the rows it had been given, at most one again, the row it held when it died. A
consumer that leaves the loop early has not taken the row in hand either.

One consumer name is one reader at a time: two streams of one task under the same name
both deliver the rows neither has recorded yet. Without a store the checkpoint lives
in the client's memory (a stream restarted in the same process resumes).
"""

from __future__ import annotations

from . import _arguments as check
from ._errors import InvalidRequestError
from ._store import Scope

__all__ = ["Checkpoint"]

_MAX_CONSUMER_LENGTH = 256


class Checkpoint:
    """One consumer's progress through one task's rows.

    Attributes:
        taken: ids of the rows the consumer had taken when the stream started.
    """

    __slots__ = ("_consumer", "_scope", "_task_id", "taken")

    def __init__(self, scope: Scope, task_id: str, consumer: str, taken: set[str]) -> None:
        self._scope = scope
        self._task_id = task_id
        self._consumer = consumer
        self.taken = taken

    @classmethod
    async def open(cls, scope: Scope, task_id: str, consumer: str | None) -> Checkpoint | None:
        """The checkpoint of ``consumer`` on the task (None for an unnamed stream).

        Raises:
            InvalidRequestError: ``consumer`` is blank, too long or not printable.
            StoreError: the store failed.
        """
        if consumer is None:
            return None
        name = check.text("consumer", consumer)
        if len(name) > _MAX_CONSUMER_LENGTH or not name.isprintable():
            raise InvalidRequestError(
                "consumer", f"a printable name of at most {_MAX_CONSUMER_LENGTH} characters"
            )
        taken = await scope.store.checkpoint_load(scope.namespace, task_id, name)
        return cls(scope, task_id, name, taken)

    async def record(self, row_id: str) -> None:
        """Record a row as taken (the consumer asked for the next one)."""
        scope = self._scope
        await scope.store.checkpoint_add(scope.namespace, self._task_id, self._consumer, (row_id,))
