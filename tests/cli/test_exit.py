"""Which exit status each failure gets, and how it reads on one line."""

from __future__ import annotations

import pytest

from extruct_async import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    CreateManyError,
    InvalidRequestError,
    InvalidTypeError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitError,
    ServerError,
    TaskExhaustedError,
    TaskFailedError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from extruct_async._cli._exit import EXIT_CODES_HELP, ExitCode, UsageError, describe, exit_code

from ._states import task

REQUEST = {"method": "GET", "url": "https://api.extruct.test/v1/discovery_tasks"}


def status_error(kind: type[APIStatusError], status: int) -> APIStatusError:
    return kind(f"{status} for GET", status=status, body={}, request_id=None, **REQUEST)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("bad --output"), 2),
        (ConfigurationError("no API key"), 2),
        (InvalidRequestError("criteria[0].key", "bad"), 2),
        (InvalidTypeError("query", "expected a string"), 2),
        (status_error(UnprocessableEntityError, 422), 2),
        (status_error(AuthenticationError, 401), 3),
        (status_error(NotFoundError, 404), 4),
        (status_error(PaymentRequiredError, 402), 5),
        (status_error(RateLimitError, 429), 6),
        (status_error(ServerError, 503), 6),
        (APIConnectionError("refused", **REQUEST), 6),
        (APITimeoutError("slow", **REQUEST), 6),
        (TaskFailedError(task(status="failed")), 7),
        (WaitTimeoutError([task()], 3.0), 8),
        (status_error(BadRequestError, 400), 1),
        (status_error(TaskExhaustedError, 400), 1),
        (status_error(APIStatusError, 409), 1),
        (APIResponseError("not JSON", **REQUEST), 1),
        (CreateManyError([None], [status_error(PaymentRequiredError, 402)]), 5),
        (OSError("address in use"), 1),
    ],
)
def test_each_kind_of_failure_has_its_status(error: BaseException, code: int) -> None:
    assert exit_code(error) == code


def test_the_help_table_lists_every_status() -> None:
    for code in ExitCode:
        assert f"{code.value:>3}  " in EXIT_CODES_HELP


def test_messages_are_one_line_and_never_carry_the_token() -> None:
    error = APIConnectionError("lost\nthe answer  for Bearer sk-123", **REQUEST)
    assert describe(error, secret="sk-123") == "lost the answer for Bearer ***"


def test_messages_say_how_to_come_back() -> None:
    running = task()
    assert f"extruct-async tasks wait {running.id}" in describe(WaitTimeoutError([running], 1))
    failed = task(status="failed")
    assert f"extruct-async tasks results {failed.id}" in describe(TaskFailedError(failed))


def test_unexpected_errors_are_named() -> None:
    assert describe(OSError(98, "Address already in use")) == (
        "OSError: [Errno 98] Address already in use"
    )
