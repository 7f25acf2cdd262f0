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
that and turns each remaining candidate into a result row, most of them high-fit. The task is
``done`` once ``num_results`` (high-fit rows) reaches ``desired_num_results``: about 15 s for
100 results. Rows are readable all along, in relevance order, so new rows land ahead of rows
already read. A query's candidate pool (``candidate_pool``) may run dry first: the task then
shows ``is_exhausted`` while still ``in_progress`` and adding rows, and ends ``done`` short of
its target; resuming it is a 400. Tasks whose query matches ``fail_queries`` end ``failed``
after 20 steps, with a few rows evaluated.

**Errors on purpose**: 401 without the right bearer token, 404 for unknown tasks, FastAPI-shaped
422s for every broken input rule, 402 (``credits``, ``plan_required``, ``payment_failed``), 429
(``rate_limit``), and transport faults, random (``fault_rate``) or scripted
(:meth:`FakeExtructServer.inject`); ``FAULT_KINDS`` lists them, and the ``_faults`` module's
docstring tells which ones commit the request's effect.

**Ground truth** for assertions: ``server.tasks`` (:class:`SimulatedTask` by id),
``server.task_state(id)``, ``server.visible_rows(id)``, ``server.requests``
(:class:`RequestRecord`), ``server.faults_served``, ``server.rate_limited_count``,
``server.peak_requests_per_second()``, ``server.create_count`` and ``server.credits``.

Everything is deterministic for a seed and a sequence of requests. Run the simulator on its own
with ``python -m extruct_async.testing --port 8080``; in pytest, use the ``extruct_fake`` and
``extruct_client`` fixtures, configured with ``@pytest.mark.extruct_fake(...)``.
"""

from ._faults import ENDPOINTS, FAULT_KINDS
from ._log import RequestRecord
from ._server import (
    DEFAULT_API_KEY,
    DEFAULT_QUALIFICATION_STEPS,
    DEFAULT_SECONDS_PER_RESULT,
    FakeExtructServer,
)
from ._standalone import add_server_arguments, run_server, serve, server_options
from ._tasks import SimulatedTask

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_QUALIFICATION_STEPS",
    "DEFAULT_SECONDS_PER_RESULT",
    "ENDPOINTS",
    "FAULT_KINDS",
    "FakeExtructServer",
    "RequestRecord",
    "SimulatedTask",
    "add_server_arguments",
    "run_server",
    "serve",
    "server_options",
]
