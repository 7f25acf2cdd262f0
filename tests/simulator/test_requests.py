"""Auth, validation (422), billing (402), 404 and listing, over raw HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from extruct_async._constraints import MAX_EXCLUDE_TASK_IDS

from ._raw import TASKS, RawAPI, running

QUERY = "climate tech startups in Berlin"
CRITERION = {
    "key": "has_api",
    "name": "Has an API",
    "criterion": "The company offers a public API.",
}


def locs(answer_body: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(item["loc"]) for item in answer_body["detail"]]


async def create_error(api: RawAPI, body: Any) -> list[tuple[Any, ...]]:
    answer = await api.call("POST", TASKS, json=body)
    assert answer.status == 422, answer.body
    for item in answer.body["detail"]:
        assert set(item) >= {"loc", "msg", "type"}
    return locs(answer.body)


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer wrong-key", "extruct-fake-api-key", "Token extruct-fake-api-key", "Bearer"],
)
async def test_requests_without_the_right_bearer_token_get_401(authorization: str | None) -> None:
    async with running() as (server, _):
        headers = {} if authorization is None else {"Authorization": authorization}
        async with aiohttp.ClientSession(server.base_url, headers=headers) as session:
            for method, path in (("GET", TASKS), ("POST", TASKS), ("GET", f"{TASKS}/x")):
                async with session.request(method, path, json={"query": QUERY}) as response:
                    assert response.status == 401
                    assert isinstance((await response.json())["detail"], str)
                    assert response.headers["WWW-Authenticate"] == "Bearer"
        assert server.create_count == 0
        assert [record.api_key_ok for record in server.requests] == [False] * 3


async def test_the_bearer_scheme_is_case_insensitive() -> None:
    async with running() as (server, _):
        headers = {"Authorization": f"bearer {server.api_key}"}
        async with (
            aiohttp.ClientSession(server.base_url, headers=headers) as session,
            session.get(TASKS) as response,
        ):
            assert response.status == 200


async def test_a_custom_api_key() -> None:
    async with running(api_key="sk-custom") as (server, api):
        assert server.api_key == "sk-custom"
        assert (await api.call("GET", TASKS)).status == 200


@pytest.mark.parametrize("suffix", ["", "/results"])
async def test_unknown_tasks_are_404(suffix: str) -> None:
    async with running() as (_, api):
        answer = await api.call("GET", f"{TASKS}/no-such-task{suffix}")
        assert answer.status == 404
        assert isinstance(answer.body["detail"], str)
        resume = await api.resume("no-such-task")
        assert resume.status == 404


async def test_unknown_paths_and_methods_answer_json() -> None:
    async with running() as (_, api):
        missing = await api.call("GET", "/v2/anything")
        assert (missing.status, missing.body) == (404, {"detail": "Not Found"})
        wrong = await api.call("DELETE", f"{TASKS}/abc")
        assert (wrong.status, wrong.body) == (405, {"detail": "Method Not Allowed"})
        assert wrong.headers["Allow"] == "GET"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, [("body", "query")]),
        ({"query": 5}, [("body", "query")]),
        ({"query": "   "}, [("body", "query")]),
        ({"query": QUERY, "desired_num_results": 0}, [("body", "desired_num_results")]),
        ({"query": QUERY, "desired_num_results": 251}, [("body", "desired_num_results")]),
        ({"query": QUERY, "desired_num_results": "ten"}, [("body", "desired_num_results")]),
        ({"query": QUERY, "desired_num_results": False}, [("body", "desired_num_results")]),
        ({"query": QUERY, "desired_num_results": 10.5}, [("body", "desired_num_results")]),
        ({"query": QUERY, "auto_data_sources": "maybe"}, [("body", "auto_data_sources")]),
        ({"query": QUERY, "data_sources": ["web_search", "x"]}, [("body", "data_sources", 1)]),
        ({"query": QUERY, "data_sources": "maps"}, [("body", "data_sources")]),
        ({"query": QUERY, "criteria": {"key": "a"}}, [("body", "criteria")]),
        ({"query": QUERY, "criteria": ["x"]}, [("body", "criteria", 0)]),
        (
            {"query": QUERY, "criteria": [{**CRITERION, "key": "1st"}]},
            [("body", "criteria", 0, "key")],
        ),
        (
            {"query": QUERY, "criteria": [{**CRITERION, "key": "a b"}]},
            [("body", "criteria", 0, "key")],
        ),
        (
            {"query": QUERY, "criteria": [{**CRITERION, "key": "ok\n"}]},
            [("body", "criteria", 0, "key")],
        ),
        ({"query": QUERY, "criteria": [CRITERION, CRITERION]}, [("body", "criteria", 1, "key")]),
        (
            {"query": QUERY, "criteria": [{**CRITERION, "name": ""}]},
            [("body", "criteria", 0, "name")],
        ),
        (
            {"query": QUERY, "criteria": [{**CRITERION, "name": "n" * 101}]},
            [("body", "criteria", 0, "name")],
        ),
        (
            {"query": QUERY, "criteria": [{**CRITERION, "criterion": "too short"}]},
            [("body", "criteria", 0, "criterion")],
        ),
        (
            {"query": QUERY, "criteria": [{**CRITERION, "criterion": "c" * 501}]},
            [("body", "criteria", 0, "criterion")],
        ),
        (
            {"query": QUERY, "criteria": [{"key": "a", "name": "A"}]},
            [("body", "criteria", 0, "criterion")],
        ),
        (
            {"query": QUERY, "criteria": [{**CRITERION, "weight": 2}]},
            [("body", "criteria", 0, "weight")],
        ),
        ({"query": QUERY, "exclude_domains": "acme.com"}, [("body", "exclude_domains")]),
        ({"query": QUERY, "exclude_domains": ["acme.com", 7]}, [("body", "exclude_domains", 1)]),
        ({"query": QUERY, "exclude_domains": ["not a domain"]}, [("body", "exclude_domains", 0)]),
        ({"query": QUERY, "exclude_task_ids": [1]}, [("body", "exclude_task_ids", 0)]),
        ({"query": QUERY, "exclude_task_ids": ["nope"]}, [("body", "exclude_task_ids", 0)]),
        ({"query": QUERY, "table": "t"}, [("body", "table")]),
        ({"query": QUERY, "table": {"run": True}}, [("body", "table", "id")]),
        ({"query": QUERY, "table": {"id": 1}}, [("body", "table", "id")]),
        ({"query": QUERY, "table": {"id": "t", "run": "nope"}}, [("body", "table", "run")]),
        (
            {"query": QUERY, "table": {"id": "t", "auto_import": 2}},
            [("body", "table", "auto_import")],
        ),
        ({"query": QUERY, "table": {"id": "t", "columns": "c"}}, [("body", "table", "columns")]),
        ({"query": QUERY, "table": {"id": "t", "columns": [3]}}, [("body", "table", "columns", 0)]),
        ({"query": QUERY, "table": {"id": "t", "name": "x"}}, [("body", "table", "name")]),
        ({"query": QUERY, "webhook": "https://x"}, [("body", "webhook")]),
        ([QUERY], [("body",)]),
    ],
)
async def test_each_create_rule_has_its_422_loc(body: Any, expected: list[tuple[Any, ...]]) -> None:
    async with running() as (server, api):
        assert await create_error(api, body) == expected
        assert server.create_count == 0


async def test_too_many_exclude_task_ids() -> None:
    async with running() as (_, api):
        ids = ["x"] * (MAX_EXCLUDE_TASK_IDS + 1)
        errors = await create_error(api, {"query": QUERY, "exclude_task_ids": ids})
        assert errors[0] == ("body", "exclude_task_ids")
        assert len(errors) == MAX_EXCLUDE_TASK_IDS + 2


async def test_exclude_task_ids_must_be_done_tasks() -> None:
    async with running() as (_, api):
        task = await api.create(query=QUERY)
        answer = await api.call(
            "POST", TASKS, json={"query": QUERY, "exclude_task_ids": [task["id"]]}
        )
        assert answer.status == 422
        assert answer.body["detail"][0]["loc"] == ["body", "exclude_task_ids", 0]
        assert "created" in answer.body["detail"][0]["msg"]


async def test_all_errors_come_at_once() -> None:
    async with running() as (_, api):
        body = {
            "desired_num_results": 0,
            "criteria": [{"key": "", "name": "", "criterion": ""}],
            "x": 1,
        }
        assert await create_error(api, body) == [
            ("body", "query"),
            ("body", "desired_num_results"),
            ("body", "criteria", 0, "key"),
            ("body", "criteria", 0, "name"),
            ("body", "criteria", 0, "criterion"),
            ("body", "x"),
        ]


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe", b"null"])
async def test_a_body_that_is_not_a_json_object_is_422(raw: bytes) -> None:
    async with running() as (_, api):
        answer = await api.call(
            "POST", TASKS, data=raw, headers={"Content-Type": "application/json"}
        )
        assert answer.status == 422
        assert answer.body["detail"][0]["loc"][0] == "body"


async def test_a_valid_create_echoes_its_settings() -> None:
    async with running() as (_, api):
        task = await api.create(
            query=QUERY,
            desired_num_results=12,
            table={"id": "tbl_1", "run": True, "columns": ["c1"], "auto_import": False},
            auto_data_sources=False,
            data_sources=["linkedin"],
            criteria=[CRITERION],
        )
        assert task["desired_num_results"] == 12
        assert task["table_id"] == "tbl_1"
        assert task["auto_data_sources"] is False
        assert task["data_sources"] == ["linkedin"]
        assert task["criteria"] == [CRITERION]
        assert task["exclude_domains"] is None
        defaults = await api.create(query=QUERY, table={"id": "t", "columns": None})
        assert defaults["desired_num_results"] == 100
        assert defaults["auto_data_sources"] is True
        assert defaults["data_sources"] is None
        assert 2 <= len(defaults["criteria"]) <= 4


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"desired_new_results": -1}, ("body", "desired_new_results")),
        ({"desired_new_results": 251}, ("body", "desired_new_results")),
        ({"desired_new_results": "five"}, ("body", "desired_new_results")),
        ({"more": 5}, ("body", "more")),
        ([], ("body",)),
    ],
)
async def test_resume_rules(body: Any, loc: tuple[Any, ...]) -> None:
    async with running() as (_, api):
        task = await api.create(query=QUERY)
        answer = await api.call("POST", f"{TASKS}/{task['id']}/resume", json=body)
        assert answer.status == 422
        assert locs(answer.body) == [loc]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"limit": "0"}, [("query", "limit")]),
        ({"limit": "abc"}, [("query", "limit")]),
        ({"offset": "-1"}, [("query", "offset")]),
        ({"offset": "1.5", "limit": ""}, [("query", "offset"), ("query", "limit")]),
    ],
)
async def test_page_parameters_are_validated(
    params: dict[str, str], expected: list[tuple[Any, ...]]
) -> None:
    async with running() as (_, api):
        task = await api.create(query=QUERY)
        for path in (TASKS, f"{TASKS}/{task['id']}/results"):
            answer = await api.call("GET", path, params=params)
            assert answer.status == 422
            assert locs(answer.body) == expected


async def test_credits_run_out_with_402() -> None:
    async with running(credits=150) as (server, api):
        await api.create(query=QUERY, desired_num_results=100)
        assert server.credits == 50
        answer = await api.call("POST", TASKS, json={"query": QUERY, "desired_num_results": 51})
        assert answer.status == 402
        assert answer.body["detail"]["error"] == "insufficient_credits"
        assert answer.body["detail"]["message"]
        assert server.create_count == 1
        task = next(iter(server.tasks))
        assert (await api.resume(task, desired_new_results=60)).status == 402
        assert (await api.resume(task, desired_new_results=50)).status == 200
        assert server.credits == 0
        server.credits = 10
        await api.create(query=QUERY, desired_num_results=10)
        assert server.create_count == 2


async def test_plan_required_answers_every_create_with_402() -> None:
    async with running(plan_required=True) as (server, api):
        answer = await api.call("POST", TASKS, json={"query": QUERY})
        assert (answer.status, answer.body["detail"]["error"]) == (402, "plan_required")
        # Validation comes first.
        assert (await api.call("POST", TASKS, json={})).status == 422
        assert server.create_count == 0


async def test_payment_failed_answers_creates_and_resumes_with_402() -> None:
    async with running(payment_failed=True) as (_, api):
        answer = await api.call("POST", TASKS, json={"query": QUERY})
        assert (answer.status, answer.body["detail"]["error"]) == (402, "payment_failed")


async def test_list_is_newest_first_with_offset_and_limit() -> None:
    async with running() as (_, api):
        ids = [(await api.create(query=f"{QUERY} {n}"))["id"] for n in range(25)]
        newest_first = ids[::-1]
        default = (await api.call("GET", TASKS)).body
        assert [task["id"] for task in default] == newest_first[:20]
        page = (await api.call("GET", TASKS, params={"offset": 5, "limit": 3})).body
        assert [task["id"] for task in page] == newest_first[5:8]
        tail = (await api.call("GET", TASKS, params={"offset": 20, "limit": 50})).body
        assert [task["id"] for task in tail] == newest_first[20:]
        assert (await api.call("GET", TASKS, params={"offset": 99})).body == []
        assert set(default[0]) == set(await api.get(ids[-1]))


# pydantic v2's lax mode, as the service's FastAPI applies it to a JSON body.
@pytest.mark.parametrize(
    ("sent", "read"),
    [(7, 7), (2.0, 2), (1e2, 100), (True, 1), ("5", 5), (" 7 ", 7), ("+8", 8), ("009", 9),
     ("10.00", 10), ("1_1", 11), ("\u30002\t", 2), ("0250", 250)],
)  # fmt: skip
async def test_integers_are_read_as_pydantic_reads_them_in_lax_mode(sent: Any, read: int) -> None:
    async with running() as (_, api):
        task = await api.create(query=QUERY, desired_num_results=sent)
        assert task["desired_num_results"] == read
        answer = await api.resume(task["id"], desired_new_results=sent)
        assert answer.status == 200
        assert answer.body["desired_num_results"] == min(read * 2, 250)


@pytest.mark.parametrize(
    ("sent", "kind", "message"),
    [
        (2.5, "int_from_float", "Input should be a valid integer, got a number with a fractional"
         " part"),
        ("5.5", "int_parsing", "Input should be a valid integer, unable to parse string as an"
         " integer"),
        ("5.", "int_parsing", None), ("5e0", "int_parsing", None), ("", "int_parsing", None),
        ("1__0", "int_parsing", None), ("_1", "int_parsing", None), ("0x10", "int_parsing", None),
        ("+-1", "int_parsing", None), ("١٢", "int_parsing", None),
        (None, "int_type", "Input should be a valid integer"), ([5], "int_type", None),
        ({"n": 5}, "int_type", None),
        (1e20, "int_parsing_size", "Unable to parse input string as an integer, exceeded maximum"
         " size"),
        (False, "greater_than_equal", "Input should be greater than or equal to 1"),
        ("0", "greater_than_equal", None), (" -3", "greater_than_equal", None),
        ("251", "less_than_equal", "Input should be less than or equal to 250"),
        (250.0 + 1, "less_than_equal", None),
    ],
)  # fmt: skip
async def test_integers_pydantic_refuses_are_422(sent: Any, kind: str, message: str | None) -> None:
    async with running() as (server, api):
        answer = await api.call("POST", TASKS, json={"query": QUERY, "desired_num_results": sent})
        assert answer.status == 422
        [error] = answer.body["detail"]
        assert error["loc"] == ["body", "desired_num_results"]
        assert error["type"] == kind
        assert error["input"] == sent
        if message is not None:
            assert error["msg"] == message
        assert server.create_count == 0


@pytest.mark.parametrize(
    ("literal", "kind"), [(b"NaN", "finite_number"), (b"Infinity", "finite_number")]
)
async def test_non_finite_numbers_are_not_integers(literal: bytes, kind: str) -> None:
    async with running() as (_, api):
        body = b'{"query": "robots", "desired_num_results": ' + literal + b"}"
        answer = await api.call(
            "POST", TASKS, data=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status == 422
        assert answer.body["detail"][0]["type"] == kind


@pytest.mark.parametrize(
    ("sent", "read"),
    [(True, True), (False, False), (1, True), (0, False), (1.0, True), (0.0, False),
     ("yes", True), ("Y", True), ("on", True), ("t", True), ("TRUE", True), ("1", True),
     ("no", False), ("N", False), ("off", False), ("f", False), ("False", False), ("0", False)],
)  # fmt: skip
async def test_booleans_are_read_as_pydantic_reads_them_in_lax_mode(sent: Any, read: bool) -> None:
    async with running() as (_, api):
        body = {"query": QUERY, "auto_data_sources": sent, "table": {"id": "t", "run": sent}}
        task = await api.create(**body)
        assert task["auto_data_sources"] is read


@pytest.mark.parametrize(
    ("sent", "kind"),
    [(2, "bool_parsing"), (2.0, "bool_parsing"), ("maybe", "bool_parsing"),
     (" true", "bool_parsing"), ("", "bool_parsing"), (0.5, "bool_type"), (None, "bool_type"),
     ([True], "bool_type")],
)  # fmt: skip
async def test_booleans_pydantic_refuses_are_422(sent: Any, kind: str) -> None:
    async with running() as (_, api):
        body = {"query": QUERY, "table": {"id": "t", "auto_import": sent}}
        answer = await api.call("POST", TASKS, json=body)
        assert answer.status == 422
        [error] = answer.body["detail"]
        assert (error["loc"], error["type"]) == (["body", "table", "auto_import"], kind)


@pytest.mark.parametrize("field", ["query", "table.id", "criteria.key", "exclude_domains"])
async def test_strings_stay_strict(field: str) -> None:
    bodies = {
        "query": {"query": 5},
        "table.id": {"query": QUERY, "table": {"id": 5}},
        "criteria.key": {"query": QUERY, "criteria": [{**CRITERION, "key": 5}]},
        "exclude_domains": {"query": QUERY, "exclude_domains": [5]},
    }
    async with running() as (_, api):
        answer = await api.call("POST", TASKS, json=bodies[field])
        assert answer.status == 422
        assert [error["type"] for error in answer.body["detail"]] == ["string_type"]


@pytest.mark.parametrize(
    ("params", "offset", "limit"),
    [({"offset": "1", "limit": "2"}, 1, 2), ({"offset": " 1 ", "limit": "+2"}, 1, 2),
     ({"offset": "1.0", "limit": "02"}, 1, 2), ({"offset": "0_1", "limit": "2.00"}, 1, 2),
     ({"offset": "-0"}, 0, 20)],
)  # fmt: skip
async def test_page_parameters_are_read_as_pydantic_reads_them(
    params: dict[str, str], offset: int, limit: int
) -> None:
    async with running() as (_, api):
        ids = [(await api.create(query=f"{QUERY} {n}"))["id"] for n in range(25)]
        answer = await api.call("GET", TASKS, params=params)
        assert answer.status == 200
        assert [task["id"] for task in answer.body] == ids[::-1][offset : offset + limit]


async def test_a_body_that_is_not_text_is_400_as_from_fastapi() -> None:
    async with running() as (server, api):
        huge = b'{"query": "x", "desired_num_results": 1' + b"0" * 5000 + b"}"
        for body in (b'{"query": "caf\xe9"}', huge):
            answer = await api.call(
                "POST", TASKS, data=body, headers={"Content-Type": "application/json"}
            )
            assert (answer.status, answer.body) == (
                400,
                {"detail": "There was an error parsing the body"},
            )
        assert server.create_count == 0
