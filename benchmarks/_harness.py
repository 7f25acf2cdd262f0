"""The harness: alternating repetitions, medians, ratios, targets, and the result files.

A benchmark module measures and hands back a :class:`Section`: its setup in words, one
table, the targets it checks (:class:`Target`), and its raw samples for the JSON file.
:func:`write_results` renders every section into ``latest.md`` and ``latest.json``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import attrs

__all__ = [
    "Section",
    "Target",
    "alternate",
    "describe_machine",
    "median",
    "ratio",
    "write_results",
]

_T = TypeVar("_T")

MET = "met"
MISSED = "**MISSED**"


def alternate(
    contenders: Mapping[str, Callable[[], _T]], repetitions: int
) -> dict[str, list[_T]]:
    """Run each contender once per repetition, in turn (A B A B ...); return the samples.

    Alternating spreads the machine's drift (other load, CPU frequency, a cache warming
    up) evenly over the contenders, so their ratio stays meaningful on a noisy machine.
    """
    samples: dict[str, list[_T]] = {name: [] for name in contenders}
    for _ in range(repetitions):
        for name, measure in contenders.items():
            samples[name].append(measure())
    return samples


def median(values: Iterable[float]) -> float:
    """The median; the statistic every table reports."""
    return float(statistics.median(list(values)))


def ratio(value: float, baseline: float) -> float:
    """``value / baseline``, or infinity when the baseline is zero."""
    return value / baseline if baseline else float("inf")


@attrs.frozen
class Target:
    """A target of the issue, and whether this run met it.

    Attributes:
        benchmark: which benchmark checks it.
        measure: what is compared, in words ("wall / bound, N=1000").
        value: the measured value.
        limit: the target.
        higher_is_better: the target is a floor (rows/s ratio), not a ceiling.
        unit: how to print value and limit ("x", " KB", "").
    """

    benchmark: str
    measure: str
    value: float
    limit: float
    higher_is_better: bool = False
    unit: str = "x"

    @property
    def met(self) -> bool:
        """Whether the measured value is on the right side of the limit."""
        if self.higher_is_better:
            return self.value >= self.limit
        return self.value <= self.limit

    @property
    def verdict(self) -> str:
        """``met``, or a bold ``MISSED`` marker for tables."""
        return MET if self.met else MISSED

    def as_json(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "met": self.met}


@attrs.define
class Section:
    """One benchmark's results.

    Attributes:
        key: short machine name (``fanout``).
        title: heading in the markdown file.
        setup: lines describing what was run (settings, scaling, how to read it).
        headers: the table's column names.
        rows: the table's cells, already formatted.
        targets: the targets this benchmark checks.
        raw: every sample and setting, for the JSON file.
        notes: lines printed under the table.
    """

    key: str
    title: str
    setup: list[str]
    headers: list[str]
    rows: list[list[str]]
    targets: list[Target] = attrs.Factory(list)
    raw: dict[str, Any] = attrs.Factory(dict)
    notes: list[str] = attrs.Factory(list)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "setup": self.setup,
            "headers": self.headers,
            "rows": self.rows,
            "targets": [target.as_json() for target in self.targets],
            "notes": self.notes,
            "raw": self.raw,
        }


def describe_machine() -> dict[str, Any]:
    """CPU model, cores, OS, Python and the versions of the libraries measured."""
    versions: dict[str, str | None] = {}
    for name in ("extruct-async", "aiohttp", "httpx", "msgspec", "cattrs", "attrs"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "versions": versions,
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# -- formatting ---------------------------------------------------------------------


def seconds(value: float) -> str:
    """Seconds, to a precision that suits their size."""
    if value >= 100:
        return f"{value:.0f} s"
    if value >= 10:
        return f"{value:.1f} s"
    return f"{value:.2f} s"


def times(value: float) -> str:
    """A ratio, as ``1.07x``."""
    return "inf" if value == float("inf") else f"{value:.2f}x"


def count(value: float) -> str:
    """A count; medians of an even number of samples can be halves."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |"]
    lines.append("|" + "|".join("---" for _ in headers) + "|")
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
    return lines


def _limit(target: Target) -> str:
    sign = ">=" if target.higher_is_better else "<="
    value = f"{target.limit:g}" if target.unit != "x" else f"{target.limit:.2f}"
    return f"{sign} {value}{target.unit}"


def _value(target: Target) -> str:
    if target.unit == "x":
        return times(target.value)
    return f"{target.value:,.2f}".rstrip("0").rstrip(".") + target.unit


def render_markdown(report: Mapping[str, Any], sections: Sequence[Section]) -> str:
    machine = report["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    lines = [
        "# extruct-async benchmarks: latest run",
        "",
        f"- **Machine**: {machine['cpu']}, {machine['cores']} cores, {machine['os']}",
        f"- **Python** {machine['python']} ({machine['implementation']}); {versions}",
        f"- **Run**: `{report['command']}`, profile `{report['profile']}`,"
        f" started {report['started']}, took {report['duration_s']:.0f} s",
        "- Every comparison below was measured in this one run, contenders alternating,"
        " and is reported as the median of its repetitions and as a ratio to its baseline"
        " measured alongside; absolute times on this shared machine mean little.",
        "",
        "## Targets",
        "",
    ]
    targets = [t for s in sections for t in s.targets]
    lines += markdown_table(
        ["benchmark", "measure", "value", "target", "verdict"],
        [[t.benchmark, t.measure, _value(t), _limit(t), t.verdict] for t in targets],
    )
    missed = sum(not t.met for t in targets)
    lines += ["", f"{len(targets) - missed} of {len(targets)} targets met."]
    for section in sections:
        lines += ["", f"## {section.title}", ""]
        lines += [f"- {line}" for line in section.setup]
        lines += ["", *markdown_table(section.headers, section.rows)]
        if section.notes:
            lines += [""] + [f"- {note}" for note in section.notes]
    return "\n".join(lines) + "\n"


def write_results(
    out: Path,
    sections: Sequence[Section],
    *,
    profile: str,
    command: str,
    started: datetime,
    duration: float,
) -> tuple[Path, Path]:
    """Write ``latest.md`` and ``latest.json`` into ``out``; return their paths."""
    report = {
        "machine": describe_machine(),
        "profile": profile,
        "command": command,
        "started": started.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": duration,
    }
    out.mkdir(parents=True, exist_ok=True)
    markdown = out / "latest.md"
    markdown.write_text(render_markdown(report, sections), encoding="utf-8")
    data = {**report, "sections": [section.as_json() for section in sections]}
    raw = out / "latest.json"
    text = json.dumps(_finite(data), indent=1, default=_jsonable, allow_nan=False)
    raw.write_text(text + "\n", encoding="utf-8")
    return markdown, raw


def _jsonable(value: object) -> Any:
    if attrs.has(type(value)):
        return attrs.asdict(value)  # type: ignore[arg-type]
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _finite(value: Any) -> Any:
    """The same data with infinities and NaNs as None (strict JSON has neither)."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def now() -> datetime:
    return datetime.now(timezone.utc)
