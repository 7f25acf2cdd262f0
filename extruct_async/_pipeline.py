"""The request pipeline: the one path every request of a client takes.

The life of one request, top to bottom (:meth:`Pipeline.send`):

1. wait for a turn at the gate (concurrency cap and rate limit, first come first
   served); the call's time budget starts at the first admission;
2. send once through the transport, with the auth headers and a timeout cut to what
   is left of the budget;
3. decode the answer (``_protocol.decode``): a model, or the error it stands for;
4. on a failure, ask the policy (``_retry``) whether and how long to wait; a 429
   pauses the whole gate for that wait before this request's slot frees;
5. a create or resume whose failed attempt may have taken effect is never sent again
   blindly: the caller's ``reconcile`` looks for the effect first (and once more when
   the retries run out), within the same budget.

Nothing is retried anywhere else: no wrapper above, no hidden re-send below (see
``_aiohttp``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode

import attrs

from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ClientStateError,
    ExtructError,
)
from ._gate import Gate
from ._protocol import Reply, Request, decode, encode_body
from ._retry import RetryPolicy, verdict
from ._transport import DEFAULT_MAX_RESPONSE_SIZE, Headers, HTTPRequest, Timeout, Transport

__all__ = ["Budget", "Connection", "Pipeline", "Reconcile"]

log = logging.getLogger("extruct_async")

_T = TypeVar("_T")

#: Looks for the effect of a create or resume that may have applied; None if absent.
Reconcile = Callable[["Budget"], Awaitable["Reply[Any] | None"]]


#: Forks this process descends from (counted in the child): a client's loop belongs to
#: the process that first used it.
_forks = 0


def _forked() -> None:
    global _forks
    _forks += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


class Budget:
    """One call's time budget: ``max_time`` seconds from its first admission.

    Shared by the call's attempts and by the look-ups a create or resume makes, so one
    deadline bounds all of them.
    """

    __slots__ = ("_deadline", "max_time")

    def __init__(self, max_time: float) -> None:
        self.max_time: float = max_time
        self._deadline: float | None = None

    def start(self, now: float) -> float:
        """Start the clock (the first admission; later calls change nothing); time left."""
        if self._deadline is None:
            self._deadline = now + self.max_time
        return self._deadline - now

    def remaining(self, now: float) -> float:
        """Seconds left; the whole ``max_time`` before the start."""
        return self.max_time if self._deadline is None else self._deadline - now

    def elapsed(self, now: float) -> float:
        """Seconds since the start."""
        return self.max_time - self.remaining(now)

    @property
    def started(self) -> float | None:
        """When the first attempt was admitted (loop time), or None before."""
        return None if self._deadline is None else self._deadline - self.max_time


class Connection:
    """What a client and its ``with_options`` copies share: the way to the service.

    The transport and the gate, the service's URL, the headers every request carries
    (two unchanging ``Headers`` objects: the transport sends each as a session's
    defaults), and whether the client is closed and which loop it belongs to.

    Args:
        transport: the HTTP backend.
        gate: admission control shared by every request of the client.
        base_url: scheme and host of the service, without a trailing slash.
        headers: sent with every request (``Authorization`` included; masked in reprs).
        max_response_size: the largest answer read.
    """

    __slots__ = ("base_url", "closed", "forks", "gate", "headers", "json_headers", "loop",
                 "max_response_size", "transport")

    def __init__(
        self,
        *,
        transport: Transport,
        gate: Gate,
        base_url: str,
        headers: Mapping[str, str],
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        self.transport: Transport = transport
        self.gate: Gate = gate
        self.base_url: str = base_url
        self.headers: Headers = Headers(headers)
        self.json_headers: Headers = Headers({**headers, "Content-Type": "application/json"})
        self.max_response_size: int = max_response_size
        self.loop: asyncio.AbstractEventLoop | None = None
        self.forks: int = 0  # ``_forks`` when ``loop`` was taken
        self.closed: bool = False

    def __repr__(self) -> str:
        return f"Connection(base_url={self.base_url!r})"


class Pipeline:
    """Send requests through the gate, with auth, retries, logging and decoding.

    Args:
        connection: the transport, gate, URL and headers (shared by copies).
        policy: the retry policy.
        timeout: the limits of one attempt.
    """

    def __init__(self, connection: Connection, *, policy: RetryPolicy, timeout: Timeout) -> None:
        self._shared = connection
        self.policy = policy
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Pipeline(base_url={self.base_url!r})"

    @property
    def connection(self) -> Connection:
        """What this pipeline shares with its copies."""
        return self._shared

    @property
    def base_url(self) -> str:
        """The service's URL."""
        return self._shared.base_url

    @property
    def gate(self) -> Gate:
        """The gate every request passes."""
        return self._shared.gate

    @property
    def transport(self) -> Transport:
        """The HTTP backend."""
        return self._shared.transport

    def with_options(
        self, *, policy: RetryPolicy | None = None, timeout: Timeout | None = None
    ) -> Pipeline:
        """A pipeline with other per-request options, sharing its connection."""
        return Pipeline(
            self._shared, policy=policy or self.policy, timeout=timeout or self.timeout
        )

    def url(self, request: Request) -> str:
        """The absolute URL of ``request``, query string included."""
        query = f"?{urlencode(request.params)}" if request.params else ""
        return f"{self._shared.base_url}{request.path}{query}"

    async def aclose(self) -> None:
        """Refuse further requests and close the transport; idempotent."""
        if not self._shared.closed:
            self._shared.closed = True
            await self._shared.transport.aclose()

    def check_usable(self) -> asyncio.AbstractEventLoop:
        """The running loop, if this client may be used from it.

        Raises:
            ClientStateError: the client is closed, or was first used on another loop.
        """
        shared = self._shared
        if shared.closed:
            raise ClientStateError(
                "the client is closed: create a new AsyncExtruct (or keep this one open"
                " with `async with` around all of its calls)"
            )
        loop = shared.loop
        # The loop that runs in this thread is the one running this coroutine. Asking
        # asyncio instead costs a getpid() system call per request on 3.10 and 3.11 (its
        # guard against a forked child); here an at-fork hook guards against that.
        if (
            loop is not None
            and getattr(loop, "_thread_id", None) == threading.get_ident()
            and shared.forks == _forks
        ):
            return loop
        running = asyncio.get_running_loop()
        if loop is None:
            shared.loop, shared.forks = running, _forks
        elif loop is not running:
            raise ClientStateError(
                "this client belongs to another event loop: create one AsyncExtruct per"
                " loop (per thread, or per asyncio.run)"
            )
        return running

    async def send(
        self,
        request: Request,
        *,
        budget: Budget | None = None,
        reconcile: Reconcile | None = None,
        on_admit: Callable[[], None] | None = None,
    ) -> Reply[Any]:
        """Send ``request``, retrying as the policy says; return the decoded answer.

        Args:
            request: what to send.
            budget: the time budget to spend (a look-up shares its create's);
                by default a new one of the policy's ``max_time``.
            reconcile: for a create or resume, finds its effect after a failure that
                may have applied. Without it, such a failure is raised, never re-sent.
            on_admit: called when an attempt is admitted, just before it is sent: from
                then on the request may reach the service.

        Raises:
            APIError: the last failure, when no retry is left or allowed.
        """
        loop = self.check_usable()
        if budget is None:
            budget = Budget(self.policy.max_time)
        backoff_waits: Iterator[float] | None = None  # made at the first failure: most never fail
        retry = 0
        last: APIError | None = None
        may_have_applied = False
        while True:
            if may_have_applied and reconcile is not None:
                found = await _look(reconcile, budget, last)
                if found is not None:
                    return found
            # One attempt, written out here rather than in a coroutine of its own, and
            # an open gate passed without an await: a status read is mostly this path.
            gate = self._shared.gate
            now = loop.time()
            if not gate.try_enter(now):
                await gate.enter()
                now = loop.time()
            try:
                outgoing = self._admitted(request, budget, now, on_admit)
                if outgoing is None:  # admitted too late: nothing starts after the deadline
                    failure, wait = last or _out_of_time(request, self.url(request), budget), None
                else:
                    try:
                        response = await self._shared.transport.send(outgoing)
                        reply = decode(request, response, url=outgoing.url)
                    except APIError as error:
                        failure = error
                    except ExtructError:
                        raise
                    except Exception as exc:  # a custom transport's own failure: maybe sent
                        failure = _transport_failed(request, outgoing.url, exc)
                    else:
                        if log.isEnabledFor(logging.DEBUG):
                            _log_exchange(request, response.status, loop.time() - now,
                                          reply.request_id, retry)
                        return reply
                    if log.isEnabledFor(logging.DEBUG):
                        _log_exchange(request, getattr(failure, "status", None),
                                      loop.time() - now, None, retry)
                    if backoff_waits is None:
                        backoff_waits = self.policy.backoff_waits()
                    wait = self._next_wait(failure, budget, retry, next(backoff_waits), loop)
            finally:
                gate.leave()
            last = failure
            if not request.idempotent and verdict(last).maybe_applied:
                if reconcile is None:
                    raise last
                may_have_applied = True
            if wait is None:
                if may_have_applied and reconcile is not None:
                    found = await _look(reconcile, budget, last)  # a last look, then give up
                    if found is not None:
                        return found
                raise last
            retry += 1
            log.info(
                "retrying %s %s in %.1f s (retry %d of %d): %s",
                request.method, request.path, wait, retry, self.policy.max_retries, last,
                extra={"extruct_wait": wait, "extruct_retry": retry, "extruct_error": last,
                       "extruct_max_retries": self.policy.max_retries},
            )
            await asyncio.sleep(wait)
            if budget.remaining(loop.time()) <= 0:
                raise last

    def _admitted(
        self,
        request: Request,
        budget: Budget,
        now: float,
        on_admit: Callable[[], None] | None,
    ) -> HTTPRequest | None:
        """The attempt to send, now that it holds a slot; None once the budget is spent."""
        remaining = budget.start(now)
        if remaining <= 0:
            return None
        if on_admit is not None:
            on_admit()
        timeout = self.timeout
        if remaining < (timeout.total or math.inf):  # cut to what the budget has left
            timeout = attrs.evolve(timeout, total=remaining)
        body = encode_body(request)
        shared = self._shared
        return HTTPRequest(
            request.method,
            self.url(request),
            shared.headers if body is None else shared.json_headers,
            body,
            timeout,
            shared.max_response_size,
        )

    def _next_wait(
        self,
        failure: APIError,
        budget: Budget,
        retry: int,
        backoff_wait: float,
        loop: asyncio.AbstractEventLoop,
    ) -> float | None:
        """The wait before the next attempt, or None for none; a 429 pauses the gate.

        Called while the failed attempt still holds its slot: everybody slows down, not
        only this request, and no request slips through before the pause.
        """
        wait = self.policy.next_wait(retry + 1, failure, budget.elapsed(loop.time()), backoff_wait)
        if getattr(failure, "status", None) == 429:
            pause = wait if wait is not None else getattr(failure, "retry_after", None)
            if pause is not None and pause <= self.policy.max_retry_after:
                self._shared.gate.pause(pause)
        return wait


