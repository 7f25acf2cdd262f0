"""pytest fixtures for the embedded Extruct simulator, loaded automatically with the package.

``extruct_fake`` is a started :class:`~extruct_async.testing.FakeExtructServer`, closed after the
test; ``extruct_client`` is an ``AsyncExtruct`` client connected to it. Choose the server's
options per test with a marker::

    @pytest.mark.extruct_fake(seed=7, candidate_pool=40, fail_queries=["broken"])
    async def test_exhausted_task(extruct_client, extruct_fake): ...

Both fixtures are async and need pytest-asyncio (in its strict mode, mark the tests
``@pytest.mark.asyncio``). The server runs on the test's event loop and follows its clock, so
``looptime`` fast-forwards it. Every pytest run where extruct-async is installed loads this
plugin, so it must load without pytest-asyncio too (the fixtures then explain what is missing),
and this module imports nothing heavy itself (no simulator, no aiohttp) until a fixture is used.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from extruct_async import AsyncExtruct

    from ._server import FakeExtructServer

__all__ = ["extruct_client", "extruct_fake", "pytest_configure"]

_Fixture = TypeVar("_Fixture", bound=Callable[..., Any])
_NEEDS_PYTEST_ASYNCIO = (
    "The {name} fixture is async and needs pytest-asyncio: pip install pytest-asyncio "
    "(see https://pytest-asyncio.readthedocs.io)."
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``extruct_fake`` marker."""
    config.addinivalue_line(
        "markers",
        "extruct_fake(**options): keyword options of the FakeExtructServer behind the "
        "extruct_fake and extruct_client fixtures",
    )


def _async_fixture(function: _Fixture) -> _Fixture:
    decorator = _pytest_asyncio_fixture()
    if decorator is not None:
        return cast(_Fixture, decorator(function))

    @functools.wraps(function)
    def unavailable(*args: Any, **kwargs: Any) -> None:
        pytest.fail(_NEEDS_PYTEST_ASYNCIO.format(name=function.__name__), pytrace=False)

    return cast(_Fixture, pytest.fixture(unavailable))


def _pytest_asyncio_fixture() -> Callable[[Callable[..., Any]], Any] | None:
    try:
        from pytest_asyncio import fixture
    except ImportError:
        return None
    return fixture


@_async_fixture
async def extruct_fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeExtructServer]:
    """A started FakeExtructServer; ``@pytest.mark.extruct_fake(...)`` sets its options."""
    marker = request.node.get_closest_marker("extruct_fake")
    if marker is not None and marker.args:
        raise pytest.UsageError("@pytest.mark.extruct_fake takes keyword options only")
    options = {} if marker is None else dict(marker.kwargs)
    # Imported here, not at the top: every pytest run loads this plugin, few use the simulator.
    from ._server import FakeExtructServer

    async with FakeExtructServer(**options) as server:
        yield server


@_async_fixture
async def extruct_client(extruct_fake: FakeExtructServer) -> AsyncIterator[AsyncExtruct]:
    """An AsyncExtruct client for ``extruct_fake``, closed after the test."""
    async with extruct_fake.client() as client:
        yield client
