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
    ConfigurationError,
    CreateManyError,
    ExtructError,
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
from ._models import CompanyResult, Criterion, DataSource, Score, Table, TaskState, TaskStatus
from ._retry import RetryPolicy
from ._task import DiscoveryTask

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncExtruct",
    "AuthenticationError",
    "BadRequestError",
    "CompanyResult",
    "ConfigurationError",
    "CreateManyError",
    "Criterion",
    "DataSource",
    "DiscoveryTask",
    "DiscoveryTasks",
    "ExtructError",
    "InvalidRequestError",
    "InvalidTypeError",
    "NotFoundError",
    "PaymentRequiredError",
    "RateLimitError",
    "RetryPolicy",
    "Score",
    "ServerError",
    "Table",
    "TaskExhaustedError",
    "TaskFailedError",
    "TaskState",
    "TaskStatus",
    "UnprocessableEntityError",
    "WaitTimeoutError",
]
