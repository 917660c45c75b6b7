"""The harness itself must be able to fail: on a command that succeeds, a wrong code or message,
a file written, a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.harness import Case, check, write_files
from tests.reliability.samples import TRAFFIC

TRAFFIC_FILE = write_files({"traffic.yaml": TRAFFIC})


def test_a_command_that_succeeds_fails_the_case(tmp_path: Path) -> None:
    case = Case("ok", ("plan", "--traffic", "traffic.yaml", "--capacity", "100"), ("error:",), setup=TRAFFIC_FILE)
    with pytest.raises(AssertionError, match="ok: tritonkit plan"):
        check(case, tmp_path)


def test_a_missing_fragment_fails_the_case(tmp_path: Path) -> None:
    case = Case("fragment", ("validate", "{tmp}/nothing"), ("no such words",))
    with pytest.raises(AssertionError, match="missing 'no such words'"):
        check(case, tmp_path)


def test_a_file_written_fails_the_case(tmp_path: Path) -> None:
    argv = ("plan", "--traffic", "traffic.yaml", "--capacity", "100", "--out", "plan.json")
    case = Case("writes", argv, (), exit_code=0, setup=TRAFFIC_FILE)
    with pytest.raises(AssertionError, match=r"wrote or changed \['plan.json'\]"):
        check(case, tmp_path)
