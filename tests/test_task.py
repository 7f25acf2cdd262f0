"""The handle: its state attributes come from the model, and its renamed arguments.

Behaviour over time (waiting, streaming) is in ``test_wait`` and ``test_polling``; here,
what the handle *is*: every public attribute of ``TaskState`` read from its latest
state (declared once, in the model), and the old spelling of a renamed argument.
"""

from __future__ import annotations

import warnings

import attrs
import pytest

from extruct_async import AsyncExtruct, DiscoveryTask, InvalidRequestError, TaskState
from extruct_async.testing import FakeExtructServer
from tests.conftest import API_KEY

pytestmark = pytest.mark.looptime


def public_names(cls: type) -> list[str]:
    return [name for name in dir(cls) if not name.startswith("_")]


async def test_every_public_attribute_of_the_state_is_on_the_handle(
    extruct_fake: FakeExtructServer, extruct_client: AsyncExtruct
) -> None:
    task = await extruct_client.discovery_tasks.create("freight forwarding software")
    state = task.state
    names = public_names(TaskState)
    assert {field.name for field in attrs.fields(TaskState)} <= set(names)
    for name in names:
        mine, its = getattr(task, name), getattr(state, name)
        if callable(its):  # the export methods: bound to the latest state
            assert mine() == its(), name
        else:
            assert mine == its, name


async def test_the_handle_follows_its_latest_state(
    extruct_fake: FakeExtructServer, extruct_client: AsyncExtruct
) -> None:
    task = await extruct_client.discovery_tasks.create(
        "freight forwarding software", desired_num_results=5
    )
    first = task.state
    await task.wait(poll_interval=30)
    assert task.state is not first
    for field in attrs.fields(TaskState):
        assert getattr(task, field.name) == getattr(task.state, field.name)
    assert task.finished
    assert task.num_results == task.state.num_results


def test_a_field_added_to_the_model_appears_on_the_handle() -> None:
    # The handle's attributes are not a hand-written list: whatever the model
    # declares is there (checked against the class, without a client).
    for name in public_names(TaskState):
        assert isinstance(getattr(DiscoveryTask, name), property), name


async def test_pages_limit_is_the_old_name_of_page_size(
    extruct_fake: FakeExtructServer, extruct_client: AsyncExtruct
) -> None:
    task = await extruct_client.discovery_tasks.create(
        "freight forwarding software", desired_num_results=7
    )
    await task.wait(poll_interval=30)
    with pytest.warns(DeprecationWarning, match=r"limit= is deprecated.*page_size=") as caught:
        old = [len(page) async for page in task.pages(limit=3)]
    assert caught[0].filename == __file__  # points at the caller
    new = [len(page) async for page in task.pages(page_size=3)]
    assert old == new
    assert sum(old) == len(extruct_fake.visible_rows(task.id)) > 3  # more than one page
    assert all(size == 3 for size in old[:-1])
    assert old[-1] <= 3
    with pytest.raises(InvalidRequestError, match=r"^limit: the old name of 'page_size'"):
        await anext(task.pages(limit=3, page_size=4))


async def test_timeout_is_the_old_name_of_attempt_timeout() -> None:
    deprecated = r"timeout= is deprecated.*attempt_timeout="
    with pytest.warns(DeprecationWarning, match=deprecated) as caught:
        client = AsyncExtruct(API_KEY, "https://api.extruct.test", timeout=12)
    assert caught[0].filename == __file__
    async with client:
        assert client._pipeline.timeout.total == 12
        with pytest.warns(DeprecationWarning, match=r"use attempt_timeout="):
            copy = client.with_options(timeout=7)
        assert copy._pipeline.timeout.total == 7
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert client.with_options(attempt_timeout=9)._pipeline.timeout.total == 9
