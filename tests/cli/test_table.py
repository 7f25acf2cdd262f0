"""Fitting columns to a line and cutting long cells."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import pty
import struct
import termios
from collections.abc import Iterator
from typing import TextIO

from extruct_async._cli._table import (
    FALLBACK_WIDTH,
    PIPED_WIDTH,
    Column,
    Table,
    line_width,
    truncate,
)

COLUMNS = [Column("#", 3, right=True), Column("company", 40, flex=True),
           Column("score", 5, right=True), Column("query", 60, flex=True)]


def test_truncate_marks_the_cut() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("exactly10!", 10) == "exactly10!"
    assert truncate("much too long", 8) == "much to…"
    assert truncate("abc", 0) == ""


def test_lines_fit_the_width_and_columns_align() -> None:
    rows = [["1", "A" * 50, "99", "q" * 90], ["10", "Brief", "7", "short"]]
    table = Table(COLUMNS, width=80, sample=rows)
    lines = [table.header(), *(table.line(row) for row in rows)]
    assert all(len(line) <= 80 for line in lines)
    assert lines[1].index("…") > 0
    score = lines[0].index("score") + len("score")
    assert lines[1][score - 2 : score] == "99"  # right-aligned under its header
    assert lines[2][score - 1] == "7"


def test_without_a_sample_columns_take_their_width() -> None:
    table = Table(COLUMNS, width=1000)
    assert table.widths == [3, 40, 5, 60]


def test_narrow_sample_keeps_columns_narrow() -> None:
    table = Table(COLUMNS, width=100, sample=[["1", "Ab", "5", "q"]])
    assert table.widths == [1, 7, 5, 5]  # as wide as the widest cell, or the header


def test_cells_lose_their_line_breaks() -> None:
    table = Table([Column("text", 20)], width=100)
    assert table.line(["two\nlines"]) == "two lines"


def test_piped_output_is_100_wide() -> None:
    assert line_width(io.StringIO()) == PIPED_WIDTH


@contextlib.contextmanager
def terminal(columns: int) -> Iterator[TextIO]:
    """A real terminal (a pseudo-terminal) that reports ``columns`` columns."""
    controller, device = pty.openpty()
    fcntl.ioctl(device, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    try:
        with open(device, "w", encoding="utf-8", closefd=True) as stream:
            yield stream
    finally:
        os.close(controller)


def test_a_terminal_is_as_wide_as_it_says() -> None:
    with terminal(132) as stream:
        assert line_width(stream) == 132


def test_a_terminal_reporting_no_width_gets_80_not_tiny_cells() -> None:
    with terminal(0) as stream:
        width = line_width(stream)
    assert width == FALLBACK_WIDTH == 80
    table = Table(COLUMNS, width=width, sample=[["1", "Acme Freight Software", "99", "q" * 90]])
    assert table.widths[1] == len("Acme Freight Software")
    assert len(table.line(["1", "Acme Freight Software", "99", "q" * 90])) == 80
