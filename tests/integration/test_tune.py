"""Real tunes of a tiny model family on a real server: a few trials within a short budget write a
winner that validates and loads; no trial restarts the server; a candidate that fails to load is
recorded and the tune goes on; a resumed tune continues where the log stops."""

from __future__ import annotations

from pathlib import Path

import pytest

from tritonkit import onnx_builders
from tritonkit.specs import ServingKnobs, TargetsSpec
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model
from tritonkit.triton.server import LocalServer
from tritonkit.triton.validate import validate_path
from tritonkit.tune.log import TRIAL_LOG, read_trials
from tritonkit.tune.outputs import RECORD_FILE, TuneRecord
from tritonkit.tune.run import tune_targets
from tritonkit.tune.space import SpaceSpec

pytestmark = pytest.mark.integration

# 2 variants x 2 instance counts x 2 client batches x (no batcher + 2 sizes x 2 delays): 40 candidates
SPACE = SpaceSpec(
    max_batch_size=(8, 16), max_queue_delay_microseconds=(0, 2000), preferred_batch_sizes=((),), instances=(1, 2),
    intra_op_threads=(1,), oversubscribed=False, client_batch_sizes=(1, 4),
    screen={"warmup_s": 0.3, "window_s": 0.5, "windows": 2}, confirm={"warmup_s": 0.3, "window_s": 0.5, "windows": 4},
)  # fmt: skip
TIMING = {"warmup_s": 0.5, "window_s": 1.0, "duration_s": 2.0, "stable_windows": 2}
TARGETS = TargetsSpec.model_validate({
    "targets": [{
        "name": "pipeline", "model": "tiny_fp32", "load": {"mode": "closed", "concurrency": 4, **TIMING},
        "payload": {"kind": "random", "count": 16}, "slo": {"p99_ms": 2000},
    }],
})  # fmt: skip
MAX_TRIALS = 6


def tiny_family(root: Path) -> Path:
    """A repository of tiny_fp32 and tiny_int8_dynamic: the same graph shape, the 'int8' one lighter."""
    repository = root / "repository"
    for variant, hidden in (("fp32", 1024), ("int8_dynamic", 256)):
        onnx = onnx_builders.mlp(root / f"{variant}.onnx", features=128, hidden=hidden)
        config = model_config.build_config(f"tiny_{variant}", read_signature(onnx), ServingKnobs(max_batch_size=8))
        write_model(repository, config, onnx)
    return repository


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    return tiny_family(tmp_path)


def test_a_tune_on_a_running_server_writes_a_loadable_winner_without_restarting_it(
    repository: Path, tmp_path: Path
) -> None:
    lines: list[str] = []
    with LocalServer(repository, load_all=False) as server:
        pid = server.pid
        outcome = tune_targets(
            TARGETS, repository, SPACE, tmp_path / "tune" / TRIAL_LOG, max_trials=MAX_TRIALS,
            grpc_url=server.grpc_url, http_url=server.http_url, progress=lines.append,
        )  # fmt: skip
        assert server.running and server.pid == pid  # every trial was a reload, never a restart
        name = outcome.tuned["pipeline"]
        assert name == "tiny_tuned_pipeline"
        assert server.model_states()[name].state == "READY"
        server.verify(name)  # it serves exactly what was written
        for variant in ("tiny_fp32", "tiny_int8_dynamic"):
            if server.model_states().get(variant) and server.model_states()[variant].state == "READY":
                server.verify(variant)  # put back as written
    assert validate_path(repository / name) == []
    record = TuneRecord.model_validate_json((repository / name / RECORD_FILE).read_text())
    (tune,) = outcome.tunes
    assert tune.result.best is not None and record.candidate == tune.result.best.candidate
    assert record.figures == tune.result.best.figures and record.candidates == tune.candidates == 40
    assert len(tune.result.trials) <= MAX_TRIALS
    assert any("profiling tiny_fp32" in line for line in lines)
    assert any(f"{MAX_TRIALS}/{MAX_TRIALS}" in line or "/6 " in line for line in lines)


def test_a_failing_candidate_is_recorded_and_a_resumed_tune_continues_where_the_log_stops(
    repository: Path, tmp_path: Path
) -> None:
    # Every candidate with execution_mode 'fast' fails to load (the backend wants 0 or 1): the
    # validator cannot know, Triton refuses, the trial is a failure and the tune goes on.
    space = SpaceSpec.model_validate(
        SPACE.model_dump() | {"fields": [{"path": "parameters[execution_mode]", "values": ["0", "fast"]}]}
    )
    log = tmp_path / "tune" / TRIAL_LOG
    first = tune_targets(TARGETS, repository, space, log, max_trials=MAX_TRIALS, progress=lambda _: None)
    (tune,) = first.tunes
    assert tune.result.best is not None and first.tuned == {"pipeline": "tiny_tuned_pipeline"}
    _, profiles, trials = read_trials(log)
    assert profiles and trials
    failures = [t for t in trials if t.failed]
    assert all("did not load" in t.failure for t in failures)
    assert all(dict(t.candidate.fields)["parameters[execution_mode]"] == "fast" for t in failures)

    # An interrupted tune: the log lost its last trials (and half a line).
    kept = log.read_text().splitlines(keepends=True)
    header_and_profiles = 1 + len(profiles)
    cut = header_and_profiles + len(trials) // 2
    log.write_text("".join(kept[:cut]) + kept[cut][:40])
    resumed = tune_targets(TARGETS, repository, space, log, max_trials=MAX_TRIALS, resume=True, progress=lambda _: None)
    assert resumed.resumed == len(trials) // 2  # those were not measured again
    _, profiles_after, trials_after = read_trials(log)
    assert profiles_after == profiles  # nor were the profiles
    assert len(trials_after) >= len(trials) // 2 + 1
    assert resumed.tuned == {"pipeline": "tiny_tuned_pipeline"}
