"""Plain-text tables: columns fitted to a line width, long cells cut short."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TextIO

import attrs

__all__ = ["FALLBACK_WIDTH", "PIPED_WIDTH", "Column", "Table", "line_width", "truncate"]

#: Line width when the output is not a terminal.
PIPED_WIDTH = 100
#: Line width of a terminal that reports none (0 columns: some CI runners, editors' shells).
FALLBACK_WIDTH = 80
_GAP = "  "
_ELLIPSIS = "…"
_MIN_FLEX = 8


@attrs.frozen
class Column:
    """One column of a table.

    Args:
        header: its title.
        width: the most characters it takes.
        flex: give up width first when the line is too long.
        right: align right (numbers).
    """

    header: str
    width: int
    flex: bool = False
    right: bool = False


def line_width(stream: TextIO) -> int:
    """Return the width of the terminal ``stream`` writes to, or ``PIPED_WIDTH`` if piped.

    A terminal that reports no width gets ``FALLBACK_WIDTH``, not columns of a few characters.
    """
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns or FALLBACK_WIDTH
    except (AttributeError, OSError, ValueError):
        pass  # not a real file: a StringIO, a closed stream
    return PIPED_WIDTH


class Table:
    """Columns laid out to fit ``width``; render a header and lines of cells.

    Args:
        columns: the columns, left to right.
        width: the line width to fit.
        sample: rows of cells to size the columns by (each no wider than it needs);
            without one, every column takes its full ``width``, so rows printed as
            they arrive line up.
    """

    def __init__(
        self, columns: Sequence[Column], *, width: int, sample: Sequence[Sequence[str]] = ()
    ) -> None:
        self.columns = tuple(columns)
        self.widths = _fit(self.columns, width, sample)

    def header(self) -> str:
        """Return the header line."""
        return self.line([column.header for column in self.columns])

    def line(self, cells: Sequence[str]) -> str:
        """Return one line: each cell cut to its column's width and aligned."""
        parts = []
        for column, width, cell in zip(self.columns, self.widths, cells, strict=True):
            text = truncate(" ".join(cell.split()), width)
            parts.append(text.rjust(width) if column.right else text.ljust(width))
        return _GAP.join(parts).rstrip()


def truncate(text: str, width: int) -> str:
    """Return ``text`` cut to ``width`` characters, ending in an ellipsis if cut."""
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + _ELLIPSIS if width > 0 else ""


def _fit(columns: Sequence[Column], width: int, sample: Sequence[Sequence[str]]) -> list[int]:
    widths = []
    for i, column in enumerate(columns):
        longest = column.width
        if sample:
            longest = max(len(" ".join(row[i].split())) for row in sample)
        widths.append(max(len(column.header), min(column.width, longest)))
    excess = sum(widths) + len(_GAP) * (len(widths) - 1) - width
    # Take one character at a time from the widest flexible column, so they shrink evenly.
    while excess > 0:
        flexible = [i for i, column in enumerate(columns)
                    if column.flex and widths[i] > max(_MIN_FLEX, len(column.header))]
        if not flexible:
            break
        widest = max(flexible, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    return widths
