"""A small aiohttp.web app: start a Deep Search, watch it live, read its results.

One ``AsyncExtruct`` client serves the whole app (opened at startup, closed at shutdown),
so every request shares one connection pool, one rate limit and one polling schedule.

- ``POST /searches`` (form or JSON ``{"query": ..., "results": 25}``) starts a search and
  answers with its progress as server-sent events: ``created`` (the task id and where its
  results will be), ``progress`` on each change, then ``done`` or ``failed``.
- ``GET /searches/{id}/events`` follows a search already started, with the same events.
  A browser's ``EventSource`` reconnects on its own, so it belongs on this endpoint, which
  never creates anything: a reconnecting ``GET`` that started searches would pay again.
- ``GET /searches/{id}/results`` is the rows as JSON; ``GET /searches/{id}`` is a page.
- ``GET /`` is a form that posts a search and shows its progress.

Run it against the simulator (no account needed), in two shells::

    extruct-async fake-server --port 8080    # prints the URL and token to export
    EXTRUCT_BASE_URL=http://127.0.0.1:8080 EXTRUCT_API_TOKEN=... python examples/webapp/app.py

then open http://127.0.0.1:8000. Against Extruct, set only ``EXTRUCT_API_TOKEN``.
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from extruct_async import (
    AsyncExtruct,
    DiscoveryTask,
    ExtructError,
    InvalidRequestError,
    InvalidTypeError,
    NotFoundError,
    TaskState,
)

CLIENT = web.AppKey("extruct", AsyncExtruct)
#: Seconds between status reads; every open event stream shares the client's one schedule.
POLL_INTERVAL = 5.0


# --8<-- [start:client]
def create_app() -> web.Application:
    """The app; its client reads ``EXTRUCT_API_TOKEN`` and ``EXTRUCT_BASE_URL``."""
    app = web.Application(middlewares=[sdk_errors])
    app.cleanup_ctx.append(extruct_client)
    app.add_routes([
        web.get("/", index),
        web.post("/searches", start_search),
        web.get("/searches/{id}/events", follow_search),
        web.get("/searches/{id}/results", results),
        web.get("/searches/{id}", results_page),
    ])
    return app


async def extruct_client(app: web.Application) -> AsyncIterator[None]:
    """One client for the app's whole life: created at startup, closed at shutdown."""
    async with AsyncExtruct() as client:
        app[CLIENT] = client
        yield
# --8<-- [end:client]


async def start_search(request: web.Request) -> web.StreamResponse:
    """Start a search and stream its progress as server-sent events."""
    form: Any = await (request.json() if request.content_type == "application/json"
                       else request.post())
    try:
        wanted = int(form.get("results", 25))
    except ValueError:
        raise web.HTTPBadRequest(text="results: expected a whole number") from None
    task = await request.app[CLIENT].discovery_tasks.create(
        str(form.get("query", "")), desired_num_results=wanted
    )
    response = await open_event_stream(request)
    await send(response, "created", {"id": task.id, "page": f"/searches/{task.id}",
                                     "results": f"/searches/{task.id}/results"})
    return await stream_progress(response, task)


async def follow_search(request: web.Request) -> web.StreamResponse:
    """Stream the progress of a search already started (safe to reconnect to)."""
    task = await get_task(request)
    return await stream_progress(await open_event_stream(request), task)


async def results(request: web.Request) -> web.Response:
    """The rows as JSON, best first: all of them once ``finished`` is true."""
    task = await get_task(request)
    rows = [row.to_dict() async for row in task.results()]
    return web.json_response({"id": task.id, "status": str(task.status),
                              "finished": task.finished, "rows": rows})


