"""The Redis store: many machines, one Redis 6+ or Valkey server.

Through redis-py's asyncio client (the optional extra ``extruct-async[redis]``).
Every read-modify-write is one Lua script (``_redis_scripts``) that reads the
server's clock, so the rules hold across machines whose clocks disagree. Keys are
``extruct:{namespace}:...``: one hash slot per namespace.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
from collections.abc import Awaitable, Iterable, Iterator
from typing import cast
from urllib.parse import quote

import redis.asyncio
import redis.exceptions

from .._rate import RateRule
from . import _journal, _redis_scripts
from ._base import JournalEntry, JournalState, Reservation, ReserveOutcome, Store, StoreError

__all__ = ["RedisStore", "redis_keys"]

_US = 1_000_000


def redis_keys(namespace: str) -> str:
    """The prefix of every key a namespace owns (for operators and tests)."""
    return f"extruct:{{{namespace}}}:"


class RedisStore(Store):
    """A store on a Redis (6+) or Valkey server, shared by every client that uses it.

    Args:
        url: a ``redis://``, ``rediss://`` or ``unix://`` URL, as redis-py reads it
            (``valkey://`` and ``valkeys://`` are accepted as aliases).
        clock_offset: seconds added to the server's clock; 0 outside tests (a test
            gives one client a clock that runs ahead to see leases expire).
        socket_timeout: seconds one command may take before ``StoreError``, unless
            the URL sets ``socket_timeout``.
    """

    def __init__(
        self, url: str, *, clock_offset: float = 0.0, socket_timeout: float = 10.0
    ) -> None:
        for alias, scheme in (("valkey://", "redis://"), ("valkeys://", "rediss://")):
            if url.startswith(alias):
                url = scheme + url[len(alias) :]
        self._client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
        )
        #: Seconds added to the server's clock (0 outside tests; see Args).
        self.clock_offset = clock_offset
        self._take = self._client.register_script(_redis_scripts.TAKE_START)
        self._pause = self._client.register_script(_redis_scripts.PAUSE)
        self._reserve = self._client.register_script(_redis_scripts.JOURNAL_RESERVE)
        self._renew = self._client.register_script(_redis_scripts.JOURNAL_RENEW)
        self._complete = self._client.register_script(_redis_scripts.JOURNAL_COMPLETE)
        self._release = self._client.register_script(_redis_scripts.JOURNAL_RELEASE)
        self._claim = self._client.register_script(_redis_scripts.CLAIM)

    def __repr__(self) -> str:
        kwargs = self._client.connection_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        return f"RedisStore({where!r}, db={kwargs.get('db', 0)})"

    def _offset(self) -> str:
        return str(round(self.clock_offset * _US))

    @contextlib.contextmanager
    def _failures(self) -> Iterator[None]:
        try:
            yield
        except redis.exceptions.RedisError as exc:
            raise StoreError(f"{self!r}: {type(exc).__name__}: {exc}") from exc

    # -- shared rate limit and pause -----------------------------------------------

    async def take_start(
        self, namespace: str, *, rate: float | None, burst: int = 1, second: float = 1.0
    ) -> float:
        """See ``Store.take_start``."""
        wait, _ = await self._take_start_timed(namespace, rate, burst, second)
        return wait

    async def _take_start_timed(
        self, namespace: str, rate: float | None, burst: int, second: float
    ) -> tuple[float, float]:
        """``take_start``'s wait, and the server's clock reading it was decided at."""
        prefix = redis_keys(namespace)
        if rate is None:
            args = [self._offset(), "0", "0", "1", "1", "1", str(_US)]
        else:
            rule = RateRule(rate, burst, second)  # checks the limits
            span = math.ceil(second * _US)  # whole microseconds, rounded up: never faster
            window = math.ceil(burst * span / rate)
            args = [
                self._offset(),
                "1",
                str(window),
                str(burst),
                str(rule.cap),
                str(rule.keep),
                str(span),
            ]
        with self._failures():
            wait, now = await self._take(keys=[prefix + "rate", prefix + "starts"], args=args)
        return wait / _US, now / _US

    async def pause(self, namespace: str, seconds: float) -> None:
        """See ``Store.pause``."""
        await self._pause_timed(namespace, seconds)

    async def _pause_timed(self, namespace: str, seconds: float) -> float:
        """``pause``, returning the server's clock reading it paused from."""
        with self._failures():
            now = await self._pause(
                keys=[redis_keys(namespace) + "rate"],
                args=[self._offset(), str(math.ceil(seconds * _US))],
            )
        return float(now) / _US

    # -- the create journal --------------------------------------------------------

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
        if run is not None and "\x00" in run:
            raise ValueError("run: a run name cannot contain NUL characters")
        args = [
            self._offset(),
            key,
            _index_member(key, run, position),
            body_json,
            owner,
            str(math.ceil(lease_seconds * _US)),
            run or "",
            "0" if run is None else "1",
            "" if position is None else str(position),
        ]
        with self._failures():
            outcome, wait, raw = await self._reserve(keys=_journal_keys(namespace), args=args)
        return Reservation(ReserveOutcome(outcome), _to_entry(raw), wait / _US)

    async def journal_renew(
        self, namespace: str, key: str, *, owner: str, lease_seconds: float
    ) -> bool:
        """See ``Store.journal_renew``."""
        with self._failures():
            renewed = await self._renew(
                keys=_journal_keys(namespace)[:1],
                args=[self._offset(), key, owner, str(math.ceil(lease_seconds * _US))],
            )
        return bool(renewed)

    async def journal_complete(
        self, namespace: str, key: str, *, task_id: str, created_at: str
    ) -> str:
        """See ``Store.journal_complete``."""
        with self._failures():
            recorded = await self._complete(
                keys=_journal_keys(namespace)[:1], args=[key, task_id, created_at]
            )
        if recorded is None:
            raise StoreError(f"journal_complete: no journal entry for key {key!r}")
        return str(recorded)

    async def journal_release(self, namespace: str, key: str, *, owner: str) -> bool:
        """See ``Store.journal_release``."""
        with self._failures():
            released = await self._release(keys=_journal_keys(namespace), args=[key, owner])
        return bool(released)

    async def journal_entries(self, namespace: str, run: str | None = None) -> list[JournalEntry]:
        """See ``Store.journal_entries``."""
        journal, index = _journal_keys(namespace)
        with self._failures():
            found: list[str | None]  # decode_responses: str throughout
            if run is None:
                found = await cast("Awaitable[list[str | None]]", self._client.hvals(journal))
            else:
                start = "1" + run + "\x00"
                members = await self._client.zrangebylex(
                    index, "[" + start, "(" + start[:-1] + "\x01"
                )
                keys = [_index_key(member) for member in cast("list[str]", members)]
                found = []
                if keys:
                    found = await cast(
                        "Awaitable[list[str | None]]", self._client.hmget(journal, keys)
                    )
        entries = [_to_entry(raw) for raw in found if raw is not None]
        return sorted(entries, key=_journal.order)

    # -- claims and checkpoints ----------------------------------------------------

    async def claim(self, namespace: str, task_id: str, claimant: str | None = None) -> bool:
        """See ``Store.claim``."""
        with self._failures():
            held = await self._claim(
                keys=[redis_keys(namespace) + "claimed"],
                args=[task_id, "" if claimant is None else "=" + claimant],
            )
        return bool(held)

    async def checkpoint_load(self, namespace: str, task_id: str, consumer: str) -> set[str]:
        """See ``Store.checkpoint_load``."""
        with self._failures():
            members = await cast(  # decode_responses: all str
                "Awaitable[set[str]]",
                self._client.smembers(_checkpoint_key(namespace, task_id, consumer)),
            )
        return members

    async def checkpoint_add(
        self, namespace: str, task_id: str, consumer: str, row_ids: Iterable[str]
    ) -> None:
        """See ``Store.checkpoint_add``."""
        ids = list(row_ids)
        if ids:
            with self._failures():
                added = self._client.sadd(_checkpoint_key(namespace, task_id, consumer), *ids)
                if inspect.isawaitable(added):  # typed "int | Awaitable" by redis-py < 6
                    await added

    # -- lifetime ------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _index_member(key: str, run: str | None, position: int | None) -> str:
    """The journal index member: ordered by (run, position) in lexicographic order.

    Entries without a run sort first ("0..."); a run's members share the prefix
    "1<run>" and a NUL, so one run is a lexicographic range.
    """
    if run is None:
        return "0\x00" + key
    place = "" if position is None else f"{position:020d}"
    return f"1{run}\x00{place}\x00{key}"


def _index_key(member: str) -> str:
    return member.split("\x00", 1 if member.startswith("0") else 2)[-1]


def _journal_keys(namespace: str) -> list[str]:
    prefix = redis_keys(namespace)
    return [prefix + "journal", prefix + "journal:index"]


def _checkpoint_key(namespace: str, task_id: str, consumer: str) -> str:
    return f"{redis_keys(namespace)}checkpoint:{quote(task_id, safe='')}:{quote(consumer, safe='')}"


def _to_entry(raw: str) -> JournalEntry:
    fields = json.loads(raw)
    lease_until = fields.get("lease_until")
    return JournalEntry(
        key=fields["key"],
        run=fields.get("run"),
        position=fields.get("position"),
        body_json=fields["body_json"],
        state=JournalState(fields["state"]),
        owner=fields["owner"],
        reserved_at=int(fields["reserved_at"]) / _US,
        lease_until=None if lease_until is None else int(lease_until) / _US,
        task_id=fields.get("task_id"),
        created_at=fields.get("created_at"),
    )
