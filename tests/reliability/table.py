"""The README's table of bad inputs, generated from the catalogue: one row per case that carries a
`readme` description. `python -m tests.reliability.table` prints the section; test_readme_table.py
fails when README.md's differs."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

from tests.reliability.harness import Case, expected_to_pass

HEADING = "## Bad input"
INTRO = """\
Every bad input ends in one `error:` line (with the fields at fault listed under it), exit code 2
(1 for `validate`'s problems), no traceback and nothing written or left running. Messages name the
file, the field, the value (quoted as an excerpt of at most 80 characters) and what is expected;
every problem of a file is listed at once. YAML is read safely, bounded in size (1 MiB), nesting
(64 levels) and alias expansion (100,000 values), and a key given twice is an error. `tests/reliability/`
holds the whole catalogue; representative cases:"""
COLUMNS = ("command", "bad input", "exit", "message (excerpt)")


def catalogue() -> Iterator[Case]:
    """Every case of every tests/reliability/test_*_cases.py module expected to pass, in order."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name.startswith("test_") and module.name.endswith("_cases"):
            yield from expected_to_pass(importlib.import_module(f"tests.reliability.{module.name}").CASES)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _row(case: Case) -> str:
    command = f"`{case.argv[0]}`" if case.argv else "`tritonkit`"
    message = case.fragments[-1] if case.fragments else ""  # the cases put the most specific last
    return f"| {command} | {_cell(case.readme)} | {case.exit_code} | {_cell(message)} |"


def table() -> str:
    rows = sorted((c for c in catalogue() if c.readme), key=lambda c: c.argv[0] if c.argv else "")
    return "\n".join([f"| {' | '.join(COLUMNS)} |", f"|{'---|' * len(COLUMNS)}", *map(_row, rows)])


def section() -> str:
    return f"{HEADING}\n\n{INTRO}\n\n{table()}\n"


if __name__ == "__main__":
    print(section(), end="")
