"""The trial log: resumable, refusing another tune's log, surviving a torn last line; and the
Pareto front of the trials."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.tune_tables import candidate, figures, trial
from tritonkit.errors import InputError
from tritonkit.tune.log import LogHeader, TrialLog, read_trials
from tritonkit.tune.pareto import front, fronts
from tritonkit.tune.predict import ComputeProfile

HEADER = LogHeader(family="mini", variants=("fp32",), space="s1", targets={"chat": "d1"}, cores=2, machine="cpu")


def test_a_resumed_log_answers_with_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    log = TrialLog(path, HEADER, resume=False)
    first = trial(candidate(), figures(10.0, 100.0))
    log.add_trial(first)
    log.add_profile("w", ComputeProfile(variant="fp32", threads=1, batch_seconds=((1, 0.004), (8, 0.012))))
    again = TrialLog(path, HEADER, resume=True)
    assert again.trial("w", first.key, "screen") == first
    assert again.trial("w", first.key, "confirm") is None
    assert again.resumed == 1
    profile = again.profile("w", "fp32", 1)
    assert profile is not None and profile.batch_seconds == ((1, 0.004), (8, 0.012))


def started(path: Path) -> None:
    TrialLog(path, HEADER, resume=False).add_trial(trial(candidate(), figures(10.0, 100.0)))


def test_a_log_starts_with_its_first_record(tmp_path: Path) -> None:
    log = TrialLog(tmp_path / "tune" / "trials.jsonl", HEADER, resume=False)
    assert not (tmp_path / "tune").exists()  # a tune that measured nothing leaves nothing
    log.add_trial(trial(candidate(), figures(10.0, 100.0)))
    header, _, trials = read_trials(tmp_path / "tune" / "trials.jsonl")
    assert header == HEADER and len(trials) == 1


def test_a_new_target_may_join_a_resumed_log(tmp_path: Path) -> None:
    started(tmp_path / "trials.jsonl")
    more = HEADER.model_copy(update={"targets": {"chat": "d1", "pipeline": "d2"}})
    TrialLog(tmp_path / "trials.jsonl", more, resume=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"space": "s2"}, "space"),
        ({"family": "other"}, "family"),
        ({"variants": ("fp32", "int8_dynamic")}, "variants"),
        ({"cores": 4}, "cores"),
        ({"targets": {"chat": "changed"}}, "target 'chat' was changed"),
    ],
)
def test_a_log_of_another_tune_is_refused(tmp_path: Path, change: dict[str, object], message: str) -> None:
    started(tmp_path / "trials.jsonl")
    with pytest.raises(InputError, match=f"written by another tune(.|\\n)*{message}"):
        TrialLog(tmp_path / "trials.jsonl", HEADER.model_copy(update=change), resume=True)


def test_a_torn_last_line_is_dropped_and_measured_again(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    log = TrialLog(path, HEADER, resume=False)
    kept = trial(candidate(batch=8), figures(10.0, 100.0))
    log.add_trial(kept)
    torn = trial(candidate(batch=16), figures(12.0, 150.0)).model_dump_json()
    with path.open("a") as file:
        file.write(torn[: len(torn) // 2])  # interrupted mid-write
    resumed = TrialLog(path, HEADER, resume=True)
    assert resumed.trial("w", kept.key, "screen") == kept
    assert resumed.trial("w", candidate(batch=16).key(), "screen") is None
    resumed.add_trial(trial(candidate(batch=32), figures(14.0, 180.0)))
    _, _, trials = read_trials(path)  # every line whole again
    assert [t.candidate.max_batch_size for t in trials] == [8, 32]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no header"),
        ('{"kind": "trial"}\n', "not a trial log tritonkit wrote"),
        ("not json\n", "not a trial log tritonkit wrote"),
        (HEADER.model_dump_json().replace('"cores":2', '"cores":"two"') + "\n", "cores"),
    ],
)
def test_a_file_that_is_no_trial_log_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "trials.jsonl"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        TrialLog(path, HEADER, resume=True)


def test_the_pareto_front_keeps_the_undominated_trials() -> None:
    a = trial(candidate(batch=8), figures(5.0, 100.0))
    b = trial(candidate(batch=16), figures(8.0, 200.0))
    dominated = trial(candidate(batch=32), figures(9.0, 150.0))  # slower and later than b
    c = trial(candidate(batch=64), figures(20.0, 260.0))
    failed = trial(candidate(batch=4), None)
    assert [t.candidate.max_batch_size for t in front([c, dominated, failed, b, a])] == [8, 16, 64]


def test_a_confirmed_measurement_replaces_the_screening_one_on_the_front() -> None:
    screened = trial(candidate(batch=8), figures(5.0, 100.0))
    confirmed = trial(candidate(batch=8), figures(6.0, 90.0), fidelity="confirm")
    (only,) = front([screened, confirmed])
    assert only.fidelity == "confirm"


def test_each_variant_has_its_front_and_all_of_them_one() -> None:
    fp32 = trial(candidate("fp32"), figures(10.0, 100.0))
    int8 = trial(candidate("int8_dynamic"), figures(6.0, 180.0))
    by_variant = fronts([fp32, int8])
    assert [t.candidate.variant for t in by_variant["all"]] == ["int8_dynamic"]
    assert [t.candidate.variant for t in by_variant["fp32"]] == ["fp32"]
