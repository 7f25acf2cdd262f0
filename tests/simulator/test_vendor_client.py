"""The vendor's own command-line client, as it behaves on the wire, against the simulator.

Extruct's ``extruct-api`` script (in its public ``skills`` repository) is not part of this
repository, nor fetched by CI. ``VendorShapedClient`` is our own code that speaks the same
protocol (see the FACTS of the vendor's client): urllib with its default User-Agent, compact JSON
bodies holding only the fields the user gave, ``Accept: application/json``, ``Content-Type`` only
with a body, ``offset`` then ``limit`` (list 20, results 50), a poll of ``GET
/v1/discovery_tasks/{id}`` every 10 s up to 120 times that stops only on ``done`` or ``failed``,
401 and 403 as authentication failures, and error bodies kept as text when they are not JSON.
The server runs in a thread on a clock that the client's sleep moves, so nothing waits for real.
"""

from __future__ import annotations

import itertools
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

import attrs

from extruct_async.testing import DEFAULT_QUALIFICATION_STEPS, FakeExtructServer

from ._threaded import ManualClock, server_in_a_thread

TASKS = "/v1/discovery_tasks"


@attrs.define
class Sent:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


class _Recorder(urllib.request.BaseHandler):
    """Keeps every request as urllib sends it, headers included."""

    def __init__(self, sent: list[Sent]) -> None:
        self.sent = sent

    def http_request(self, request: urllib.request.Request) -> urllib.request.Request:
        headers = dict(request.header_items())
        body = request.data if isinstance(request.data, bytes) else None
        self.sent.append(Sent(request.get_method(), request.full_url, headers, body))
        return request


@attrs.define
class VendorShapedClient:
    base_url: str
    token: str
    sleep: Callable[[float], None]
    sent: list[Sent] = attrs.field(factory=list)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        payload: Any = None,
    ) -> tuple[str, Any]:
        """Return ("ok", body) or (error code, error payload), as the vendor's client does."""
        url = self.base_url.rstrip("/") + path
        if query:
            url = f"{url}?{urllib.parse.urlencode(query, doseq=True)}"
        body = None
        if payload is not None:
            body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        headers = {"Accept": "application/json", "Authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url=url, data=body, headers=headers, method=method)
        opener = urllib.request.build_opener(_Recorder(self.sent))
        try:
            with opener.open(request, timeout=30) as response:
                return "ok", _parse(response.read())
        except urllib.error.HTTPError as exc:
            code = "auth_error" if exc.code in (401, 403) else "http_error"
            return code, {"status_code": exc.code, "details": _parse(exc.read())}

    def list(self, *, offset: int = 0, limit: int = 20) -> tuple[str, Any]:
        return self.request("GET", TASKS, query={"offset": offset, "limit": limit})

    def create(self, payload: dict[str, Any]) -> tuple[str, Any]:
        return self.request("POST", TASKS, payload=payload)

    def get(self, task_id: str) -> tuple[str, Any]:
        return self.request("GET", f"{TASKS}/{task_id}")

    def results(self, task_id: str, *, offset: int = 0, limit: int = 50) -> tuple[str, Any]:
        query = {"offset": offset, "limit": limit}
        return self.request("GET", f"{TASKS}/{task_id}/results", query=query)

    def resume(self, task_id: str, payload: dict[str, Any]) -> tuple[str, Any]:
        return self.request("POST", f"{TASKS}/{task_id}/resume", payload=payload)

    def poll(
        self, task_id: str, *, interval: float = 10.0, max_attempts: int = 120
    ) -> tuple[str, Any, list[dict[str, Any]]]:
        """Poll until done or failed; also return every state seen."""
        seen = []
        for attempt in range(max_attempts):
            outcome, state = self.get(task_id)
            if outcome != "ok":
                return outcome, state, seen
            seen.append(state)
            if state.get("status") in ("done", "failed"):
                return "ok", state, seen
            if attempt + 1 < max_attempts:
                self.sleep(interval)
        return "timeout", None, seen


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"text": text}


def client_for(server: FakeExtructServer, clock: ManualClock) -> VendorShapedClient:
    return VendorShapedClient(server.base_url, server.api_key, sleep=clock.sleep)


