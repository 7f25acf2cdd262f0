"""``extruct-async fake-server``: the simulator from the command line."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from extruct_async._cli import main
from extruct_async.testing._standalone import main as simulator_main

from .conftest import DEADLINE, popen


def test_serves_until_terminated() -> None:
    with popen(["fake-server", "--port", "0", "--api-key", "let-me-in"], env=None) as process:
        first = process.stdout.next()
        match = re.search(r"listening on (http://\S+)", first)
        assert match is not None, first
        request = urllib.request.Request(f"{match[1]}/v1/discovery_tasks",
                                         headers={"Authorization": "Bearer let-me-in"})
        with urllib.request.urlopen(request, timeout=DEADLINE) as answer:
            assert answer.status == 200
            assert json.load(answer) == []
        process.popen.terminate()
        done = process.finish()
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def option_lines(help_text: str) -> list[str]:
    return [line.split()[0] for line in help_text.splitlines() if line.startswith("  --")]


def test_flags_are_the_simulators(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fake-server", "--help"]) == 0
    ours = option_lines(capsys.readouterr().out)
    with pytest.raises(SystemExit):
        simulator_main(["--help"])
    theirs = option_lines(capsys.readouterr().out)
    assert ours == theirs
    assert "--candidate-pool" in ours
