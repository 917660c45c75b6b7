"""The queueing model against hand-computed cases. One synthetic variant: an execution of b
inferences takes 4 ms + 1.5 ms x b with one thread (5.5 ms alone, 52 ms at 32), and 1/1.4 of that
with two threads; the host has 2 cores."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from tritonkit.tune.candidate import Candidate, QueuePolicy
from tritonkit.tune.predict import ComputeProfile, Profiles, Workload, erlang_c, predict


def seconds(b: float, threads: int = 1) -> float:
    return (0.004 + 0.0015 * b) / (1.4 if threads == 2 else 1.0)


SIZES = (1, 2, 4, 8, 16, 32)
FP32 = tuple(ComputeProfile("fp32", t, tuple((b, seconds(b, t)) for b in SIZES)) for t in (1, 2))
PROFILES = Profiles((*FP32, ComputeProfile("int8", 1, ((1, 0.0036), (8, 0.012)))))
BASE = Candidate(
    variant="fp32", max_batch_size=32, dynamic_batching=False, max_queue_delay_us=0, preferred_batch_sizes=(),
    instance_count=1, intra_op_threads=1, queue=None,
)  # fmt: skip
BATCHING = replace(BASE, dynamic_batching=True)


def open_loop(rate: float, sharing: float = 1.0) -> Workload:
    return Workload("open", rate, sharing, cores=2)


def closed_loop(in_flight: int, sharing: float = 1.0) -> Workload:
    return Workload("closed", in_flight, sharing, cores=2)


# -- the compute profile and its lookup ---------------------------------------------------------


def test_profile_interpolates_extrapolates_and_clamps() -> None:
    profile = ComputeProfile("v", 1, ((4, 0.010), (1, 0.0055), (2, 0.007)))  # any order
    assert profile.seconds(1) == pytest.approx(0.0055)
    assert profile.seconds(3) == pytest.approx(0.0085)  # halfway between 2 and 4
    assert profile.seconds(8) == pytest.approx(0.016)  # the last slope, 1.5 ms per inference
    assert profile.seconds(0.3) == profile.seconds(1)  # below 1: clamped
    noisy = ComputeProfile("v", 1, ((1, 0.005), (8, 0.02), (16, 0.019)))
    assert noisy.seconds(64) == pytest.approx(0.019)  # a falling last slope is not extrapolated


@pytest.mark.parametrize(
    "points", [(), ((0, 0.1),), ((1, 0.1), (1, 0.2)), ((1, 0.0),)], ids=["empty", "zero", "twice", "free"]
)
def test_profile_rejects_bad_points(points: tuple[tuple[int, float], ...]) -> None:
    with pytest.raises(ValueError):
        ComputeProfile("v", 1, points)


def test_lookup_resolves_threads_and_names_a_missing_variant() -> None:
    assert PROFILES.for_candidate(BASE, cores=2).threads == 1
    auto = replace(BASE, intra_op_threads=0)
    assert PROFILES.for_candidate(auto, cores=2).threads == 2  # 0: one per core
    assert PROFILES.for_candidate(replace(BASE, intra_op_threads=8), cores=2).threads == 2  # nearest
    assert PROFILES.for_candidate(replace(BASE, variant="int8", intra_op_threads=2), cores=2).variant == "int8"
    with pytest.raises(ValueError, match=r"'fp16' was not profiled.*fp32"):
        PROFILES.for_candidate(replace(BASE, variant="fp16"), cores=2)


def test_workload_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Workload("open", 0, 1.0, 2)
    with pytest.raises(ValueError):
        Workload("open", 10, 1.5, 2)


# -- queueing ---------------------------------------------------------------------------------------


def test_erlang_c_textbook_values() -> None:
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)  # c=2, a=1
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = rho
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)  # B(3,2) = 4/19; C = B / (1 - rho (1 - B))
    assert erlang_c(2, 2.0) == 1.0


def test_one_instance_at_low_load_is_its_service_time() -> None:
    p = predict(BASE, PROFILES, open_loop(5))
    assert p.p50_ms == pytest.approx(5.5)
    assert 5.5 < p.p99_ms < 2 * 5.5  # a 1-in-36 chance of arriving during another's execution
    assert p.inferences_per_s == pytest.approx(5)
    assert p.batch_size == 1 and p.rejected_fraction == 0 and p.slowdown == 1
    assert p.capacity_inferences_per_s == pytest.approx(1 / 0.0055)
    assert p.utilization == pytest.approx(5 * 0.0055)
    # A client batch of 4 is one execution of 4: 10 ms, 4 inferences per request.
    four = predict(replace(BASE, client_batch_size=4), PROFILES, open_loop(5))
    assert four.p50_ms == pytest.approx(10) and four.inferences_per_s == pytest.approx(20)
    assert four.capacity_inferences_per_s == pytest.approx(4 / 0.010)


def test_two_instances_on_two_cores_double_the_capacity() -> None:
    one = predict(BASE, PROFILES, open_loop(100))
    two = predict(replace(BASE, instance_count=2), PROFILES, open_loop(100))
    assert two.capacity_inferences_per_s == pytest.approx(2 * one.capacity_inferences_per_s)
    assert two.slowdown == 1 and two.p99_ms < one.p99_ms


def test_oversubscription_costs_capacity_per_thread_and_tail() -> None:
    rate = 300  # 0.82 of 2x1's capacity
    right = predict(replace(BASE, instance_count=2), PROFILES, open_loop(rate))
    for instances, threads in ((4, 1), (2, 2)):
        over = predict(replace(BASE, instance_count=instances, intra_op_threads=threads), PROFILES, open_loop(rate))
        per_thread = over.capacity_inferences_per_s / (instances * threads)
        assert per_thread < right.capacity_inferences_per_s / 2
        assert over.p99_ms > right.p99_ms
        assert over.capacity_inferences_per_s <= right.capacity_inferences_per_s  # no more cores, no more work
    # At full load 4 one-thread instances on 2 cores run each execution at least 2x slower.
    assert predict(replace(BASE, instance_count=4), PROFILES, closed_loop(8)).slowdown >= 2


def test_batching_fixed_shapes_raises_closed_loop_throughput_natural_lengths_barely() -> None:
    plain = predict(BASE, PROFILES, closed_loop(16))
    fixed = predict(BATCHING, PROFILES, closed_loop(16))
    natural = predict(BATCHING, PROFILES, closed_loop(16, sharing=0.05))
    assert plain.inferences_per_s == pytest.approx(1 / 0.0055)  # one at a time
    assert plain.p50_ms == pytest.approx(16 * 5.5)  # Little's law: 16 in flight
    assert fixed.batch_size == pytest.approx(16)  # all 16 in flight in one batch
    assert fixed.inferences_per_s == pytest.approx(16 / seconds(16))  # ~3x
    assert natural.batch_size < 1.1  # DESIGN §4: ~1.07 measured
    assert natural.inferences_per_s < 1.1 * plain.inferences_per_s


def test_batching_open_loop_merges_more_as_load_rises() -> None:
    sizes = [predict(BATCHING, PROFILES, open_loop(rate)).batch_size for rate in (10, 200, 400, 600)]
    assert sizes == sorted(sizes) and sizes[0] < 1.1 and sizes[-1] > 8
    # Past the unbatched capacity (182/s) batching still keeps up; without it the queue explodes.
    assert math.isfinite(predict(BATCHING, PROFILES, open_loop(300)).p99_ms)
    assert predict(BASE, PROFILES, open_loop(300)).p99_ms == math.inf


def test_a_delay_for_an_unfillable_preferred_size_adds_the_delay_at_low_load() -> None:
    quick = predict(BATCHING, PROFILES, open_loop(5))
    held = replace(BATCHING, max_queue_delay_us=20_000, preferred_batch_sizes=(8,))
    slow = predict(held, PROFILES, open_loop(5))
    assert slow.p50_ms - quick.p50_ms == pytest.approx(20, abs=1.5)  # a few arrivals join: +0.15 ms each
    assert slow.batching_delay_ms == pytest.approx(20)
    # A preferred size of one request sends it at once; another shape arriving cuts the hold short.
    assert predict(replace(held, preferred_batch_sizes=(1, 8)), PROFILES, open_loop(5)).p50_ms == pytest.approx(
        quick.p50_ms, abs=0.1
    )
    assert predict(held, PROFILES, open_loop(200, sharing=0.05)).batching_delay_ms < 6
    # Closed loop: 16 in flight never fill 32, so every execution waits the delay.
    no_fill = predict(replace(BATCHING, max_queue_delay_us=5_000), PROFILES, closed_loop(16))
    assert no_fill.inferences_per_s == pytest.approx(16 / (seconds(16) + 0.005))


def test_delay_zero_sends_at_most_the_largest_preferred_size() -> None:
    p = predict(replace(BATCHING, preferred_batch_sizes=(4, 8)), PROFILES, closed_loop(32))
    assert p.batch_size == pytest.approx(8)


def test_overload_with_a_bounded_queue_rejects_the_excess() -> None:
    capacity = 1 / 0.0055
    one_at_a_time = replace(BATCHING, max_batch_size=1)
    for queue in (QueuePolicy(8, 0), QueuePolicy(0, 20_000), QueuePolicy(64, 5_000)):
        p = predict(replace(one_at_a_time, queue=queue), PROFILES, open_loop(3 * capacity))
        assert p.rejected_fraction == pytest.approx(1 - 1 / 3, abs=0.02)
        assert p.inferences_per_s == pytest.approx(capacity, rel=0.03)
        bound_ms = min(queue.timeout_us / 1000 or math.inf, (queue.max_queue_size or math.inf) * 5.5)
        assert p.p99_ms <= bound_ms + 5.5 + 1e-6  # wait bounded by the queue, plus the execution
    unbounded = predict(one_at_a_time, PROFILES, open_loop(3 * capacity))
    assert unbounded.p99_ms == math.inf and unbounded.rejected_fraction == 0
    assert unbounded.inferences_per_s == pytest.approx(capacity)


def test_a_timeout_rejects_the_tail_below_saturation() -> None:
    timed = replace(BATCHING, max_batch_size=1, queue=QueuePolicy(0, 20_000))
    rejected = [predict(timed, PROFILES, open_loop(rate)).rejected_fraction for rate in (10, 100, 150, 175)]
    assert rejected[0] < 1e-3 and rejected == sorted(rejected) and rejected[-1] < 0.2


@pytest.mark.parametrize(
    "candidate",
    [
        BASE,
        replace(BASE, instance_count=2),
        replace(BASE, instance_count=4),
        BATCHING,
        replace(BATCHING, instance_count=2, max_batch_size=8, client_batch_size=2),
        replace(BATCHING, max_queue_delay_us=2_000, preferred_batch_sizes=(4, 8)),
        replace(BATCHING, queue=QueuePolicy(0, 20_000)),
    ],
    ids=["1x1", "2x1", "4x1", "batching", "2x1-batch8-client2", "delay-preferred", "timeout"],
)
@pytest.mark.parametrize("sharing", [1.0, 0.05])
def test_more_load_never_lowers_p99(candidate: Candidate, sharing: float) -> None:
    rates = (1, 10, 50, 100, 150, 200, 300, 400, 600, 800, 1200)
    p99 = [predict(candidate, PROFILES, open_loop(rate, sharing)).p99_ms for rate in rates]
    assert p99 == sorted(p99)
    if candidate.instance_count <= 2:  # within the cores (oversubscribing loses a little as N grows)
        served = [predict(candidate, PROFILES, closed_loop(n, sharing)).inferences_per_s for n in (1, 2, 4, 8, 16, 32)]
        assert served == sorted(served)
