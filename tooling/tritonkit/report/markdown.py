"""report.md: the document's blocks as GitHub-flavoured Markdown, plots linked by relative path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_never

from tritonkit.report.document import Block, Bullets, Figure, Heading, Paragraph
from tritonkit.report.tables import Table

# Text from the data must not turn into markup: a '|' would split a table cell, a '<' could open
# raw HTML that a Markdown viewer renders, an '&' could start an entity, a newline would end a row.
_ESCAPES = str.maketrans(
    {"\\": "\\\\", "|": "\\|", "&": "&amp;", "<": "&lt;", ">": "&gt;", "[": "\\[", "]": "\\]", "\n": " "}
)


def escape(text: str) -> str:
    return text.translate(_ESCAPES)


def _table(table: Table) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    rule = ["---:" if numeric else "---" for numeric in table.numeric]
    rows = [line([escape(cell.text) for cell in row]) for row in table.rows]
    return "\n".join([line([escape(h) for h in table.headers]), line(rule), *rows])


def _block(block: Block) -> str:
    match block:
        case Heading(level, text):
            return f"{'#' * level} {escape(text)}"
        case Paragraph(text):
            return escape(text)
        case Bullets(items):
            return "\n".join(f"- {escape(item)}" for item in items)
        case Table():
            return _table(block)
        case Figure(path, alt):
            return f"![{escape(alt)}]({path})"
        case _:
            assert_never(block)


def render(blocks: Sequence[Block]) -> str:
    return "\n\n".join(_block(block) for block in blocks) + "\n"
