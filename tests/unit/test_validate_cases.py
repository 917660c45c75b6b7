"""The table of what Triton refuses, built case by case in code, and what the validator says about each.

Every case is a valid model (or ensemble) of a small repository with one thing broken. The same table
is loaded into a real tritonserver by tests/integration/test_validate_vs_triton.py: `says` is a
fragment of tritonserver 2.51's reason for refusing it too (none: tritonkit refuses it on purpose,
`why` says why), `server_safe` whether it can be shown to a running server at all.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import onnx
import pytest
from onnx import numpy_helper
from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.grpc.model_config_pb2 import ModelConfig

from tritonkit import onnx_builders
from tritonkit.specs import DynamicBatchingKnobs, ServingKnobs, WarmupKnobs
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.validate import validate_model, validate_path

Edit = Callable[[ModelConfig], object]
Builder = Callable[[Path, str], Path]  # (repository, model name) -> the model directory it wrote

# A Python model passing IN through as OUT; the decoupled one sends its response through the sender.
IDENTITY_PY = """import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [
            pb_utils.InferenceResponse([pb_utils.Tensor("OUT", pb_utils.get_input_tensor_by_name(r, "IN").as_numpy())])
            for r in requests
        ]
"""
DECOUPLED_PY = """import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        for r in requests:
            out = pb_utils.Tensor("OUT", pb_utils.get_input_tensor_by_name(r, "IN").as_numpy())
            r.get_response_sender().send(
                pb_utils.InferenceResponse([out]), flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
            )
        return None
"""
PYTHON_CONFIG = """
backend: "python"
max_batch_size: 8
input [{ name: "IN", data_type: TYPE_FP32, dims: [ 4 ] }]
output [{ name: "OUT", data_type: TYPE_FP32, dims: [ 4 ] }]
instance_group [{ kind: KIND_CPU, count: 1 }]
"""
# raw -> pre (Python) -> features -> mlp (ONNX) -> scores
ENSEMBLE_CONFIG = """
platform: "ensemble"
max_batch_size: 8
input [{ name: "raw", data_type: TYPE_FP32, dims: [ 4 ] }]
output [{ name: "scores", data_type: TYPE_FP32, dims: [ 2 ] }]
ensemble_scheduling { step [
  { model_name: "pre", model_version: -1,
    input_map { key: "IN", value: "raw" }, output_map { key: "OUT", value: "features" } },
  { model_name: "mlp", model_version: -1,
    input_map { key: "x", value: "features" }, output_map { key: "logits", value: "scores" } }
] }
"""
SEQUENCE = """
sequence_batching { control_input [
  { name: "START", control [{ kind: CONTROL_SEQUENCE_START, int32_false_true: [ 0, 1 ] }] },
  { name: "READY", control [{ kind: CONTROL_SEQUENCE_READY, int32_false_true: [ 0, 1 ] }] }
] }
"""
MLP_KNOBS = ServingKnobs(max_batch_size=8, dynamic_batching=DynamicBatchingKnobs(), warmup=WarmupKnobs())


# ---- building models ---------------------------------------------------------------------------


def _onnx_file(repository: Path) -> Path:
    """x[batch, 4] -> logits[batch, 2], probabilities[batch, 2], built once per repository."""
    path = repository.parent / "onnx" / "mlp.onnx"
    return path if path.is_file() else onnx_builders.mlp(path, features=4, hidden=8, classes=2)


def _model(repository: Path, name: str, config: ModelConfig | str, files: dict[str, bytes | str | Path]) -> Path:
    """A model directory: its config and files; a key ending in '/' is a folder."""
    directory = repository / name
    directory.mkdir(parents=True)
    (directory / "config.pbtxt").write_text(config if isinstance(config, str) else model_config.render(config))
    for relative, content in files.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative.endswith("/"):
            target.mkdir(exist_ok=True)
        elif isinstance(content, Path):
            shutil.copyfile(content, target)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return directory


def mlp_config(repository: Path, name: str, edit: Edit = lambda c: None) -> ModelConfig:
    config = model_config.build_config(name, read_signature(_onnx_file(repository)), MLP_KNOBS)
    edit(config)
    return config


def mlp(edit: Edit = lambda c: None, files: dict[str, bytes | str | Path] | None = None) -> Builder:
    """The ONNX model with `edit` applied to its config; `files` replace its version folder's model."""

    def build(repository: Path, name: str) -> Path:
        return _model(
            repository, name, mlp_config(repository, name, edit), files or {"1/model.onnx": _onnx_file(repository)}
        )

    return build


