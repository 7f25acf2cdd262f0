"""An embedded Extruct Deep Search simulator, for tests, benchmarks and demos.

:class:`FakeExtructServer` is a real HTTP server on loopback that answers the five
``/v1/discovery_tasks`` endpoints as the service does, and serves their OpenAPI document at
``/openapi.json``::

    async with FakeExtructServer(seed=7) as server:
        async with server.client() as client:
            ...

**Tasks move with the clock** (the event loop's by default, so ``looptime`` fast-forwards
them). A task is ``created`` for 5 steps of ``seconds_per_result`` (0.1 s by default), then
``in_progress``: discovery finds a candidate per step, enrichment follows 3 steps behind and
drops the candidates that fail the relevance pre-filter, evaluation follows 8 steps behind
that, and qualification follows evaluation by the task's qualification lag
(``qualification_steps``, drawn per task from the seed), turning each candidate into a visible
result row, most of them high-fit. The task is ``done`` once ``num_results`` (visible high-fit
rows) reaches ``desired_num_results``: about 15 s for 100 results. Rows are readable all along,
in relevance order, so new rows land ahead of rows already read. A query's candidate pool
(``candidate_pool``) may run dry first: the task then shows ``is_exhausted`` while still
``in_progress``; evaluation catches up (``num_results_evaluated == num_results_enriched``) and
rows keep appearing for the qualification lag, from :attr:`SimulatedTask.evaluated_by` to
:attr:`SimulatedTask.ends_at`, before it ends ``done`` short of its target; resuming it is a
400. Only ``status`` says a task is finished. Each task draws its lag from
``DEFAULT_QUALIFICATION_STEPS`` unless told otherwise (``qualification_steps=0`` turns it
off). Tasks whose query matches ``fail_queries`` end ``failed``
after 20 steps plus the qualification lag, with a few rows.

**Inputs are read as the service's FastAPI reads them**, pydantic v2 in lax mode: an integer
field takes ``5``, ``2.0``, ``true`` (1) or numeric text such as ``" 5"``, ``"+5"``, ``"05"``,
``"5.0"`` and ``"1_0"``, and the ``offset`` and ``limit`` parameters the same text; a boolean
field takes ``true``/``false``, 0 and 1, and the words ``yes``/``no``, ``on``/``off``,
``true``/``false``, ``t``/``f``, ``y``/``n`` in any case; strings stay strict (``5`` is not a
string). A body that is not text in its JSON encoding is a 400, as FastAPI answers. Where the
reference pages are silent, the simulator chooses: a blank ``query``, duplicate criterion keys,
an ``exclude_task_ids`` entry that is not a ``done`` task, ``offset`` < 0 and ``limit`` < 1
are 422s; unknown fields are refused; an empty ``criteria`` list means "generate them".

**Errors on purpose**: 401 without the right bearer token, 404 for unknown tasks, FastAPI-shaped
422s for every broken input rule, 402 (``credits``, ``plan_required``, ``payment_failed``), 429
(``rate_limit``; ``Retry-After`` as ``retry_after_format`` says: seconds, an HTTP date or none),
and transport faults, random (``fault_rate``) or scripted (:meth:`FakeExtructServer.inject`);
``FAULT_KINDS`` lists them, and the ``_faults`` module's docstring tells which ones commit the
request's effect. The 5xx faults answer as a gateway does, an HTML page by default
(``gateway_body``: ``html``, ``text`` or ``json``).

**One wall clock**: every answer's ``Date`` header and every ``created_at`` come from ``epoch``
plus the server's clock, so a past or future ``epoch`` gives the service a clock skewed from
the client's.

**Ground truth** for assertions: ``server.tasks`` (:class:`SimulatedTask` by id),
``server.task_state(id)``, ``server.visible_rows(id)``, ``server.requests``
(:class:`RequestRecord`), ``server.faults_served``, ``server.rate_limited_count``,
``server.peak_requests_per_second()``, ``server.create_count``, ``server.credits``,
``server.time()``, ``server.epoch`` and ``server.wall_clock()``.

Everything is deterministic for a seed and a sequence of requests. Run the simulator on its own
with ``python -m extruct_async.testing --port 8080``; in pytest, use the ``extruct_fake`` and
``extruct_client`` fixtures, configured with ``@pytest.mark.extruct_fake(...)``.
"""

# Names load on first use (PEP 562): the pytest plugin lives in this package and every
# pytest run of every user loads it, so importing the package must not start the
# simulator's imports (aiohttp.web). Type checkers read the imports below.
import typing as _typing

if _typing.TYPE_CHECKING:
    from ._faults import ENDPOINTS, FAULT_KINDS
    from ._log import RequestRecord
    from ._mock import MockTransport, json_response
    from ._server import (
        DEFAULT_API_KEY,
        DEFAULT_QUALIFICATION_STEPS,
        DEFAULT_SECONDS_PER_RESULT,
        FakeExtructServer,
    )
    from ._standalone import add_server_arguments, run_server, serve, server_options
    from ._tasks import SimulatedTask

from .._lazy import loader as _loader

_LAZY = {
    "DEFAULT_API_KEY": "._server",
    "DEFAULT_QUALIFICATION_STEPS": "._server",
    "DEFAULT_SECONDS_PER_RESULT": "._server",
    "ENDPOINTS": "._faults",
    "FAULT_KINDS": "._faults",
    "FakeExtructServer": "._server",
    "MockTransport": "._mock",
    "RequestRecord": "._log",
    "SimulatedTask": "._tasks",
    "add_server_arguments": "._standalone",
    "json_response": "._mock",
    "run_server": "._standalone",
    "serve": "._standalone",
    "server_options": "._standalone",
}



__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_QUALIFICATION_STEPS",
    "DEFAULT_SECONDS_PER_RESULT",
    "ENDPOINTS",
    "FAULT_KINDS",
    "FakeExtructServer",
    "MockTransport",
    "RequestRecord",
    "SimulatedTask",
    "add_server_arguments",
    "json_response",
    "run_server",
    "serve",
    "server_options",
]

__getattr__: _typing.Callable[[str], _typing.Any]
__dir__: _typing.Callable[[], list[str]]
__getattr__, __dir__ = _loader(__name__, globals(), _LAZY, __all__)
