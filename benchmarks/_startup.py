"""Benchmark 6, cold start: how long a fresh interpreter takes to be ready.

Wall time of whole processes, against ``python -c "import aiohttp"`` measured in the same
run, alternating: ``python -c "import extruct_async"``, and the command line's
``extruct-async --help`` (``python -m extruct_async --help``). The bare interpreter
(``python -c pass``) is reported too, to show what every process pays anyway.
"""

from __future__ import annotations

import subprocess
import sys
import time

import attrs

from ._harness import Section, Target, alternate, median, ratio, times
from ._processes import SimulatorProcess

__all__ = ["FULL", "QUICK", "SMOKE", "Settings", "run"]

AIOHTTP = "python -c 'import aiohttp'"
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    AIOHTTP: [sys.executable, "-c", "import aiohttp"],
    "python -c 'import extruct_async'": [sys.executable, "-c", "import extruct_async"],
    "extruct-async --help": [sys.executable, "-m", "extruct_async", "--help"],
}
TARGETS = {"python -c 'import extruct_async'": 1.15, "extruct-async --help": 1.3}


@attrs.frozen
class Settings:
    repetitions: int


FULL = Settings(repetitions=21)
QUICK = Settings(repetitions=9)
SMOKE = Settings(repetitions=1)


def _wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def run(settings: Settings, simulator: SimulatorProcess, *, strict: bool = False) -> Section:
    for command in COMMANDS.values():  # warm the file cache and the bytecode
        _wall(command)
    samples = alternate({name: (lambda c=command: _wall(c)) for name, command in
                         COMMANDS.items()}, settings.repetitions)
    baseline = median(samples[AIOHTTP])
    rows = [[name, f"{median(values) * 1000:.0f} ms", times(ratio(median(values), baseline))]
            for name, values in samples.items()]
    targets = [Target("cold start", f"{name} vs {AIOHTTP}", ratio(median(samples[name]), baseline),
                      limit) for name, limit in TARGETS.items()]
    return Section(
        key="startup",
        title="6. Cold start",
        setup=[
            f"Whole processes, wall time, {settings.repetitions} runs each, alternating; the"
            " median. The baseline is a fresh interpreter importing aiohttp.",
            "`import extruct_async` imports aiohttp only when the first request is sent;"
            " the command line imports the simulator and rich only in the commands that"
            " use them.",
        ],
        headers=["command", "wall", "vs import aiohttp"],
        rows=rows,
        targets=targets,
        raw={"settings": attrs.asdict(settings), "samples": samples},
    )
