"""The tune's effects: profile each variant's compute time, reload and measure candidates on the
server (a config override through explicit model control, never a restart), log every trial, and
write each target's winner as `<name>_tuned_<target>`. What to measure is search.py's decision.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from tritonkit.errors import InputError, ServerError
from tritonkit.interrupts import run_async
from tritonkit.machine import usable_cores
from tritonkit.measure.payloads import build_pool
from tritonkit.measure.runner import measure_target
from tritonkit.serving import Serving
from tritonkit.specs import (
    ClosedLoopLoad,
    LoadSpec,
    OpenLoopLoad,
    RandomPayload,
    TargetSpec,
    TextsPayload,
    TokensPayload,
)
from tritonkit.triton.model_config import ModelConfig, read_config
from tritonkit.tune.candidate import Candidate
from tritonkit.tune.family import Family
from tritonkit.tune.log import TrialLog, digest
from tritonkit.tune.objective import Objective
from tritonkit.tune.predict import ComputeProfile, Prediction, Profiles, Workload, predict
from tritonkit.tune.search import OutOfBudget, SearchResult, Settings, search
from tritonkit.tune.space import SpaceSpec, candidates
from tritonkit.tune.text_target import TextTarget
from tritonkit.tune.trials import Fidelity, Trial, TrialFigures

Progress = Callable[[str], None]
PROFILE_BATCHES = (1, 2, 4, 8, 16, 32, 64)
PROFILE_LOAD: dict[str, float] = {"warmup_s": 0.2, "window_s": 0.5, "duration_s": 0.5, "stable_windows": 1}
PROFILE_LONG_LOAD: dict[str, float] = {"warmup_s": 1.0, "window_s": 4.0, "duration_s": 4.0, "stable_windows": 1}
# The search measures about 3% of the space (at least 10 trials, at most 40 per target).
TRIAL_SHARE, MIN_TRIALS, MAX_TRIALS = 0.03, 10, 40


def default_trials(candidate_count: int) -> int:
    return max(MIN_TRIALS, min(MAX_TRIALS, math.ceil(TRIAL_SHARE * candidate_count)))


@dataclass(frozen=True)
class TargetTune:
    """One target's tune: what was searched and what won."""

    target: TargetSpec
    workload: str
    objective: Objective
    candidates: int
    result: SearchResult
    predictions: dict[str, Prediction] = field(repr=False)


