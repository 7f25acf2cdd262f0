"""Properties over generated inputs and answers.

- Any value for any public argument either goes out as the documented request, or raises
  the documented error naming the argument, with nothing sent.
- Any answer, valid or malformed, decodes to the model or raises ``APIResponseError``:
  nothing else ever escapes ``except ExtructError``.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extruct_async import (
    APIResponseError,
    AsyncExtruct,
    ConfigurationError,
    HTTPRequest,
    HTTPResponse,
    InvalidRequestError,
)
from extruct_async._protocol import decode, get_request, list_request, results_request
from extruct_async.testing import MockTransport, json_response
from tests.conftest import API_KEY, TASK

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8,
)
ANY = JSON | st.binary(max_size=5) | st.tuples(st.text(max_size=3)) | st.sets(st.integers())
CRITERION = st.fixed_dictionaries(
    {"key": st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True) | st.text(max_size=4),
     "name": st.text(max_size=110), "criterion": st.text(min_size=5, max_size=30)})
ARGUMENTS = {
    "query": st.text(max_size=20) | ANY,
    "desired_num_results": st.integers(-5, 300) | ANY,
    "criteria": st.none() | st.lists(CRITERION | ANY, max_size=3) | ANY,
    "auto_data_sources": st.booleans() | ANY,
    "data_sources": st.none() | st.lists(st.sampled_from(["web_search", "maps", "fax"]) | ANY,
                                         max_size=2) | ANY,
    "table": st.none() | st.fixed_dictionaries({"id": st.text(max_size=5)}) | ANY,
    "exclude_domains": st.none() | st.lists(st.text(max_size=10) | ANY, max_size=3) | ANY,
    "exclude_task_ids": st.none() | st.lists(st.text(max_size=10) | ANY, max_size=3) | ANY,
}
SLOW = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def run(call: Any) -> tuple[Any, list[HTTPRequest]]:
    """Run ``call(client)`` against a transport that answers every request with TASK."""
    transport = MockTransport(lambda request: json_response(
        {**TASK, "results": []} if "/results" in request.url else TASK))

    async def main() -> Any:
        async with AsyncExtruct(API_KEY, "https://api.extruct.test", transport=transport,
                                max_retries=0) as client:
            return await call(client)

    with warnings.catch_warnings():  # auto_data_sources=False alone is sent with a warning
        warnings.filterwarnings("ignore", "auto_data_sources=False", UserWarning)
        try:
            return asyncio.run(main()), transport.requests
        except InvalidRequestError as exc:
            return exc, transport.requests


def raised(call: Callable[[], object], expected: type[BaseException]) -> BaseException | None:
    """The ``expected`` error ``call`` raised, or None; any other error fails the test."""
    try:
        call()
    except expected as exc:
        return exc
    return None


@SLOW
@given(st.fixed_dictionaries({}, optional=ARGUMENTS))
def test_create_sends_the_request_or_names_the_bad_argument(arguments: dict[str, Any]) -> None:
    query = arguments.pop("query", "freight SaaS")
    outcome, sent = run(lambda client: client.discovery_tasks.create(query, **arguments))
    if isinstance(outcome, InvalidRequestError):
        assert sent == []
        name = outcome.field.split("[")[0].split(".")[0]
        assert name in ({"query"} | set(arguments))
        assert str(outcome).startswith(f"{outcome.field}: ")
    else:
        (request,) = sent
        body = json.loads(request.body or b"")
        assert body["query"] == query
        assert set(body) <= {"query", *ARGUMENTS}


@SLOW
@given(st.text(max_size=40) | ANY)
def test_task_ids_are_sent_to_their_own_url_or_refused(task_id: Any) -> None:
    outcome, sent = run(lambda client: client.discovery_tasks.get(task_id))
    if isinstance(outcome, InvalidRequestError):
        assert (outcome.field, sent) == ("task_id", [])
    else:
        (request,) = sent
        path = request.url.removeprefix("https://api.extruct.test")
        assert path.startswith("/v1/discovery_tasks/")
        segment = path.removeprefix("/v1/discovery_tasks/")
        assert "/" not in segment
        assert segment not in ("", ".", "..")


@SLOW
@given(limit=st.integers(-3, 300) | ANY, offset=st.integers(-3, 300) | ANY,
       more=st.integers(-3, 300) | ANY)
def test_paging_and_resume_arguments(limit: Any, offset: Any, more: Any) -> None:
    async def pages(client: AsyncExtruct) -> Any:
        task = await client.discovery_tasks.get("t1")
        return [page async for page in task.pages(page_size=limit, offset=offset)]

    outcome, sent = run(pages)
    if isinstance(outcome, InvalidRequestError):
        assert outcome.field in ("page_size", "offset")
        assert len(sent) == 1  # the get; no results request
    async def resume(client: AsyncExtruct) -> Any:
        task = await client.discovery_tasks.get("t1")
        return await task.resume(more)

    outcome, sent = run(resume)
    if isinstance(outcome, InvalidRequestError):
        assert outcome.field == "desired_new_results"
        assert [r.method for r in sent] == ["GET"]


OPTIONS = st.fixed_dictionaries({}, optional={
    "max_concurrency": st.integers(-2, 50) | ANY,
    "rate_limit": st.none() | st.floats(-1, 1e6) | ANY,
    "burst": st.none() | st.integers(-1, 5) | ANY,
    "max_retries": st.none() | st.integers(-1, 5) | ANY,
    "attempt_timeout": st.floats(-1, 100) | ANY,
    "base_url": st.none() | st.text(max_size=30) | ANY,
    "default_headers": st.none() | st.dictionaries(st.text(max_size=5), st.text(max_size=5))
    | ANY,
    "max_response_size": st.integers(0, 10**8) | ANY,
})


@SLOW
@given(OPTIONS)
def test_client_options_build_a_client_or_raise_a_configuration_error(
    options: dict[str, Any],
) -> None:
    error = raised(lambda: AsyncExtruct(API_KEY, **options), ConfigurationError)
    assert error is None or API_KEY not in str(error)


# -- answers ---------------------------------------------------------------------------

REQUESTS = [get_request("t1"), list_request(), results_request("t1")]


def mutated(document: dict[str, Any]) -> Any:
    keys = st.sampled_from(sorted(document))
    return st.builds(lambda key, value: {**document, key: value}, keys, JSON)


ANSWERS = (
    JSON.map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=40)
    | mutated(TASK).map(lambda value: json.dumps(value).encode())
    | mutated({**TASK, "results": [{"id": "r1", "scores": {"a": {"grade": 5}}}]}).map(
        lambda value: json.dumps(value).encode())
    | st.builds(lambda rows: json.dumps({**TASK, "results": rows}).encode(),
                st.lists(JSON | st.fixed_dictionaries({"id": st.text(max_size=3)},
                                                      optional={"scores": JSON}), max_size=3))
)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(REQUESTS), ANSWERS)
def test_any_answer_is_a_model_or_an_api_response_error(request: Any, body: bytes) -> None:
    error = raised(lambda: decode(request, HTTPResponse(200, {}, body),
                                  url="https://api.extruct.test"), APIResponseError)
    assert error is None or str(error).startswith("GET https://api.extruct.test")


@settings(max_examples=200, deadline=None)
@given(st.integers(100, 599), st.binary(max_size=60) | JSON.map(lambda v: json.dumps(v).encode()),
       st.dictionaries(st.sampled_from(["retry-after", "date", "x-request-id"]),
                       st.text(max_size=30)))
def test_any_error_answer_is_an_api_error(status: int, body: bytes,
                                          headers: dict[str, str]) -> None:
    from extruct_async import APIError

    if 200 <= status < 300:
        return
    error = raised(lambda: decode(get_request("t1"), HTTPResponse(status, headers, body),
                                  url="u"), APIError)
    assert error is not None  # an error status never decodes
    assert str(error)
    retry_after = getattr(error, "retry_after", None)
    assert retry_after is None or retry_after >= 0
