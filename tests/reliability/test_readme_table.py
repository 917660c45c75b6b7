"""README.md's table of bad inputs is the one the catalogue generates (tests/reliability/table.py)."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.table import HEADING, catalogue, table

README = Path(__file__).resolve().parents[2] / "README.md"
MIN_CASES = 150


def _readme_table() -> str:
    lines = README.read_text().splitlines()
    assert HEADING in lines, f"README.md has no {HEADING!r} section: `python -m tests.reliability.table` prints it"
    section = lines[lines.index(HEADING) + 1 :]
    end = next((i for i, line in enumerate(section) if line.startswith("## ")), len(section))
    return "\n".join(line for line in section[:end] if line.startswith("|"))


def test_the_readme_table_is_the_generated_one() -> None:
    assert _readme_table() == table(), "README.md's bad-input table is stale: `python -m tests.reliability.table`"


def test_the_catalogue_is_complete_enough_to_mean_something() -> None:
    cases = list(catalogue())
    assert len(cases) >= MIN_CASES, f"{len(cases)} cases"
    assert len({case.argv[0] for case in cases if case.argv}) >= 7  # every command this catalogue covers
