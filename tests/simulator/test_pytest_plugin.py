"""The pytest plugin: extruct_fake, extruct_client and the extruct_fake marker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from extruct_async import AsyncExtruct
from extruct_async.testing import FakeExtructServer

pytest_plugins = ["pytester"]

TASKS = "/v1/discovery_tasks"


async def test_extruct_fake_is_a_started_server(extruct_fake: FakeExtructServer) -> None:
    assert extruct_fake.base_url.startswith("http://127.0.0.1:")
    assert extruct_fake.create_count == 0


@pytest.mark.extruct_fake(seed=11, candidate_pool=25, api_key="sk-marked")
async def test_the_marker_sets_options_and_the_client_talks_to_the_server(
    extruct_fake: FakeExtructServer, extruct_client: AsyncExtruct
) -> None:
    assert extruct_fake.api_key == "sk-marked"
    task = await extruct_client.discovery_tasks.create("robotics", desired_num_results=10)
    assert extruct_fake.create_count == 1
    assert extruct_fake.tasks[task.state.id].candidate_pool == 25


@pytest.mark.looptime
@pytest.mark.extruct_fake(candidate_pool=10_000)
async def test_looptime_drives_a_server_started_by_the_fixture(
    extruct_fake: FakeExtructServer, looptime: float
) -> None:
    # The fixture ran on real time, the test runs on fake time: the server follows the latter.
    headers = {"Authorization": f"Bearer {extruct_fake.api_key}"}
    async with aiohttp.ClientSession(extruct_fake.base_url, headers=headers) as session:
        async with session.post(TASKS, json={"query": "robots", "desired_num_results": 20}) as made:
            task = await made.json()
        assert task["status"] == "created"
        await asyncio.sleep(1)
        assert extruct_fake.task_state(task["id"])["status"] == "in_progress"
        await asyncio.sleep(60)
        async with session.get(f"{TASKS}/{task['id']}") as answer:
            assert (await answer.json())["status"] == "done"
    assert float(looptime) == pytest.approx(61)
    assert extruct_fake.time() < 62


def test_the_marker_in_a_fresh_pytest_run(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        addopts = --strict-markers
        filterwarnings = error
        """
    )
    pytester.makepyfile(
        """
        import aiohttp
        import pytest

        @pytest.mark.extruct_fake(seed=5, plan_required=True)
        async def test_marked(extruct_fake):
            headers = {"Authorization": f"Bearer {extruct_fake.api_key}"}
            async with aiohttp.ClientSession(extruct_fake.base_url, headers=headers) as session:
                async with session.post("/v1/discovery_tasks", json={"query": "x y z"}) as answer:
                    assert answer.status == 402

        async def test_unmarked(extruct_fake):
            assert extruct_fake.api_key == "extruct-fake-api-key"

        @pytest.mark.extruct_fake(7)
        async def test_positional(extruct_fake):
            pass
        """
    )
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*extruct_fake takes keyword options only*"])


def test_without_pytest_asyncio_the_fixtures_explain(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A module that shadows pytest-asyncio and fails to import, as if it were not installed.
    shadow = pytester.mkdir("shadow")
    (shadow / "pytest_asyncio.py").write_text("raise ImportError('not installed')\n")
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    pytester.makepyfile(
        """
        def test_uses_it(extruct_fake):
            pass

        def test_does_not_use_it():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:asyncio", "-p", "no:looptime", "-W", "error")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*extruct_fake fixture is async and needs pytest-asyncio*"])


# The plugin's own imports, with its parent packages stood in by empty ones: every pytest run of
# every user loads this module, and only a test that uses a fixture needs the simulator.
PLUGIN_ALONE = """
import pathlib, sys, types
root = pathlib.Path({root!r})
for name, path in (("extruct_async", root), ("extruct_async.testing", root / "testing")):
    stand_in = types.ModuleType(name)
    stand_in.__path__ = [str(path)]
    sys.modules[name] = stand_in
before = set(sys.modules)
import extruct_async.testing.pytest_plugin
new = set(sys.modules) - before - {{"extruct_async.testing.pytest_plugin"}}
print(sorted(m for m in new if m.startswith(("aiohttp", "extruct_async", "yarl", "multidict"))))
"""


def test_the_plugin_module_imports_nothing_heavy() -> None:
    import extruct_async

    root = str(Path(extruct_async.__file__).parent)
    done = subprocess.run([sys.executable, "-c", PLUGIN_ALONE.format(root=root)],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