def python(edit: Edit = lambda c: None, source: str = IDENTITY_PY) -> Builder:
    def build(repository: Path, name: str) -> Path:
        config = model_config.parse(PYTHON_CONFIG)
        config.name = name
        edit(config)
        return _model(repository, name, config, {"1/model.py": source})

    return build


def ensemble(edit: Edit = lambda c: None) -> Builder:
    def build(repository: Path, name: str) -> Path:
        config = model_config.parse(ENSEMBLE_CONFIG)
        config.name = name
        edit(config)
        return _model(repository, name, config, {"1/": ""})

    return build


def sequence(edit: Edit) -> Edit:
    """The Python model with sequence batching (START and READY controls), then `edit`."""

    def apply(config: ModelConfig) -> None:
        config.MergeFrom(model_config.parse(SEQUENCE))
        edit(config)

    return apply


def base_repository(repository: Path) -> Path:
    """The valid models the cases compose with or are variations of: Triton loads all of them."""
    mlp()(repository, "mlp")
    python()(repository, "pre")
    python(lambda c: setattr(c.model_transaction_policy, "decoupled", True), DECOUPLED_PY)(repository, "dec")
    ensemble()(repository, "ens")
    return repository


BASE_MODELS = ("mlp", "pre", "dec", "ens")


# ---- the cases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    build: Builder
    field: str  # a fragment of the field of the problem the validator must report
    says: str = ""  # where tritonserver 2.51 refuses it too: a fragment of its reason (load error or log)
    why: str = ""  # where Triton accepts it: why tritonkit refuses it
    server_safe: bool = True  # False: it crashes or blocks tritonserver 2.51, so only this file shows it

    @property
    def triton(self) -> bool:
        """tritonserver 2.51 refuses it too (a case it cannot be shown takes the server down)."""
        return bool(self.says) or not self.server_safe


def _step(index: int, **fields: object) -> Edit:
    def edit(config: ModelConfig) -> None:
        step = config.ensemble_scheduling.step[index]
        for key, value in fields.items():
            if isinstance(value, dict):
                getattr(step, key).clear()
                getattr(step, key).update(value)
            else:
                setattr(step, key, value)

    return edit


def _batch_input(**fields: object) -> Edit:
    defaults: dict[str, object] = {"kind": mc.BatchInput.BATCH_ELEMENT_COUNT, "target_name": ["x_len"]}
    defaults |= {"data_type": mc.TYPE_INT32, "source_input": ["x"]}
    return lambda c: c.batch_input.add(**(defaults | fields))


def _batch_output(**fields: object) -> Edit:
    defaults: dict[str, object] = {"kind": mc.BatchOutput.BATCH_SCATTER_WITH_INPUT_SHAPE}
    defaults |= {"target_name": ["logits"], "source_input": ["x"]}
    return lambda c: c.batch_output.add(**(defaults | fields))


def _controls(*kinds: tuple[str, int, list[int]]) -> Edit:
    """Replace the sequence controls by (tensor, kind, int32_false_true) entries."""

    def edit(config: ModelConfig) -> None:
        config.sequence_batching.ClearField("control_input")
        for name, kind, values in kinds:
            config.sequence_batching.control_input.add(name=name).control.add(kind=kind, int32_false_true=values)

    return edit


def _state(*initial: dict[str, object]) -> Edit:
    """An implicit FP32[4] state starting from `initial` (fields of initial_state entries)."""

    def edit(config: ModelConfig) -> None:
        state = config.sequence_batching.state.add(input_name="S_IN", output_name="S_OUT", data_type=mc.TYPE_FP32)
        state.dims.append(4)
        for fields in initial:
            state.initial_state.add(**({"name": "zero", "data_type": mc.TYPE_FP32, "dims": [4]} | fields))

    return edit


