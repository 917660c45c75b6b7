from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tritonkit.errors import InputError
from tritonkit.specs import DynamicBatchingKnobs, InstanceGroupKnobs, ServingKnobs, VersionPolicyKnobs, load_yaml


def test_preferred_batch_sizes_must_fit_max_batch_size() -> None:
    with pytest.raises(ValidationError, match=r"preferred_batch_sizes \[16\] exceed max_batch_size 8"):
        ServingKnobs(max_batch_size=8, dynamic_batching=DynamicBatchingKnobs(preferred_batch_sizes=(4, 16)))


def test_dynamic_batching_needs_batching() -> None:
    with pytest.raises(ValidationError, match="needs max_batch_size > 0"):
        ServingKnobs(max_batch_size=0, dynamic_batching=DynamicBatchingKnobs())


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: InstanceGroupKnobs(count=0), "greater than 0"),
        (lambda: InstanceGroupKnobs(kind="KIND_CPU", gpus=(0,)), "only KIND_GPU takes gpus"),
        (lambda: DynamicBatchingKnobs(priority_levels=2, default_priority_level=3), r"within 1..priority_levels"),
        (lambda: DynamicBatchingKnobs(default_priority_level=1), "needs priority_levels"),
        (lambda: VersionPolicyKnobs(policy="specific"), "exactly when policy is 'specific'"),
        (lambda: ServingKnobs(instance_groups=()), "at least 1 item"),
    ],
)
def test_invalid_knobs_are_rejected(build: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build()  # type: ignore[operator]


def test_load_yaml_reads_knobs(tmp_path: Path) -> None:
    path = tmp_path / "knobs.yaml"
    path.write_text(
        "max_batch_size: 16\n"
        "dynamic_batching:\n  preferred_batch_sizes: [8]\n  max_queue_delay_microseconds: 500\n"
        "instance_groups:\n  - count: 2\n"
    )
    knobs = load_yaml(path, ServingKnobs)
    assert knobs.dynamic_batching is not None and knobs.dynamic_batching.max_queue_delay_microseconds == 500
    assert knobs.instance_groups[0].count == 2


def test_load_yaml_names_the_file_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "knobs.yaml"
    path.write_text("max_batch_size: 16\ndynamic_batching:\n  max_queue_delay_ms: 5\n")
    with pytest.raises(InputError) as error:
        load_yaml(path, ServingKnobs)
    message = str(error.value)
    assert str(path) in message
    assert "dynamic_batching.max_queue_delay_ms: Extra inputs are not permitted (got 5)" in message


def test_load_yaml_reports_bad_yaml_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "knobs.yaml"
    path.write_text("max_batch_size: [\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_yaml(path, ServingKnobs)
    with pytest.raises(InputError, match="cannot read"):
        load_yaml(tmp_path / "absent.yaml", ServingKnobs)


@pytest.mark.parametrize(
    "knobs",
    [
        {"preserve_ordering": True, "priority_levels": 2, "default_priority_level": 1},
        {
            "preserve_ordering": True,
            "queue_policy": {"timeout_action": "DELAY", "default_timeout_microseconds": 1000},
        },
    ],
)
def test_orderings_triton_refuses_are_rejected(knobs: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="preserve_ordering cannot be combined"):
        DynamicBatchingKnobs.model_validate(knobs)
