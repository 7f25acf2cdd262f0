"""Asyncio-native SDK for Extruct's Deep Search API.

>>> async with AsyncExtruct() as client:                      # doctest: +SKIP
...     task = await client.discovery_tasks.create("vertical SaaS for freight forwarding")
...     await task.wait()
...     async for company in task.results():
...         print(company.company_name, company.relevance)
"""

# Names load on first use (PEP 562): ``import extruct_async`` stays cheap, and so does the
# pytest plugin (``extruct_async.testing.pytest_plugin``), which every pytest run of every
# user loads. ``_PUBLIC`` is the one list of public names: it feeds ``__all__`` and the
# loader; type checkers read the imports below, which a test keeps equal to it.
import typing as _typing

if _typing.TYPE_CHECKING:
    from ._aiohttp import AiohttpTransport as AiohttpTransport
    from ._client import AsyncExtruct as AsyncExtruct
    from ._errors import (
        APIConnectionError as APIConnectionError,
    )
    from ._errors import (
        APIError as APIError,
    )
    from ._errors import (
        APIResponseError as APIResponseError,
    )
    from ._errors import (
        APIStatusError as APIStatusError,
    )
    from ._errors import (
        APITimeoutError as APITimeoutError,
    )
    from ._errors import (
        AuthenticationError as AuthenticationError,
    )
    from ._errors import (
        BadRequestError as BadRequestError,
    )
    from ._errors import (
        ClientStateError as ClientStateError,
    )
    from ._errors import (
        ConfigurationError as ConfigurationError,
    )
    from ._errors import (
        ExtructError as ExtructError,
    )
    from ._errors import (
        InvalidRequestError as InvalidRequestError,
    )
    from ._errors import (
        InvalidTypeError as InvalidTypeError,
    )
    from ._errors import (
        NotFoundError as NotFoundError,
    )
    from ._errors import (
        PaymentRequiredError as PaymentRequiredError,
    )
    from ._errors import (
        PermissionDeniedError as PermissionDeniedError,
    )
    from ._errors import (
        RateLimitError as RateLimitError,
    )
    from ._errors import (
        ServerError as ServerError,
    )
    from ._errors import (
        StoreError as StoreError,
    )
    from ._errors import (
        TaskExhaustedError as TaskExhaustedError,
    )
    from ._errors import (
        UnprocessableEntityError as UnprocessableEntityError,
    )
    from ._export import (
        to_dataframe as to_dataframe,
    )
    from ._export import (
        to_records as to_records,
    )
    from ._models import (
        CompanyResult as CompanyResult,
    )
    from ._models import (
        Criterion as Criterion,
    )
    from ._models import (
        DataSource as DataSource,
    )
    from ._models import (
        Score as Score,
    )
    from ._models import (
        Table as Table,
    )
    from ._models import (
        TaskState as TaskState,
    )
    from ._models import (
        TaskStatus as TaskStatus,
    )
    from ._outage import PollFailure as PollFailure
    from ._resource import DiscoveryTasks as DiscoveryTasks
    from ._retry import RetryPolicy as RetryPolicy
    from ._store import Store as Store
    from ._task import (
        CreateManyError as CreateManyError,
    )
    from ._task import (
        DiscoveryTask as DiscoveryTask,
    )
    from ._task import (
        TaskFailedError as TaskFailedError,
    )
    from ._task import (
        WaitTimeoutError as WaitTimeoutError,
    )
    from ._transport import (
        HTTPRequest as HTTPRequest,
    )
    from ._transport import (
        HTTPResponse as HTTPResponse,
    )
    from ._transport import (
        Timeout as Timeout,
    )
    from ._transport import (
        Transport as Transport,
    )

from ._lazy import loader as _loader
from ._version import __version__ as __version__

#: Every public name, and the module that defines it.
_PUBLIC = {
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
    "CreateManyError": "._task",
    "Criterion": "._models",
    "DataSource": "._models",
    "DiscoveryTask": "._task",
    "DiscoveryTasks": "._resource",
    "ExtructError": "._errors",
    "HTTPRequest": "._transport",
    "HTTPResponse": "._transport",
    "InvalidRequestError": "._errors",
    "InvalidTypeError": "._errors",
    "NotFoundError": "._errors",
    "PaymentRequiredError": "._errors",
    "PermissionDeniedError": "._errors",
    "PollFailure": "._outage",
    "RateLimitError": "._errors",
    "RetryPolicy": "._retry",
    "Score": "._models",
    "ServerError": "._errors",
    "Store": "._store",
    "StoreError": "._errors",
    "Table": "._models",
    "TaskExhaustedError": "._errors",
    "TaskFailedError": "._task",
    "TaskState": "._models",
    "TaskStatus": "._models",
    "Timeout": "._transport",
    "Transport": "._transport",
    "UnprocessableEntityError": "._errors",
    "WaitTimeoutError": "._task",
    "to_dataframe": "._export",
    "to_records": "._export",
}

__all__ = sorted([*_PUBLIC, "__version__"])

__getattr__: _typing.Callable[[str], _typing.Any]
__dir__: _typing.Callable[[], list[str]]
__getattr__, __dir__ = _loader(__name__, globals(), _PUBLIC, __all__)
