"""The validator against tritonserver 2.51 itself: every case of the table in
tests/unit/test_validate_cases.py is loaded, one by one, into one real server.

Triton must refuse each case the table says it refuses, and the validator must refuse it too; the
cases tritonkit refuses on purpose must load. Cases that crash or block the server are
`server_safe=False` and covered by the unit tests only: a version folder beyond int64 aborts 2.51,
a model name with a blank or ';' blocks its startup, and a sequence model whose initial_state it
refuses now and then takes it down with signal 11 (seen here about once in six runs).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tritonclient.utils import InferenceServerException

from tests.unit.test_validate_cases import BASE_MODELS, CASES, Case, base_repository, build_case
from tritonkit.triton.server import LocalServer
from tritonkit.triton.validate import validate_model

pytestmark = pytest.mark.integration

SERVED = [case for case in CASES if case.server_safe]


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repository = base_repository(tmp_path_factory.mktemp("validate_vs_triton") / "repo")
    for case in SERVED:
        build_case(repository, case)
    return repository


@pytest.fixture(scope="module")
def refusals(repository: Path) -> dict[str, str | None]:
    """Triton's reason for refusing each case: its load error and the log lines written meanwhile
    (a config refused when the repository is polled is explained in the log only); None where the
    model loaded."""
    answers: dict[str, str | None] = {}
    with LocalServer(repository, load_all=False) as server:
        for name in BASE_MODELS:
            server.client.load_model(name)  # the models the cases vary are valid
        for case in SERVED:
            logged = len(server.log_path.read_bytes())
            try:
                server.client.load_model(case.id)
            except InferenceServerException as exc:
                answers[case.id] = f"{exc.message()}\n{server.log_path.read_bytes()[logged:].decode(errors='replace')}"
            else:
                answers[case.id] = None
                server.client.unload_model(case.id)
    return answers


@pytest.mark.parametrize("case", [c for c in SERVED if c.triton], ids=lambda c: c.id)
def test_triton_and_the_validator_both_refuse(repository: Path, refusals: dict[str, str | None], case: Case) -> None:
    reason = refusals[case.id]
    assert reason is not None, f"tritonserver loaded {case.id}"
    assert case.says in reason, reason
    problems = validate_model(repository / case.id)
    assert any(case.field in problem.field for problem in problems), (reason, problems)


@pytest.mark.parametrize("case", [c for c in SERVED if not c.triton], ids=lambda c: c.id)
def test_tritonkit_refuses_on_purpose_what_triton_loads(
    repository: Path, refusals: dict[str, str | None], case: Case
) -> None:
    assert refusals[case.id] is None, refusals[case.id]
    assert any(case.field in problem.field for problem in validate_model(repository / case.id)), case.why
