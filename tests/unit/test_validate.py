"""validate_path on tiny repositories: generated configs are valid, and every check names its field."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.grpc.model_config_pb2 import ModelConfig

from tritonkit import onnx_builders
from tritonkit.specs import (
    DynamicBatchingKnobs,
    InstanceGroupKnobs,
    OnnxRuntimeKnobs,
    QueuePolicyKnobs,
    ServingKnobs,
    VersionPolicyKnobs,
    WarmupKnobs,
)
from tritonkit.triton import model_config, profiles
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.validate import Problem, validate_path

Edit = Callable[[ModelConfig], object]

BATCHED = ServingKnobs(
    max_batch_size=8,
    dynamic_batching=DynamicBatchingKnobs(
        preferred_batch_sizes=(4, 8), max_queue_delay_microseconds=100, priority_levels=2, default_priority_level=1
    ),
    instance_groups=(InstanceGroupKnobs(kind="KIND_CPU", count=2),),
    onnxruntime=OnnxRuntimeKnobs(intra_op_thread_count=1, inter_op_thread_count=1),
    warmup=WarmupKnobs(batch_sizes=(1, 8)),
)
UNBATCHED = ServingKnobs(warmup=WarmupKnobs())

PYTHON_CONFIG = """
name: "pre"
backend: "python"
max_batch_size: 8
input [{ name: "IN", data_type: TYPE_FP32, dims: [ 4 ] },
       { name: "SCALE", data_type: TYPE_FP32, dims: [ 1 ], reshape: { shape: [ ] } }]
output [{ name: "OUT", data_type: TYPE_FP32, dims: [ 4 ] }]
instance_group [{ kind: KIND_CPU, count: 1 }]
"""

PYTHON_MODEL = "class TritonPythonModel: ...\n"

ENSEMBLE_CONFIG = """
name: "ens"
platform: "ensemble"
max_batch_size: 8
input [{ name: "raw", data_type: TYPE_FP32, dims: [ 4 ] }, { name: "scale", data_type: TYPE_FP32, dims: [ 1 ] }]
output [{ name: "scores", data_type: TYPE_FP32, dims: [ 2 ] }]
ensemble_scheduling { step [
  { model_name: "pre", model_version: -1,
    input_map { key: "IN", value: "raw" }, input_map { key: "SCALE", value: "scale" },
    output_map { key: "OUT", value: "features" } },
  { model_name: "m", model_version: -1,
    input_map { key: "x", value: "features" }, output_map { key: "logits", value: "scores" } }
] }
"""

SEQUENCE_CONFIG = """
name: "seq"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [{ name: "x", data_type: TYPE_FP32, dims: [ 4 ] }]
output [{ name: "y", data_type: TYPE_FP32, dims: [ 4 ] }]
sequence_batching {
  max_sequence_idle_microseconds: 5000000
  oldest { max_candidate_sequences: 4 }
  control_input [
    { name: "START", control [{ kind: CONTROL_SEQUENCE_START, int32_false_true: [ 0, 1 ] }] },
    { name: "CORRID", control [{ kind: CONTROL_SEQUENCE_CORRID, data_type: TYPE_UINT64 }] }
  ]
  state [{ input_name: "state_in", output_name: "state_out", data_type: TYPE_FP32, dims: [ 4 ] }]
}
model_warmup [{ name: "start", batch_size: 1,
  inputs { key: "x", value: { data_type: TYPE_FP32, dims: [ 4 ], zero_data: true } },
  inputs { key: "START", value: { data_type: TYPE_INT32, dims: [ 1 ], zero_data: true } } }]
"""


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """x[batch, 4] -> MatMul/Add/Relu/MatMul/Add -> logits[batch, 2], probabilities[batch, 2]."""
    return onnx_builders.mlp(tmp_path_factory.mktemp("onnx") / "mlp.onnx", features=4, hidden=8, classes=2)


@pytest.fixture(scope="module")
def fixed_batch_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "fixed.onnx"
    return onnx_builders.mlp(path, features=4, hidden=8, classes=2, batch_dynamic=False)


@pytest.fixture(scope="module")
def sequence_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stateful graph: besides x it takes the START/CORRID controls and a state, as Triton feeds them."""
    inputs = [("x", TensorProto.FLOAT, 4), ("START", TensorProto.INT32, 1), ("CORRID", TensorProto.UINT64, 1)]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"]), helper.make_node("Identity", ["state_in"], ["state_out"])],
        "sequence",
        [helper.make_tensor_value_info(name, elem, ["batch", size]) for name, elem, size in inputs]
        + [helper.make_tensor_value_info("state_in", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 4]) for name in ("y", "state_out")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("onnx") / "sequence.onnx"
    onnx.save(model, str(path))
    return path


