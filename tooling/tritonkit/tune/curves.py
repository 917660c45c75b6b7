"""Latency against load for the configurations a tune is judged by: its winner, the minimal
hand-written config (no batcher, one instance, ONNX Runtime's default threads) and the three
deployment profiles, each swept at the same levels around the target's on the same server."""

from __future__ import annotations

from collections.abc import Callable

from tritonkit.measure.sweep import SweepResult
from tritonkit.specs import ClosedLoopLoad, OnnxRuntimeKnobs, OpenLoopLoad, ServingKnobs, TargetSpec
from tritonkit.triton.model_config import ModelConfig, apply_knobs
from tritonkit.triton.profiles import PROFILES
from tritonkit.tune.candidate import Candidate
from tritonkit.tune.driver import Tuner, trial_target, warmup_length
from tritonkit.tune.sweep import run_sweep

LEVELS = (0.5, 1.0, 2.0, 4.0)  # times the target's own rate or concurrency
# What a first config.pbtxt usually says: batching allowed, no batcher, defaults for the rest.
MINIMAL = ServingKnobs(max_batch_size=8, onnxruntime=OnnxRuntimeKnobs())


def sweep_configurations(
    tuner: Tuner, target: TargetSpec, tuned_model: str, tuned: Candidate, progress: Callable[[str], None]
) -> dict[str, SweepResult]:
    """label -> sweep: 'tuned' (sent as its candidate's client sends), 'minimal' and each profile
    (on the fp32 variant, or the first, sent as the target's payload says)."""
    family = tuner.family
    variant = "fp32" if "fp32" in family.variants else family.variants[0]
    base = tuner.base(variant)
    rate = target.load.rate_per_s if isinstance(target.load, OpenLoopLoad) else None
    timing = tuner.space.screen.load_fields(rate)
    levels = [target.load.level * f for f in LEVELS]
    if isinstance(target.load, ClosedLoopLoad):
        levels = sorted({max(1.0, float(round(level))) for level in levels})
    model = family.model(variant)
    configurations: dict[str, tuple[str, ModelConfig | None, int, tuple[int, ...]]] = {
        "tuned": (tuned_model, None, tuned.client_batch_size, tuned.buckets),
        "minimal": (model, apply_knobs(base, MINIMAL), 1, ()),
    }
    for name, knobs in PROFILES.items():
        config = apply_knobs(base, knobs.warmed_up_at(warmup_length(target)))
        configurations[f"{name} profile"] = (model, config, 1, ())
    sweeps = {}
    for label, (served, config, client_batch, buckets) in configurations.items():
        progress(f"latency against load: {label} ({served})")
        tuner.serving.load(served, config)
        probe = trial_target(target, served, client_batch, timing, buckets=buckets)
        sweeps[label] = run_sweep(probe, tuner.serving.host, levels, len(levels), progress=lambda _: None)
    return sweeps
