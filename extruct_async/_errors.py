"""Every error the SDK raises.

The whole tree::

    ExtructError
    ├── ConfigurationError             no API key, bad client options
    ├── ClientStateError (RuntimeError) used after aclose(), or from another event loop
    ├── InvalidRequestError (ValueError) bad input, caught before anything is sent
    │   └── InvalidTypeError (TypeError) bad input of the wrong type
    ├── APIError                       something went wrong talking to the service
    │   ├── APIStatusError             the service answered with an error status
    │   │   ├── BadRequestError        400
    │   │   │   └── TaskExhaustedError   400 on resume: no candidates left
    │   │   ├── AuthenticationError    401
    │   │   │   └── PermissionDeniedError  403
    │   │   ├── PaymentRequiredError   402 (``error``: plan_required, payment_failed, ...)
    │   │   ├── NotFoundError          404
    │   │   ├── UnprocessableEntityError 422
    │   │   ├── RateLimitError         429 (``retry_after``)
    │   │   └── ServerError            5xx
    │   ├── APIResponseError           a 2xx answer that is not the documented JSON
    │   └── APIConnectionError         the request or its answer was lost on the way
    │       └── APITimeoutError        ... because it took too long
    ├── TaskFailedError                the task ended with status ``failed``
    ├── CreateManyError                some creates of a batch failed; the rest are kept
    ├── StoreError                     the store (SQLite, Redis) failed
    └── WaitTimeoutError (TimeoutError) waiting gave up before the task(s) finished

The three errors that carry task handles (``TaskFailedError``, ``CreateManyError``,
``WaitTimeoutError``) are defined beside the handle, in ``_task``, so that nothing
below it needs to know the handle; they belong to this tree all the same.

No aiohttp or asyncio exception reaches the caller: transport errors are translated
with ``raise APIConnectionError(...) from exc``. Messages never contain the API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientStateError",
    "ConfigurationError",
    "ExtructError",
    "InvalidRequestError",
    "InvalidTypeError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "StoreError",
    "TaskExhaustedError",
    "UnprocessableEntityError",
]


class ExtructError(Exception):
    """Root of every error raised by ``extruct_async``."""


class ConfigurationError(ExtructError):
    """The client cannot be built as asked, e.g. no API key was found."""


class ClientStateError(ExtructError, RuntimeError):
    """The client cannot serve this call: it was closed, or it belongs to another loop."""


class InvalidRequestError(ExtructError, ValueError):
    """An argument breaks the service's rules; raised before any request is sent.

    ``field`` names the offending argument, with a path for nested values
    (``criteria[1].key``); ``problem`` says what is wrong with it.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.problem = message


class InvalidTypeError(InvalidRequestError, TypeError):
    """An argument has the wrong type; raised before any request is sent."""


class APIError(ExtructError):
    """Talking to the service failed. ``method`` and ``url`` say which request."""

    def __init__(self, message: str, *, method: str, url: str) -> None:
        super().__init__(message)
        self.method = method
        self.url = url


class APIStatusError(APIError):
    """The service answered with an error status.

    Attributes:
        status: the HTTP status code.
        body: the parsed JSON body, or the raw text when it was not JSON.
        request_id: the ``x-request-id`` response header, if any.
        retry_after: seconds the service asked to wait (``Retry-After``), if any.
        messages: readable lines from the body; FastAPI ``detail`` lists become
            ``"body.criteria.0.key: string does not match pattern"`` lines.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        status: int,
        body: Any,
        request_id: str | None,
        retry_after: float | None = None,
        messages: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.status = status
        self.body = body
        self.request_id = request_id
        self.retry_after = retry_after
        self.messages = messages


class BadRequestError(APIStatusError):
    """400: the service refused the request as given."""


class TaskExhaustedError(BadRequestError):
    """400 on resume: the task ``is_exhausted``; no more candidates can be found."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong, or revoked."""


class PermissionDeniedError(AuthenticationError):
    """403: the API key is valid but may not do this (the vendor treats it as 401)."""


class PaymentRequiredError(APIStatusError):
    """402: Deep Search needs a paid plan, a payment failed, or credits ran out.

    ``error`` is the service's ``detail.error`` code (``plan_required``,
    ``payment_failed``, ``insufficient_credits``), or None if it sent none.
    """

    @property
    def error(self) -> str | None:
        """The service's ``detail.error`` code, if the body carried one."""
        detail = self.body.get("detail") if isinstance(self.body, Mapping) else None
        code = detail.get("error") if isinstance(detail, Mapping) else None
        return code if isinstance(code, str) else None


class NotFoundError(APIStatusError):
    """404: no such task in your workspace."""


class UnprocessableEntityError(APIStatusError):
    """422: the service's validation rejected the request; see ``messages``."""


class RateLimitError(APIStatusError):
    """429: too many requests, or a quota ran out.

    ``retry_after`` is the wait the service asked for, in seconds, or None.
    """


class ServerError(APIStatusError):
    """5xx: the service failed; retried automatically before this is raised."""


class APIResponseError(APIError):
    """A successful status whose body is not the documented JSON.

    ``retryable`` is False when asking again cannot help (an answer over the size
    limit is not downloaded again).
    """

    def __init__(self, message: str, *, method: str, url: str, retryable: bool = True) -> None:
        super().__init__(message, method=method, url=url)
        self.retryable = retryable


class APIConnectionError(APIError):
    """The request or its answer was lost: connection refused, reset, or cut short.

    ``sent`` is False only when the request provably never reached the service
    (the connection could not be opened); then a retry cannot duplicate anything.
    """

    def __init__(self, message: str, *, method: str, url: str, sent: bool = True) -> None:
        super().__init__(message, method=method, url=url)
        self.sent = sent


class APITimeoutError(APIConnectionError):
    """The service did not answer within the client's ``timeout``."""


class StoreError(ExtructError):
    """The store failed: Redis unreachable, a SQLite file locked for too long, ...

    The underlying driver's exception is chained as ``__cause__``. Messages never
    contain the API key (stores never see it) nor a password from the store URL.
    """
