"""Progress displays: bars or a line on a terminal, a log when piped, nothing when quiet."""

from __future__ import annotations

import contextlib
import io

import pytest

from extruct_async import AsyncExtruct, DiscoveryTask
from extruct_async._cli._progress import _CarriageReturn, open_display, watching

from ._states import task


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_piped_prints_a_line_per_status_change_only() -> None:
    out = io.StringIO()
    display = open_display(out, quiet=False)
    display.update(task(status="created", num_results_discovered=0))
    display.update(task())
    display.update(task(num_results_discovered=41))  # a counter moved: no new line
    display.update(task(is_exhausted=True))
    display.update(task(status="done", is_exhausted=True, num_results=35))
    display.note("a note")
    display.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 5
    assert lines[0].startswith(f"task {task().id} created: 20/50 results")
    assert "in_progress: 20/50 results (40 discovered, 32 enriched, 25 evaluated)" in lines[1]
    assert "in_progress, exhausted" in lines[2]
    assert "done, exhausted: 35/50 results" in lines[3]
    assert lines[4] == "a note"


def test_piped_shows_a_finish_once_and_only_on_done() -> None:
    out = io.StringIO()
    display = open_display(out, quiet=False)
    display.update(task(is_exhausted=True))
    # Exhausted and evaluation caught up: not finished, rows can still be qualified.
    display.update(task(is_exhausted=True, num_results_evaluated=32))
    display.update(task(status="done", is_exhausted=True, num_results_evaluated=32))
    display.update(task(status="done", is_exhausted=True, num_results_evaluated=32))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert "in_progress" in lines[0]
    assert f"task {task().id} done, exhausted: 20/50 results" in lines[1]


def test_quiet_shows_nothing() -> None:
    out = Terminal()
    display = open_display(out, quiet=True)
    display.update(task())
    display.note("a note")
    display.close()
    assert out.getvalue() == ""


def test_terminal_gets_rich_bars() -> None:
    out = Terminal()
    display = open_display(out, quiet=False)
    assert type(display).__name__ == "_RichBars"
    display.update(task())
    display.update(task(num_results=30, query="[bold]markup-looking[/] query"))
    display.note("finished: something")
    display.close()
    text = out.getvalue()
    assert "3f2c0000" in text
    assert "30/50 results" in text
    assert "finished: something" in text
    assert "[bold]markup" in text  # shown as typed, not as markup


def test_terminal_without_rich_redraws_one_line() -> None:
    out = Terminal()
    display = _CarriageReturn(out)
    display.update(task())
    display.update(task(id="other-task-id", num_results=7))
    display.note("a note")
    display.close()
    text = out.getvalue()
    assert text.startswith("\rin_progress: 20/50 results (40 discovered")
    assert "3f2c0000 20/50 in_progress | other-ta 7/50 in_progress" in text
    before, after = text.split("\ra note\n")
    assert "\n" not in before  # one line, redrawn in place
    assert after.startswith("\r3f2c0000 20/50")  # drawn again under the note
    assert after.endswith("\n")
    assert after.count("\n") == 1


class Recorder:
    def __init__(self) -> None:
        self.seen: dict[str, list[str]] = {}

    def update(self, task: DiscoveryTask) -> None:
        self.seen.setdefault(task.id, []).append(str(task.status))

    def note(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass


# On looptime's clock the tasks move only while the test waits: each is seen still created.
@pytest.mark.looptime
@pytest.mark.extruct_fake(seconds_per_result=0.005)
async def test_watching_shows_every_task_to_its_end(extruct_client: AsyncExtruct) -> None:
    tasks = await extruct_client.discovery_tasks.create_many(
        [{"query": "watch one", "desired_num_results": 5},
         {"query": "watch two", "desired_num_results": 20}])
    recorder = Recorder()
    async with watching(tasks, recorder, poll_interval=0.02):
        finished = extruct_client.discovery_tasks.as_completed(tasks, poll_interval=0.02)
        async with contextlib.aclosing(finished):
            async for _ in finished:
                pass
    for each in tasks:
        assert recorder.seen[each.id][0] == "created"
        assert recorder.seen[each.id][-1] == "done"