async def _look(reconcile: Reconcile, budget: Budget, last: APIError | None) -> Reply[Any] | None:
    """The effect of a create or resume that may have applied, or None if it did not.

    When the look-up itself fails, nobody can tell, and the request is never sent again:
    the request's own last failure is raised (the look-up's as its context), unless the
    look-up was refused the key (401, 403): then nothing else will work either, and
    that is what the caller must hear.
    """
    try:
        return await reconcile(budget)
    except AuthenticationError as refused:
        raise refused from last
    except APIError:
        if last is None:
            raise
        raise last  # noqa: B904 -- the look-up's failure stays visible as the context


def _transport_failed(request: Request, url: str, exc: Exception) -> APIConnectionError:
    failure = APIConnectionError(
        f"{request.method} {url}: transport failed ({type(exc).__name__})",
        method=request.method,
        url=url,
    )
    failure.__cause__ = exc
    return failure


def _out_of_time(request: Request, url: str, budget: Budget) -> APITimeoutError:
    return APITimeoutError(
        f"{request.method} {url}: not started, max_time of {budget.max_time:g}s used up",
        method=request.method,
        url=url,
        sent=False,
    )


def _log_exchange(
    request: Request, status: int | None, seconds: float, request_id: str | None, retry: int
) -> None:
    query = f"?{urlencode(request.params)}" if request.params else ""
    log.debug(
        "%s %s%s -> %s in %.3fs (request id %s, retry %d)",
        request.method, request.path, query, status or "no answer", seconds,
        request_id or "-", retry,
    )
