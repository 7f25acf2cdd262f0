"""The benchmark harness, end to end at toy size, so it cannot rot.

Runs ``python -m benchmarks --smoke`` in-process: every benchmark and every contender,
the simulator and the clients in their own processes (warnings are errors there too),
results written to a temporary directory and read back. No timing is asserted.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import _paging, _today
from benchmarks.__main__ import BENCHMARKS, main


def test_the_smoke_run_exercises_everything_and_writes_readable_results(
    tmp_path: Path,
) -> None:
    said: list[str] = []
    assert main(["--smoke", "--out", str(tmp_path)], report=said.append) == 0

    data = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    markdown = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert data["profile"] == "smoke"
    assert data["machine"]["cores"] >= 1
    assert data["machine"]["versions"]["aiohttp"]
    sections = {section["key"]: section for section in data["sections"]}
    assert list(sections) == list(BENCHMARKS)
    for section in sections.values():
        assert section["title"] in markdown
        assert section["rows"], section["key"]
        assert all(len(row) == len(section["headers"]) for row in section["rows"])
        for target in section["targets"]:
            assert isinstance(target["met"], bool)
            assert target["measure"] in markdown

    fanout = sections["fanout"]["raw"]["samples"]
    for runs in fanout.values():
        for run in runs:
            assert run["finished"] == run["n"]  # every task followed to the end
            assert run["requests"] >= run["n"]
            assert run["bound"] > 0

    paging = sections["paging"]["raw"]["samples"]
    for by_contender in paging.values():
        assert {_paging.SDK, _paging.BARE} <= set(by_contender)
        assert all(rate > 0 for rates in by_contender.values() for rate in rates)

    cpu = sections["cpu"]["raw"]["samples"]
    assert all(min(values) > 0 for by_name in cpu.values() for values in by_name.values())

    memory = sections["memory"]["raw"]["samples"]
    assert set(memory) == {"10,000 x task.wait()", "as_completed(10,000 tasks)"}
    assert all(run["during"] > 0 for runs in memory.values() for run in runs)

    today = sections["today"]["raw"]["samples"]
    assert set(today) == set(_today.CONTENDERS)
    tasks = sections["today"]["raw"]["settings"]["tasks"]
    for name in (_today.SDK, "(a) vendor tool's way: sequential, urllib"):
        assert all(run["completed"] == tasks for run in today[name]), name
    for runs in today.values():
        assert all(run["requests"] > 0 for run in runs)
    assert any("wrote" in line for line in said)