@dataclass
class Tuner:
    """Tunes targets of one family on one server, logging to one trial log."""

    serving: Serving
    family: Family
    space: SpaceSpec
    log: TrialLog
    deadline: float | None  # time.monotonic() past which no trial starts
    progress: Progress = print
    cores: int = field(default_factory=usable_cores)
    _bases: dict[str, ModelConfig] = field(default_factory=dict)
    _texts: dict[str, TextTarget] = field(default_factory=dict)  # texts targets' by name

    # -- configs ---------------------------------------------------------------------------------

    def base(self, variant: str) -> ModelConfig:
        """The variant's identity and I/O, as export wrote them."""
        model = self.family.model(variant)
        if model not in self._bases:
            self._bases[model] = read_config(self.serving.repository / model / "config.pbtxt")
        return self._bases[model]

    def config(self, candidate: Candidate, target: TargetSpec) -> ModelConfig:
        return candidate.config(self.base(candidate.variant), warmup_length(self.encoder_target(target)))

    # -- what is served ------------------------------------------------------------------------

    def text_target(self, target: TargetSpec) -> TextTarget | None:
        """The text model a target sends strings to; None for a target of tensors."""
        if not isinstance(target.payload, TextsPayload):
            return None
        if target.name not in self._texts:
            self._texts[target.name] = TextTarget.of(target, self.serving.repository)
        return self._texts[target.name]

    def encoder_target(self, target: TargetSpec) -> TargetSpec:
        """What the encoder variants are handed: the target, or a texts target's texts as token ids."""
        text = self.text_target(target)
        return target if text is None else text.tokens_target(target, self.serving.repository)

    def serve(
        self, target: TargetSpec, variant: str, config: ModelConfig | None, buckets: tuple[int, ...] | None
    ) -> tuple[str, tuple[int, ...]]:
        """Load the variant with `config`; returns the model to send the target's requests to and
        the buckets the client pads them to. A texts target: its text model over the variant, the
        tokenizer padding to `buckets` (None: as written). Else the variant itself, its requests
        padded to `buckets` (None, (): as the payload says)."""
        model = self.family.model(variant)
        self.serving.load(model, config)
        text = self.text_target(target)
        if text is None:
            return model, buckets or ()
        written = self.base(variant)
        limit = (config or written).max_batch_size
        return text.serve(self.serving, written, limit, buckets), ()

    # -- profiling ---------------------------------------------------------------------------

    def profiles(self, target: TargetSpec, payload: str, thread_counts: Sequence[int]) -> Profiles:
        """Each variant's seconds per execution by batch size at each thread count: one load per
        (variant, threads), a short closed loop of one request in flight per batch size. Logged
        under `payload` (a digest of what was sent)."""
        found = []
        for variant in self.family.variants:
            for threads in thread_counts:
                profile = self.log.profile(payload, variant, threads)
                if profile is None:
                    profile = self._profile(target, variant, threads)
                    self.log.add_profile(payload, profile)
                found.append(profile)
        return Profiles(tuple(found))

    def _profile(self, target: TargetSpec, variant: str, threads: int) -> ComputeProfile:
        sizes = [b for b in PROFILE_BATCHES if b <= max(self.space.max_batch_size)]
        alone = Candidate(variant, sizes[-1], False, 0, (), 1, threads, None)
        model = self.family.model(variant)
        self.progress(f"profiling {model} at {threads or 'auto'} threads, batch {sizes}")
        self.serving.load(model, alone.config(self.base(variant), warmup_length(target)))
        seconds: list[tuple[int, float]] = []
        for size in sizes:
            # A large batch on a slow or busy host can outlast the short window: then a long one.
            for timing in (PROFILE_LOAD, PROFILE_LONG_LOAD):
                probe = trial_target(target, model, size, timing, concurrency=1)
                measurement = run_async(partial(measure_target, probe, self.serving.host))
                if measurement.latency is not None:
                    seconds.append((size, measurement.latency.p50_us / 1e6))
                    break
            else:
                errors = "; ".join(f"{k}: {v}" for k, v in measurement.error_examples.items()) or "no answer in time"
                if not seconds:
                    raise ServerError(f"profiling {model}: no request succeeded at batch {size} ({errors[:160]})")
                # Larger batches are extrapolated from the sizes measured (predict.ComputeProfile).
                self.progress(f"  {model}: no request answered at batch {size} ({errors[:160]}); "
                              f"profiled up to batch {seconds[-1][0]}")  # fmt: skip
                break
        return ComputeProfile(variant=variant, threads=threads, batch_seconds=tuple(seconds))

    # -- trials ------------------------------------------------------------------------------

    def tune(self, target: TargetSpec, workload: str, max_trials: int | None) -> TargetTune:
        handed = self.encoder_target(target)
        space = candidates(self.space, self.family.variants, self.cores, open_loop=target.load.mode != "closed",
                           longest_tokens=natural_lengths(handed))  # fmt: skip
        threads = sorted({c.intra_op_threads or self.cores for c in space})
        # Compute time depends on the payload, not on the load: targets sharing a payload share profiles.
        payload = digest({"family": self.family.name, "payload": handed.payload.model_dump(mode="json")})
        profiles = self.profiles(handed, payload, threads)
        # How often two requests can batch depends on the buckets they are padded to.
        loads = {
            buckets: Workload(mode="closed" if target.load.mode == "closed" else "open", level=target.load.level,
                              cores=self.cores,
                              shape_sharing=self.shape_sharing(with_buckets(handed, buckets)))
            for buckets in {c.buckets for c in space}
        }  # fmt: skip
        predictions = {c.key(): predict(c, profiles, loads[c.buckets]) for c in space}
        objective = Objective.of(target)
        budget = max_trials or default_trials(len(space))
        bar = _Bar(budget, objective, self.deadline)
        self.progress(f"tuning {target.name}: {objective.describe()}, {len(space)} candidates, at most {budget} trials")

        def evaluate(candidate: Candidate, fidelity: Fidelity) -> Trial:
            logged = self.log.trial(workload, candidate.key(), fidelity)
            trial = logged or self.trial(target, workload, candidate, fidelity)
            if logged is None:
                self.log.add_trial(trial)
            self.progress(bar.line(trial, logged is not None))
            return trial

        result = search(space, predictions, objective, evaluate, Settings(max_trials=budget))
        return TargetTune(target, workload, objective, len(space), result, predictions)

    def trial(self, target: TargetSpec, workload: str, candidate: Candidate, fidelity: Fidelity) -> Trial:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OutOfBudget
        started = time.monotonic()
        model = self.family.model(candidate.variant)

        def failed(why: str) -> Trial:
            return Trial(target=target.name, workload=workload, candidate=candidate, fidelity=fidelity,
                         figures=None, failure=why, seconds=time.monotonic() - started)  # fmt: skip

        try:
            served, buckets = self.serve(target, candidate.variant, self.config(candidate, target), candidate.buckets)
        except InputError as exc:
            return failed(f"invalid: {exc}")
        except ServerError as exc:
            return failed(self._server_failure(exc, "did not load"))
        meter = self.serving.resource_meter(model, candidate.instance_count)
        if meter is not None:
            meter.start()
        timing = self.space.screen if fidelity == "screen" else self.space.confirm
        rate = target.load.rate_per_s if isinstance(target.load, OpenLoopLoad) else None
        probe = trial_target(target, served, candidate.client_batch_size, timing.load_fields(rate), buckets=buckets)
        try:
            measurement = run_async(partial(measure_target, probe, self.serving.host))
        except (InputError, ServerError) as exc:
            return failed(self._server_failure(exc, "failed while measured"))
        usage = meter.stop() if meter is not None else None
        if self.serving.restart_if_exited():
            return failed("took the server down (restarted)")
        if measurement.latency is None:
            kinds = ", ".join(f"{count} {kind}" for kind, count in measurement.errors.items())
            return failed(f"no request succeeded ({kinds or 'none answered'})")
        figures = TrialFigures.of(measurement, usage)
        return Trial(target=target.name, workload=workload, candidate=candidate, fidelity=fidelity,
                     figures=figures, seconds=time.monotonic() - started)  # fmt: skip

    def _server_failure(self, exc: Exception, what: str) -> str:
        restarted = self.serving.restart_if_exited()
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"{what}: {first}" + (" (it took the server down; restarted)" if restarted else "")

    def shape_sharing(self, target: TargetSpec) -> float:
        """The chance that two requests of the payload have the same shapes (can be batched)."""
        variant = self.family.variants[0]
        pool = build_pool(target.payload, self.base(variant), target.load.seed)
        shapes = Counter(tuple((name, array.shape) for name, array in sorted(p.items())) for p in pool.payloads)
        total = sum(shapes.values())
        return sum((count / total) ** 2 for count in shapes.values())


