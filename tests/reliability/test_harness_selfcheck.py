"""The harness itself must be able to fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.harness import Case, check


def test_a_command_that_succeeds_fails_the_case(tmp_path: Path) -> None:
    case = Case("ok", ("validate", "{tmp}/nothing"), ("error:",), exit_code=2)
    with pytest.raises(AssertionError):
        check(case, tmp_path)
