"""The embedded Extruct simulator: a real aiohttp server on loopback that behaves like the API."""

from __future__ import annotations

import asyncio
import hmac
import json
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from importlib import resources
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any

from aiohttp import hdrs, web

from ._clock import ServerClock
from ._faults import (
    COMMITTING_FAULTS,
    FAULT_KINDS,
    GATEWAY_BODIES,
    FaultPlan,
    drop_connection,
    invalid_json,
    status_fault,
    truncate,
)
from ._lifecycle import Pace
from ._log import RequestRecord
from ._ratelimit import SlidingWindowLimiter, peak_in_window
from ._service import CandidatePool, FailQueries, Refusal, SimulatedService
from ._tasks import SimulatedTask
from ._validation import InvalidRequest, UnreadableBody

if TYPE_CHECKING:
    from extruct_async import AsyncExtruct

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_QUALIFICATION_STEPS",
    "DEFAULT_SECONDS_PER_RESULT",
    "RETRY_AFTER_FORMATS",
    "FakeExtructServer",
]

#: The bearer token a simulator accepts unless told otherwise.
DEFAULT_API_KEY = "extruct-fake-api-key"
#: Simulated seconds per candidate step: a 100-result task takes about 15 seconds.
DEFAULT_SECONDS_PER_RESULT = 0.1
#: The range each task draws its qualification lag from, in steps, as the service behaves (the
#: standalone server's default; ``FakeExtructServer`` still defaults to 0).
DEFAULT_QUALIFICATION_STEPS = (10, 20)
#: How ``Retry-After`` can be written: delay seconds, an HTTP date, or not at all.
RETRY_AFTER_FORMATS = ("seconds", "http-date", "none")

_TASKS = "/v1/discovery_tasks"
_TASK = "/v1/discovery_tasks/{task_id}"
_RESULTS = "/v1/discovery_tasks/{task_id}/results"
_RESUME = "/v1/discovery_tasks/{task_id}/resume"

# An endpoint: (request, its body, server clock time) -> the JSON body of a 200.
_Endpoint = Callable[[web.Request, bytes, float], bytes]