async def results_page(request: web.Request) -> web.Response:
    """The rows as an HTML table."""
    task = await get_task(request)
    cells = [
        f"<tr><td>{row.relevance}</td><td>{html.escape(row.company_name or '')}</td>"
        f"<td>{html.escape(row.company_website or '')}</td></tr>"
        async for row in task.results()
    ]
    body = (f"<h1>{html.escape(task.query)}</h1><p>{html.escape(str(task.status))}, "
            f"{len(cells)} rows</p><table><tr><th>relevance</th><th>company</th>"
            f"<th>website</th></tr>{''.join(cells)}</table>")
    return web.Response(text=page(body), content_type="text/html")


async def index(request: web.Request) -> web.Response:
    """A form that posts a search and shows its events as they come."""
    return web.Response(text=page(INDEX), content_type="text/html")


async def stream_progress(response: web.StreamResponse, task: DiscoveryTask) -> web.StreamResponse:
    """Send a ``progress`` event per change, then ``done`` or ``failed``, then end."""
    watch = task.watch(poll_interval=POLL_INTERVAL)
    try:
        async with contextlib.aclosing(watch) as states:
            async for state in states:
                name = str(state.status) if state.finished else "progress"
                await send(response, name, progress(state))
    except ConnectionResetError:
        return response  # the browser left; leaving the loop stopped the polling
    except ExtructError as error:  # the service stayed unreachable through the retries
        await send(response, "error", {"message": str(error)})
    return response


def progress(state: TaskState) -> dict[str, Any]:
    """What a progress bar needs from a task's state."""
    return {"id": state.id, "status": str(state.status), "exhausted": state.is_exhausted,
            "discovered": state.num_results_discovered, "enriched": state.num_results_enriched,
            "evaluated": state.num_results_evaluated, "results": state.num_results}


async def open_event_stream(request: web.Request) -> web.StreamResponse:
    """Start a ``text/event-stream`` answer."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    return response


async def send(response: web.StreamResponse, event: str, data: dict[str, Any]) -> None:
    """Write one server-sent event."""
    await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())


async def get_task(request: web.Request) -> DiscoveryTask:
    """The task named in the URL (a bad id is a 400, an unknown one a 404)."""
    return await request.app[CLIENT].discovery_tasks.get(request.match_info["id"])


@web.middleware
async def sdk_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer the SDK's errors raised before a response starts with an HTTP status."""
    try:
        return await handler(request)
    except (InvalidRequestError, InvalidTypeError) as error:  # checked before sending
        raise web.HTTPBadRequest(text=str(error)) from None
    except NotFoundError:
        raise web.HTTPNotFound(text="no such search") from None
    except ExtructError as error:  # refused, or unreachable through the retries
        raise web.HTTPBadGateway(text=str(error)) from None


def page(body: str) -> str:
    """A bare HTML page around ``body``."""
    return f"<!doctype html><meta charset=utf-8><title>Deep Search</title>{body}"


INDEX = """
<form id=search><input name=query size=60 placeholder="companies to find">
<input name=results type=number value=25 min=1 max=250><button>Search</button></form>
<pre id=log></pre>
<script>
document.getElementById("search").onsubmit = async (submit) => {
  submit.preventDefault();
  const log = document.getElementById("log");
  const answer = await fetch("/searches", {method: "POST", body: new FormData(submit.target)});
  if (!answer.ok) { log.textContent = await answer.text(); return; }
  const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
  for (let buffer = "", read; !(read = await reader.read()).done;) {
    const events = (buffer += read.value).split("\\n\\n");
    buffer = events.pop();
    for (const event of events) {
      const [name, data] = event.split("\\n").map((line) => line.slice(line.indexOf(":") + 2));
      const state = JSON.parse(data);
      log.textContent += name + " " + data + "\\n";
      if (name === "done" || name === "failed") location.href = "/searches/" + state.id;
    }
  }
};
</script>
"""


if __name__ == "__main__":
    # handler_cancellation: when a browser leaves, its handler is cancelled at once,
    # which closes its watch() and so stops polling that task.
    web.run_app(create_app(), host="127.0.0.1", port=8000, handler_cancellation=True)
