"""report.html: the same blocks as report.md in one self-contained file (inline CSS, plots as
data: URLs, no script), so it can be mailed or archived and still show everything offline."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from html import escape
from typing import assert_never

from tritonkit.report.document import Block, Bullets, Figure, Heading, Paragraph
from tritonkit.report.tables import Cell, Table

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #1f2328; line-height: 1.45; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3rem; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2rem; }
.scroll { overflow-x: auto; margin: .5rem 0 1rem; }
table { border-collapse: collapse; font-size: .85rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td:first-child { white-space: nowrap; }
td.pass { background: #dafbe1; color: #116329; font-weight: bold; }
td.fail { background: #ffebe9; color: #a40e26; font-weight: bold; }
td.inconclusive { background: #fff8c5; color: #7d4e00; font-weight: bold; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
figcaption { font-size: .85rem; color: #59636e; }
"""


def _cell(cell: Cell, numeric: bool) -> str:
    classes = ["num"] if numeric else []
    if cell.status is not None:
        classes.append(cell.status)
    attribute = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{attribute}>{escape(cell.text)}</td>"


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    body = "\n".join(
        "<tr>" + "".join(_cell(c, n) for c, n in zip(row, table.numeric, strict=True)) + "</tr>" for row in table.rows
    )
    return f'<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table></div>'


def _figure(figure: Figure, images: Mapping[str, bytes]) -> str:
    data = base64.b64encode(images[figure.path]).decode("ascii")
    alt = escape(figure.alt)
    return f'<figure><img src="data:image/png;base64,{data}" alt="{alt}"><figcaption>{alt}</figcaption></figure>'


def _block(block: Block, images: Mapping[str, bytes]) -> str:
    match block:
        case Heading(level, text):
            return f"<h{level}>{escape(text)}</h{level}>"
        case Paragraph(text):
            return f"<p>{escape(text)}</p>"
        case Bullets(items):
            return "<ul>\n" + "\n".join(f"<li>{escape(item)}</li>" for item in items) + "\n</ul>"
        case Table():
            return _table(block)
        case Figure():
            return _figure(block, images)
        case _:
            assert_never(block)


def render(title: str, blocks: Sequence[Block], images: Mapping[str, bytes]) -> str:
    """`images` maps each figure's relative path to its PNG bytes, which are embedded."""
    body = "\n".join(_block(block, images) for block in blocks)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
