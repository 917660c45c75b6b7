"""Tuning benchmarks on the default model (MiniLM), each measured in one run, JSON out.

    grid     every candidate of a space of >= 300 configurations measured once (screen timing) on
             one server: the replay table (a trial log plus a .json of what it measured), to commit
    replay   the search against that table with 2-4% of its trials, next to random search and to
             measuring only the queueing model's top picks on the same budget: the share of the
             table's optimum each reaches (no server: seconds)
    adaptive a step load (low -> high -> low) on compare's tuned configuration and on the minimal
             one: p99 and throughput window by window (adaptive batching at work), plotted
    compare  a real tune of the target, then its winner and the minimal hand-written config (fp32,
             no dynamic_batching, one instance, ONNX Runtime's default threads) measured in turns
             on the same server: inferences/s each, p99 against the SLO; and seconds per trial

    .venv/bin/tritonkit export export/minilm.yaml --variants fp32,int8_dynamic --model-repository /tmp/minilm_repo
    .venv/bin/python bench/tune.py grid --repository /tmp/minilm_repo --out bench/results/tune_grid   # ~30 min
    .venv/bin/python bench/tune.py replay bench/results/tune_grid
    .venv/bin/python bench/tune.py compare --repository /tmp/minilm_repo                             # ~8 min
    .venv/bin/python bench/tune.py adaptive --repository /tmp/minilm_repo                            # ~2 min

The 2-core machine also runs the client: figures drift from run to run; ratios measured side by
side in one run are what to read.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from tritonkit.interrupts import interrupts_unwind, run_async
from tritonkit.machine import cpu_description, now, usable_cores
from tritonkit.measure.measurement import WindowStats
from tritonkit.measure.runner import measure_target
from tritonkit.report.plots import render_figure
from tritonkit.serving import serving
from tritonkit.specs import OnnxRuntimeKnobs, OpenLoopLoad, ServingKnobs, TargetSpec, TargetsSpec, load_targets
from tritonkit.triton.model_config import apply_knobs, read_config
from tritonkit.tune.driver import Tuner, trial_target
from tritonkit.tune.log import LogHeader, TrialLog, read_trials
from tritonkit.tune.objective import Objective
from tritonkit.tune.predict import Profiles, Workload, predict
from tritonkit.tune.replay import quality, replay, table_of
from tritonkit.tune.run import prepare, tune_targets, workload_of
from tritonkit.tune.search import Settings, figures_of, ranked
from tritonkit.tune.space import SpaceSpec, candidates
from tritonkit.tune.trials import TrialFigures

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "targets" / "minilm.yaml"
TARGET = "pipeline-fp32"
# 2 variants x 4 instances x threads pairs x client batches 1 and 8 (the batcher's settings each
# allows): 368 configurations
GRID_SPACE = SpaceSpec(
    max_batch_size=(8, 16, 32, 64), max_queue_delay_microseconds=(0, 500, 2_000, 8_000),
    preferred_batch_sizes=((), (16, 32)), client_batch_sizes=(1, 8),
)  # fmt: skip
SHARES = (0.02, 0.03, 0.04)
RANDOM_SEEDS = 50


def _target(path: Path, name: str) -> tuple[TargetsSpec, TargetSpec]:
    spec = load_targets(path)
    (target,) = [t for t in spec.targets if t.name == name]
    return spec.model_copy(update={"targets": (target,)}), target


def grid(args: argparse.Namespace) -> None:
    spec, _ = _target(args.targets, args.target)
    family, (target,) = prepare(spec, args.repository, (), GRID_SPACE)
    open_loop = target.load.mode == "open"
    space = candidates(GRID_SPACE, family.variants, usable_cores(), open_loop=open_loop)
    workload = workload_of(target, family)
    header = LogHeader(family=family.name, variants=family.variants, space=GRID_SPACE.digest(),
                       targets={target.name: workload}, cores=usable_cores(), machine=cpu_description()[0])  # fmt: skip
    log_path = args.out.with_suffix(".jsonl")
    log = TrialLog(log_path, header, resume=log_path.exists())
    started = time.monotonic()
    with serving(spec, args.repository) as served:
        tuner = Tuner(served, family, GRID_SPACE, log, None)
        tuner.profiles(target, workload, sorted({c.intra_op_threads or usable_cores() for c in space}))
        sharing = tuner.shape_sharing(target)
        for k, candidate in enumerate(space, 1):
            if log.trial(workload, candidate.key(), "screen") is None:
                trial = tuner.trial(target, workload, candidate, "screen")
                log.add_trial(trial)
                f = trial.figures
                shown = f"{f.inferences_per_s:.0f} inf/s, p99 {f.p99_ms:.1f} ms" if f and f.p99_ms else trial.failure
                print(f"[{k}/{len(space)}] {candidate.describe()}: {shown}", flush=True)
    meta = {
        "target": target.model_dump(mode="json"), "space": GRID_SPACE.model_dump(mode="json"),
        "workload": {"mode": target.load.mode, "level": target.load.level, "shape_sharing": sharing,
                     "cores": usable_cores()},
        "candidates": len(space), "machine": cpu_description()[0], "cores": usable_cores(), "date": now(),
        "seconds": round(time.monotonic() - started), "log": log_path.name,
    }  # fmt: skip
    args.out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {log_path} and {args.out.with_suffix('.json')}")


def _value(objective: Objective, table: dict[str, TrialFigures], key: str) -> float:
    return objective.score(table[key]).value


def replay_table(args: argparse.Namespace) -> None:
    meta = json.loads(args.table.with_suffix(".json").read_text())
    _, profile_lines, trials = read_trials(args.table.with_suffix(".jsonl"))
    target = TargetSpec.model_validate(meta["target"])
    objective = Objective.of(target)
    workload = Workload(**meta["workload"])
    profiles = Profiles(tuple(p.profile for p in profile_lines))
    space = list({t.key: t.candidate for t in trials}.values())
    predictions = {c.key(): predict(c, profiles, workload) for c in space}
    table = table_of(trials)
    feasible = [k for k, f in table.items() if objective.feasible(f)]
    optimum = max(feasible, key=lambda k: _value(objective, table, k))
    rows = []
    for share in SHARES:
        budget = max(4, math.floor(share * len(space)))
        searched = replay(space, predictions, objective, table, Settings(max_trials=budget))
        rng = np.random.default_rng(0)
        randoms = []
        for _ in range(RANDOM_SEEDS):  # random search: the best feasible of `budget` random candidates
            picked = [space[i].key() for i in rng.choice(len(space), size=budget, replace=False)]
            good = [k for k in picked if k in table and objective.feasible(table[k])]
            best = max(good, key=lambda k: _value(objective, table, k), default=None)
            randoms.append(quality(objective, table[best], table[optimum]) if best else 0.0)
        top = [c.key() for c in ranked(space, {k: figures_of(p) for k, p in predictions.items()}, objective)[:budget]]
        top_good = [k for k in top if k in table and objective.feasible(table[k])]
        top_best = max(top_good, key=lambda k: _value(objective, table, k), default=None)
        found = table.get(searched.result.best.key) if searched.result.best else None
        rows.append({
            "share_of_grid": share, "trials_allowed": budget, "trials_used": searched.trials,
            "search_quality": searched.quality, "search_found": searched.result.best.candidate.describe()
            if searched.result.best else None,
            # within noise of the optimum: the found figure lies inside the optimum's 95% interval
            "search_within_optimum_interval": found is not None and objective.score(found).value
            >= objective.score(table[optimum]).low,
            "random_search_quality_mean": statistics.fmean(randoms),
            "random_search_quality_p10": float(np.percentile(randoms, 10)),
            "model_top_picks_quality": quality(objective, table[top_best], table[optimum]) if top_best else 0.0,
        })  # fmt: skip
    result = {"table": meta, "optimum": table[optimum].model_dump(mode="json"),
              "optimum_candidate": next(c.describe() for c in space if c.key() == optimum),
              "feasible": len(feasible), "rows": rows}  # fmt: skip
    for row in rows:
        print(
            f"{row['trials_used']:>3} of {len(space)} trials ({row['share_of_grid']:.0%} allowed): search reaches "
            f"{row['search_quality']:.1%} of the optimum"
            f"{' (inside its 95% interval)' if row['search_within_optimum_interval'] else ''}; "
            f"random search {row['random_search_quality_mean']:.1%} "
            f"(p10 {row['random_search_quality_p10']:.1%}); the model's top picks {row['model_top_picks_quality']:.1%}"
        )
    print(f"optimum: {result['optimum_candidate']}")
    args.json.write_text(json.dumps(result, indent=2) + "\n")


def compare(args: argparse.Namespace) -> None:
    spec, _ = _target(args.targets, args.target)
    _, (target,) = prepare(spec, args.repository, (), SpaceSpec())  # with its tokenizer
    log = args.workdir / "trials.jsonl"
    started = time.monotonic()
    outcome = tune_targets(spec, args.repository, SpaceSpec(), log, max_trials=args.max_trials, resume=log.exists())
    tune_s = time.monotonic() - started
    (tuned,) = outcome.tunes
    assert tuned.result.best is not None, tuned.result.note
    family = outcome.family
    minimal = ServingKnobs(max_batch_size=8, onnxruntime=OnnxRuntimeKnobs(), warmup=None)
    rounds: dict[str, list[dict[str, Any]]] = {"minimal": [], "tuned": []}
    with serving(spec, args.repository) as served:
        base = read_config(args.repository / family.model("fp32") / "config.pbtxt")
        timing = SpaceSpec().confirm.load_fields(None)
        for _ in range(args.rounds):  # in turns, so that the machine's drift hits both alike
            served.load(family.model("fp32"), apply_knobs(base, minimal))
            probe = trial_target(target, family.model("fp32"), 1, timing)
            rounds["minimal"].append(_figures(run_async(partial(measure_target, probe, served.host)), target))
            served.load(outcome.tuned[target.name])
            best = tuned.result.best.candidate
            probe = trial_target(target, outcome.tuned[target.name], best.client_batch_size, timing)
            rounds["tuned"].append(_figures(run_async(partial(measure_target, probe, served.host)), target))
    medians = {k: statistics.median(r["inferences_per_s"] for r in v) for k, v in rounds.items()}
    seconds = [t.seconds for t in tuned.result.trials]
    result = {
        "machine": cpu_description()[0], "cores": usable_cores(), "date": now(), "target": target.name,
        "slo": target.slo.model_dump(), "tuned": tuned.result.best.candidate.describe(), "rounds": rounds,
        "median_inferences_per_s": medians, "ratio_tuned_to_minimal": medians["tuned"] / medians["minimal"],
        "trials": len(seconds), "seconds_per_trial": {"median": statistics.median(seconds), "max": max(seconds)},
        "tune_seconds": round(tune_s), "variants": list(family.variants),
    }  # fmt: skip
    print(json.dumps({k: result[k] for k in ("tuned", "median_inferences_per_s", "ratio_tuned_to_minimal",
                                             "seconds_per_trial", "tune_seconds")}, indent=2))  # fmt: skip
    args.json.write_text(json.dumps(result, indent=2) + "\n")


def _figures(measurement: Any, target: TargetSpec) -> dict[str, Any]:
    latency = measurement.latency
    p99 = latency.p99_us / 1000 if latency else None
    return {"inferences_per_s": measurement.inferences_per_s, "p99_ms": p99, "error_rate": measurement.error_rate,
            "meets_p99": p99 is not None and (target.slo.p99_ms is None or p99 <= target.slo.p99_ms)}  # fmt: skip


def _phases(low: float, high: float, seconds: float) -> list[tuple[float, float]]:
    return [(low, seconds), (high, seconds), (low, seconds)]


def adaptive(args: argparse.Namespace) -> None:
    """A step load, low -> high -> low (Poisson arrivals, the target's fixed-length payload), on the
    tuned configuration and on the minimal one, window by window: p99 and throughput over time."""
    spec, _ = _target(args.targets, args.target)
    _, (target,) = prepare(spec, args.repository, (), SpaceSpec())  # with its tokenizer
    compared = json.loads(args.compare.read_text())
    tuned_model = f"minilm_tuned_{target.name}"
    high = args.high or 0.8 * compared["median_inferences_per_s"]["tuned"]
    minimal = ServingKnobs(max_batch_size=8, onnxruntime=OnnxRuntimeKnobs(), warmup=None)
    timelines: dict[str, list[dict[str, Any]]] = {}
    with serving(spec, args.repository) as served:
        base = read_config(args.repository / "minilm_fp32" / "config.pbtxt")
        for name, model, config in (
            ("minimal", "minilm_fp32", apply_knobs(base, minimal)),
            ("tuned", tuned_model, None),
        ):
            served.load(model, config)
            timeline, start_s = [], 0.0
            for rate, seconds in _phases(args.low, high, args.phase_seconds):
                windows = round(seconds)
                load = OpenLoopLoad(mode="open", rate_per_s=rate, warmup_s=0.5, window_s=1.0, duration_s=float(windows),
                                    stable_windows=windows)  # fmt: skip
                payload = target.payload.model_copy(update={"batch_size": 1})
                probe = target.model_copy(update={"model": model, "load": load, "payload": payload})
                measured = run_async(partial(measure_target, probe, served.host))
                timeline += [_window(w, start_s, rate) for w in measured.windows]
                start_s += windows + 0.5
            timelines[name] = timeline
    result = {
        "machine": cpu_description()[0], "cores": usable_cores(), "date": now(), "target": target.name,
        "tuned": compared["tuned"], "low_per_s": args.low, "high_per_s": high, "timelines": timelines,
    }  # fmt: skip
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    for metric, label in (("p99_ms", "p99 latency (ms)"), ("served_per_s", "served requests/s")):
        png = render_figure(partial(_draw_timeline, timelines=timelines, metric=metric, label=label))
        args.json.with_name(f"adaptive_batching_{metric}.png").write_bytes(png)
    for name, timeline in timelines.items():
        for phase, rate in (("low", args.low), ("high", high)):
            rows = [w for w in timeline if w["offered_per_s"] == rate and w["p99_ms"] is not None]
            p99 = statistics.median(float(w["p99_ms"]) for w in rows)
            served_per_s = statistics.median(float(w["served_per_s"]) for w in rows)
            print(f"{name:>8} at {phase} load ({rate:.0f}/s): p99 median {p99:.1f} ms, served {served_per_s:.0f}/s")


def _window(window: WindowStats, start_s: float, rate: float) -> dict[str, Any]:
    p99 = window.p99_us / 1000 if window.p99_us else None
    return {"t_s": start_s + window.index + 1, "offered_per_s": rate, "served_per_s": window.throughput_per_s,
            "p99_ms": p99, "errors": window.errors}  # fmt: skip


def _draw_timeline(ax: Axes, timelines: dict[str, list[dict[str, Any]]], metric: str, label: str) -> None:
    for i, (name, timeline) in enumerate(timelines.items()):
        points = [(w["t_s"], w[metric]) for w in timeline if w[metric] is not None]
        ax.plot([t for t, _ in points], [v for _, v in points], "-o", color=f"C{i}", markersize=3, label=name)
    if metric == "served_per_s":
        first = next(iter(timelines.values()))
        ax.step([w["t_s"] for w in first], [w["offered_per_s"] for w in first], "k:", where="mid", label="offered")
    else:
        ax.set_yscale("log")
    ax.set_title(f"Step load low -> high -> low: {label}")
    ax.set_xlabel("time (s)")
    ax.set_ylabel(label)
    ax.legend(loc="best")


def _measuring(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The arguments of the commands that measure: where the family is, and which target."""
    parser.add_argument("--repository", type=Path, required=True)
    parser.add_argument("--targets", type=Path, default=TARGETS)
    parser.add_argument("--target", default=TARGET)
    return parser


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    results = ROOT / "bench" / "results"
    g = _measuring(commands.add_parser("grid"))
    g.add_argument("--out", type=Path, default=results / "tune_grid")
    g.set_defaults(run=grid)
    r = commands.add_parser("replay")
    r.add_argument("table", type=Path, nargs="?", default=results / "tune_grid")
    r.add_argument("--json", type=Path, default=results / "tune_replay.json")
    r.set_defaults(run=replay_table)
    c = _measuring(commands.add_parser("compare"))
    c.add_argument("--max-trials", type=int, default=24)
    c.add_argument("--rounds", type=int, default=3)
    c.add_argument("--workdir", type=Path, default=Path("/tmp/tritonkit-bench-tune"))
    c.add_argument("--json", type=Path, default=results / "tune_compare.json")
    c.set_defaults(run=compare)
    a = _measuring(commands.add_parser("adaptive"))
    a.add_argument("--compare", type=Path, default=results / "tune_compare.json")
    a.add_argument("--low", type=float, default=20.0)
    a.add_argument("--high", type=float, help="requests/s (default: 0.8 x the tuned throughput compare measured)")
    a.add_argument("--phase-seconds", type=float, default=10.0)
    a.add_argument("--json", type=Path, default=results / "adaptive_batching.json")
    a.set_defaults(run=adaptive)
    args = parser.parse_args()
    with interrupts_unwind():  # Ctrl-C stops the server and its stubs like the CLI does
        args.run(args)


if __name__ == "__main__":
    main()
