"""Serving knobs (`add-model --knobs`, `--dry-run` so that nothing could be written): every number
within its protobuf field's range and the bounds a server survives, no type taken for another."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.harness import Case, check, params, write_files
from tests.reliability.onnx_file import with_onnx
from tests.reliability.samples import dumped

ADD = ("add-model", "model.onnx", "--name", "m", "--knobs", "knobs.yaml", "--dry-run")
BATCHING = {"max_batch_size": 16, "dynamic_batching": {}}


def knobs_case(case_id: str, knobs: dict[str, object], fragments: tuple[str, ...], readme: str = "") -> Case:
    setup = with_onnx(write_files({"knobs.yaml": dumped(knobs)}))
    return Case(f"knobs-{case_id}", ADD, ("knobs.yaml: invalid ServingKnobs", *fragments), setup=setup, readme=readme)


def batching(**fields: object) -> dict[str, object]:
    return {**BATCHING, "dynamic_batching": fields}


INT32 = 2**31
CASES = [
    knobs_case(
        "batch-negative",
        {"max_batch_size": -1},
        ("max_batch_size: Input should be greater than or equal to 0 (got -1)",),
    ),
    knobs_case(
        "batch-2-31",
        {"max_batch_size": INT32},
        ("max_batch_size: Input should be less than or equal to 2147483647",),
        readme="`max_batch_size: 2147483648` (beyond int32)",
    ),
    knobs_case(
        "batch-2-63", {"max_batch_size": 2**63}, ("max_batch_size: Input should be less than or equal to 2147483647",)
    ),
    knobs_case(
        "batch-a-bool",
        {"max_batch_size": True},
        ("max_batch_size: Input should be a valid integer", "(got True)"),
        readme="`max_batch_size: yes`",
    ),
    knobs_case("batch-a-fraction", {"max_batch_size": 8.5}, ("max_batch_size: Input should be a valid integer",)),
    knobs_case(
        "batch-a-string", {"max_batch_size": "8"}, ("max_batch_size: Input should be a valid integer", "(got '8')")
    ),
    knobs_case("batch-nan", {"max_batch_size": float("nan")}, ("max_batch_size: Input should be a valid integer",)),
    knobs_case("batching-without-batch", {"dynamic_batching": {}}, ("dynamic_batching needs max_batch_size > 0",)),
    knobs_case(
        "batching-a-list",
        {"max_batch_size": 8, "dynamic_batching": []},
        ("dynamic_batching: Input should be a valid dictionary",),
    ),
    knobs_case(
        "preferred-zero",
        batching(preferred_batch_sizes=[0]),
        ("dynamic_batching.preferred_batch_sizes.0: Input should be greater than 0",),
    ),
    knobs_case(
        "preferred-above-max",
        batching(preferred_batch_sizes=[32]),
        ("preferred_batch_sizes [32] exceed max_batch_size 16",),
    ),
    knobs_case(
        "preferred-2-31",
        batching(preferred_batch_sizes=[INT32]),
        ("preferred_batch_sizes.0: Input should be less than or equal to 2147483647",),
    ),
    knobs_case(
        "queue-delay-negative",
        batching(max_queue_delay_microseconds=-1),
        ("max_queue_delay_microseconds: Input should be greater than or equal to 0",),
    ),
    knobs_case(
        "queue-delay-2-64",
        batching(max_queue_delay_microseconds=2**64),
        ("max_queue_delay_microseconds: Input should be less than or equal to 9223372036854775807",),
    ),
    knobs_case(
        "priority-levels-2-64",
        batching(priority_levels=2**64),
        ("priority_levels: Input should be less than or equal to 9223372036854775807",),
    ),
    knobs_case(
        "priority-default-out-of-range",
        batching(priority_levels=2, default_priority_level=3),
        ("default_priority_level 3 must be within 1..priority_levels (2)",),
    ),
    knobs_case(
        "priority-with-ordering",
        batching(priority_levels=2, default_priority_level=1, preserve_ordering=True),
        ("preserve_ordering cannot be combined with priority_levels > 1",),
    ),
    knobs_case(
        "ordering-a-string",
        batching(preserve_ordering="no"),
        ("preserve_ordering: Input should be a valid boolean", "(got 'no')"),
    ),
    knobs_case(
        "queue-size-2-32",
        batching(queue_policy={"max_queue_size": 2**32}),
        ("queue_policy.max_queue_size: Input should be less than or equal to 4294967295",),
    ),
    knobs_case(
        "queue-timeout-negative",
        batching(queue_policy={"default_timeout_microseconds": -5}),
        ("default_timeout_microseconds: Input should be greater than or equal to 0",),
    ),
    knobs_case(
        "queue-action-unknown",
        batching(queue_policy={"timeout_action": "DROP"}),
        ("timeout_action: Input should be 'REJECT' or 'DELAY'",),
    ),
    knobs_case("instances-none", {"instance_groups": []}, ("instance_groups: Tuple should have at least 1 item",)),
    knobs_case(
        "instances-zero",
        {"instance_groups": [{"count": 0}]},
        ("instance_groups.0.count: Input should be greater than 0",),
    ),
    knobs_case(
        "instances-a-thousand",
        {"instance_groups": [{"count": 1000}]},
        ("instance_groups.0.count: Input should be less than or equal to 256",),
        readme="1000 model instances",
    ),
    knobs_case(
        "instances-kind-unknown",
        {"instance_groups": [{"kind": "KIND_TPU"}]},
        ("instance_groups.0.kind: Input should be 'KIND_CPU', 'KIND_GPU' or 'KIND_AUTO'",),
    ),
    knobs_case(
        "instances-gpus-for-cpu",
        {"instance_groups": [{"kind": "KIND_CPU", "gpus": [0]}]},
        ("gpus [0] given for KIND_CPU; only KIND_GPU takes gpus",),
    ),
    knobs_case(
        "instances-gpu-negative",
        {"instance_groups": [{"kind": "KIND_GPU", "gpus": [-1]}]},
        ("instance_groups.0.gpus.0: Input should be greater than or equal to 0",),
    ),
    knobs_case(
        "instances-a-mapping", {"instance_groups": {"count": 2}}, ("instance_groups: Input should be a valid tuple",)
    ),
    knobs_case(
        "threads-negative",
        {"onnxruntime": {"intra_op_thread_count": -1}},
        ("onnxruntime.intra_op_thread_count: Input should be greater than or equal to 0",),
    ),
    knobs_case(
        "threads-huge",
        {"onnxruntime": {"inter_op_thread_count": 10**6}},
        ("onnxruntime.inter_op_thread_count: Input should be less than or equal to 1024",),
    ),
    knobs_case(
        "graph-level-unknown",
        {"onnxruntime": {"graph_optimization_level": "max"}},
        ("graph_optimization_level: Input should be 'disabled', 'basic', 'extended' or 'all'",),
    ),
    knobs_case(
        "warmup-batch-zero",
        {"max_batch_size": 8, "warmup": {"batch_sizes": [0]}},
        ("warmup.batch_sizes.0: Input should be greater than 0",),
    ),
    knobs_case(
        "warmup-batch-above-max",
        {"max_batch_size": 8, "warmup": {"batch_sizes": [16]}},
        ("warmup batch_sizes [16] exceed max_batch_size 8",),
    ),
    knobs_case(
        "warmup-dim-2-40",
        {"warmup": {"dynamic_dim_size": 2**40}},
        ("warmup.dynamic_dim_size: Input should be less than or equal to 65536",),
        readme="a warmup dimension of 2**40",
    ),
    knobs_case("warmup-count-zero", {"warmup": {"count": 0}}, ("warmup.count: Input should be greater than 0",)),
    knobs_case(
        "warmup-count-huge", {"warmup": {"count": 10**9}}, ("warmup.count: Input should be less than or equal to 1000",)
    ),
    knobs_case(
        "versions-specific-without-versions",
        {"version_policy": {"policy": "specific"}},
        ("versions must be given exactly when policy is 'specific'",),
    ),
    knobs_case(
        "versions-zero",
        {"version_policy": {"policy": "specific", "versions": [0]}},
        ("version_policy.versions.0: Input should be greater than 0",),
    ),
    knobs_case(
        "versions-beyond-int64",
        {"version_policy": {"policy": "specific", "versions": [2**63]}},
        ("version_policy.versions.0: Input should be less than or equal to 9223372036854775807",),
    ),
    knobs_case(
        "versions-latest-zero",
        {"version_policy": {"num_versions": 0}},
        ("version_policy.num_versions: Input should be greater than 0",),
    ),
    knobs_case(
        "policy-unknown",
        {"version_policy": {"policy": "newest"}},
        ("version_policy.policy: Input should be 'latest', 'all' or 'specific'",),
    ),
    knobs_case(
        "cache-a-string", {"response_cache": "yes"}, ("response_cache: Input should be a valid boolean", "(got 'yes')")
    ),
    knobs_case("unknown-key", {"max_batch": 8}, ("max_batch: Extra inputs are not permitted (got 8)",)),
    knobs_case(
        "nested-unknown-key",
        batching(max_queue_delay_ms=5),
        ("dynamic_batching.max_queue_delay_ms: Extra inputs are not permitted",),
    ),
    knobs_case(
        "every-problem-at-once",
        {"max_batch_size": -1, "instance_groups": [{"count": 0}], "warmup": {"count": 0}},
        ("max_batch_size: Input should be greater", "instance_groups.0.count", "warmup.count"),
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_knobs_refused(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)
