"""A queueing model of one candidate: its throughput, p50, p99 and rejections at a load, predicted from
the variant's measured compute time per batch size. Pure (no I/O, no clocks); the tuner ranks
hundreds of candidates with it and measures only the promising ones (its error is calibrated there).

Per execution of B inferences (B = client batch x m requests merged): S = profile(B) x slowdown
(instances x threads time-sharing the cores). Open loop, a G/G/c queue of executions: m is the
fixed point of "1 + the compatible requests that queue during the batcher's hold or an instance's
wait"; Erlang C gives P(wait), Allen-Cunneen its mean, its tail is exponential; a bounded queue
(size or timeout) rejects as M/M/1+D does. Closed loop: Little's law over the N in flight.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Literal

from tritonkit.tune.candidate import Candidate

TAIL_JITTER = 1.5  # oversubscribed p99 stretch: threads descheduled mid-execution (DESIGN §4: "jittery")
# Time lost per core's worth of oversubscription beyond plain time-sharing: context switches, and ORT's
# intra-op threads spin-wait, burning slices other instances need. Not measured here, kept small so
# an oversubscribed point never ties a right-sized one; the tuner's calibration corrects its size.
OVERSUBSCRIBED_LOSS = 0.1
_STEPS = 60  # bisection steps for the batch size: 2^-60 of the range, beyond float precision


@dataclass(frozen=True)
class ComputeProfile:
    variant: str
    threads: int
    batch_seconds: tuple[tuple[int, float], ...]  # (batch, s per execution alone on an idle server)

    def __post_init__(self) -> None:
        sizes = [b for b, _ in self.batch_seconds]
        if not sizes or min(sizes) < 1 or len(set(sizes)) != len(sizes):
            raise ValueError(f"{self.variant}: batch sizes must be distinct and >= 1, got {sizes}")
        if any(s <= 0 for _, s in self.batch_seconds):
            raise ValueError(f"{self.variant}: seconds per execution must be positive")
        object.__setattr__(self, "batch_seconds", tuple(sorted(self.batch_seconds)))

    def seconds(self, batch: float) -> float:
        """Piecewise linear between measured sizes; linear past the largest (never decreasing);
        below the smallest measured size (or 1) its time: an execution costs at least that much."""
        sizes, secs = [b for b, _ in self.batch_seconds], [s for _, s in self.batch_seconds]
        batch = max(batch, 1.0)
        if batch <= sizes[0]:
            return secs[0]
        if len(sizes) == 1:  # one point: no batching gain assumed beyond it
            return secs[0] * batch / sizes[0]
        if batch > sizes[-1]:  # the last slope; noisy last points must not make larger batches cheaper
            slope = (secs[-1] - secs[-2]) / (sizes[-1] - sizes[-2])
            return secs[-1] + max(slope, 0.0) * (batch - sizes[-1])
        i = bisect.bisect_left(sizes, batch)
        return secs[i - 1] + (secs[i] - secs[i - 1]) * (batch - sizes[i - 1]) / (sizes[i] - sizes[i - 1])


@dataclass(frozen=True)
class Profiles:
    profiles: tuple[ComputeProfile, ...]

    def for_candidate(self, candidate: Candidate, cores: int) -> ComputeProfile:
        threads = candidate.intra_op_threads or cores
        mine = [p for p in self.profiles if p.variant == candidate.variant]
        if not mine:
            known = sorted({p.variant for p in self.profiles})
            raise ValueError(f"variant {candidate.variant!r} was not profiled (profiled: {known})")
        # The nearest profiled thread count (ties: fewer threads, the slower, cautious guess). Fine
        # because small-batch intra-op scaling is sub-linear and flat between nearby counts, the
        # tuner profiles the counts its space uses, and calibration corrects each variant's error.
        return min(mine, key=lambda p: (abs(p.threads - threads), p.threads))


@dataclass(frozen=True)
class Workload:
    mode: Literal["open", "closed"]
    level: float  # open: requests/s offered; closed: requests in flight
    shape_sharing: float  # P(two random requests have identical shapes): 1 fixed length, ~sum p_len^2 natural
    cores: int

    def __post_init__(self) -> None:
        if self.mode not in ("open", "closed") or not self.level > 0 or not 0 <= self.shape_sharing <= 1:
            raise ValueError(f"bad workload {self}")
        if self.cores < 1:
            raise ValueError("cores must be >= 1")


@dataclass(frozen=True)
class Prediction:
    inferences_per_s: float  # served (accepted) inferences per second
    p50_ms: float
    p99_ms: float  # inf: the queue grows without bound
    rejected_fraction: float
    utilization: float  # busy fraction of the instances
    batch_size: float  # mean executed batch, in inferences
    capacity_inferences_per_s: float  # at the predicted batch size
    service_ms: float  # one execution at that batch, slowdown included
    batching_delay_ms: float  # the batcher's wait for a batch to fill, idle instance
    slowdown: float  # oversubscription factor on each execution (1: none)


def erlang_c(servers: int, offered: float) -> float:
    """P(an arrival waits) in M/M/c with `offered` = lambda/mu (Erlang B recursion, then C)."""
    if offered >= servers:
        return 1.0
    b = 1.0
    for n in range(1, servers + 1):
        b = offered * b / (n + offered * b)
    rho = offered / servers
    return b / (1 - rho * (1 - b))


def predict(candidate: Candidate, profiles: Profiles, workload: Workload) -> Prediction:
    """The candidate's throughput, latency and rejections under `workload` (ValueError: variant not profiled)."""
    served = _Served.of(candidate, profiles.for_candidate(candidate, workload.cores), workload)
    return served.closed(workload.level) if workload.mode == "closed" else served.open(workload.level)


