"""Latency against load for the configurations a tune is judged by: its winner, the minimal
hand-written config (no batcher, one instance, ONNX Runtime's default threads) and the three
deployment profiles, each swept at the same levels around the target's on the same server."""

from __future__ import annotations

from collections.abc import Callable

from tritonkit.measure.sweep import SweepResult
from tritonkit.specs import ClosedLoopLoad, OnnxRuntimeKnobs, OpenLoopLoad, ServingKnobs, TargetSpec
from tritonkit.triton.model_config import apply_knobs
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
    (on the fp32 variant, or the first, sent as the target's payload says: a texts target through
    its text model as written)."""
    family = tuner.family
    variant = "fp32" if "fp32" in family.variants else family.variants[0]
    base = tuner.base(variant)
    handed = tuner.encoder_target(target)
    rate = target.load.rate_per_s if isinstance(target.load, OpenLoopLoad) else None
    timing = tuner.space.screen.load_fields(rate)
    levels = [target.load.level * f for f in LEVELS]
    if isinstance(target.load, ClosedLoopLoad):
        levels = sorted({max(1.0, float(round(level))) for level in levels})
    configurations = {"minimal": apply_knobs(base, MINIMAL)}
    for name, knobs in PROFILES.items():
        configurations[f"{name} profile"] = apply_knobs(base, knobs.warmed_up_at(warmup_length(handed)))
    # The winner is served as written; its client pads to its buckets only where the client tokenizes.
    buckets = () if tuner.text_target(target) else tuned.buckets
    progress(f"latency against load: tuned ({tuned_model})")
    tuner.serving.load(tuned_model)
    probe = trial_target(target, tuned_model, tuned.client_batch_size, timing, buckets=buckets)
    sweeps = {"tuned": run_sweep(probe, tuner.serving.host, levels, len(levels), progress=lambda _: None)}
    for label, config in configurations.items():
        progress(f"latency against load: {label} ({family.model(variant)})")
        served, client_buckets = tuner.serve(target, variant, config, None)
        probe = trial_target(target, served, 1, timing, buckets=client_buckets)
        sweeps[label] = run_sweep(probe, tuner.serving.host, levels, len(levels), progress=lambda _: None)
    return sweeps
