"""``python -m benchmarks``: run every benchmark, print the table, write the results.

Options: ``--quick`` (fewer sizes and repetitions, for a look while developing),
``--only fanout,paging`` (a subset), ``--out DIR`` (default ``benchmarks/results``).
The default run is the real one and takes about four minutes on two cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import _cpu, _fanout, _memory, _paging, _startup, _store, _today
from ._harness import Section, now, write_results
from ._processes import SimulatorProcess

RESULTS = Path(__file__).resolve().parent / "results"

#: key -> (module, its run function); in the issue's order.
BENCHMARKS: dict[str, Any] = {
    "fanout": _fanout,
    "paging": _paging,
    "cpu": _cpu,
    "memory": _memory,
    "today": _today,
    "startup": _startup,
    "store": _store,
}
PROFILES = ("full", "quick", "smoke")


def settings_for(module: Any, profile: str) -> Any:
    return getattr(module, profile.upper())


def main(argv: Sequence[str] | None = None, *,
         report: Callable[[str], None] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_const", dest="profile", const="quick",
                       help="fewer sizes and repetitions (about a minute)")
    group.add_argument("--smoke", action="store_const", dest="profile", const="smoke",
                       help="tiny sizes, one repetition, warnings as errors (the test suite)")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write results")
    parser.set_defaults(profile="full")
    args = parser.parse_args(argv)
    chosen = [key.strip() for key in args.only.split(",") if key.strip()]
    unknown = [key for key in chosen if key not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    say = report or (lambda line: print(line, file=sys.stderr, flush=True))
    strict = args.profile == "smoke"

    started, clock = now(), time.perf_counter()
    sections: list[Section] = []
    with SimulatorProcess(strict=strict) as simulator:
        for key in chosen:
            module = BENCHMARKS[key]
            say(f"== {key} ({args.profile}) ...")
            began = time.perf_counter()
            section = module.run(settings_for(module, args.profile), simulator, strict=strict)
            section.raw["seconds"] = time.perf_counter() - began
            sections.append(section)
            say(f"   {key}: {section.raw['seconds']:.1f} s")
    duration = time.perf_counter() - clock
    command = " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])])
    markdown, raw = write_results(args.out, sections, profile=args.profile, command=command,
                                  started=started, duration=duration)
    say(markdown.read_text(encoding="utf-8"))
    say(f"wrote {markdown} and {raw} in {duration:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
