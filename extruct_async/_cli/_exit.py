"""What the command line says and returns when something goes wrong.

Every failure ends as one ``error: ...`` line on stderr and an exit status that
names its kind, so scripts can tell "fix your token" from "try again later".
"""

from __future__ import annotations

import enum

from .. import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConfigurationError,
    CreateManyError,
    ExtructError,
    InvalidRequestError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitError,
    ServerError,
    StoreError,
    TaskExhaustedError,
    TaskFailedError,
    UnprocessableEntityError,
    WaitTimeoutError,
)

__all__ = ["EXIT_CODES_HELP", "ExitCode", "UsageError", "describe", "exit_code"]


class ExitCode(enum.IntEnum):
    """The exit status of ``extruct-async``, one per kind of outcome."""

    OK = 0
    API_ERROR = 1
    USAGE = 2
    AUTHENTICATION = 3
    NOT_FOUND = 4
    PAYMENT_REQUIRED = 5
    NETWORK = 6
    TASK_FAILED = 7
    TIMEOUT = 8
    INTERRUPTED = 130


_MEANINGS = {
    ExitCode.OK: "success",
    ExitCode.API_ERROR: "the service refused the request (other API error)",
    ExitCode.USAGE: "bad command line, missing API token, or input the service rejects (422)",
    ExitCode.AUTHENTICATION: "the API token is wrong or revoked (401)",
    ExitCode.NOT_FOUND: "no such task in your workspace (404)",
    ExitCode.PAYMENT_REQUIRED: "Deep Search needs a paid plan or more credits (402)",
    ExitCode.NETWORK: "service (or --store) unreachable, too slow, failing (5xx) or rate"
                      " limiting (429)",
    ExitCode.TASK_FAILED: "a task ended with status failed",
    ExitCode.TIMEOUT: "--timeout passed before the task(s) finished; they keep running",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); running tasks are listed on stderr",
}

#: The exit status table, for ``--help``.
EXIT_CODES_HELP = "exit status:\n" + "\n".join(
    f"  {code.value:>3}  {meaning}" for code, meaning in _MEANINGS.items()
)


class UsageError(Exception):
    """A command line the CLI itself rejects (exit status 2), such as an unwritable --output."""


# Most specific first: the first matching class decides.
_CODES: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (UsageError, ExitCode.USAGE),
    (ConfigurationError, ExitCode.USAGE),
    (InvalidRequestError, ExitCode.USAGE),
    (UnprocessableEntityError, ExitCode.USAGE),
    (AuthenticationError, ExitCode.AUTHENTICATION),
    (NotFoundError, ExitCode.NOT_FOUND),
    (PaymentRequiredError, ExitCode.PAYMENT_REQUIRED),
    (RateLimitError, ExitCode.NETWORK),
    (ServerError, ExitCode.NETWORK),
    (APIConnectionError, ExitCode.NETWORK),
    (StoreError, ExitCode.NETWORK),
    (TaskFailedError, ExitCode.TASK_FAILED),
    (WaitTimeoutError, ExitCode.TIMEOUT),
    (APIError, ExitCode.API_ERROR),
)


def exit_code(error: BaseException) -> ExitCode:
    """Return the exit status for ``error`` (``API_ERROR`` for anything unforeseen)."""
    if isinstance(error, CreateManyError):
        first = next(e for e in error.errors if e is not None)
        return exit_code(first)
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return ExitCode.API_ERROR


def describe(error: BaseException, *, secret: str | None = None) -> str:
    """Return ``error`` as one line for stderr, with a hint where one helps.

    Args:
        error: what went wrong.
        secret: the API token; blanked out should any message ever carry it.
    """
    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, WaitTimeoutError):
        ids = " ".join(task.id for task in error.tasks)
        text += f"; still running: extruct-async tasks wait {ids}"
    elif isinstance(error, TaskFailedError):
        text += f"; rows found so far: extruct-async tasks results {error.task.id}"
    elif isinstance(error, TaskExhaustedError):
        text += "; no candidates are left to find: start a new search instead"
    elif isinstance(error, AuthenticationError):
        text += "; check --api-key or EXTRUCT_API_TOKEN"
    elif not isinstance(error, (ExtructError, UsageError)):
        text = f"{type(error).__name__}: {text}"
    if secret:
        text = text.replace(secret, "***")
    return text