def _external(
    location: Callable[[Path], str], *, write_data: bool = True, truncate: bool = False, link: bool = False
) -> Builder:
    """The ONNX model with its weights in an external file at `location(model directory)`; the file
    `truncate`d to half, or a `link` to a copy outside the model's folder."""

    def build(repository: Path, name: str) -> Path:
        directory = mlp(files={"1/": ""})(repository, name)
        proto = onnx.load(str(_onnx_file(repository)))
        where = location(directory)
        data = b""
        for tensor in proto.graph.initializer:
            raw = numpy_helper.to_array(tensor).tobytes()
            tensor.ClearField("raw_data")
            tensor.data_location = onnx.TensorProto.EXTERNAL
            for key, value in (("location", where), ("offset", str(len(data))), ("length", str(len(raw)))):
                tensor.external_data.add(key=key, value=value)
            data += raw
        onnx.save(proto, str(directory / "1" / "model.onnx"))
        if write_data:
            target = Path(where) if os.path.isabs(where) else directory / "1" / where
            target.parent.mkdir(parents=True, exist_ok=True)
            if link:
                (directory / "weights_elsewhere.bin").write_bytes(data)
                target.symlink_to(directory / "weights_elsewhere.bin")
            else:
                target.write_bytes(data[: len(data) // 2] if truncate else data)
        return directory

    return build


def _truncated(repository: Path, name: str) -> Path:
    return mlp(files={"1/model.onnx": _onnx_file(repository).read_bytes()[:300]})(repository, name)


def _version_folder(folder: str) -> Builder:
    def build(repository: Path, name: str) -> Path:
        return mlp(files={f"{folder}/model.onnx": _onnx_file(repository)})(repository, name)

    return build


def _link_out(repository: Path, name: str) -> Path:
    outside = repository.parent / "outside.onnx"
    shutil.copyfile(_onnx_file(repository), outside)
    directory = mlp(files={"1/": ""})(repository, name)
    (directory / "1" / "model.onnx").symlink_to(outside)
    return directory


def _broken_step(repository: Path, name: str) -> Path:
    """An ensemble whose first step's model is refused on its own (a zero dim)."""
    python(lambda c: c.input[0].dims.__setitem__(0, 0))(repository, f"{name}_pre")
    return ensemble(_step(0, model_name=f"{name}_pre"))(repository, name)


def _cycle_pair(repository: Path, name: str) -> Path:
    """Two ensembles, each a step of the other."""
    ensemble(_step(1, model_name=name))(repository, f"{name}_b")
    return ensemble(_step(1, model_name=f"{name}_b"))(repository, name)


def _named(name: str) -> Builder:
    """The ONNX model in a directory called `name` (not the case's name)."""
    return lambda repository, _: mlp()(repository, name)


_START, _END, _READY = (
    getattr(mc.ModelSequenceBatching.Control, f"CONTROL_SEQUENCE_{k}") for k in ("START", "END", "READY")
)
_CORRID = mc.ModelSequenceBatching.Control.CONTROL_SEQUENCE_CORRID
_GPU, _CPU = mc.ModelInstanceGroup.KIND_GPU, mc.ModelInstanceGroup.KIND_CPU


def _set(path: str, value: object) -> Edit:
    """Set a dotted field, e.g. _set("dynamic_batching.priority_levels", 2)."""

    def edit(config: ModelConfig) -> None:
        *parents, last = path.split(".")
        target: object = config
        for part in parents:
            target = getattr(target, part)
        setattr(target, last, value)

    return edit


def _group(**fields: object) -> Edit:
    """The one instance group, replaced."""
    return lambda c: [c.ClearField("instance_group"), c.instance_group.add(**fields)]


def _all(*edits: Edit) -> Edit:
    return lambda c: [edit(c) for edit in edits]


CASES = [
    # -- batch_input / batch_output
    Case(
        "batch_input_two_sources",
        mlp(_batch_input(source_input=["x", "x"])),
        "batch_input[0] 'x_len'.source_input",
        says="expects 1 source input, got 2",
    ),
    Case(
        "batch_input_no_source",
        mlp(_batch_input(source_input=[])),
        "batch_input[0] 'x_len'.source_input",
        says="expects 1 source input, got 0",
    ),
    Case(
        "batch_input_unknown_source",
        mlp(_batch_input(source_input=["y"])),
        "batch_input[0] 'x_len'.source_input[0]",
        says="unknown source input name 'y'",
    ),
    Case(
        "batch_input_unknown_kind",
        mlp(_batch_input(kind=9)),
        "batch_input[0] 'x_len'.kind",
        says="unknown batch input kind",
    ),
    Case(
        "batch_input_int64",
        mlp(_batch_input(data_type=mc.TYPE_INT64)),
        "batch_input[0] 'x_len'.data_type",
        says="batch input data type must be TYPE_INT32 or TYPE_FP32",
    ),
    Case(
        "batch_output_unknown_kind",
        mlp(_batch_output(kind=3)),
        "batch_output[0] 'logits'.kind",
        says="unknown batch output kind",
    ),
    Case(
        "batch_output_two_sources",
        mlp(_batch_output(source_input=["x", "x"])),
        "batch_output[0] 'logits'.source_input",
        says="expects 1 source input, got 2",
    ),
    Case(
        "batch_output_unknown_source",
        mlp(_batch_output(source_input=["y"])),
        "batch_output[0] 'logits'.source_input[0]",
        says="unknown source input name 'y'",
    ),
    Case(
        "batch_output_unknown_target",
        mlp(_batch_output(target_name=["z"])),
        "batch_output[0] 'z'.target_name[0]",
        says="unknown target output name 'z'",
    ),
    Case(
        "batch_output_duplicate_target",
        mlp(_batch_output(target_name=["logits", "logits"])),
        "batch_output[0] 'logits, logits'.target_name[1]",
        says="target output name 'logits' can only be specified once",
    ),
    # -- sequence batching controls
    Case(
        "sequence_two_start_tensors",
        python(sequence(_controls(("S1", _START, [0, 1]), ("S2", _START, [0, 1])))),
        "control_input[1] 'S2'.control[0].kind",
        says="specifies multiple CONTROL_SEQUENCE_START tensors",
    ),
    Case(
        "sequence_tensor_twice",
        python(sequence(_controls(("S", _START, [0, 1]), ("S", _END, [0, 1])))),
        "control_input[1] 'S'.name",
        says="control tensor 'S' is specified for multiple control kinds",
    ),
    Case(
        "sequence_start_without_values",
        python(sequence(_controls(("S", _START, [])))),
        "control_input[0] 'S'.control[0]",
        says="must specify either 'int32_false_true'",
    ),
    Case(
        "sequence_ready_one_value",
        python(sequence(_controls(("R", _READY, [1])))),
        "control_input[0] 'R'.control[0]",
        says="must have exactly 2 entries for CONTROL_SEQUENCE_READY",
    ),
    Case(
        "sequence_unnamed_control",
        python(sequence(_controls(("", _START, [0, 1])))),
        "control_input[0].name",
        says="control tensor must have a name",
    ),
    Case(
        "sequence_corrid_fp32",
        python(
            sequence(
                lambda c: c.sequence_batching.control_input.add(name="C").control.add(
                    kind=_CORRID, data_type=mc.TYPE_FP32
                )
            )
        ),
        "control_input[2] 'C'.control[0].data_type",
        says="unexpected data type for control CONTROL_SEQUENCE_CORRID",
    ),
    Case(
        "sequence_corrid_with_values",
        python(
            sequence(
                lambda c: c.sequence_batching.control_input.add(name="C").control.add(
                    kind=_CORRID, data_type=mc.TYPE_UINT64, int32_false_true=[0, 1]
                )
            )
        ),
        "control_input[2] 'C'.control[0]",
        says="must not specify either 'int32_false_true'",
    ),
    Case(
        "sequence_with_response_cache",
        python(sequence(_set("response_cache.enable", True))),
        "response_cache.enable",
        says="Response Cache does not currently support",
    ),
    Case(
        "state_two_initial_values",
        python(sequence(_state({"zero_data": True}, {"zero_data": True}))),
        "state[0] 'S_IN'.initial_state",
        says="must contain exactly one or zero element",
        server_safe=False,
    ),
    Case(
        "state_initial_value_of_another_type",
        python(sequence(_state({"zero_data": True, "data_type": mc.TYPE_INT32}))),
        "state[0] 'S_IN'.initial_state[0] 'zero'.data_type",
        says="does not match the state data type",
        server_safe=False,
    ),
    Case(
        "state_initial_value_variable_dims",
        python(sequence(_state({"zero_data": True, "dims": [-1]}))),
        "state[0] 'S_IN'.initial_state[0] 'zero'.dims[0]",
        says="contains variable dimensions",
        server_safe=False,
    ),
    Case(
        "state_initial_value_file_missing",
        python(sequence(_state({"data_file": "zeros.bin"}))),
        "state[0] 'S_IN'.initial_state[0] 'zero'.data_file",
        says="zeros.bin",
        server_safe=False,
    ),
    # -- reshape
    Case(
        "reshape_element_count",
        python(lambda c: c.input[0].reshape.shape.extend([3])),
        "input[0] 'IN'.reshape.shape",
        says="has different size for dims and reshape",
    ),
    Case(
        "reshape_variable_dims",
        python(
            _all(
                lambda c: c.input[0].dims.__setitem__(0, -1),
                lambda c: c.input[0].dims.append(4),
                lambda c: c.input[0].reshape.shape.extend([4, -1]),
            )
        ),
        "input[0] 'IN'.reshape.shape",
        says="has different size for dims and reshape",
    ),
    Case(
        "reshape_zero",
        python(lambda c: c.input[0].reshape.shape.extend([0, 4])),
        "input[0] 'IN'.reshape.shape[0]",
        says="reshape dimensions must be integer >= 1",
    ),
    # -- dynamic batching: priorities, preserve_ordering, preferred sizes
    Case(
        "priority_default_above_levels",
        mlp(_all(_set("dynamic_batching.priority_levels", 2), _set("dynamic_batching.default_priority_level", 3))),
        "dynamic_batching.default_priority_level",
        says="default priority level must be in range [1, 2]",
    ),
    Case(
        "priority_default_zero",
        mlp(_set("dynamic_batching.priority_levels", 2)),
        "dynamic_batching.default_priority_level",
        says="default priority level must be in range [1, 2]",
    ),
    Case(
        "priority_policy_level_out_of_range",
        mlp(
            _all(
                _set("dynamic_batching.priority_levels", 2),
                _set("dynamic_batching.default_priority_level", 1),
                lambda c: c.dynamic_batching.priority_queue_policy[5].SetInParent(),
            )
        ),
        "dynamic_batching.priority_queue_policy[5]",
        says="priority queue policy must have priority level in range [1, 2]",
    ),
    Case(
        "preserve_ordering_with_delay",
        mlp(
            _all(
                _set("dynamic_batching.preserve_ordering", True),
                _set("dynamic_batching.default_queue_policy.timeout_action", mc.ModelQueuePolicy.DELAY),
                _set("dynamic_batching.default_queue_policy.default_timeout_microseconds", 100),
            )
        ),
        "dynamic_batching.default_queue_policy.timeout_action",
        says="can not have DELAY as timeout action",
    ),
    Case(
        "preferred_batch_size_above_max",
        mlp(lambda c: c.dynamic_batching.preferred_batch_size.append(16)),
        "dynamic_batching.preferred_batch_size[0]",
        says="preferred size must be <= max batch size",
    ),
    # -- instance groups
    Case(
        "gpus_on_kind_cpu",
        mlp(_group(kind=_CPU, count=1, gpus=[0])),
        "instance_group[0].gpus",
        says="has kind KIND_CPU but specifies one or more GPUs",
    ),
    Case(
        "negative_gpu_id",
        mlp(_group(kind=_GPU, count=1, gpus=[-1])),
        "instance_group[0].gpus[0]",
        says="invalid or unsupported gpu id -1",
    ),
    Case(
        "profile_on_onnx",
        mlp(_group(kind=_CPU, count=1, profile=["0"])),
        "instance_group[0].profile",
        says="profile field which is only supported for TensorRT",
    ),
    # -- tensor declarations, batch size, versions
    Case(
        "zero_dim",
        mlp(lambda c: c.input[0].dims.__setitem__(0, 0)),
        "input[0] 'x'.dims[0]",
        says="model input 'x' dimension must be integer >= 1",
    ),
    Case(
        "negative_dim",
        python(lambda c: c.output[0].dims.__setitem__(0, -4)),
        "output[0] 'OUT'.dims[0]",
        says="model output 'OUT' dimension must be integer >= 1",
    ),
    Case(
        "no_dims",
        python(lambda c: c.output[0].ClearField("dims")),
        "output[0] 'OUT'.dims",
        says="model output 'OUT' must specify 'dims'",
    ),
    Case(
        "missing_data_type",
        python(lambda c: setattr(c.input[0], "data_type", mc.TYPE_INVALID)),
        "input[0] 'IN'.data_type",
        says="model input 'IN' must specify 'data_type'",
    ),
    Case(
        "negative_max_batch_size",
        python(_set("max_batch_size", -1)),
        "max_batch_size",
        says="'max_batch_size' must be non-negative",
    ),
    Case(
        "specific_version_absent",
        mlp(lambda c: c.version_policy.specific.versions.append(3)),
        "version_policy.specific.versions[0]",
        says="at least one version must be available",
    ),
    Case(
        "latest_zero_versions",
        mlp(_set("version_policy.latest.num_versions", 0)),
        "version_policy.latest.num_versions",
        says="at least one version must be available",
    ),
    Case(
        "shape_tensor_on_python",
        python(lambda c: setattr(c.input[0], "is_shape_tensor", True)),
        "input[0] 'IN'.is_shape_tensor",
        says="shape tensors are only supported for TensorRT",
    ),
    Case(
        "platform_backend_mismatch",
        mlp(_set("backend", "tensorrt")),
        "backend",
        says="unexpected 'platform' and 'backend' pair",
    ),
    # -- ensembles
    Case(
        "ensemble_steps_into_itself",
        ensemble(_step(1, model_name="ensemble_steps_into_itself")),
        "step[1] 'ensemble_steps_into_itself'.model_name",
        says="circular dependency between ensembles",
    ),
    Case(
        "ensemble_cycle_of_two",
        _cycle_pair,
        "step[1] 'ensemble_cycle_of_two_b'.model_name",
        says="circular dependency between ensembles",
    ),
    Case(
        "ensemble_step_without_input_map",
        ensemble(_step(0, input_map={})),
        "step[0] 'pre'.input_map",
        says="must specify 'input_map' in step 0",
    ),
    Case(
        "ensemble_step_without_output_map",
        ensemble(_step(1, output_map={})),
        "step[1] 'mlp'.output_map",
        says="must specify 'output_map' in step 1",
    ),
    Case(
        "ensemble_input_unused",
        ensemble(lambda c: c.input.add(name="extra", data_type=mc.TYPE_FP32, dims=[4])),
        "input[1] 'extra'.name",
        says="ensemble input 'extra'",
    ),
    Case(
        "ensemble_output_unproduced",
        ensemble(lambda c: c.output.add(name="extra", data_type=mc.TYPE_FP32, dims=[2])),
        "output[1] 'extra'.name",
        says="ensemble output 'extra'",
    ),
    Case(
        "ensemble_tensor_produced_twice",
        ensemble(_all(lambda c: c.ensemble_scheduling.step[1].output_map.__setitem__("probabilities", "scores"))),
        "step[1] 'mlp'.output_map['probabilities']",
        says="can appear in an output map only once",
    ),
    Case(
        "ensemble_step_cycle",
        ensemble(_step(0, input_map={"IN": "scores"})),
        "step[0] 'pre'.input_map['IN']",
        says="ensemble input 'raw'",
    ),
    Case(
        "ensemble_unknown_step_input",
        ensemble(_step(1, input_map={"x": "features", "y": "features"})),
        "step[1] 'mlp'.input_map['y']",
        says="mapping to non-existing input y in model mlp",
    ),
    Case(
        "ensemble_unknown_step_output",
        ensemble(_step(0, output_map={"OUT": "features", "NOPE": "f2"})),
        "step[0] 'pre'.output_map['NOPE']",
        says="ensemble tensor 'f2' is unused",
    ),
    Case(
        "ensemble_data_type_mismatch",
        ensemble(lambda c: setattr(c.input[0], "data_type", mc.TYPE_FP16)),
        "step[0] 'pre'.input_map['IN']",
        says="inconsistent data type",
    ),
    Case(
        "ensemble_shape_mismatch",
        ensemble(lambda c: c.output[0].dims.__setitem__(0, 3)),
        "step[1] 'mlp'.output_map['logits']",
        says="inconsistent shape",
    ),
    Case(
        "ensemble_step_model_invalid",
        _broken_step,
        "step[0] 'ensemble_step_model_invalid_pre'.model_name",
        says="ensemble_step_model_invalid_pre",
    ),
    Case(
        "ensemble_missing_model",
        ensemble(_step(1, model_name="nowhere")),
        "step[1] 'nowhere'.model_name",
        says="not available or ambiguous: nowhere",
    ),
    Case(
        "ensemble_missing_version",
        ensemble(_step(1, model_version=7)),
        "step[1] 'mlp'.model_version",
        says="required version 7 is not loaded",
    ),
    Case(
        "ensemble_version_omitted",
        ensemble(_step(1, model_version=0)),
        "step[1] 'mlp'.model_version",
        says="required version 0 is not loaded",
    ),
    Case(
        "ensemble_batch_above_step",
        ensemble(_set("max_batch_size", 16)),
        "max_batch_size",
        says="allows maximum batch size 16",
    ),
    Case(
        "ensemble_decoupled_meets_input",
        ensemble(
            _all(
                _step(0, model_name="dec"),
                lambda c: c.ensemble_scheduling.step.add(
                    model_name="pre", model_version=-1, input_map={"IN": "raw"}, output_map={"OUT": "copy"}
                ),
                lambda c: c.output.add(name="copy", data_type=mc.TYPE_FP32, dims=[4]),
            )
        ),
        "output",
        says="receives inputs originated from different decoupled models",
    ),
    Case(
        "ensemble_instance_group",
        ensemble(lambda c: c.instance_group.add(count=1)),
        "instance_group",
        says="instance group should not be specified for ensemble",
    ),
    Case(
        "ensemble_optimization",
        ensemble(_set("optimization.graph.level", 1)),
        "optimization",
        says="optimization should not be specified for ensemble",
    ),
    Case(
        "ensemble_warmup",
        ensemble(lambda c: c.model_warmup.add(name="w", batch_size=1)),
        "model_warmup",
        says="model_warmup can not be specified for ensemble",
    ),
    Case(
        "ensemble_backend",
        ensemble(_set("backend", "python")),
        "backend",
        says="must have platform type 'ensemble' and empty backend type",
    ),
    Case(
        "ensemble_without_steps",
        ensemble(lambda c: c.ensemble_scheduling.ClearField("step")),
        "ensemble_scheduling.step",
        says="must specify 'step' for ensemble",
    ),
    # -- files
    Case("onnx_zero_bytes", mlp(files={"1/model.onnx": b""}), "<model file>", says="No graph"),
    Case("onnx_truncated", _truncated, "<graph>", says="INVALID_PROTOBUF"),
    Case("onnx_not_onnx", mlp(files={"1/model.onnx": "name: not an ONNX model\n"}), "<graph>", says="INVALID_PROTOBUF"),
    Case("onnx_is_a_directory", mlp(files={"1/model.onnx/": ""}), "<model file>", says="INVALID_PROTOBUF"),
    Case("onnx_missing", mlp(files={"1/": ""}), "<model file>", says="NO_SUCHFILE"),
    Case(
        "onnx_external_data_missing",
        _external(lambda d: "weights.bin", write_data=False),
        "<external data> 'w1'",
        says="External data path validation failed for initializer: w1",
    ),
    Case(
        "onnx_external_data_absolute",
        _external(lambda d: str(d.parent.parent / "weights.bin")),
        "<external data> 'w1'",
        says="External data path validation failed for initializer: w1",
    ),
    Case(
        "onnx_external_data_dotdot",
        _external(lambda d: "../weights.bin"),
        "<external data> 'w1'",
        says="External data path escapes",
    ),
    Case(
        "onnx_external_data_too_short",
        _external(lambda d: "weights.bin", truncate=True),
        "<external data> 'w1'",
        says="Exception during initialization",
    ),
    Case(
        "onnx_external_data_linked_out",
        _external(lambda d: "weights.bin", link=True),
        "<external data> 'w1'",
        says="External data path escapes",
    ),
    Case(
        "version_folder_not_an_integer",
        _version_folder("1abc"),
        "<version folder>",
        says="version_folder_not_an_integer/1/model.onnx",
    ),
    Case(
        "version_folder_negative", _version_folder("-1"), "<version folder>", says="version -1 is at UNAVAILABLE state"
    ),
    # -- what tritonkit refuses on purpose
    Case(
        "symlink_out_of_repository",
        _link_out,
        "<symlink>",
        why="everything a repository serves stays inside it",
    ),
    Case(
        "specific_version_partly_absent",
        mlp(lambda c: c.version_policy.specific.versions.extend([1, 3])),
        "version_policy.specific.versions[1]",
        why="Triton logs an error and serves the versions that exist",
    ),
    Case(
        "version_folder_leading_zero",
        lambda r, n: _model(r, n, mlp_config(r, n), {"1/model.onnx": _onnx_file(r), "02/model.onnx": _onnx_file(r)}),
        "<version folder>",
        why="Triton ignores '02' with a warning: version 2 is not what is served",
    ),
    Case(
        "priority_default_without_levels",
        mlp(_set("dynamic_batching.default_priority_level", 1)),
        "dynamic_batching.default_priority_level",
        why="Triton ignores a default level when there are no priority levels",
    ),
    # -- what tritonserver 2.51 cannot be shown: it aborts, or waits for the model until startup times out
    Case("version_folder_beyond_int64", _version_folder(str(2**63)), "<version folder>", server_safe=False),
    Case("model_name_with_space", _named("my model"), "<model name>", server_safe=False),
    Case("model_name_with_semicolon", _named("m;rm"), "<model name>", server_safe=False),
    Case("config_name_over_255_bytes", mlp(_set("name", "m" * 256)), "name", server_safe=False),
    Case("step_model_dotdot", ensemble(_step(1, model_name="..")), "step[1] '..'.model_name", server_safe=False),
]


def build_case(repository: Path, case: Case) -> Path:
    """The case's model directory, in a repository that holds the base models too."""
    return case.build(repository, case.id)


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    return base_repository(tmp_path / "repo")


def test_the_base_models_are_valid(repository: Path) -> None:
    assert validate_path(repository) == []


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case_is_refused(repository: Path, case: Case) -> None:
    directory = build_case(repository, case)
    problems = validate_model(directory, repository=repository)
    assert any(case.field in problem.field for problem in problems), problems
    # The repository-wide run finds the same problems, and none in the models the case leaves alone.
    found = validate_path(repository)
    assert all(problem in found for problem in problems)
    assert not [
        p for p in found if p.file.is_relative_to(repository) and p.file.relative_to(repository).parts[0] in BASE_MODELS
    ]


def test_every_problem_at_once(repository: Path) -> None:
    """A missing model file does not hide the config's problems, nor one bad dim the next."""
    directory = mlp(
        _all(lambda c: c.input[0].dims.__setitem__(0, 0), lambda c: c.output[0].dims.append(-3)), files={"1/": ""}
    )(repository, "m")
    assert [(p.file.name, p.field) for p in validate_model(directory)] == [
        ("model.onnx", "<model file>"),
        ("config.pbtxt", "input[0] 'x'.dims[0]"),
        ("config.pbtxt", "output[0] 'logits'.dims[1]"),
    ]


def test_a_config_override_is_validated_instead_of_the_file(repository: Path) -> None:
    override = mlp_config(repository, "mlp", _set("max_batch_size", 4))
    override.dynamic_batching.preferred_batch_size.append(8)
    problems = validate_model(repository / "mlp", override)
    assert [(p.file, p.field, p.value) for p in problems] == [
        (repository / "mlp" / "config.pbtxt", "dynamic_batching.preferred_batch_size[0]", "8")
    ]
    assert validate_model(repository / "mlp") == []


def test_a_staged_model_is_checked_against_the_repository(repository: Path, tmp_path: Path) -> None:
    """A model assembled elsewhere (not written yet) looks its steps up in the repository it is for."""
    staged = ensemble(_step(1, model_version=2))(tmp_path / "staging", "ens2")
    problems = validate_model(staged, repository=repository)
    assert [(p.field, p.value) for p in problems] == [("ensemble_scheduling.step[1] 'mlp'.model_version", "2")]
    assert "a version 'mlp' serves [1]" in problems[0].expected


def test_gpu_ids_are_checked_against_the_gpus_here(repository: Path) -> None:
    """Without a GPU the ids are the deployment host's business; with one, ids beyond it are refused."""
    directory = mlp(_group(kind=_GPU, count=1, gpus=[0, 5]))(repository, "gpu")
    fields = [p.field for p in validate_model(directory)]
    visible = len(list(Path("/proc/driver/nvidia/gpus").glob("*")))
    assert fields == (["instance_group[0].gpus[1]"] if 0 < visible <= 5 else [])


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("my model", "blanks"),
        ("m;rm", "shell characters"),
        ("..", "not a directory name"),
        ("a/b", "'/'"),
        ("m" * 256, "256 bytes"),
        ("é" * 128, "256 bytes"),
    ],
)
def test_model_names_triton_cannot_serve(repository: Path, name: str, reason: str) -> None:
    directory = ensemble(_step(1, model_name=name))(repository, "named")
    (problem,) = [p for p in validate_model(directory) if p.field.endswith(".model_name")]
    assert reason in problem.expected


def test_valid_names_and_folders_pass(repository: Path) -> None:
    mlp()(repository, "bert-base_v1.2")
    mlp(
        files={
            "1/model.onnx": _onnx_file(repository),
            "tokenizer/vocab.txt": "a\n",
            "0/model.onnx": _onnx_file(repository),
        }
    )(repository, "m0")
    assert validate_path(repository) == []
