"""Asyncio-native SDK for Extruct's Deep Search API.

>>> async with AsyncExtruct() as client:                      # doctest: +SKIP
...     task = await client.discovery_tasks.create("vertical SaaS for freight forwarding")
...     await task.wait()
...     async for company in task.results():
...         print(company.company_name, company.relevance)
"""

from ._client import AsyncExtruct, DiscoveryTasks
from ._errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientStateError,
    ConfigurationError,
    CreateManyError,
    ExtructError,
    InvalidRequestError,
    InvalidTypeError,
    NotFoundError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TaskExhaustedError,
    TaskFailedError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from ._models import CompanyResult, Criterion, DataSource, Score, Table, TaskState, TaskStatus
from ._polling import PollFailure
from ._retry import RetryPolicy
from ._task import DiscoveryTask
from ._transport import AiohttpTransport, HTTPRequest, HTTPResponse, Timeout, Transport
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AiohttpTransport",
    "AsyncExtruct",
    "AuthenticationError",
    "BadRequestError",
    "ClientStateError",
    "CompanyResult",
    "ConfigurationError",
    "CreateManyError",
    "Criterion",
    "DataSource",
    "DiscoveryTask",
    "DiscoveryTasks",
    "ExtructError",
    "HTTPRequest",
    "HTTPResponse",
    "InvalidRequestError",
    "InvalidTypeError",
    "NotFoundError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "PollFailure",
    "RateLimitError",
    "RetryPolicy",
    "Score",
    "ServerError",
    "Table",
    "TaskExhaustedError",
    "TaskFailedError",
    "TaskState",
    "TaskStatus",
    "Timeout",
    "Transport",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "__version__",
]
