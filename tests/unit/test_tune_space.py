"""The search space: enough valid candidates for the default model, each one a config the
validator accepts, no two alike, knobs and extra fields where they belong."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from tritonkit import onnx_builders
from tritonkit.errors import InputError
from tritonkit.specs import CPU_VARIANTS, ServingKnobs
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model
from tritonkit.triton.validate import validate_model
from tritonkit.tune.candidate import Candidate, QueuePolicy
from tritonkit.tune.fields import field_problem, set_field
from tritonkit.tune.space import FieldDimension, SpaceSpec, candidates, resource_pairs

MINILM_CONFIG = Path(__file__).parents[2] / "model_repository" / "minilm_fp32" / "config.pbtxt"


@pytest.mark.parametrize("open_loop", [True, False])
def test_the_default_space_has_hundreds_of_candidates_for_the_default_model(open_loop: bool) -> None:
    found = candidates(SpaceSpec(), ["fp32", "int8_dynamic"], cores=2, open_loop=open_loop)
    assert len(found) >= 300
    assert len({c.key() for c in found}) == len(found)
    everything = candidates(SpaceSpec(), list(CPU_VARIANTS), cores=2, open_loop=open_loop)
    assert len(everything) == len(found) * len(CPU_VARIANTS) // 2


def test_every_default_candidate_is_a_config_the_validator_accepts(tmp_path: Path) -> None:
    onnx = onnx_builders.mlp(tmp_path / "mlp.onnx")
    base = model_config.build_config("mlp_fp32", read_signature(onnx), ServingKnobs(max_batch_size=8))
    directory = write_model(tmp_path / "repository", base, onnx)
    space = candidates(SpaceSpec(), ["fp32"], cores=2, open_loop=True)
    space += candidates(SpaceSpec(), ["fp32"], cores=2, open_loop=False)
    invalid = {c.describe(): validate_model(directory, c.config(base, 16)) for c in space}
    assert {k: v for k, v in invalid.items() if v} == {}


def test_minilm_io_takes_the_candidates_knobs() -> None:
    base = model_config.read_config(MINILM_CONFIG)
    candidate = Candidate("fp32", 32, True, 2000, (8, 16), 2, 1, QueuePolicy(8, 30_000))
    config = candidate.config(base, 32)
    assert [i.name for i in config.input] == ["input_ids", "attention_mask"]
    assert config.max_batch_size == 32
    assert list(config.dynamic_batching.preferred_batch_size) == [8, 16]
    assert config.dynamic_batching.max_queue_delay_microseconds == 2000
    assert config.dynamic_batching.default_queue_policy.max_queue_size == 8
    assert config.dynamic_batching.default_queue_policy.default_timeout_microseconds == 30_000
    assert config.instance_group[0].count == 2
    assert config.parameters["intra_op_thread_count"].string_value == "1"
    assert {w.batch_size for w in config.model_warmup} == {1, 32}
    assert all(list(w.inputs["input_ids"].dims) == [32] for w in config.model_warmup)


def test_a_candidate_without_the_batcher_has_no_batcher_settings() -> None:
    for candidate in candidates(SpaceSpec(), ["fp32"], cores=2, open_loop=True):
        if not candidate.dynamic_batching:
            assert (candidate.max_queue_delay_us, candidate.preferred_batch_sizes, candidate.queue) == (0, (), None)
        if candidate.max_queue_delay_us == 0:
            assert candidate.preferred_batch_sizes == ()  # never waited for: the same config as none
        assert all(p <= candidate.max_batch_size for p in candidate.preferred_batch_sizes)


def test_queue_policies_vary_for_open_loops_client_batches_for_closed_ones() -> None:
    chat = candidates(SpaceSpec(), ["fp32"], cores=2, open_loop=True)
    pipeline = candidates(SpaceSpec(), ["fp32"], cores=2, open_loop=False)
    assert {c.client_batch_size for c in chat} == {1}
    assert {c.queue for c in chat} == {None, QueuePolicy(8, 30_000), QueuePolicy(32, 100_000)}
    assert {c.queue for c in pipeline} == {None}
    assert {c.client_batch_size for c in pipeline} == {1, 8, 32}
    assert all(c.max_batch_size >= c.client_batch_size for c in pipeline)


def test_instances_times_threads_stay_within_the_cores_but_for_one_oversubscribed_pair() -> None:
    assert resource_pairs(SpaceSpec(), cores=2) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert resource_pairs(SpaceSpec(oversubscribed=False), cores=2) == [(1, 1), (1, 2), (2, 1)]
    assert resource_pairs(SpaceSpec(intra_op_threads=(0,)), cores=4) == [(1, 0), (2, 0)]


def test_a_config_field_is_a_dimension() -> None:
    space = SpaceSpec(
        max_batch_size=(8,), max_queue_delay_microseconds=(0,), instances=(1,), intra_op_threads=(1,),
        queue_policies=({},), fields=({"path": "optimization.graph.level", "values": [-1, 1]},
                                       {"path": "dynamic_batching.preserve_ordering", "values": [True]}),
    )  # fmt: skip
    found = candidates(space, ["fp32"], cores=2, open_loop=True)
    # batching off and on, each at both graph levels; preserve_ordering only where the batcher is
    assert len(found) == 4
    base = model_config.read_config(MINILM_CONFIG)
    for candidate in found:
        config = candidate.config(base, 16)
        assert config.optimization.graph.level in (-1, 1)
        assert config.HasField("dynamic_batching") == candidate.dynamic_batching
        assert config.dynamic_batching.preserve_ordering == candidate.dynamic_batching


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        ("optimization.graph.level", "fast", "takes an integer"),
        ("dynamic_batching.preserve_ordering", 1, "true or false"),
        ("optimization.cuda", True, "is a message"),
        ("response_cache.enable", True, "changes what the load measures"),
        ("sequence_batching.max_sequence_idle_microseconds", 1000, "changes what the load measures"),
        ("optimization.priority", 99, "takes one of PRIORITY_DEFAULT"),
        ("dynamic_batching.priority_queue_policy[x].max_queue_size", 4, "changes what the load measures"),
        ("model_operations.op_library_filename", "x", "repeated field"),
        ("nope", 1, "no field 'nope'"),
        ("max_batch_size", 4, "built-in dimension"),
        ("name", "other", "identity"),
        ("parameters[intra_op_thread_count]", "4", "built-in dimension"),
        ("optimization.priority", "PRIORITY_LATER", "takes one of PRIORITY_DEFAULT, PRIORITY_MAX, PRIORITY_MIN"),
        ("optimization.graph.level", 2**40, "within int32"),
        ("optimization.graph.level", 2**70, "int64"),
    ],
)
def test_a_field_that_does_not_fit_the_schema_is_refused(path: str, value: object, problem: str) -> None:
    found = field_problem(path, value)  # type: ignore[arg-type]
    assert found is not None and problem in found
    with pytest.raises(ValidationError, match=problem.split("'")[0]):
        FieldDimension(path=path, values=(value,))  # type: ignore[arg-type]


def test_a_map_entry_is_set_as_its_string_value() -> None:
    config = model_config.read_config(MINILM_CONFIG)
    set_field(config, "parameters[enable_mem_pattern]", False)
    set_field(config, "dynamic_batching.default_queue_policy.timeout_action", "DELAY")
    assert config.parameters["enable_mem_pattern"].string_value == "false"
    assert config.dynamic_batching.default_queue_policy.timeout_action == 1


def test_the_digest_changes_with_the_space() -> None:
    assert SpaceSpec().digest() == SpaceSpec().digest()
    assert SpaceSpec().digest() != SpaceSpec(max_batch_size=(8,)).digest()


def test_trial_windows_lengthen_at_low_rates_until_they_hold_enough_requests() -> None:
    screen = SpaceSpec().screen
    assert screen.load_fields(None) == {"warmup_s": 1.0, "window_s": 1.0, "duration_s": 3.0, "stable_windows": 3}
    assert screen.load_fields(400.0)["duration_s"] == 3.0  # 1200 requests already
    slow = screen.load_fields(20.0)  # 200 requests at 20/s: 10 s
    assert slow["duration_s"] == pytest.approx(10.0) and slow["window_s"] == pytest.approx(10.0 / 3)
    assert screen.load_fields(0.01)["duration_s"] == 600.0  # bounded


@pytest.mark.parametrize(
    ("space", "problem"),
    [
        ({"max_batch_size": [8, 16, 8]}, "values given twice: [8]"),
        ({"fields": [{"path": "optimization.graph.level", "values": [1]},
                     {"path": "optimization.graph.level", "values": [2]}]}, "path given twice"),
        ({"fields": [{"path": f"parameters[p{i}]", "values": list(range(64))} for i in range(6)]}, "combinations"),
        ({"screen": {"warmup_s": True, "window_s": 1, "windows": 3}}, "warmup_s"),
        ({"confirm": {"warmup_s": 1, "window_s": 60, "windows": 100}}, "at most 600 s a trial"),
        ({"max_batch_size": [2**31 - 1]}, "less than or equal to 4096"),
        ({"max_queue_delay_microseconds": [2**63 - 1]}, "less than or equal to 10000000"),
    ],
)  # fmt: skip
def test_a_space_is_bounded_before_it_is_expanded(space: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(problem)):
        SpaceSpec.model_validate(space)


def test_an_empty_space_says_which_dimension_emptied_it() -> None:
    with pytest.raises(InputError, match="no instances x intra_op_threads pair fits 2 cores"):
        candidates(SpaceSpec(instances=(4,), intra_op_threads=(4,), oversubscribed=False), ["fp32"], 2, open_loop=True)
    with pytest.raises(InputError, match="every client_batch_sizes value is above every max_batch_size"):
        candidates(SpaceSpec(max_batch_size=(8,), client_batch_sizes=(16,)), ["fp32"], 2, open_loop=False)


def test_the_readmes_example_space_is_a_valid_space_and_its_defaults() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    start = readme.index("```yaml", readme.index("**The search space**")) + len("```yaml")
    example = yaml.safe_load(readme[start : readme.index("```", start)])
    space = SpaceSpec.model_validate(example)
    assert space.model_dump(exclude={"fields"}) == SpaceSpec().model_dump(exclude={"fields"})  # it shows the defaults


def test_token_buckets_vary_only_for_text_targets_at_natural_lengths() -> None:
    """A text target sending token ids at each sentence's own length gets each candidate twice: as
    it sends (no buckets) and padded to the default buckets, cut at its sequence_length; any other
    target keeps its payload, and its candidates keep the keys they had before buckets existed."""
    plain = candidates(SpaceSpec(), ["fp32"], cores=2, open_loop=True)
    text = candidates(SpaceSpec(), ["fp32"], cores=2, open_loop=True, longest_tokens=40)
    assert {c.buckets for c in plain} == {()}
    assert {c.buckets for c in text} == {(), (16, 32, 40)}
    assert len(text) == 2 * len(plain)
    assert {c.key() for c in plain} <= {c.key() for c in text}
    bucketed = next(c for c in text if c.buckets)
    assert "padded to buckets [16, 32, 40]" in bucketed.describe()
    assert Candidate("fp32", 8, False, 0, (), 1, 1, None).key() == Candidate("fp32", 8, False, 0, (), 1, 1, None,
                                                                             buckets=()).key()  # fmt: skip


def test_a_trial_sends_its_candidates_buckets() -> None:
    from tritonkit.specs import TargetSpec
    from tritonkit.tune.driver import natural_lengths, trial_target

    target = TargetSpec.model_validate({
        "name": "chat", "model": "m_fp32", "load": {"mode": "open", "rate_per_s": 50},
        "payload": {"kind": "tokens", "texts": "texts.txt", "sequence_length": 40}, "slo": {"p99_ms": 100},
    })  # fmt: skip
    assert natural_lengths(target) == 40
    timing = {"warmup_s": 1.0, "window_s": 1.0, "duration_s": 3.0, "stable_windows": 3}
    probe = trial_target(target, "m_int8", 1, timing, buckets=(16, 32, 40))
    assert probe.payload.model_dump(include={"lengths", "buckets"}) == {"lengths": "buckets", "buckets": (16, 32, 40)}
    assert trial_target(target, "m_int8", 1, timing).payload.lengths == "texts"
    bucketed = target.model_copy(update={"payload": probe.payload})
    assert natural_lengths(bucketed) is None  # already padded: no buckets to search
