from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from tritonkit.errors import InputError
from tritonkit.inputs import MAX_YAML_DEPTH, MAX_YAML_NODES, parse_yaml
from tritonkit.specs import (
    DynamicBatchingKnobs,
    InstanceGroupKnobs,
    RecipeSpec,
    ServingKnobs,
    TrafficSpec,
    VersionPolicyKnobs,
    load_targets,
    load_yaml,
)


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
    with pytest.raises(InputError, match=r"absent\.yaml: not found"):
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


# -- the bounded YAML reader ------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def yaml_error(tmp_path: Path, text: str, model: type[BaseModel] = ServingKnobs) -> str:
    path = tmp_path / "in.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as error:
        load_yaml(path, model)
    return str(error.value)


def test_the_shipped_files_load() -> None:
    assert len(load_targets(ROOT / "targets" / "minilm.yaml").targets) == 6
    assert load_yaml(ROOT / "k8s" / "traffic.yaml", TrafficSpec).peak_inferences_per_s == 300
    for recipe in (ROOT / "export").glob("*.yaml"):
        load_yaml(recipe, RecipeSpec)


def test_merge_keys_override_without_counting_as_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "knobs.yaml"
    path.write_text(
        "shared: &base {max_queue_delay_microseconds: 5, preserve_ordering: true}\n"
        "max_batch_size: 8\n"
        "dynamic_batching: {<<: *base, max_queue_delay_microseconds: 7}\n"
    )
    data = parse_yaml(path, "knobs")
    assert data == {
        "shared": {"max_queue_delay_microseconds": 5, "preserve_ordering": True},
        "max_batch_size": 8,
        "dynamic_batching": {"max_queue_delay_microseconds": 7, "preserve_ordering": True},
    }


def test_a_key_twice_in_one_mapping_is_named_with_its_lines(tmp_path: Path) -> None:
    message = yaml_error(tmp_path, "warmup:\n  count: 1\n  count: 2\n")
    assert message.endswith("in.yaml: duplicate key 'count' (lines 2 and 3): give each key once")


def test_aliases_are_fine_within_the_bound(tmp_path: Path) -> None:
    rows = "  - *g\n" * 50
    path = tmp_path / "in.yaml"
    path.write_text(f"anchor: &g {{kind: KIND_CPU, count: 1}}\nlist:\n{rows}")
    data = parse_yaml(path, "groups")
    assert isinstance(data, dict) and len(data["list"]) == 50


def test_alias_expansion_is_refused_beyond_the_bound(tmp_path: Path) -> None:
    # Four levels of ten aliases: 10^4 leaves, fine; six levels: 10^6 values, refused unexpanded.
    levels = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 7))
    message = yaml_error(tmp_path, "l0: &l0 x\n" + levels)
    assert f"expands to more than {MAX_YAML_NODES} values" in message


def test_nesting_is_bounded_once_aliases_are_expanded(tmp_path: Path) -> None:
    chain = "".join(f"n{i}: &n{i} [*n{i - 1}]\n" for i in range(1, 70))  # shallow text, deep value
    assert f"nested deeper than {MAX_YAML_DEPTH} levels once aliases are expanded" in yaml_error(
        tmp_path, "n0: &n0 x\n" + chain
    )


def test_messages_quote_bounded_excerpts(tmp_path: Path) -> None:
    message = yaml_error(tmp_path, f"max_batch_size: '{'9' * 100_000}'\n")
    assert "max_batch_size: Input should be a valid integer (got '9999" in message
    assert len(message) < 400


def test_numbers_keep_their_type(tmp_path: Path) -> None:
    for text, fragment in [
        ("max_batch_size: 8.0\n", "max_batch_size: Input should be a valid integer"),
        ("max_batch_size: true\n", "max_batch_size: Input should be a valid integer (got True)"),
        ("response_cache: 1\n", "response_cache: Input should be a valid boolean (got 1)"),
        ("max_batch_size: 2147483648\n", "max_batch_size: Input should be less than or equal to 2147483647"),
    ]:
        assert fragment in yaml_error(tmp_path, text)
    assert load_yaml(ROOT / "k8s" / "traffic.yaml", TrafficSpec).cold_start_s == 40.0  # an int is a real


def test_a_long_list_of_problems_is_cut_with_a_count(tmp_path: Path) -> None:
    groups = "".join("  - {count: 0}\n" for _ in range(30))
    message = yaml_error(tmp_path, f"instance_groups:\n{groups}")
    assert message.count("Input should be greater than 0") == 20 and message.endswith("  … and 10 more")
