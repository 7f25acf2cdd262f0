"""The session: every request goes through here.

So every request is gated, authenticated, logged, retried and deciphered the same way.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import backoff

from ._errors import APIError, RateLimitError
from ._gate import Gate
from ._protocol import Request, Response, decode, parse_retry_after
from ._retry import Outcome, RetryPolicy, is_transient, outcome

__all__ = ["Session", "Transport"]

_log = logging.getLogger("extruct_async")
_T = TypeVar("_T")


class Transport(Protocol):
    """What the session needs from an HTTP backend (see ``_transport``)."""

    async def send(
        self, method: str, url: str, *, headers: Any, params: Any, body: Any
    ) -> Response:
        """Send one request; raise ``APIConnectionError`` on failure."""

    async def aclose(self) -> None:
        """Release connections."""


class Session:
    """Send requests through the gate, with auth, logging and retries.

    Args:
        api_key: the bearer token; kept out of every repr, message and log line.
        base_url: scheme and host of the service, without a trailing slash.
        transport: the HTTP backend.
        gate: admission control shared by every request of the client.
        retry: the retry policy.
        rng: randomness for backoff jitter (seedable for tests).
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        transport: Transport,
        gate: Gate,
        retry: RetryPolicy,
        rng: random.Random | None = None,
    ) -> None:
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self.base_url = base_url
        self.transport = transport
        self.gate = gate
        self.retry = retry
        self._rng = rng or random.Random()

    def __repr__(self) -> str:
        return f"Session(base_url={self.base_url!r})"

    def url(self, request: Request) -> str:
        """The absolute URL of ``request`` (without its query string)."""
        return self.base_url + request.path

    async def send(self, request: Request) -> Any:
        """Send an idempotent request, retrying transient failures; return its JSON."""
        started = asyncio.get_running_loop().time()
        try:
            # Most requests succeed at once: keep the retry machinery (a backoff wrapper
            # and a fresh wait generator per call) off that path.
            return await self.send_once(request)
        except APIError as exc:
            if not is_transient(exc):
                raise
            failures = [exc]

        async def attempt() -> Any:
            if failures:  # replay the first failure: backoff counts it and waits
                raise failures.pop()
            return await self.send_once(request)

        retried = self._with_retries(attempt, lambda exc: not is_transient(exc), started=started)
        return await retried()

    async def send_once(self, request: Request) -> Any:
        """Send one attempt through the gate; return its JSON or raise."""
        url = self.url(request)
        loop = asyncio.get_running_loop()
        async with self.gate:
            started = loop.time()
            response = await self.transport.send(
                request.method, url, headers=self._headers, params=request.params,
                body=request.body,
            )
            if response.status == 429:
                self._hold_back(response)  # before the slot frees: nobody slips through
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "%s %s %s -> %d in %.3fs", request.method, url, dict(request.params),
                response.status, loop.time() - started,
            )
        return decode(request, response, url=url)

    def _hold_back(self, response: Response) -> None:
        """Pause the whole client for a 429's ``Retry-After``, if it will be waited out."""
        wait = parse_retry_after(
            response.headers.get("retry-after"), date=response.headers.get("date")
        )
        if wait is not None and wait <= self.retry.max_retry_after:
            self.gate.pause(wait)

    async def send_unsafe(
        self,
        attempt: Callable[[], Awaitable[_T]],
        reconcile: Callable[[], Awaitable[_T | None]],
    ) -> _T:
        """Run a non-idempotent ``attempt`` (create, resume) with safe retries.

        A failure that provably had no effect is simply retried. After a failure
        that may have taken effect (a 5xx, a lost answer), the next step first
        calls ``reconcile``, which looks at the service for the effect and returns
        it if found; only when it finds nothing is the request sent again. If the
        retries run out after such a failure, ``reconcile`` gets one last look
        before the error is raised.
        """
        uncertain = False

        async def once() -> _T:
            nonlocal uncertain
            if uncertain:
                found = await reconcile()
                if found is not None:
                    return found
            try:
                return await attempt()
            except APIError as exc:
                uncertain = uncertain or outcome(exc) is Outcome.UNKNOWN
                raise

        fatal = lambda exc: outcome(exc) is Outcome.FATAL  # noqa: E731
        started = asyncio.get_running_loop().time()
        try:
            return await self._with_retries(once, fatal, started=started)()
        except APIError:
            if uncertain:
                found = await _quietly(reconcile)
                if found is not None:
                    return found
            raise

    def _with_retries(
        self,
        target: Callable[[], Awaitable[_T]],
        giveup: Callable[[Exception], bool],
        *,
        started: float,
    ) -> Callable[[], Awaitable[_T]]:
        loop = asyncio.get_running_loop()

        def waits() -> Any:  # backoff types a wait generator as one that is sent nothing
            return self.retry.waits(loop.time, self._rng, started=started)

        retried: Callable[[], Awaitable[_T]] = backoff.on_exception(
            waits,
            APIError,
            max_tries=self.retry.max_retries + 1,
            max_time=self.retry.max_time,  # wall-clock backstop; _waits bounds loop time
            jitter=None,  # waits are jittered in _waits, and Retry-After never is
            giveup=giveup,
            on_backoff=self._on_backoff,
            logger=None,
        )(target)
        return retried

    def _on_backoff(self, details: Any) -> None:
        exc = details["exception"]
        wait = details["wait"]
        if isinstance(exc, RateLimitError):
            # Everybody slows down, not only the request that was refused.
            self.gate.pause(wait)
        _log.info(
            "retrying in %.2fs after attempt %d failed: %s", wait, details["tries"], exc
        )


async def _quietly(reconcile: Callable[[], Awaitable[_T | None]]) -> _T | None:
    try:
        return await reconcile()
    except APIError:
        return None