def warmup_length(target: TargetSpec) -> int:
    """The dynamic dimension's size warmups use: the payload's own (its longest sequence)."""
    payload = target.payload
    if isinstance(payload, TokensPayload):
        return payload.sequence_length
    if isinstance(payload, RandomPayload):
        return payload.dynamic_dim_size
    raise InputError(
        f"target '{target.name}': tune needs a tokens, texts or random payload ({target.payload.kind} cannot vary "
        "batch size)"
    )


def natural_lengths(target: TargetSpec) -> int | None:
    """A text target whose requests go at their own lengths: its longest (where buckets can apply)."""
    payload = target.payload
    if isinstance(payload, TokensPayload) and payload.lengths in ("texts", "uniform"):
        return payload.sequence_length
    return None


def with_buckets(target: TargetSpec, buckets: tuple[int, ...]) -> TargetSpec:
    """The target, its token ids padded to `buckets` (() : as its payload says)."""
    if not buckets:
        return target
    assert isinstance(target.payload, TokensPayload), "buckets apply to tokens payloads (natural_lengths)"
    payload = target.payload.model_copy(update={"lengths": "buckets", "buckets": buckets})
    return target.model_copy(update={"payload": payload})


def trial_target(
    target: TargetSpec,
    model: str,
    client_batch: int,
    timing: dict[str, float],
    concurrency: int | None = None,
    buckets: tuple[int, ...] = (),
) -> TargetSpec:
    """The target aimed at `model`, its requests of `client_batch` inferences (padded to `buckets`),
    measured with `timing` (and, for profiling, as a closed loop of `concurrency`)."""
    target = with_buckets(target, buckets)
    load = target.load.model_dump() | timing
    kind: type[LoadSpec] = type(target.load)
    if concurrency is not None:
        kind, load = ClosedLoopLoad, load | {"mode": "closed", "concurrency": concurrency}
    loaded = kind.model_validate({k: v for k, v in load.items() if k in kind.model_fields})
    payload = target.payload.model_copy(update={"batch_size": client_batch})
    return target.model_copy(update={"model": model, "model_version": "", "load": loaded, "payload": payload})


@dataclass
class _Bar:
    """The progress line of each trial: k of n, what it measured, the best so far, time left."""

    trials: int
    objective: Objective
    deadline: float | None
    done: int = 0
    best: Trial | None = None

    def line(self, trial: Trial, logged: bool) -> str:
        self.done = min(self.done + 1, self.trials)
        filled = round(20 * self.done / self.trials)
        figures = trial.figures
        if figures is None:
            outcome = f"failed: {trial.failure[:100]}"
        else:
            missed = self.objective.violations(figures)
            outcome = _figures(trial) + (f" (misses {missed[0]})" if missed else "")
            if not missed and (self.best is None or self._better(trial, self.best)):
                self.best = trial
        best = f" | best so far {_figures(self.best)}" if self.best is not None else ""
        left = f" | {max(0.0, self.deadline - time.monotonic()) / 60:.1f} min left" if self.deadline else ""
        source = " [from the log]" if logged else ""
        bar = "#" * filled + "." * (20 - filled)
        head = f"  [{bar}] {self.done}/{self.trials} {trial.fidelity}: {trial.candidate.describe()}"
        return f"{head} → {outcome}{source}{best}{left}"

    def _better(self, trial: Trial, than: Trial) -> bool:
        assert trial.figures is not None and than.figures is not None
        return self.objective.score(trial.figures).value > self.objective.score(than.figures).value


def _figures(trial: Trial) -> str:
    assert trial.figures is not None
    return f"p99 {trial.figures.p99_ms:.1f} ms, {trial.figures.inferences_per_s:.0f} inf/s"
