"""Asyncio-native SDK for Extruct's Deep Search API.

>>> async with AsyncExtruct() as client:                      # doctest: +SKIP
...     task = await client.discovery_tasks.create("vertical SaaS for freight forwarding")
...     await task.wait()
...     async for company in task.results():
...         print(company.company_name, company.relevance)
"""

# Names load on first use (PEP 562): ``import extruct_async`` stays cheap, and so does the
# pytest plugin (``extruct_async.testing.pytest_plugin``), which every pytest run of every
# user loads. Type checkers read the imports below.
import typing as _typing

if _typing.TYPE_CHECKING:
    from ._aiohttp import AiohttpTransport
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
        StoreError,
        TaskExhaustedError,
        TaskFailedError,
        UnprocessableEntityError,
        WaitTimeoutError,
    )
    from ._export import to_dataframe, to_records
    from ._models import CompanyResult, Criterion, DataSource, Score, Table, TaskState, TaskStatus
    from ._polling import PollFailure
    from ._retry import RetryPolicy
    from ._store import Store
    from ._task import DiscoveryTask
    from ._transport import HTTPRequest, HTTPResponse, Timeout, Transport

from ._lazy import loader as _loader
from ._version import __version__

_LAZY = {
    "APIConnectionError": "._errors",
    "APIError": "._errors",
    "APIResponseError": "._errors",
    "APIStatusError": "._errors",
    "APITimeoutError": "._errors",
    "AiohttpTransport": "._aiohttp",
    "AsyncExtruct": "._client",
    "AuthenticationError": "._errors",
    "BadRequestError": "._errors",
    "ClientStateError": "._errors",
    "CompanyResult": "._models",
    "ConfigurationError": "._errors",
    "CreateManyError": "._errors",
    "Criterion": "._models",
    "DataSource": "._models",
    "DiscoveryTask": "._task",
    "DiscoveryTasks": "._client",
    "ExtructError": "._errors",
    "HTTPRequest": "._transport",
    "HTTPResponse": "._transport",
    "InvalidRequestError": "._errors",
    "InvalidTypeError": "._errors",
    "NotFoundError": "._errors",
    "PaymentRequiredError": "._errors",
    "PermissionDeniedError": "._errors",
    "PollFailure": "._polling",
    "RateLimitError": "._errors",
    "RetryPolicy": "._retry",
    "Score": "._models",
    "ServerError": "._errors",
    "Store": "._store",
    "StoreError": "._errors",
    "Table": "._models",
    "TaskExhaustedError": "._errors",
    "TaskFailedError": "._errors",
    "TaskState": "._models",
    "TaskStatus": "._models",
    "Timeout": "._transport",
    "Transport": "._transport",
    "UnprocessableEntityError": "._errors",
    "WaitTimeoutError": "._errors",
    "to_dataframe": "._export",
    "to_records": "._export",
}



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
    "Store",
    "StoreError",
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
    "to_dataframe",
    "to_records",
]

__getattr__: _typing.Callable[[str], _typing.Any]
__dir__: _typing.Callable[[], list[str]]
__getattr__, __dir__ = _loader(__name__, globals(), _LAZY, __all__)