def test_the_vendor_workflow_runs_to_done_and_reads_every_row() -> None:
    clock = ManualClock()
    options = {"seed": 5, "candidate_pool": 80, "seconds_per_result": 1.0}
    with server_in_a_thread(
        clock=clock, qualification_steps=DEFAULT_QUALIFICATION_STEPS, **options
    ) as server:
        vendor = client_for(server, clock)
        outcome, task = vendor.create({"query": "freight forwarding software"})
        assert (outcome, task["status"], task["desired_num_results"]) == ("ok", "created", 100)
        outcome, final, seen = vendor.poll(task["id"])
        assert (outcome, final["status"]) == ("ok", "done")
        # The poll went on through the exhausted, evaluated, still-qualifying stretch.
        assert any(
            state["is_exhausted"]
            and state["num_results_evaluated"] == state["num_results_enriched"]
            and state["status"] == "in_progress"
            for state in seen
        )
        assert all(state["status"] == "in_progress" for state in seen[1:-1])
        rows: list[dict[str, Any]] = []
        while True:
            outcome, page = vendor.results(task["id"], offset=len(rows))
            assert outcome == "ok"
            rows += page["results"]
            if len(page["results"]) < 50:
                break
        assert [row["id"] for row in rows] == [row["id"] for row in server.visible_rows(task["id"])]
        assert len(rows) == final["num_results_evaluated"] > 50
        polls = [record.time for record in server.requests if record.endpoint == "get"]
        assert {round(after - before, 6) for before, after in itertools.pairwise(polls)} == {10.0}
        sent = vendor.sent
    create = sent[0]
    assert create.method == "POST"
    assert create.body == b'{"query":"freight forwarding software"}'
    assert create.headers["Content-type"] == "application/json"
    assert create.headers["Accept"] == "application/json"
    assert create.headers["User-agent"] == "Python-urllib/{}.{}".format(*sys.version_info)
    assert all("Content-type" not in request.headers for request in sent[1:])
    assert all(request.headers["Authorization"] == f"Bearer {server.api_key}" for request in sent)
    assert sent[-1].url.endswith(f"/results?offset={len(rows) // 50 * 50}&limit=50")


def test_the_vendor_list_resume_and_errors() -> None:
    clock = ManualClock()
    with server_in_a_thread(clock=clock, seed=6, candidate_pool={"tiny niche": 20}) as server:
        vendor = client_for(server, clock)
        ids = [vendor.create({"query": f"robotics {n}", "desired_num_results": 5})[1]["id"]
               for n in range(22)]  # fmt: skip
        outcome, listed = vendor.list()
        assert outcome == "ok"
        assert [task["id"] for task in listed] == ids[::-1][:20]
        assert [task["id"] for task in vendor.list(offset=20)[1]] == ids[:2][::-1]
        assert server.requests[-1].query == {"offset": "20", "limit": "20"}
        # The vendor's own check lets a JSON true through as an integer; so does the service.
        outcome, lax = vendor.create({"query": "robotics", "desired_num_results": True})
        assert (outcome, lax["desired_num_results"]) == ("ok", 1)
        vendor.poll(ids[0])
        outcome, resumed = vendor.resume(ids[0], {"desired_new_results": 25})
        assert (outcome, resumed["status"], resumed["desired_num_results"]) == (
            "ok", "in_progress", 30,
        )  # fmt: skip
        tiny = vendor.create({"query": "tiny niche", "desired_num_results": 50})[1]
        assert vendor.poll(tiny["id"])[1]["is_exhausted"]
        outcome, refused = vendor.resume(tiny["id"], {"desired_new_results": 25})
        assert (outcome, refused["status_code"]) == ("http_error", 400)
        outcome, missing = vendor.get("no-such-task")
        assert (outcome, missing["status_code"]) == ("http_error", 404)
        # A gateway's HTML page is kept as text, as the vendor's client keeps it.
        server.inject("502", endpoint="get")
        outcome, gateway = vendor.get(ids[0])
        assert (outcome, gateway["status_code"]) == ("http_error", 502)
        assert "<h1>502 Bad Gateway</h1>" in gateway["details"]["text"]
        stranger = VendorShapedClient(server.base_url, "not-the-token", sleep=clock.sleep)
        outcome, denied = stranger.list()
        assert (outcome, denied["status_code"]) == ("auth_error", 401)


def test_the_vendor_poll_gives_up_after_its_attempts() -> None:
    clock = ManualClock()
    with server_in_a_thread(clock=clock, seconds_per_result=100.0) as server:
        vendor = client_for(server, clock)
        task = vendor.create({"query": "robotics", "desired_num_results": 250})[1]
        outcome, _, seen = vendor.poll(task["id"])
        assert (outcome, len(seen)) == ("timeout", 120)
        assert clock.now == 119 * 10
        assert server.tasks[task["id"]].ends_at > clock.now
