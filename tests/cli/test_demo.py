"""``extruct-async demo``: the newcomer's first command, run for real."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import attrs
import pytest

from extruct_async._cli import _demo

from .conftest import assert_no_noise, popen


@attrs.frozen
class Finished:
    returncode: int
    stdout: str
    stderr: str
    cwd: Path


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Finished]:
    """Both demo runs, started together: each takes about ten seconds."""
    default_dir, option_dir = tmp_path_factory.mktemp("demo"), tmp_path_factory.mktemp("demo")
    # No EXTRUCT_* variables: the demo needs no account and reaches no real service.
    env = {"PYTHONWARNINGS": "default"}
    with popen(["demo"], env, cwd=default_dir) as default, popen(
        ["demo", "--tasks", "1", "--output", "few.jsonl", "-q"], env, cwd=option_dir
    ) as option:
        ends: dict[str, subprocess.CompletedProcess[str]] = {
            "default": default.finish(), "option": option.finish()}
    return {name: Finished(end.returncode, end.stdout, end.stderr, cwd)
            for (name, end), cwd in zip(ends.items(), (default_dir, option_dir), strict=True)}


def test_demo_runs_end_to_end_on_simulated_data(demos: dict[str, Finished]) -> None:
    done = demos["default"]
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "simulated" in " ".join(lines[:3]).lower()
    assert "simulated" in " ".join(lines[-5:]).lower()
    assert "no credits" in done.stdout
    match = re.search(r"Wrote (\d+) rows from 5 Deep Searches to (.+)$", done.stdout, re.MULTILINE)
    assert match is not None, done.stdout
    written = Path(match[2])
    assert written == done.cwd / "extruct-demo-results.jsonl"
    rows = [json.loads(line) for line in written.read_text("utf-8").splitlines()]
    assert len(rows) == int(match[1]) > 0
    assert len({row["id"] for row in rows}) == len(rows)
    assert len({row["task_id"] for row in rows}) == 5
    # One search runs dry and still finishes: listed as exhausted, short of its target.
    header = lines.index(next(line for line in lines if line.split()[:2] == ["task", "status"]))
    table = lines[header + 1 : header + 6]
    (dry,) = [line for line in table if "exhausted" in line]
    found, desired, listed = map(int, re.findall(r"(\d+)/(\d+) +(\d+)", dry)[0])
    assert found < desired
    task_prefix = dry.split()[0]
    assert listed == sum(row["task_id"].startswith(task_prefix) for row in rows)
    # What the two counts mean, and why the dry one stopped short, said once under the table.
    notes = " ".join(" ".join(lines[header + 6 : header + 12]).split())  # unwrapped
    assert "rows: every company" in notes
    assert "high-fit: the rows that meet its criteria" in notes
    assert f"exhausted: {task_prefix} ran out of candidates" in notes
    # Each search's finish is shown once: progress prints a line per change, the last its end.
    for task_id in {row["task_id"] for row in rows}:
        ends = [line for line in done.stderr.splitlines()
                if re.match(rf"task {task_id} (done|exhausted|done, exhausted):", line)]
        assert len(ends) == 1, done.stderr
        assert ends[0] == [line for line in done.stderr.splitlines() if task_id in line][-1]
    assert "finished:" not in done.stderr
    # The ranked table: ten numbered rows, best first.
    top = lines.index(next(line for line in lines if line.startswith("Top 10 of")))
    assert [line.split()[0] for line in lines[top + 2 : top + 12]] == [
        str(n) for n in range(1, 11)
    ]
    assert_no_noise(done.stderr)


def test_demo_output_option_and_quiet(demos: dict[str, Finished]) -> None:
    done = demos["option"]
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    match = re.search(r"Wrote (\d+) rows from 1 Deep Search to (.+)$", done.stdout, re.MULTILINE)
    assert match is not None, done.stdout
    assert Path(match[2]) == done.cwd / "few.jsonl"
    assert len((done.cwd / "few.jsonl").read_text("utf-8").splitlines()) == int(match[1])
    assert not (done.cwd / "extruct-demo-results.jsonl").exists()


async def test_the_demo_lasts_about_ten_simulated_seconds() -> None:
    # Measured on the simulator's own clock, stopped at 0, not on a busy machine's wall clock.
    searches = _demo.SEARCHES[: _demo.DEFAULT_TASKS]
    server = _demo.simulator(searches, clock=lambda: 0.0)
    async with server, server.client() as client:
        await client.discovery_tasks.create_many([search.spec() for search in searches])
        ends = [task.ends_at for task in server.tasks.values()]
    assert len(ends) == len(searches)
    assert 5 <= max(ends) <= 15
