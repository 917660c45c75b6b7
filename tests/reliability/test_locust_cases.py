"""`tritonkit check --locust RUN.csv`: the records a Locust run wrote, spoiled."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.harness import Case, check, params
from tests.reliability.samples import TARGET, targets_file, targets_setup

HEADER = "start_s,latency_ms,error\n"
GOOD_ROW = "1000.0,5.0,\n"


def run_case(case_id: str, csv: str | bytes, fragments: tuple[str, ...], readme: str = "", target: str = "t") -> Case:
    setup = targets_setup(targets_file(TARGET), **{"run.csv": csv})
    argv = ("check", "targets.yaml", "--locust", "run.csv", "--target", target)
    return Case(f"locust-{case_id}", argv, fragments, setup=setup, readme=readme)


def rows(*lines: str) -> str:
    return HEADER + "".join(line + "\n" for line in lines)


CASES = [
    run_case("empty-file", "", ("run.csv: header ''; expected CSV columns start_s,latency_ms,error",)),
    run_case("header-only", HEADER, ("run.csv: no requests recorded",)),
    run_case(
        "wrong-header",
        "a,b\n1,2\n",
        ("run.csv: header 'a,b'; expected CSV columns",),
        readme="a CSV with other columns",
    ),
    run_case(
        "non-utf8", HEADER.encode() + b"1000,5,\xff\n", ("run.csv: not UTF-8 text (byte 0xff at offset 32, line 2",)
    ),
    run_case("a-binary", b"\x00\x01\x02" * 100, ("run.csv",)),
    run_case(
        "negative-latency",
        rows("1000,-5,"),
        ("line 2: latency_ms '-5': expected milliseconds (0 to 8.64e+07)",),
        readme="a negative latency",
    ),
    run_case("nan-latency", rows("1000,nan,"), ("line 2: latency_ms 'nan'",)),
    run_case("inf-start", rows("inf,5,"), ("line 2: start_s 'inf': expected seconds since the epoch",)),
    run_case("huge-start", rows("1e300,5,"), ("line 2: start_s '1e300'",)),
    run_case("a-word", rows("soon,5,"), ("line 2: start_s 'soon'",)),
    run_case("missing-field", rows("1000,5"), ("line 2: 2 fields ['1000', '5']; expected 3",)),
    run_case("extra-field", rows("1000,5,,x"), ("line 2: 4 fields",)),
    run_case(
        "huge-field",
        rows("1000,5," + "e" * 200_000),
        ("run.csv: not a readable CSV file", "field larger than field limit"),
    ),
    run_case("long-error", rows("1000,5," + "e" * 1000), ("line 2: error 'eeee", "at most 200 characters")),
    run_case(
        "every-row-named",
        rows(*(["1000,-1,"] * 25)),
        ("line 2:", "line 21:", "… and 5 more", "run.csv: 25 malformed row(s)"),
        readme="25 bad rows (20 named, then a count)",
    ),
    run_case("too-short", rows(GOOD_ROW.strip()), ("target 't': the run lasted 0.0 s, shorter than its warmup",)),
    run_case(
        "unknown-target",
        rows(GOOD_ROW.strip()),
        ("name the target the run is for (--target): one of t",),
        target="nope",
    ),
    Case(
        "locust-directory",
        ("check", "targets.yaml", "--locust", "."),
        (".: a directory",),
        setup=targets_setup(targets_file(TARGET)),
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_locust_records_refused(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)
