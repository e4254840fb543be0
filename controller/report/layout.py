"""Columns for the terminal report that never break a token.

A workload key, an image reference, a number or a time split across two lines cannot be
searched for or copied, so the text report lays out its tables itself instead of letting the
terminal library fold cells: every column but the last is as wide as its widest cell, and only
the last one wraps, at spaces only, with continuation lines indented under it. A token longer
than the room left stays whole on a line of its own (that line is then wider than asked).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text

GAP = "  "
"""Between two columns."""

MIN_FLEX = 20
"""The wrapping column is never narrower than this, however wide the fixed columns are."""

RULE = "\u2500"


@dataclass(frozen=True, slots=True)
class Cell:
    """One cell's raw text (never console markup) and its style; ``lead`` is a styled prefix."""

    text: str
    style: str = ""
    lead: str = ""
    lead_style: str = "dim"

    @property
    def full(self) -> str:
        """The lead and the text as one string."""
        return f"{self.lead} {self.text}" if self.lead else self.text


@dataclass(frozen=True, slots=True)
class Column:
    """A column heading; ``right`` right-aligns a fixed column (times)."""

    header: str
    right: bool = False


@dataclass(frozen=True, slots=True)
class Row:
    """The fixed cells, then the paragraphs of the wrapping (last) column."""

    cells: tuple[Cell, ...]
    flex: tuple[Cell, ...]


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` characters, broken at spaces only; never an empty list."""
    lines = textwrap.wrap(text, width=max(1, width), break_long_words=False, break_on_hyphens=False)
    return lines or [""]


def wrap_text(text: str, width: int, style: str = "") -> list[Text]:
    """A paragraph on its own (a heading, a summary), wrapped like the last column."""
    return [Text(line, style=style) for line in wrap(text, width)]


def table(
    columns: Sequence[Column], rows: Sequence[Row], width: int, *, header: bool = True
) -> list[Text]:
    """The table as lines: a bold header and a rule (if ``header``), then the rows."""
    fixed = columns[:-1]
    widths = [
        max([len(column.header) if header else 0, *(len(row.cells[i].text) for row in rows)])
        for i, column in enumerate(fixed)
    ]
    indent = sum(widths) + len(GAP) * len(widths)
    flex = max(MIN_FLEX, width - indent)
    lines: list[Text] = []
    if header:
        heads = [
            _pad(Cell(c.header, "bold"), w, c.right) for c, w in zip(fixed, widths, strict=True)
        ]
        lines.append(_join([*heads, Text(columns[-1].header, style="bold")]))
        lines.append(Text(RULE * min(width, indent + flex), style="dim"))
    for row in rows:
        first = [
            _pad(cell, w, c.right) for cell, c, w in zip(row.cells, fixed, widths, strict=True)
        ]
        lines += _row_lines(first, row.flex, indent, flex)
    return lines


def _row_lines(first: list[Text], paragraphs: Sequence[Cell], indent: int, flex: int) -> list[Text]:
    """The fixed cells on the first line only; every wrapped line under the last column."""
    out: list[Text] = []
    for paragraph in paragraphs or (Cell(""),):
        for number, line in enumerate(wrap(paragraph.full, flex)):
            text = Text(line, style=paragraph.style)
            if number == 0 and paragraph.lead:
                text.stylize(paragraph.lead_style, 0, min(len(paragraph.lead), len(line)))
            if out:
                prefix = Text(" " * indent)
            else:
                prefix = _join(first) + Text(GAP) if first else Text("")
            out.append(prefix + text)
    return out


def _pad(cell: Cell, width: int, right: bool) -> Text:
    """The cell's text styled, padded (unstyled) to ``width``."""
    space = " " * (width - len(cell.text))
    text = Text(cell.text, style=cell.style)
    return Text(space) + text if right else text + Text(space)


def _join(parts: Sequence[Text]) -> Text:
    return Text(GAP).join(parts)