def _onnx_config(onnx_file: Path, knobs: ServingKnobs = BATCHED) -> ModelConfig:
    return model_config.build_config("m", read_signature(onnx_file), knobs)


def _write(repo: Path, name: str, config: ModelConfig | str, files: dict[str, Path | str]) -> Path:
    """A model directory; a `files` key ending in "/" is an empty directory, a Path value is copied."""
    directory = repo / name
    directory.mkdir(parents=True)
    text = config if isinstance(config, str) else model_config.render(config)
    (directory / "config.pbtxt").write_text(text)
    for relative, content in files.items():
        target = directory / relative
        if relative.endswith("/"):
            target.mkdir(parents=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_text(content)
    return directory


def _edited(text: str, edit: Edit) -> ModelConfig:
    config = model_config.parse(text)
    edit(config)
    return config


def _only(problems: list[Problem], field: str, value: str, expected: str) -> Problem:
    assert [(p.field, p.value) for p in problems] == [(field, value)], problems
    assert expected in problems[0].expected, problems[0]
    return problems[0]


@pytest.fixture
def valid_repo(tmp_path: Path, tiny_onnx: Path, sequence_onnx: Path) -> Path:
    repo = tmp_path / "model_repository"
    _write(repo, "m", _onnx_config(tiny_onnx), {"1/model.onnx": tiny_onnx})
    _write(repo, "pre", PYTHON_CONFIG, {"1/model.py": PYTHON_MODEL})
    _write(repo, "ens", ENSEMBLE_CONFIG, {"1/": ""})
    _write(repo, "seq", SEQUENCE_CONFIG, {"1/model.onnx": sequence_onnx})
    (repo / ".staging").mkdir()  # hidden directories are not models
    return repo


def test_valid_repository_has_no_problems(valid_repo: Path) -> None:
    assert validate_path(valid_repo) == []
    for model in ("m", "pre", "ens", "seq"):
        assert validate_path(valid_repo / model) == []


@pytest.mark.parametrize(
    "knobs",
    [
        BATCHED,
        UNBATCHED,
        ServingKnobs(version_policy=VersionPolicyKnobs(policy="specific", versions=(1,))),
        *profiles.PROFILES.values(),
    ],
)
def test_generated_configs_are_valid(tmp_path: Path, tiny_onnx: Path, knobs: ServingKnobs) -> None:
    _write(tmp_path, "m", _onnx_config(tiny_onnx, knobs), {"1/model.onnx": tiny_onnx})
    assert validate_path(tmp_path) == []


def test_problem_names_file_field_value_and_expectation(tmp_path: Path, tiny_onnx: Path) -> None:
    config = _onnx_config(tiny_onnx)
    config.dynamic_batching.preferred_batch_size.append(128)
    _write(tmp_path, "m", config, {"1/model.onnx": tiny_onnx})
    (problem,) = validate_path(tmp_path)
    assert str(problem) == (
        f"{tmp_path}/m/config.pbtxt: dynamic_batching.preferred_batch_size[2] = 128: expected <= max_batch_size (8)"
    )


# ---- repository layout -------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    (problem,) = validate_path(tmp_path / "nowhere")
    assert (problem.file, problem.field, problem.value) == (tmp_path / "nowhere", "<path>", "missing")


def test_a_file_is_not_a_repository(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    _only(validate_path(tmp_path / "f"), "<path>", "not a directory", "a model repository")


def test_empty_repository(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    _only(validate_path(tmp_path), "<repository>", "empty", "at least one model directory")


def test_model_directory_without_config(tmp_path: Path) -> None:
    (tmp_path / "m" / "1").mkdir(parents=True)
    problem = _only(validate_path(tmp_path), "<file>", "missing", "config.pbtxt in every model directory")
    assert problem.file == tmp_path / "m" / "config.pbtxt"


@pytest.mark.parametrize("version", [None, "v1"])
def test_no_numeric_version_directory(tmp_path: Path, tiny_onnx: Path, version: str | None) -> None:
    files: dict[str, Path | str] = {f"{version}/model.onnx": tiny_onnx} if version else {}
    _write(tmp_path, "m", _onnx_config(tiny_onnx), files)
    problem = _only(validate_path(tmp_path), "<versions>", "none", "a numeric version directory")
    assert problem.file == tmp_path / "m"


def test_ensemble_needs_a_version_directory_too(valid_repo: Path) -> None:
    (valid_repo / "ens" / "1").rmdir()
    _only(validate_path(valid_repo / "ens"), "<versions>", "none", "a numeric version directory")


@pytest.mark.parametrize(
    ("identity", "filename"),
    [
        ('platform: "onnxruntime_onnx"', "model.onnx"),
        ('backend: "onnxruntime"', "model.onnx"),
        ('platform: "tensorrt_plan"', "model.plan"),
        ('platform: "pytorch_libtorch"', "model.pt"),
        ('platform: "tensorflow_savedmodel"', "model.savedmodel"),
        ('platform: "tensorflow_graphdef"', "model.graphdef"),
        ('backend: "python"', "model.py"),
    ],
)
def test_missing_model_file(tmp_path: Path, identity: str, filename: str) -> None:
    text = f'{identity}\ninput {{ name: "x" data_type: TYPE_FP32 dims: 4 }}'
    _write(tmp_path, "m", text, {"1/": ""})
    problem = _only(validate_path(tmp_path), "<model file>", "missing", f"{filename} in every version directory")
    assert problem.file == tmp_path / "m" / "1" / filename


def test_model_file_of_a_savedmodel_is_a_directory(tmp_path: Path) -> None:
    _write(tmp_path, "m", 'platform: "tensorflow_savedmodel"', {"1/model.savedmodel/": ""})
    assert validate_path(tmp_path) == []


def test_default_model_filename(tmp_path: Path, tiny_onnx: Path) -> None:
    config = _onnx_config(tiny_onnx)
    config.default_model_filename = "net.onnx"
    _write(tmp_path, "m", config, {"1/model.onnx": tiny_onnx})
    problem = _only(validate_path(tmp_path), "default_model_filename", "missing", "net.onnx")
    assert problem.file == tmp_path / "m" / "1" / "net.onnx"
    shutil.copyfile(tiny_onnx, tmp_path / "m" / "1" / "net.onnx")
    assert validate_path(tmp_path) == []


def test_only_served_versions_need_a_model_file(tmp_path: Path, tiny_onnx: Path) -> None:
    # The default policy serves the latest version only: version 1 being incomplete does not matter.
    _write(tmp_path, "m", _onnx_config(tiny_onnx), {"1/": "", "2/model.onnx": tiny_onnx})
    assert validate_path(tmp_path) == []


def test_a_custom_backend_may_name_any_platform(tmp_path: Path, tiny_onnx: Path) -> None:
    config = _onnx_config(tiny_onnx)
    config.backend = "my_onnx_runner"
    _write(tmp_path, "m", config, {"1/model.onnx": tiny_onnx})
    assert validate_path(tmp_path) == []


def test_unknown_backend_skips_the_model_file_check(tmp_path: Path) -> None:
    _write(tmp_path, "m", 'backend: "my_backend"\ninput { name: "x" data_type: TYPE_FP32 dims: 4 }', {"1/": ""})
    assert validate_path(tmp_path) == []


def test_unreadable_onnx_graph(tmp_path: Path, tiny_onnx: Path) -> None:
    _write(tmp_path, "m", _onnx_config(tiny_onnx), {"1/model.onnx": "not a protobuf"})
    (problem,) = validate_path(tmp_path)
    assert (problem.file, problem.field) == (tmp_path / "m" / "1" / "model.onnx", "<graph>")
    assert "not a readable ONNX model" in problem.value


# ---- parsing -----------------------------------------------------------------------------------


def test_syntax_error(tmp_path: Path) -> None:
    _write(tmp_path, "m", 'name: "m"\nmax_batch_size: eight\n', {"1/": ""})
    (problem,) = validate_path(tmp_path)
    assert (problem.field, problem.expected) == ("<syntax>", "a ModelConfig in protobuf text format")
    assert problem.value.startswith("2:")


def test_two_schedulers(tmp_path: Path) -> None:
    _write(
        tmp_path, "m", 'backend: "python"\ndynamic_batching {}\nsequence_batching {}\n', {"1/model.py": PYTHON_MODEL}
    )
    _only(
        validate_path(tmp_path),
        "scheduling_choice",
        "dynamic_batching and sequence_batching (at 3:1)",
        "one scheduler at most",
    )


# ---- the config of an ONNX model, alone and against its graph ----------------------------------


def _set(path: str, value: object) -> Edit:
    """An edit that sets a (dotted, indexable) field, e.g. _set("input[0].dims[0]", 5)."""

    def edit(config: ModelConfig) -> None:
        *parents, last = path.split(".")
        target: object = config
        for part in parents:
            name, _, index = part.partition("[")
            target = getattr(target, name)
            if index:
                target = target[int(index.rstrip("]"))]  # type: ignore[index]
        name, _, index = last.partition("[")
        if index:
            getattr(target, name)[int(index.rstrip("]"))] = value
        else:
            setattr(target, name, value)

    return edit


@pytest.mark.parametrize(
    ("knobs", "edit", "field", "value", "expected"),
    [
        (BATCHED, _set("name", "other"), "name", "'other'", "'m', the directory's name"),
        (BATCHED, lambda c: c.ClearField("platform"), "platform", '""', "a platform or a backend"),
        (BATCHED, _set("platform", "onnx"), "platform", "'onnx'", "one of ['ensemble', 'onnxruntime_onnx'"),
        (BATCHED, _set("backend", "tensorrt"), "backend", "'tensorrt'", "'onnxruntime' for platform"),
        (
            BATCHED,
            lambda c: c.MergeFrom(ModelConfig(platform="onnx", backend="onnxruntime")),
            "platform",
            "'onnx'",
            "one of",
        ),
        (UNBATCHED, _set("max_batch_size", -1), "max_batch_size", "-1", ">= 0"),
        (
            BATCHED,
            lambda c: c.version_policy.specific.versions.extend([1, 3]),
            "version_policy.specific.versions[1]",
            "3",
            "an existing version ([1])",
        ),
        # against the graph
        (
            BATCHED,
            _set("output[0].name", "nope"),
            "output[0] 'nope'.name",
            "'nope'",
            "one of the graph's outputs ['logits', 'probabilities']",
        ),
        (
            BATCHED,
            _set("output[0].data_type", mc.TYPE_FP16),
            "output[0] 'logits'.data_type",
            "TYPE_FP16",
            "TYPE_FP32, the graph",
        ),
        (
            BATCHED,
            lambda c: c.output[1].dims.append(1),
            "output[1] 'probabilities'.dims",
            "[2, 1]",
            "rank 1, like the graph's",
        ),
        (
            BATCHED,
            _set("output[0].dims[0]", 3),
            "output[0] 'logits'.dims[0]",
            "3",
            "2, the graph's dim after the batch dim",
        ),
        (BATCHED, _set("output[0].dims[0]", -1), "output[0] 'logits'.dims[0]", "-1", "2, the graph's dim"),
        (UNBATCHED, _set("output[0].dims[1]", 3), "output[0] 'logits'.dims[1]", "3", "2, the graph's dim"),
        (
            BATCHED,
            lambda c: c.output[0].reshape.shape.extend([1, 2]),
            "output[0] 'logits'.reshape.shape",
            "[1, 2]",
            "rank 1",
        ),
        (
            ServingKnobs(max_batch_size=8),
            lambda c: c.ClearField("input"),
            "input",
            "no entry for graph input 'x'",
            "ONNX Runtime needs every input fed",
        ),
        # dynamic batching
        (
            UNBATCHED,
            lambda c: c.dynamic_batching.SetInParent(),
            "max_batch_size",
            "0",
            "> 0: dynamic_batching needs a model that batches",
        ),
        (
            BATCHED,
            lambda c: c.dynamic_batching.preferred_batch_size.append(0),
            "dynamic_batching.preferred_batch_size[2]",
            "0",
            ">= 1",
        ),
        (
            BATCHED,
            _set("dynamic_batching.default_priority_level", 3),
            "dynamic_batching.default_priority_level",
            "3",
            "within 1..priority_levels (2)",
        ),
        (
            BATCHED,
            _set("dynamic_batching.default_priority_level", 0),
            "dynamic_batching.default_priority_level",
            "0",
            "within 1..priority_levels (2)",
        ),
        (
            ServingKnobs(max_batch_size=8, dynamic_batching=DynamicBatchingKnobs()),
            _set("dynamic_batching.default_priority_level", 1),
            "dynamic_batching.default_priority_level",
            "1",
            "0: priority_levels is 0",
        ),
        (
            BATCHED,
            lambda c: c.dynamic_batching.priority_queue_policy[3].SetInParent(),
            "dynamic_batching.priority_queue_policy[3]",
            "3",
            "within 1..priority_levels (2)",
        ),
        (
            BATCHED,
            _set("dynamic_batching.preserve_ordering", True),
            "dynamic_batching.priority_levels",
            "2",
            "at most 1 while preserve_ordering is true",
        ),
        (
            ServingKnobs(
                max_batch_size=8,
                dynamic_batching=DynamicBatchingKnobs(
                    queue_policy=QueuePolicyKnobs(default_timeout_microseconds=100, timeout_action="DELAY")
                ),
            ),
            _set("dynamic_batching.preserve_ordering", True),
            "dynamic_batching.default_queue_policy.timeout_action",
            "DELAY",
            "REJECT (or no timeout) while preserve_ordering is true",
        ),
        # instance groups
        (BATCHED, _set("instance_group[0].count", -1), "instance_group[0].count", "-1", ">= 1 (0 or omitted"),
        (
            BATCHED,
            lambda c: c.instance_group[0].gpus.append(0),
            "instance_group[0].gpus",
            "[0]",
            "no gpus for KIND_CPU",
        ),
        (
            BATCHED,
            lambda c: c.instance_group.add(kind=mc.ModelInstanceGroup.KIND_MODEL, gpus=[1]),
            "instance_group[1].gpus",
            "[1]",
            "no gpus for KIND_MODEL",
        ),
        (
            BATCHED,
            lambda c: c.instance_group.add(kind=mc.ModelInstanceGroup.KIND_GPU, gpus=[0, -1]),
            "instance_group[1].gpus[1]",
            "-1",
            ">= 0",
        ),
        # warmup
        (BATCHED, _set("model_warmup[0].name", ""), "model_warmup[0].name", '""', "a name"),
        (
            BATCHED,
            _set("model_warmup[1].batch_size", 9),
            "model_warmup[1] 'warmup_batch_8'.batch_size",
            "9",
            "within 1..8",
        ),
        (
            BATCHED,
            _set("model_warmup[0].batch_size", 0),
            "model_warmup[0] 'warmup_batch_1'.batch_size",
            "0",
            "within 1..8",
        ),
        (
            UNBATCHED,
            _set("model_warmup[0].batch_size", 2),
            "model_warmup[0] 'warmup_batch_1'.batch_size",
            "2",
            "within 1..1",
        ),
        (
            UNBATCHED,
            _set("model_warmup[0].batch_size", 0),
            "model_warmup[0] 'warmup_batch_1'.batch_size",
            "0",
            "Triton skips batch_size 0",
        ),
        (
            BATCHED,
            lambda c: c.model_warmup[0].inputs["q"].CopyFrom(c.model_warmup[0].inputs["x"]),
            "model_warmup[0] 'warmup_batch_1'.inputs['q']",
            "an unknown input",
            "a config input (['x'])",
        ),
        (
            BATCHED,
            lambda c: c.model_warmup[0].inputs.pop("x"),
            "model_warmup[0] 'warmup_batch_1'.inputs",
            "no entry for 'x'",
            "data for every non-optional config input",
        ),
        (
            BATCHED,
            lambda c: c.model_warmup[0].inputs["x"].dims.__setitem__(0, -1),
            "model_warmup[0] 'warmup_batch_1'.inputs['x'].dims[0]",
            "-1",
            ">= 0: warmup data has concrete sizes",
        ),
        (
            BATCHED,
            lambda c: c.model_warmup[0].inputs["x"].ClearField("random_data"),
            "model_warmup[0] 'warmup_batch_1'.inputs['x']",
            "no data",
            "one of zero_data, random_data or input_data_file",
        ),
        (
            BATCHED,
            lambda c: setattr(c.model_warmup[0].inputs["x"], "data_type", mc.TYPE_INT64),
            "model_warmup[0] 'warmup_batch_1'.inputs['x'].data_type",
            "TYPE_INT64",
            "TYPE_FP32, the input's type",
        ),
        (
            BATCHED,
            lambda c: setattr(c.model_warmup[0].inputs["x"], "input_data_file", "x.bin"),
            "model_warmup[0] 'warmup_batch_1'.inputs['x'].input_data_file",
            "'x.bin'",
            "a file in ",
        ),
        # parameters
        (
            BATCHED,
            lambda c: setattr(c.parameters["intra_op_thread_count"], "string_value", "-1"),
            "parameters['intra_op_thread_count'].string_value",
            "'-1'",
            "a non-negative integer",
        ),
        (
            BATCHED,
            lambda c: setattr(c.parameters["inter_op_thread_count"], "string_value", "two"),
            "parameters['inter_op_thread_count'].string_value",
            "'two'",
            "a non-negative integer",
        ),
    ],
)
def test_onnx_model_problem(
    tmp_path: Path, tiny_onnx: Path, knobs: ServingKnobs, edit: Edit, field: str, value: str, expected: str
) -> None:
    config = _onnx_config(tiny_onnx, knobs)
    edit(config)
    _write(tmp_path, "m", config, {"1/model.onnx": tiny_onnx})
    problem = _only(validate_path(tmp_path), field, value, expected)
    assert problem.file == tmp_path / "m" / "config.pbtxt"


def test_config_input_missing_from_the_graph(tmp_path: Path, tiny_onnx: Path) -> None:
    config = _onnx_config(tiny_onnx, ServingKnobs(max_batch_size=8))
    config.input[0].name = "z"
    _write(tmp_path, "m", config, {"1/model.onnx": tiny_onnx})
    assert [(p.field, p.value) for p in validate_path(tmp_path)] == [
        ("input[0] 'z'.name", "'z'"),
        ("input", "no entry for graph input 'x'"),
    ]


def test_batching_needs_a_dynamic_first_graph_dim(tmp_path: Path, tiny_onnx: Path, fixed_batch_onnx: Path) -> None:
    _write(tmp_path, "m", _onnx_config(tiny_onnx), {"1/model.onnx": fixed_batch_onnx})
    problems = validate_path(tmp_path)
    assert [(p.field, p.value) for p in problems] == [("max_batch_size", "8")] * 3
    assert "'x' has shape [1, 4], no dynamic first (batch) dim" in problems[0].expected


def test_warmup_input_data_file_is_read_from_the_warmup_directory(tmp_path: Path, tiny_onnx: Path) -> None:
    config = _onnx_config(tiny_onnx)
    config.model_warmup[0].inputs["x"].input_data_file = "x.bin"
    _write(tmp_path, "m", config, {"1/model.onnx": tiny_onnx, "warmup/x.bin": "\0" * 16})
    assert validate_path(tmp_path) == []


# ---- I/O declarations (a Python model: no graph to compare with) --------------------------------


@pytest.mark.parametrize(
    ("edit", "field", "value", "expected"),
    [
        (
            lambda c: c.output.add().CopyFrom(c.output[0]),
            "output[1] 'OUT'.name",
            "'OUT'",
            "a name unique among outputs",
        ),
        (_set("input[1].name", "IN"), "input[1] 'IN'.name", "'IN'", "a name unique among inputs"),
        (_set("input[0].name", ""), "input[0].name", '""', "a name"),
        (_set("output[0].data_type", mc.TYPE_INVALID), "output[0] 'OUT'.data_type", "TYPE_INVALID", "a data type"),
        (_set("input[0].dims[0]", 0), "input[0] 'IN'.dims[0]", "0", "-1 (dynamic) or >= 1"),
        (_set("input[0].dims[0]", -2), "input[0] 'IN'.dims[0]", "-2", "-1 (dynamic) or >= 1"),
        (lambda c: c.input[1].ClearField("dims"), "input[1] 'SCALE'.dims", "[]", "at least one dim"),
        (_set("max_batch_size", 0), "input[1] 'SCALE'.reshape.shape", "[]", "a non-empty shape: without batching"),
        (
            lambda c: c.input[1].reshape.shape.append(0),
            "input[1] 'SCALE'.reshape.shape[0]",
            "0",
            "-1 (dynamic) or >= 1",
        ),
    ],
)
def test_io_declaration_problem(tmp_path: Path, edit: Edit, field: str, value: str, expected: str) -> None:
    _write(tmp_path, "pre", _edited(PYTHON_CONFIG, edit), {"1/model.py": PYTHON_MODEL})
    _only(validate_path(tmp_path), field, value, expected)


# ---- ensembles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "field", "value", "expected"),
    [
        (
            _set("ensemble_scheduling.step[1].model_name", "nope"),
            "ensemble_scheduling.step[1] 'nope'.model_name",
            "'nope'",
            "a model directory in ",
        ),
        (
            _set("ensemble_scheduling.step[0].model_name", ""),
            "ensemble_scheduling.step[0].model_name",
            '""',
            "the name of a model",
        ),
        (
            lambda c: c.input.add(name="unused", data_type=mc.TYPE_FP32, dims=[1]),
            "input[2] 'unused'.name",
            "'unused'",
            "a tensor consumed by some step",
        ),
        (
            lambda c: c.output.add(name="extra", data_type=mc.TYPE_FP32, dims=[1]),
            "output[1] 'extra'.name",
            "'extra'",
            "a tensor produced by some step",
        ),
        (
            lambda c: c.ensemble_scheduling.step[1].input_map.__setitem__("y", "features"),
            "ensemble_scheduling.step[1] 'm'.input_map['y']",
            "'y'",
            "an input of 'm' (['x'])",
        ),
        (
            lambda c: c.ensemble_scheduling.step[1].output_map.__setitem__("probabilities", "dropped"),
            "ensemble_scheduling.step[1] 'm'.output_map['probabilities']",
            "'dropped'",
            "an ensemble output or a tensor some step consumes",
        ),
        (lambda c: c.ensemble_scheduling.ClearField("step"), "ensemble_scheduling.step", "[]", "at least one step"),
        (lambda c: c.instance_group.add(count=1), "instance_group", "set", "nothing: an ensemble's step models own it"),
        (_set("optimization.graph.level", 1), "optimization", "set", "nothing"),
        (_set("backend", "python"), "backend", "'python'", '"" for platform "ensemble"'),
        (
            lambda c: c.ClearField("ensemble_scheduling"),
            "ensemble_scheduling",
            "missing",
            "the ensemble's steps",
        ),
    ],
)
def test_ensemble_problem(valid_repo: Path, edit: Edit, field: str, value: str, expected: str) -> None:
    shutil.rmtree(valid_repo / "ens")
    _write(valid_repo, "ens", _edited(ENSEMBLE_CONFIG, edit), {"1/": ""})
    _only(validate_path(valid_repo), field, value, expected)


@pytest.mark.parametrize(
    ("edit", "problems"),
    [
        (
            lambda c: c.ensemble_scheduling.step[1].input_map.__setitem__("x", "ghost"),
            [
                ("ensemble_scheduling.step[0] 'pre'.output_map['OUT']", "'features'"),  # now nobody reads it
                ("ensemble_scheduling.step[1] 'm'.input_map['x']", "'ghost'"),
            ],
        ),
        (
            lambda c: c.ensemble_scheduling.step[0].output_map.__setitem__("NOT_OUT", "other"),
            [
                ("ensemble_scheduling.step[0] 'pre'.output_map['NOT_OUT']", "'other'"),  # nobody reads it
                (
                    "ensemble_scheduling.step[0] 'pre'.output_map['NOT_OUT']",
                    "'NOT_OUT'",
                ),  # and 'pre' has no such output
            ],
        ),
    ],
)
def test_ensemble_dangling_tensors(valid_repo: Path, edit: Edit, problems: list[tuple[str, str]]) -> None:
    shutil.rmtree(valid_repo / "ens")
    _write(valid_repo, "ens", _edited(ENSEMBLE_CONFIG, edit), {"1/": ""})
    assert [(p.field, p.value) for p in validate_path(valid_repo)] == problems


def test_ensemble_scheduling_needs_the_ensemble_platform(tmp_path: Path) -> None:
    config = model_config.parse(ENSEMBLE_CONFIG)
    config.platform = "onnxruntime_onnx"
    _write(tmp_path, "ens", config, {"1/": ""})
    problems = validate_path(tmp_path)
    assert ("platform", "'onnxruntime_onnx'") in [(p.field, p.value) for p in problems]


def test_a_lone_ensemble_looks_its_steps_up_beside_it(tmp_path: Path) -> None:
    """Given one model directory, its parent is the repository Triton would look the steps up in."""
    _write(tmp_path, "ens", ENSEMBLE_CONFIG, {"1/": ""})
    assert [(p.field, p.value) for p in validate_path(tmp_path / "ens")] == [
        ("ensemble_scheduling.step[0] 'pre'.model_name", "'pre'"),
        ("ensemble_scheduling.step[1] 'm'.model_name", "'m'"),
    ]


# ---- sequence batching -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "field", "value", "expected"),
    [
        (
            lambda c: c.sequence_batching.control_input[0].ClearField("control"),
            "sequence_batching.control_input[0] 'START'.control",
            "[]",
            "at least one control",
        ),
        (
            lambda c: c.sequence_batching.control_input[0].control[0].int32_false_true.pop(),
            "sequence_batching.control_input[0] 'START'.control[0]",
            "CONTROL_SEQUENCE_START with {'int32_false_true': [0]}",
            "exactly one of int32_false_true, fp32_false_true, bool_false_true with two values",
        ),
        (
            lambda c: c.sequence_batching.control_input[0].control[0].fp32_false_true.extend([0, 1]),
            "sequence_batching.control_input[0] 'START'.control[0]",
            "CONTROL_SEQUENCE_START with {'int32_false_true': [0, 1], 'fp32_false_true': [0.0, 1.0]}",
            "exactly one of",
        ),
        (
            lambda c: c.sequence_batching.control_input[0].control[0].ClearField("int32_false_true"),
            "sequence_batching.control_input[0] 'START'.control[0]",
            "CONTROL_SEQUENCE_START with no values",
            "exactly one of",
        ),
        (
            _set("sequence_batching.control_input[1].control[0].data_type", mc.TYPE_INVALID),
            "sequence_batching.control_input[1] 'CORRID'.control[0].data_type",
            "TYPE_INVALID",
            "one of ['TYPE_INT32', 'TYPE_INT64', 'TYPE_STRING', 'TYPE_UINT32', 'TYPE_UINT64']",
        ),
        (
            _set("sequence_batching.control_input[1].control[0].data_type", mc.TYPE_FP32),
            "sequence_batching.control_input[1] 'CORRID'.control[0].data_type",
            "TYPE_FP32",
            "the correlation id's type",
        ),
        (
            lambda c: c.sequence_batching.oldest.preferred_batch_size.extend([8, 16]),
            "sequence_batching.oldest.preferred_batch_size[1]",
            "16",
            "<= max_batch_size (8)",
        ),
        (
            _set("sequence_batching.state[0].output_name", ""),
            "sequence_batching.state[0] 'state_in'.output_name",
            '""',
            "the model tensor that carries the state",
        ),
        (
            _set("sequence_batching.state[0].data_type", mc.TYPE_INVALID),
            "sequence_batching.state[0] 'state_in'.data_type",
            "TYPE_INVALID",
            "a data type",
        ),
        (
            _set("sequence_batching.state[0].dims[0]", 0),
            "sequence_batching.state[0] 'state_in'.dims[0]",
            "0",
            "-1 (dynamic) or >= 1",
        ),
    ],
)
def test_sequence_batching_problem(
    tmp_path: Path, sequence_onnx: Path, edit: Edit, field: str, value: str, expected: str
) -> None:
    _write(tmp_path, "seq", _edited(SEQUENCE_CONFIG, edit), {"1/model.onnx": sequence_onnx})
    _only(validate_path(tmp_path), field, value, expected)


def test_unnamed_control_input_leaves_its_graph_input_unfed(tmp_path: Path, sequence_onnx: Path) -> None:
    config = _edited(SEQUENCE_CONFIG, _set("sequence_batching.control_input[0].name", ""))
    _write(tmp_path, "seq", config, {"1/model.onnx": sequence_onnx})
    assert [(p.field, p.value) for p in validate_path(tmp_path)] == [
        ("model_warmup[0] 'start'.inputs['START']", "an unknown input"),
        ("input", "no entry for graph input 'START'"),
        ("sequence_batching.control_input[0].name", '""'),
    ]