@dataclass(frozen=True)
class _Served:
    """One candidate on one host. Times in seconds, batches (m) in requests per execution."""

    profile: ComputeProfile
    k: int  # inferences per request
    c: int  # instances
    threads: int
    cores: int
    sharing: float
    cap: float  # most requests per execution
    target: float  # requests the batcher holds a batch for (from an idle instance)
    delay: float
    timeout: float  # inf: none
    size: float  # queue size, inf: unbounded

    @classmethod
    def of(cls, candidate: Candidate, profile: ComputeProfile, workload: Workload) -> _Served:
        k, batching, preferred = (
            candidate.client_batch_size,
            candidate.dynamic_batching,
            candidate.preferred_batch_sizes,
        )
        delay = candidate.max_queue_delay_us * 1e-6 if batching else 0.0
        # Most per execution: max_batch_size, or with delay 0 the largest preferred size (Triton then
        # sends a preferred batch at once; with a delay exceeded a batch may grow to the max).
        most = candidate.max_batch_size if delay or not preferred else max(preferred)
        cap = max(1.0, float(most // k)) if batching else 1.0
        # The batcher holds a batch until a preferred size (multiples of k) or, without one, the max;
        # a lone request goes at once when k itself is preferred.
        fits = [p // k for p in preferred if p % k == 0]
        queue = candidate.queue if batching else None
        return cls(
            profile, k, candidate.instance_count, candidate.intra_op_threads or workload.cores, workload.cores,
            workload.shape_sharing, cap, min(float(min(fits)), cap) if fits else cap, delay,
            queue.timeout_us * 1e-6 if queue and queue.timeout_us else math.inf,
            queue.max_queue_size if queue and queue.max_queue_size else math.inf,
        )  # fmt: skip

    def slowdown(self, busy: float) -> float:
        """Busy instances time-share the cores; the profile already holds one instance's own
        oversubscription (threads > cores), so only the excess over that counts."""
        over = max(1.0, busy * self.threads / self.cores) / max(1.0, self.threads / self.cores)
        return over + OVERSUBSCRIBED_LOSS * (over - 1)

    def seen_slowdown(self, busy: float) -> float:
        """The slowdown an execution sees when each other instance is busy w.p. `busy` (binomial)."""
        others, u = self.c - 1, min(max(busy, 0.0), 1.0)
        return sum(
            math.comb(others, j) * u**j * (1 - u) ** (others - j) * self.slowdown(1 + j) for j in range(others + 1)
        )

    def service(self, m: float, slow: float) -> float:
        return self.profile.seconds(m * self.k) * slow

    def followers(self, queued: float) -> float:
        """Requests merged behind a batch's first among `queued` waiting: Triton ends a batch at the
        first request of another shape, so the j-th joins with P ~ sharing^j (exact for equally likely
        lengths): natural lengths (0.05) add ~0.05 even with 16 queued (DESIGN §4 measured 1.07)."""
        s = self.sharing
        return queued if s >= 1 else s * (1 - s**queued) / (1 - s)

    def hold(self, rate: float) -> tuple[float, float]:
        """(longest, mean) time the batcher holds a batch started at an idle instance: until `target`
        compatible arrivals, at most the delay; a request of another shape sends it at once."""
        if not self.delay or self.target <= 1:
            return 0.0, 0.0
        s = self.sharing
        longest = min(self.delay, (self.target - 1) / (rate * s)) if rate * s > 0 else self.delay
        cut = rate * (1 - s)  # E[min(longest, Exp(cut))]
        return longest, longest if cut * longest < 1e-12 else (1 - math.exp(-cut * longest)) / cut

    def wait_scale(self, m: float, slow: float) -> float:
        """Allen-Cunneen for G/G/c over executions, without its 1/(1 - rho): (Ca^2 + Cs^2)/2 x S/c.
        A batch gathers m Poisson arrivals (Erlang-m gaps: Ca^2 = 1/m); an execution's time is fixed
        for a batch size, varying only with the batch (~Poisson: Var(m) = m - 1)."""
        svc = self.service(m, slow)
        cs2 = (self.service(m + 1, slow) - svc) ** 2 * (m - 1) / svc**2
        return (1 / m + cs2) / 2 * svc / self.c

    def result(
        self, rps: float, p50: float, p99: float, rejected: float, m: float, slow: float, seen: float, hold: float
    ) -> Prediction:
        capacity = self.c * m / self.service(m, slow)  # `slow` at full load, `seen` by one execution now
        jitter = TAIL_JITTER if self.c * self.threads > self.cores else 1.0
        return Prediction(
            inferences_per_s=rps * self.k, p50_ms=p50 * 1e3, p99_ms=p99 * jitter * 1e3, rejected_fraction=rejected,
            utilization=min(1.0, rps / capacity), batch_size=m * self.k, capacity_inferences_per_s=capacity * self.k,
            service_ms=self.service(m, seen) * 1e3, batching_delay_ms=hold * 1e3, slowdown=seen,
        )  # fmt: skip

    def closed(self, n: float) -> Prediction:
        """N in flight, N/c per instance: a batch takes the first and its compatible followers, the
        rest wait their turn (Little's law). An execution also waits the delay when its batch cannot
        reach the target and no other shape is queued to cut it short (all in flight already wait)."""
        per = max(n / self.c - 1, 0.0)
        m = min(self.cap, 1 + self.followers(per))
        hold = self.delay * self.sharing**per if self.delay and m < self.target else 0.0
        slow = self.slowdown(min(self.c, n))
        svc = self.service(m, slow)
        rps = min(n, self.c * m) / (svc + hold)
        # A bounded queue (its size, or as many as its timeout lets wait) turns the excess in flight
        # away; in a closed loop they come straight back, so this is only a rough share.
        queued = max(0.0, n - self.c * m)
        kept = min(queued, self.size, self.timeout * rps)
        mean = svc + hold + kept / rps
        # p99: with requests queued behind the running executions, one arriving just after an
        # instance took its batch waits one whole execution more than the mean.
        p99 = mean + (svc if kept > 0 else 0.0)
        return self.result(rps, mean, p99, (queued - kept) / n, m, slow, slow, hold)

    def open(self, lam: float) -> Prediction:
        longest, hold = self.hold(lam)

        def merged(m: float, slow: float) -> float:
            """Requests per execution if executions held m: a batch started at an idle instance takes
            what came during the hold; one that waited (P = Erlang C), what came during the wait."""
            offered = lam * self.service(m, slow) / m  # busy instances
            if offered >= self.c:  # the queue grows: the longest run of one shape, up to the cap
                return min(self.cap, 1 + self.followers(math.inf))
            waits = erlang_c(self.c, offered)
            given = self.wait_scale(m, slow) / (1 - offered / self.c)  # mean wait when waiting
            taken = (1 - waits) * self.followers(lam * longest) + waits * self.followers(lam * max(longest, given))
            return min(self.cap, 1 + taken)

        def batch(slow: float) -> float:
            """The self-consistent batch: bigger batches serve faster so fewer queue; bisect f(m) = m."""
            if merged(self.cap, slow) >= self.cap:
                return self.cap
            lo, hi = 1.0, self.cap
            for _ in range(_STEPS):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if merged(mid, slow) > mid else (lo, mid)
            return lo

        # Queueing as at full load (all instances busy: by work conservation that gives the right
        # capacity); an execution itself sees only the instances busy at this load (DESIGN §4: busy
        # instances x threads above the cores run slower).
        slow = self.slowdown(self.c)
        m = batch(slow)
        svc = self.service(m, slow)
        rho = lam * svc / (self.c * m)
        seen = self.seen_slowdown(rho)
        own = svc * seen / slow  # one execution's time at this load
        bound = min(self.timeout, self.size * svc / (self.c * m))  # longest wait: timeout or full queue drained
        if rho >= 1 and math.isinf(bound):  # the queue grows without bound
            return self.result(self.c * m / svc, math.inf, math.inf, 0.0, m, slow, slow, hold)
        rho = 1 - 1e-9 if abs(1 - rho) < 1e-9 else rho  # the formulas' limit at rho = 1
        waits = erlang_c(self.c, rho * self.c)
        decay = (1 - rho) / self.wait_scale(m, slow)  # the wait's exponential tail (< 0 past saturation)
        # Rejected: M/M/1+D's (deterministic patience) P(wait > bound) = (1-rho)T / (1 - rho T), with
        # T = P(wait > bound) of the unbounded queue, Erlang C in front (continued as rho past
        # saturation, as for one server): ~T well below saturation, -> 1 - 1/rho far above it.
        tail = (rho if rho > 1 else waits) * math.exp(-decay * bound) if math.isfinite(bound) else 0.0
        rejected = (1 - rho) * tail / (1 - rho * tail)
        p50 = max(_wait_quantile(0.5, waits, decay, bound), hold) + own
        p99 = max(_wait_quantile(0.99, waits, decay, bound), longest) + own
        return self.result(lam * (1 - rejected), p50, p99, rejected, m, slow, seen, hold)


def _wait_quantile(p: float, waits: float, decay: float, bound: float) -> float:
    """Quantile p of an accepted request's wait: none w.p. 1 - waits, else exponential at rate `decay`
    (negative past saturation: the queue sits near full), truncated at `bound`."""
    spread = 1 - math.exp(-decay * bound) if math.isfinite(bound) else 1.0  # P(0 < wait < bound | waits)
    idle = (1 - waits) / ((1 - waits) + waits * spread)
    if p <= idle:
        return 0.0
    within = (p - idle) / (1 - idle)  # the quantile among those that wait
    if abs(decay * bound) < 1e-9:  # a flat tail: uniform up to the bound
        return within * bound
    return -math.log(1 - within * spread) / decay
