"""`tritonkit plan` against a hand calculation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.results_samples import results_document
from tritonkit.errors import InputError
from tritonkit.k8s.plan import capacity_from_results, plan, write_plan
from tritonkit.specs import TrafficSpec

TRAFFIC = TrafficSpec(
    peak_inferences_per_s=300,
    off_peak_inferences_per_s=50,
    peak_hours_per_day=8,
    dollars_per_hour_per_replica=0.5,
    cold_start_s=40,
    target_utilization=0.8,
)


def test_plan_matches_the_hand_calculation() -> None:
    """100 inf/s per replica at 80% = 80 planned. Peak 300 → ceil(3.75) = 4 replicas; off-peak 50 →
    1. A 30-day month: 240 peak hours, 480 off-peak. Inferences: (300 x 240 + 50 x 480) x 3600 =
    345.6M. Dedicated: 4 x 720 h x $0.5 = $1440 → $4.1667 per 1M. Autoscaled: (4 x 240 + 1 x 480) h
    = 1440 h → $720 → $2.0833 per 1M. Scale to zero: never idle off-peak, so the same as autoscaled."""
    result = plan(100.0, TRAFFIC)
    assert result.planned_per_replica == pytest.approx(80)
    assert result.inferences_per_month == pytest.approx(345.6e6)
    dedicated, autoscaled, to_zero = result.options
    assert (dedicated.peak_replicas, dedicated.off_peak_replicas) == (4, 4)
    assert dedicated.dollars_per_month == pytest.approx(1440)
    assert dedicated.dollars_per_million == pytest.approx(1440 / 345.6)
    assert (autoscaled.peak_replicas, autoscaled.off_peak_replicas) == (4, 1)
    assert autoscaled.dollars_per_month == pytest.approx(720)
    assert autoscaled.dollars_per_million == pytest.approx(720 / 345.6)
    assert to_zero.dollars_per_month == pytest.approx(720) and "never reaches zero" in to_zero.risk


def test_idle_nights_scale_to_zero_at_a_cold_start_risk() -> None:
    """Off-peak 0: autoscaled keeps 1 replica (4 x 240 + 1 x 480 = 1440 h, $720); scale to zero
    keeps none (4 x 240 = 960 h, $480). Inferences: 300 x 240 x 3600 = 259.2M."""
    idle = TRAFFIC.model_copy(update={"off_peak_inferences_per_s": 0})
    _, autoscaled, to_zero = plan(100.0, idle).options
    assert autoscaled.dollars_per_month == pytest.approx(720)
    assert to_zero.off_peak_replicas == 0 and to_zero.dollars_per_month == pytest.approx(480)
    assert to_zero.dollars_per_million == pytest.approx(480 / 259.2)
    assert "40 s" in to_zero.risk


def test_an_exact_fit_needs_no_extra_replica() -> None:
    exact = TRAFFIC.model_copy(update={"peak_inferences_per_s": 160.0})  # 2 x 80 exactly
    assert plan(100.0, exact).options[0].peak_replicas == 2


def test_capacity_comes_from_a_sweep_or_a_passing_target(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(results_document()))
    assert capacity_from_results(results, "m_sweep") == 123.0
    assert capacity_from_results(results, "ok") == 45.0
    with pytest.raises(InputError, match="missed its SLO"):
        capacity_from_results(results, "bad")
    with pytest.raises(InputError, match="no step of the sweep of 'swept' met its p99 limit"):
        capacity_from_results(results, "swept")
    with pytest.raises(InputError, match="no target or swept model named 'nope'"):
        capacity_from_results(results, "nope")


def test_the_command_prints_the_table_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tritonkit.cli import main

    traffic = Path(__file__).resolve().parents[2] / "k8s" / "traffic.yaml"
    out = tmp_path / "plan.json"
    assert main(["plan", "--traffic", str(traffic), "--capacity", "100", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "dedicated" in printed and "1440.00" in printed and "4.1667" in printed
    assert json.loads(out.read_text())["options"][1]["dollars_per_month"] == pytest.approx(720)
    assert main(["plan", "--traffic", str(traffic)]) == 2
    assert "give --capacity" in capsys.readouterr().err


def test_results_are_read_by_the_writers_types(tmp_path: Path) -> None:
    """The reader is the model the report writes through: a wrong type, a missing field and a field
    it does not know are all refused, each named."""
    document = results_document()
    document["verdicts"][0]["passed"] = 1
    del document["measurements"][0]["inferences_per_s"]
    document["measurements"][1]["inferences"] = 9
    path = tmp_path / "results.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InputError) as error:
        capacity_from_results(path, "ok")
    assert "verdicts.0.passed: Input should be a valid boolean (got 1)" in str(error.value)
    assert "measurements.0.inferences_per_s: Field required" in str(error.value)
    assert "measurements.1.inferences: Extra inputs are not permitted" in str(error.value)


def test_the_plan_file_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    result = plan(100.0, TRAFFIC)
    write_plan(tmp_path / "out" / "plan.json", result)
    assert json.loads((tmp_path / "out" / "plan.json").read_text())["capacity_per_replica"] == 100.0
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="cannot write"):
        write_plan(tmp_path / "file" / "plan.json", result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "out"]


def test_a_tunes_winner_is_a_capacity(tmp_path: Path) -> None:
    """tune.json as tune writes it: the capacity is the winner's confirmed throughput."""
    from tests.unit.tune_tables import candidate, figures, trial
    from tritonkit.tune.results import TargetResults, TuneResults

    winner = trial(candidate(), figures(20.0, 310.0), fidelity="confirm")
    tune = TuneResults(
        family="minilm",
        variants=("fp32",),
        targets=[
            TargetResults(target="pipeline", objective="", candidates=9, note="", winner=winner,
                          tuned_model="minilm_tuned_pipeline", front=[], trials=[winner]),
            TargetResults(target="chat", objective="", candidates=9, note="", winner=None, tuned_model=None,
                          front=[], trials=[]),
        ],
    )  # fmt: skip
    path = tmp_path / "tune.json"
    path.write_text(tune.model_dump_json())
    assert capacity_from_results(path, "pipeline") == 310.0
    with pytest.raises(InputError, match="the tune found no configuration meeting the SLO of 'chat'"):
        capacity_from_results(path, "chat")
    with pytest.raises(InputError, match="the tune has no target named 'nope'; there are 'chat', 'pipeline'"):
        capacity_from_results(path, "nope")
