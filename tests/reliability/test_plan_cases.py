"""`tritonkit plan`: the traffic profile's numbers, the capacity from the flag or a results.json,
and the plan file it writes."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.reliability.harness import Case, check, params, write_files
from tests.reliability.samples import TRAFFIC, dumped
from tests.unit.results_samples import results_document
from tritonkit.tune.results import TargetResults, TuneResults

BASE = yaml.safe_load(TRAFFIC)
PLAN = ("plan", "--traffic", "traffic.yaml")
WITH_CAPACITY = (*PLAN, "--capacity", "100")


def traffic(**changes: object) -> dict[str, str]:
    return {"traffic.yaml": dumped({**BASE, **changes})}


def traffic_case(case_id: str, fragments: tuple[str, ...], readme: str = "", **changes: object) -> Case:
    return Case(
        f"traffic-{case_id}",
        WITH_CAPACITY,
        ("traffic.yaml", *fragments),
        setup=write_files(traffic(**changes)),
        readme=readme,
    )


RESULTS = results_document()  # 'ok' passed at 45.0 inf/s (the only 45.0 in it)

UNMET = TargetResults(
    target="ok", objective="", candidates=9, note="", winner=None, tuned_model=None, front=[], trials=[]
)
UNMET_TUNE = TuneResults(family="m", variants=("fp32",), targets=[UNMET])


def changed(edit: Callable[[dict[str, Any]], object]) -> str:
    """RESULTS as JSON after `edit` changed a copy of it."""
    document = copy.deepcopy(RESULTS)
    edit(document)
    return json.dumps(document)


def results_case(case_id: str, content: str | bytes, target: str, fragments: tuple[str, ...], readme: str = "") -> Case:
    argv = (*PLAN, "--results", "results.json", "--target", target)
    files = {**traffic(), "results.json": content}
    return Case(f"results-{case_id}", argv, fragments, setup=write_files(files), readme=readme)


def flag_case(case_id: str, flags: tuple[str, ...], fragments: tuple[str, ...], readme: str = "") -> Case:
    return Case(f"flag-{case_id}", (*PLAN, *flags), fragments, setup=write_files(traffic()), readme=readme)


CASES = [
    traffic_case(
        "peak-zero", ("peak_inferences_per_s: Input should be greater than 0 (got 0)",), peak_inferences_per_s=0
    ),
    traffic_case("peak-negative", ("peak_inferences_per_s", "(got -300)"), peak_inferences_per_s=-300),
    traffic_case(
        "peak-nan",
        ("peak_inferences_per_s: Input should be a finite number",),
        readme="a traffic rate of `.nan`",
        peak_inferences_per_s=float("nan"),
    ),
    traffic_case(
        "peak-inf", ("peak_inferences_per_s: Input should be a finite number",), peak_inferences_per_s=float("inf")
    ),
    traffic_case(
        "peak-1e400", ("peak_inferences_per_s: Input should be a finite number",), peak_inferences_per_s=1e400
    ),
    traffic_case(
        "peak-huge",
        ("peak_inferences_per_s: Input should be less than or equal to 1000000000000",),
        peak_inferences_per_s=1e15,
    ),
    traffic_case(
        "peak-a-string",
        ("peak_inferences_per_s: Input should be a valid number", "(got '300')"),
        peak_inferences_per_s="300",
    ),
    traffic_case(
        "peak-a-bool",
        ("peak_inferences_per_s: Input should be a valid number", "(got True)"),
        peak_inferences_per_s=True,
    ),
    traffic_case(
        "peak-a-list", ("peak_inferences_per_s: Input should be a valid number",), peak_inferences_per_s=[300]
    ),
    traffic_case(
        "off-peak-above-peak",
        ("off_peak_inferences_per_s exceeds peak_inferences_per_s",),
        off_peak_inferences_per_s=500,
    ),
    traffic_case(
        "off-peak-negative",
        ("off_peak_inferences_per_s: Input should be greater than or equal to 0",),
        off_peak_inferences_per_s=-1,
    ),
    traffic_case(
        "hours-25",
        ("peak_hours_per_day: Input should be less than or equal to 24 (got 25)",),
        readme="25 peak hours a day",
        peak_hours_per_day=25,
    ),
    traffic_case(
        "hours-negative", ("peak_hours_per_day: Input should be greater than or equal to 0",), peak_hours_per_day=-1
    ),
    traffic_case("no-inferences", ("no inferences at all",), peak_hours_per_day=0, off_peak_inferences_per_s=0),
    traffic_case(
        "price-zero", ("dollars_per_hour_per_replica: Input should be greater than 0",), dollars_per_hour_per_replica=0
    ),
    traffic_case(
        "cold-start-negative", ("cold_start_s: Input should be greater than or equal to 0",), cold_start_s=-40
    ),
    traffic_case(
        "cold-start-a-year", ("cold_start_s: Input should be less than or equal to 86400",), cold_start_s=3.2e7
    ),
    traffic_case("utilization-zero", ("target_utilization: Input should be greater than 0",), target_utilization=0),
    traffic_case(
        "utilization-above-one",
        ("target_utilization: Input should be less than or equal to 1 (got 1.5)",),
        target_utilization=1.5,
    ),
    traffic_case("unknown-key", ("peak_rps: Extra inputs are not permitted",), readme="a misspelt key", peak_rps=3),
    Case(
        "traffic-long-unknown-key",
        WITH_CAPACITY,
        ("Extra inputs are not permitted (got 1)",),
        setup=write_files({"traffic.yaml": dumped({**BASE, "k" * 5000: 1})}),
    ),
    Case(
        "traffic-every-problem-at-once",
        WITH_CAPACITY,
        (
            "target_utilization: Input should be less than or equal to 1",
            "cold_start_s: Input should be greater than or equal to 0",
            "peak_inferences_per_s: Input should be greater than 0",
        ),
        setup=write_files(traffic(peak_inferences_per_s=0, cold_start_s=-1, target_utilization=2)),
        readme="three wrong fields (all three listed)",
    ),
    Case(
        "traffic-missing-fields",
        WITH_CAPACITY,
        ("peak_inferences_per_s: Field required", "cold_start_s: Field required"),
        setup=write_files({"traffic.yaml": ""}),
    ),
    Case(
        "traffic-dev-zero",
        ("plan", "--traffic", "/dev/zero", "--capacity", "1"),
        ("/dev/zero: not a regular file",),
        readme="a device instead of a file",
    ),
    flag_case("capacity-zero", ("--capacity", "0"), ("--capacity 0: expected inferences/s above 0",)),
    flag_case(
        "capacity-negative",
        ("--capacity", "-5"),
        ("--capacity -5: expected inferences/s above 0",),
        readme="`--capacity -5`",
    ),
    flag_case("capacity-nan", ("--capacity", "nan"), ("--capacity nan",)),
    flag_case("capacity-inf", ("--capacity", "inf"), ("--capacity inf",)),
    flag_case("capacity-1e400", ("--capacity", "1e400"), ("--capacity inf",)),
    flag_case("capacity-huge", ("--capacity", "1e12"), ("at most 1e+09",)),
    flag_case("capacity-a-word", ("--capacity", "lots"), ("argument --capacity: invalid float value: 'lots'",)),
    flag_case("no-capacity", (), ("give --capacity, or --results with --target",)),
    flag_case(
        "target-without-results", ("--capacity", "5", "--target", "t"), ("--target 't' names a target of --results",)
    ),
    flag_case("results-without-target", ("--results", "r.json"), ("give --capacity, or --results with --target",)),
    flag_case("capacity-and-results", ("--capacity", "5", "--results", "r.json", "--target", "t"), ("not both",)),
    flag_case("results-dev-zero", ("--results", "/dev/zero", "--target", "t"), ("/dev/zero: not a regular file",)),
    flag_case("results-missing", ("--results", "absent.json", "--target", "t"), ("absent.json: not found",)),
    flag_case("out-a-directory", ("--capacity", "100", "--out", "."), ("argument --out: . is a directory",)),
    Case(
        "flag-out-under-a-file",
        (*WITH_CAPACITY, "--out", "traffic.yaml/plan.json"),
        ("--out traffic.yaml/plan.json: cannot write",),
        setup=write_files(traffic()),
    ),
    results_case(
        "not-json", "{not json", "ok", ("results.json: not valid JSON",), readme="a results.json that is not JSON"
    ),
    results_case("non-utf8", b'{"sweeps": ["\xff"]}', "ok", ("results.json: not UTF-8 text",)),
    results_case(
        "a-list",
        "[1, 2]",
        "ok",
        ("not a report's results.json", "(top level)"),
    ),
    results_case("nan", json.dumps(RESULTS).replace("45.0", "NaN"), "ok", ("NaN is not a number",)),
    results_case("deep", "[" * 100_000 + "]" * 100_000, "ok", ("nested too deeply",)),
    results_case(
        "wrong-types",
        changed(lambda d: d["verdicts"][0].update(passed="yes")),
        "ok",
        ("verdicts.0.passed: Input should be a valid boolean",),
    ),
    results_case(
        "missing-fields",
        changed(lambda d: d["measurements"][0].pop("target")),
        "ok",
        ("measurements.0.target: Field required",),
    ),
    results_case(
        "unknown-field",
        changed(lambda d: d["sweeps"][0].update(max_inferences=1)),
        "ok",
        ("sweeps.0.max_inferences: Extra inputs are not permitted",),
        readme="a results.json with a field its schema does not have",
    ),
    results_case(
        "other-schema-version",
        changed(lambda d: d.update(schema_version=2)),
        "ok",
        ("schema_version: Input should be 1",),
    ),
    results_case(
        "infinite-capacity",
        json.dumps(RESULTS).replace("45.0", "1e400"),
        "ok",
        ("measurements.0.inferences_per_s: Input should be a finite number",),
    ),
    results_case(
        "zero-capacity", json.dumps(RESULTS).replace("45.0", "0"), "ok", ("target 'ok' gives a capacity of 0",)
    ),
    results_case(
        "unknown-target",
        json.dumps(RESULTS),
        "nope",
        ("no target or swept model named 'nope'; there are 'bad', 'm_sweep', 'ok', 'swept'",),
        readme="`--target` not in results.json",
    ),
    results_case("missed-slo", json.dumps(RESULTS), "bad", ("target 'bad' missed its SLO",)),
    results_case(
        "sweep-never-met-p99", json.dumps(RESULTS), "swept", ("no step of the sweep of 'swept' met its p99 limit",)
    ),
    results_case(
        "nothing-measured",
        changed(lambda d: d.update(measurements=[], verdicts=[], sweeps=[])),
        "ok",
        ("no target or swept model named 'ok'; it holds none",),
    ),
    results_case(
        "capacity-not-measured",
        changed(lambda d: d["measurements"][0].update(inferences_per_s=None)),
        "ok",
        ("target 'ok' gives a capacity that was not measured",),
    ),
    results_case(
        "tune-without-targets", json.dumps({"family": "m"}), "ok", ("not a tune's tune.json", "targets: Field required")
    ),
    results_case(
        "tune-winner-nan",
        '{"family": "m", "targets": [{"target": "ok", "winner": {"figures": {"inferences_per_s": NaN}}}]}',
        "ok",
        ("not valid JSON", "NaN is not a number"),
    ),
    results_case(
        "tune-no-winner",
        UNMET_TUNE.model_dump_json(),
        "ok",
        ("the tune found no configuration meeting the SLO of 'ok'",),
        readme="`--results tune.json` for a target the tune could not meet",
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_plan_refuses(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)
