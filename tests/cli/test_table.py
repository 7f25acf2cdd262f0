"""Fitting columns to a line and cutting long cells."""

from __future__ import annotations

import io

from extruct_async._cli._table import PIPED_WIDTH, Column, Table, line_width, truncate

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