class FakeExtructServer:
    """A simulated Extruct Deep Search API on a real loopback socket.

    Tasks progress with the clock: created, then in progress with growing counters, then done
    (or failed, or exhausted first); nothing runs in the background. Everything is
    deterministic for a given ``seed`` and sequence of requests. Every answer carries a ``Date``
    header from the simulated wall clock (``epoch`` plus the server's clock), the clock that
    ``created_at`` comes from too.

    >>> async with FakeExtructServer(seed=7) as server:          # doctest: +SKIP
    ...     async with server.client() as client:
    ...         task = await client.discovery_tasks.create("freight forwarding software")

    Args:
        seed: Seeds task ids, companies, rows, grades and random faults.
        api_key: The bearer token the server accepts.
        host: Interface to bind.
        port: Port to bind; 0 picks a free one.
        seconds_per_result: Simulated seconds per candidate step. A task stays ``created``
            for 5 steps, needs about 1.3 candidates per result, and finishes 11 steps plus its
            qualification lag after its last candidate's discovery: 100 results take about
            15 seconds by default.
        qualification_steps: Steps from a row's evaluation to its appearing in results and in
            ``num_results``: a number, or an inclusive range each task draws its own lag from
            (seeded; ``SimulatedTask.qualification_seconds`` tells it). The service has such a
            lag; by default each task draws from ``DEFAULT_QUALIFICATION_STEPS``. 0 makes
            rows appear as they are evaluated.
        candidate_pool: Candidates discovery can find for a query: a number for every query,
            a mapping from query to number (other queries get the default), or a function of
            the query. The default derives from the query and is large enough for 250 results
            for nine queries in ten. A pool too small for the target exhausts the task: it
            shows ``is_exhausted`` while still ``in_progress``; evaluation then catches up
            (``num_results_evaluated == num_results_enriched``) while rows keep appearing for
            the qualification lag (from ``SimulatedTask.evaluated_by`` to ``ends_at``), and
            the task ends ``done`` short of its target.
        fail_queries: Queries whose tasks fail after 20 steps plus the qualification lag, with
            a few rows: substrings matched case-insensitively, or a predicate.
        credits: Credits available (a create costs ``desired_num_results``, a resume
            ``desired_new_results``); None is unlimited. Running out answers 402.
        plan_required: Answer every create with 402 ``plan_required``.
        payment_failed: Answer every create and resume with 402 ``payment_failed``.
        rate_limit: Requests per second allowed per API key, or None for no limit; more
            are answered 429, with ``Retry-After`` unless ``retry_after_format`` is ``none``.
        latency: Seconds (on the event loop's clock) added before each answer, except the
            answers of status and ``drop`` faults, which come at once.
        fault_rate: Probability that a request meets a fault drawn from ``fault_kinds``.
        fault_kinds: Kinds of random faults (see ``FAULT_KINDS``).
        slow_seconds: How late a ``slow`` fault answers.
        retry_after: ``Retry-After`` seconds of the ``429`` and ``503-retry-after`` faults.
        retry_after_format: How every ``Retry-After`` (rate limit and faults) is written:
            ``seconds`` (delay seconds, the default), ``http-date`` (the simulated wall clock
            plus the delay, to be read against the answer's ``Date``), or ``none`` (never
            sent: the service promises no ``Retry-After``).
        gateway_body: The body of the 5xx faults, as a gateway in front of the service writes
            it: ``html`` (an nginx error page, the default), ``text`` (the reason phrase, as
            ``text/plain``) or ``json`` (``{"detail": reason}``).
        clock: Source of time in seconds; default: the running event loop's clock, so a fake
            loop clock (``looptime``) drives the simulation.
        epoch: Wall-clock time of the server's start, for ``created_at`` and the ``Date``
            header; default: now. A past or future epoch gives the service a clock skewed
            from the client's.

    Raises:
        ValueError: On an option out of range or an unknown fault kind.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        api_key: str = DEFAULT_API_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        seconds_per_result: float = DEFAULT_SECONDS_PER_RESULT,
        qualification_steps: int | tuple[int, int] = DEFAULT_QUALIFICATION_STEPS,
        candidate_pool: CandidatePool = None,
        fail_queries: FailQueries = (),
        credits: int | None = None,
        plan_required: bool = False,
        payment_failed: bool = False,
        rate_limit: float | None = None,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        fault_kinds: Collection[str] = FAULT_KINDS,
        slow_seconds: float = 60.0,
        retry_after: int = 1,
        retry_after_format: str = "seconds",
        gateway_body: str = "html",
        clock: Callable[[], float] | None = None,
        epoch: datetime | None = None,
    ) -> None:
        _require(seconds_per_result > 0, "seconds_per_result must be positive")
        _require(latency >= 0 and slow_seconds >= 0, "latency and slow_seconds must be >= 0")
        _require(retry_after >= 0, "retry_after must be >= 0")
        _require(credits is None or credits >= 0, "credits must be None or >= 0")
        _require(
            retry_after_format in RETRY_AFTER_FORMATS,
            f"retry_after_format must be one of {RETRY_AFTER_FORMATS}",
        )
        _require(gateway_body in GATEWAY_BODIES, f"gateway_body must be one of {GATEWAY_BODIES}")
        self._api_key = api_key
        self._host = host
        self._port = port
        self._service = SimulatedService(
            seed=seed,
            pace=Pace(seconds_per_step=seconds_per_result),
            qualification_steps=_step_range(qualification_steps),
            candidate_pool=candidate_pool,
            fail_queries=fail_queries,
            credits=credits,
            plan_required=plan_required,
            payment_failed=payment_failed,
            timestamp=self._timestamp,
        )
        self._limiter = None if rate_limit is None else SlidingWindowLimiter(rate_limit)
        self._latency = latency
        self._faults = FaultPlan(seed=seed, rate=fault_rate, kinds=fault_kinds)
        self._slow_seconds = slow_seconds
        self._retry_after = retry_after
        self._retry_after_format = retry_after_format
        self._gateway_body = gateway_body
        self._clock_source = clock
        self._epoch_option = epoch
        self._clock: ServerClock | None = None
        self._epoch = datetime.now(timezone.utc)
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._openapi = b""
        self._requests: list[RequestRecord] = []
        self._rate_limited = 0
        self._faults_served: Counter[str] = Counter()
        self._sleeping: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> FakeExtructServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Bind the socket and start serving.

        Raises:
            RuntimeError: If the server was started before (a server runs once).
            OSError: If the address cannot be bound.
        """
        if self._clock is not None:
            raise RuntimeError("a FakeExtructServer can only be started once")
        self._clock = ServerClock(self._clock_source or asyncio.get_running_loop().time)
        self._epoch = _as_utc(self._epoch_option or datetime.now(timezone.utc))
        runner = web.AppRunner(self._app(), access_log=None, handle_signals=False)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        host, port = runner.addresses[0][:2]
        self._base_url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self._openapi = _openapi_document(self._base_url)

    async def close(self) -> None:
        """Stop serving (again is harmless); answers still held back are never sent.

        Answers held by ``latency`` or a ``slow`` fault are abandoned at once rather than
        awaited, and their connections closed.
        """
        for task in list(self._sleeping):
            task.cancel()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def base_url(self) -> str:
        """The server's URL, such as ``http://127.0.0.1:50123`` (after ``start``)."""
        if self._base_url is None:
            raise RuntimeError("the server has not been started")
        return self._base_url

    @property
    def api_key(self) -> str:
        """The bearer token the server accepts."""
        return self._api_key

    def client(self, **options: Any) -> AsyncExtruct:
        """Return an ``AsyncExtruct`` client for this server; ``options`` go to its constructor."""
        from extruct_async import AsyncExtruct

        return AsyncExtruct(api_key=self.api_key, base_url=self.base_url, **options)

    def inject(self, kind: str, *, endpoint: str | None = None, times: int = 1) -> None:
        """Serve fault ``kind`` to the next ``times`` requests to ``endpoint``.

        Scripted faults come before random ones, first queued first served; each is used up by
        the matching requests, whatever their answer would have been. A kind either commits
        the request's effect (a create creates its task, a resume resumes) or not:

        ======================  =======  =====================================================
        kind                    commits  what the client sees
        ======================  =======  =====================================================
        ``500`` ``502``         no       that status at once, as from a gateway in front of
        ``503`` ``504``                  the service: its body is ``gateway_body`` (an HTML
                                         page by default)
        ``503-retry-after``     no       the same 503 with ``Retry-After: retry_after``
        ``429``                 no       429, a JSON ``detail`` and ``Retry-After:
                                         retry_after``
        ``429-no-retry-after``  no       429 and a JSON ``detail``, no ``Retry-After``
        ``drop``                no       the connection closes once the request is read
        ``truncate``            yes      full headers and ``Content-Length``, half the body,
                                         then the connection closes
        ``invalid_json``        yes      a complete answer, real status, body not JSON
        ``slow``                yes      the real answer, ``slow_seconds`` late; the effect
                                         happens at once, the answer shows the state then
        ``commit_then_drop``    yes      create only: the task is created, then the
                                         connection closes with no answer
        ======================  =======  =====================================================

        ``Retry-After`` is written as ``retry_after_format`` says: with ``none``, the ``429``
        and ``503-retry-after`` kinds carry none either.

        Note that aiohttp's client retries a GET once by itself when the connection drops, so
        a single ``drop`` on a read goes unnoticed by aiohttp-based clients.

        Args:
            kind: One of ``FAULT_KINDS``.
            endpoint: ``create``, ``list``, ``get``, ``results`` or ``resume``; None for any
                (``commit_then_drop`` then waits for a create).
            times: How many requests get it.

        Raises:
            ValueError: On an unknown kind or endpoint, ``commit_then_drop`` for an endpoint
                other than create, or ``times`` < 1.
        """
        self._faults.inject(kind, endpoint=endpoint, times=times)

    def time(self) -> float:
        """Return the server's clock: seconds since it started, as the simulation sees them."""
        if self._clock is None:
            raise RuntimeError("the server has not been started")
        return self._clock()

    @property
    def epoch(self) -> datetime:
        """The simulated wall-clock time of the server's start, in UTC (after ``start``)."""
        if self._clock is None:
            raise RuntimeError("the server has not been started")
        return self._epoch

    def wall_clock(self) -> datetime:
        """Return the simulated wall-clock time now (``epoch`` plus ``time()``), in UTC.

        Answers sent now carry it, to the second, in their ``Date`` header.
        """
        return self._epoch + timedelta(seconds=self.time())

    @property
    def tasks(self) -> Mapping[str, SimulatedTask]:
        """Every task by id, in creation order (a read-only view)."""
        return MappingProxyType(self._service.tasks)

    @property
    def create_count(self) -> int:
        """How many tasks were created."""
        return len(self._service.tasks)

    @property
    def credits(self) -> int | None:
        """Credits left, or None when unlimited; assign to top up."""
        return self._service.credits

    @credits.setter
    def credits(self, value: int | None) -> None:
        self._service.credits = value

    @property
    def requests(self) -> Sequence[RequestRecord]:
        """The five endpoints' requests in the order they were answered."""
        return tuple(self._requests)

    @property
    def rate_limited_count(self) -> int:
        """How many requests the rate limit answered with 429."""
        return self._rate_limited

    @property
    def faults_served(self) -> Counter[str]:
        """How many requests met each fault kind (a copy)."""
        return Counter(self._faults_served)

    def peak_requests_per_second(self) -> int:
        """Return the most requests that arrived within any half-open one-second window."""
        return peak_in_window(record.time for record in self._requests)

    def task_state(self, task_id: str) -> dict[str, Any]:
        """Return the task object that a get would answer now.

        Raises:
            KeyError: If there is no such task.
        """
        task = self._service.tasks[task_id]
        state: dict[str, Any] = json.loads(task.to_json(task.progress(self.time())))
        return state

    def visible_rows(self, task_id: str) -> list[dict[str, Any]]:
        """Return every result row a reader could page through now, in relevance order.

        Raises:
            KeyError: If there is no such task.
        """
        rows = self._service.visible_rows(self._service.tasks[task_id], self.time())
        return [json.loads(row) for row in rows.page(0, len(rows))]

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._stamp_date])
        router = app.router
        router.add_post(_TASKS, self._endpoint("create", self._create))
        router.add_get(_TASKS, self._endpoint("list", self._list), allow_head=False)
        router.add_get(_TASK, self._endpoint("get", self._get), allow_head=False)
        router.add_get(_RESULTS, self._endpoint("results", self._results), allow_head=False)
        router.add_post(_RESUME, self._endpoint("resume", self._resume))
        router.add_get("/openapi.json", self._serve_openapi, allow_head=False)
        for path, allowed in ((_TASKS, "GET, POST"), (_TASK, "GET"), (_RESULTS, "GET")):
            router.add_route("*", path, _method_not_allowed(allowed))
        router.add_route("*", _RESUME, _method_not_allowed("POST"))
        router.add_route("*", "/{tail:.*}", _not_found)
        return app

    def _create(self, request: web.Request, body: bytes, now: float) -> bytes:
        return self._service.create_task(body, now)

    def _list(self, request: web.Request, body: bytes, now: float) -> bytes:
        return self._service.list_tasks(request.query, now)

    def _get(self, request: web.Request, body: bytes, now: float) -> bytes:
        return self._service.get_task(_task_id(request), now)

    def _results(self, request: web.Request, body: bytes, now: float) -> bytes:
        return self._service.task_results(_task_id(request), request.query, now)

    def _resume(self, request: web.Request, body: bytes, now: float) -> bytes:
        return self._service.resume_task(_task_id(request), body, now)

    def _endpoint(
        self, name: str, handler: _Endpoint
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request) -> web.StreamResponse:
            assert self._clock is not None
            arrived = self._clock()
            body = await request.read()
            authorized = self._authorized(request)
            fault = self._faults.draw(name)
            if fault is not None and fault not in COMMITTING_FAULTS:
                answer = self._gateway_fault(fault, request)
            else:
                await self._pause(self._latency)
                answer = self._answer(handler, request, body, arrived, authorized=authorized)
            sent = fault not in ("drop", "commit_then_drop")
            self._requests.append(
                RequestRecord(
                    time=arrived,
                    endpoint=name,
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    status=answer.status if sent else None,
                    fault=fault,
                    api_key_ok=authorized,
                )
            )
            if fault is not None:
                self._faults_served[fault] += 1
            return await self._deliver(fault, request, answer)

        return serve

    def _answer(
        self,
        handler: _Endpoint,
        request: web.Request,
        body: bytes,
        arrived: float,
        *,
        authorized: bool,
    ) -> web.Response:
        assert self._clock is not None
        # One instant for the answer: its Date and any created_at in it agree.
        now = self._clock()
        answer = self._respond(handler, request, body, arrived, now, authorized=authorized)
        answer.headers[hdrs.DATE] = self._http_date(now)
        return answer

    def _respond(
        self,
        handler: _Endpoint,
        request: web.Request,
        body: bytes,
        arrived: float,
        now: float,
        *,
        authorized: bool,
    ) -> web.Response:
        if not authorized:
            detail = "Invalid token" if "Authorization" in request.headers else "Not authenticated"
            return _error(401, detail, {"WWW-Authenticate": "Bearer"})
        if self._limiter is not None:
            wait = self._limiter.admit(self._api_key, arrived)
            if wait is not None:
                self._rate_limited += 1
                retry = self._retry_after_header(max(1, math.ceil(wait)), now)
                headers = {} if retry is None else {"Retry-After": retry}
                return _error(429, "Rate limit exceeded", headers)
        try:
            return _json(handler(request, body, now))
        except InvalidRequest as exc:
            return web.json_response({"detail": exc.errors}, status=422)
        except UnreadableBody as exc:
            return _error(400, exc.detail)
        except Refusal as exc:
            return web.json_response({"detail": exc.detail}, status=exc.status)

    def _gateway_fault(self, fault: str, request: web.Request) -> web.Response:
        if fault == "drop":
            return drop_connection(request)
        assert self._clock is not None
        now = self._clock()
        retry = self._retry_after_header(self._retry_after, now)
        answer = status_fault(fault, body=self._gateway_body, retry_after=retry)
        answer.headers[hdrs.DATE] = self._http_date(now)
        return answer

    def _retry_after_header(self, seconds: int, now: float) -> str | None:
        if self._retry_after_format == "none":
            return None
        if self._retry_after_format == "http-date":
            # A whole number of seconds after Date, whose resolution is a second.
            return self._http_date(now + seconds)
        return str(seconds)

    @web.middleware
    async def _stamp_date(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # Endpoint answers carry the Date of the instant they describe; the rest get it here,
        # before aiohttp would stamp the machine's own clock on them.
        response = await handler(request)
        if hdrs.DATE not in response.headers and self._clock is not None:
            response.headers[hdrs.DATE] = self._http_date(self._clock())
        return response

    async def _deliver(
        self, fault: str | None, request: web.Request, answer: web.Response
    ) -> web.StreamResponse:
        if fault == "truncate":
            return await truncate(request, answer)
        if fault == "invalid_json":
            return invalid_json(answer)
        if fault == "commit_then_drop":
            return drop_connection(request)
        if fault == "slow":
            await self._pause(self._slow_seconds)
        return answer

    async def _pause(self, seconds: float) -> None:
        if seconds <= 0:
            return
        task = asyncio.current_task()
        assert task is not None
        self._sleeping.add(task)
        try:
            await asyncio.sleep(seconds)
        finally:
            self._sleeping.discard(task)

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.encode(), self._api_key.encode()
        )

    async def _serve_openapi(self, request: web.Request) -> web.Response:
        return _json(self._openapi)

    def _timestamp(self, at: float) -> str:
        moment = self._epoch + timedelta(seconds=at)
        return moment.replace(tzinfo=None).isoformat() + "Z"

    def _http_date(self, at: float) -> str:
        return format_datetime(self._epoch + timedelta(seconds=at), usegmt=True)


def _openapi_document(base_url: str) -> bytes:
    text = resources.files(__package__).joinpath("openapi.json").read_text("utf-8")
    document = json.loads(text)
    document["servers"] = [{"url": base_url}]
    return json.dumps(document).encode()


def _task_id(request: web.Request) -> str:
    return request.match_info["task_id"]


def _json(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")


def _error(status: int, detail: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"detail": detail}, status=status, headers=headers)


def _method_not_allowed(allowed: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def answer(request: web.Request) -> web.Response:
        return _error(405, "Method Not Allowed", {"Allow": allowed})

    return answer


async def _not_found(request: web.Request) -> web.Response:
    return _error(404, "Not Found")


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _step_range(steps: int | tuple[int, int]) -> tuple[int, int]:
    low, high = (steps, steps) if isinstance(steps, int) else steps
    _require(0 <= low <= high, f"qualification_steps must be >= 0 and low <= high, not {steps!r}")
    return low, high
