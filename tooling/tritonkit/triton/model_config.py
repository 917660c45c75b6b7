"""Triton's ModelConfig protobuf: built from an ONNX signature plus knobs, rendered and parsed.

The only place that turns config.pbtxt text into a ModelConfig and back (protobuf text_format).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.grpc.model_config_pb2 import ModelConfig

from tritonkit.errors import InputError
from tritonkit.specs import ServingKnobs
from tritonkit.triton.onnx_signature import DYNAMIC, OnnxSignature, TensorSignature

ONNX_PLATFORM = "onnxruntime_onnx"

# The native ONNX Runtime backend's `optimization.graph.level` values (see its README):
# unset means every optimization.
GRAPH_LEVEL = {"all": 0, "extended": 1, "basic": -1, "disabled": 2}
GRAPH_LEVEL_NAME = {level: name for name, level in GRAPH_LEVEL.items()}

_MAX_BATCH_SIZE_FIELD = ModelConfig.DESCRIPTOR.fields_by_name["max_batch_size"].number


def base_config(name: str, signature: OnnxSignature, *, batching: bool) -> ModelConfig:
    """A config with only the model's I/O. With batching, the first ONNX dim becomes Triton's batch dim
    (a graph tensor of shape [batch] becomes `dims: [1]` with an empty reshape, as Triton expects)."""
    unservable = [
        f"{kind} '{tensor.name}' {problem}"
        for kind, tensors in (("input", signature.inputs), ("output", signature.outputs))
        for tensor in tensors
        if (problem := _unservable(tensor))
    ]
    if not signature.outputs:
        unservable.append("the graph has no outputs")
    if unservable:
        raise InputError(f"model '{name}' cannot be served by Triton: " + "; ".join(unservable))
    if batching and not signature.batchable:
        raise InputError(
            f"model '{name}' cannot batch: every input and output needs a dynamic first "
            f"dimension, but the graph has {_shapes(signature)}"
        )
    config = ModelConfig(name=name, platform=ONNX_PLATFORM)
    for declared, tensors in ((config.input, signature.inputs), (config.output, signature.outputs)):
        for tensor in tensors:
            dims = _config_dims(tensor, batching)
            added = declared.add(name=tensor.name, data_type=tensor.data_type, dims=dims or (1,))
            if not dims:
                added.reshape.SetInParent()  # [batch] alone: Triton's dims [1] reshaped to nothing
    return config


def build_config(name: str, signature: OnnxSignature, knobs: ServingKnobs) -> ModelConfig:
    return apply_knobs(base_config(name, signature, batching=knobs.max_batch_size > 0), knobs)


def apply_knobs(base: ModelConfig, knobs: ServingKnobs) -> ModelConfig:
    """A new config: `base`'s identity and I/O with every knob-owned field replaced by `knobs`."""
    config = ModelConfig()
    config.CopyFrom(base)
    for owned in ("dynamic_batching", "instance_group", "model_warmup", "response_cache", "version_policy"):
        config.ClearField(owned)
    config.max_batch_size = knobs.max_batch_size
    _set_version_policy(config, knobs)
    if knobs.dynamic_batching is not None:
        _set_dynamic_batching(config, knobs)
    for group in knobs.instance_groups:
        config.instance_group.add(kind=group.kind, count=group.count, gpus=group.gpus)
    _set_onnxruntime(config, knobs)
    if knobs.warmup is not None:
        _set_warmup(config, knobs)
    if knobs.response_cache:
        config.response_cache.enable = True
    return config


def render(config: ModelConfig) -> str:
    """config.pbtxt text. `max_batch_size: 0` is written out: protobuf omits zeros, readers should not guess."""
    if config.max_batch_size:
        return text_format.MessageToString(config)
    head, tail = ModelConfig(), ModelConfig()
    for field, value in config.ListFields():
        target = head if field.number < _MAX_BATCH_SIZE_FIELD else tail
        _set_field(target, field.name, value)
    return text_format.MessageToString(head) + "max_batch_size: 0\n" + text_format.MessageToString(tail)


def parse(text: str, source: str | Path = "<config>") -> ModelConfig:
    config = ModelConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise InputError(f"{source}:{exc}") from None
    return config


def read_config(path: Path) -> ModelConfig:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    return parse(text, path)


# A Python model's BLS callees, comma-separated: loaded before it (explicit model control loads an
# ensemble's steps, never a BLS model's callees) and validated to exist beside it.
BLS_MODELS = "bls_models"


def callees(config: ModelConfig) -> tuple[str, ...]:
    """The models `config`'s Python model sends BLS requests to, as it declares them."""
    if BLS_MODELS not in config.parameters:
        return ()
    return tuple(name.strip() for name in config.parameters[BLS_MODELS].string_value.split(","))


def declare_callees(config: ModelConfig, names: Sequence[str]) -> None:
    config.parameters[BLS_MODELS].string_value = ",".join(names)


def bls_model_config(base: ModelConfig, name: str, model_file: str, calls: Sequence[str]) -> ModelConfig:
    """A Python BLS model `name` taking `base`'s inputs, batching and scheduling, one CPU instance
    (it waits on the models it `calls`, which hold the weights and their own instances); outputs and
    parameters are the caller's to add. Its queue is unbounded: the callees' queues bound the work,
    and a queue policy on one instance makes Triton 2.51's batcher stall 500 ms now and then (its
    wait for a free instance, used only without prefetching, can miss its wake-up)."""
    config = ModelConfig()
    config.CopyFrom(base)
    config.name = name
    for field in ("platform", "optimization", "parameters", "model_warmup", "instance_group", "output"):
        config.ClearField(field)
    config.backend = "python"
    config.default_model_filename = model_file
    config.instance_group.add(kind=mc.ModelInstanceGroup.KIND_CPU, count=1)
    if config.HasField("dynamic_batching"):
        config.dynamic_batching.ClearField("default_queue_policy")
    declare_callees(config, calls)
    return config


def _set_field(target: ModelConfig, name: str, value: Any) -> None:
    field = getattr(target, name)
    if hasattr(field, "CopyFrom"):
        field.CopyFrom(value)
    elif hasattr(field, "extend"):
        field.extend(value)
    elif hasattr(field, "update"):
        for key, item in value.items():
            field[key].CopyFrom(item)
    else:
        setattr(target, name, value)


def _unservable(tensor: TensorSignature) -> str:
    if not tensor.shaped:
        return "has no shape in the graph (unknown rank): export it with shapes, or run ONNX shape inference"
    if not tensor.dims:
        return "is a scalar (rank 0): Triton needs at least one dimension; give it shape [1] in the graph"
    return ""


def _shapes(signature: OnnxSignature) -> str:
    return ", ".join(f"{t.name}{list(t.dims)}" for t in signature.inputs + signature.outputs)


def _config_dims(tensor: TensorSignature, batching: bool) -> tuple[int, ...]:
    return tensor.dims[1:] if batching else tensor.dims


def _set_version_policy(config: ModelConfig, knobs: ServingKnobs) -> None:
    policy = knobs.version_policy
    if policy.policy == "latest":
        config.version_policy.latest.num_versions = policy.num_versions
    elif policy.policy == "all":
        config.version_policy.all.SetInParent()
    else:
        config.version_policy.specific.versions.extend(policy.versions)


def _set_dynamic_batching(config: ModelConfig, knobs: ServingKnobs) -> None:
    batching = knobs.dynamic_batching
    assert batching is not None
    target = config.dynamic_batching
    target.SetInParent()  # an empty `dynamic_batching {}` still turns the batcher on
    target.preferred_batch_size.extend(batching.preferred_batch_sizes)
    target.max_queue_delay_microseconds = batching.max_queue_delay_microseconds
    target.preserve_ordering = batching.preserve_ordering
    target.priority_levels = batching.priority_levels
    target.default_priority_level = batching.default_priority_level
    queue = batching.queue_policy
    if queue != type(queue)():
        policy = target.default_queue_policy
        policy.max_queue_size = queue.max_queue_size
        policy.default_timeout_microseconds = queue.default_timeout_microseconds
        policy.timeout_action = mc.ModelQueuePolicy.TimeoutAction.Value(queue.timeout_action)
        policy.allow_timeout_override = queue.allow_timeout_override


def _set_onnxruntime(config: ModelConfig, knobs: ServingKnobs) -> None:
    ort = knobs.onnxruntime
    for key in ("intra_op_thread_count", "inter_op_thread_count"):
        value = getattr(ort, key)
        if value is None:
            config.parameters.pop(key, None)
        else:
            config.parameters[key].string_value = str(value)
    level = GRAPH_LEVEL[ort.graph_optimization_level]
    if level:
        config.optimization.graph.level = level
    elif config.HasField("optimization"):
        config.optimization.ClearField("graph")
        if not config.optimization.ListFields():
            config.ClearField("optimization")


def _set_warmup(config: ModelConfig, knobs: ServingKnobs) -> None:
    warmup = knobs.warmup
    assert warmup is not None
    for batch_size in warmup.batch_sizes:
        sample = config.model_warmup.add(name=f"warmup_batch_{batch_size}", batch_size=batch_size, count=warmup.count)
        for tensor in config.input:
            data = sample.inputs[tensor.name]
            data.data_type = tensor.data_type
            data.dims.extend(d if d != DYNAMIC else warmup.dynamic_dim_size for d in tensor.dims)
            # Zeros are valid token ids and indices; random integers would index out of range.
            if tensor.data_type in (mc.TYPE_FP16, mc.TYPE_FP32, mc.TYPE_FP64, mc.TYPE_BF16):
                data.random_data = True
            else:
                data.zero_data = True


def differences(expected: ModelConfig, actual: ModelConfig) -> list[str]:
    """Every field set in `expected` whose value in `actual` differs ("path: expected X, got Y").

    Fields only `actual` has (defaults a server fills in) are not differences. max_batch_size is
    always compared: a server that auto-completes configs may turn our explicit 0 into batching.
    """
    found = _message_differences(expected, actual, "")
    if expected.max_batch_size != actual.max_batch_size and expected.max_batch_size == 0:
        found.insert(0, f"max_batch_size: expected 0, got {actual.max_batch_size}")
    return found


def _message_differences(expected: object, actual: object, prefix: str) -> list[str]:
    found: list[str] = []
    for field, value in expected.ListFields():  # type: ignore[attr-defined]
        path = f"{prefix}{field.name}"
        other = getattr(actual, field.name)
        is_message = field.type == field.TYPE_MESSAGE
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_is_message = field.message_type.fields_by_name["value"].type == field.TYPE_MESSAGE
            for key, item in value.items():
                if key not in other:
                    found.append(f"{path}[{key!r}]: expected {_short(item)}, missing")
                elif value_is_message:
                    found += _message_differences(item, other[key], f"{path}[{key!r}].")
                elif item != other[key]:
                    found.append(f"{path}[{key!r}]: expected {item!r}, got {other[key]!r}")
        elif field.is_repeated and is_message:
            if len(value) != len(other):
                found.append(f"{path}: expected {len(value)} entries, got {len(other)}")
                continue
            for index, (item, got) in enumerate(zip(value, other, strict=True)):
                found += _message_differences(item, got, f"{path}[{index}].")
        elif is_message:
            found += _message_differences(value, other, f"{path}.")
        elif field.is_repeated:
            if list(value) != list(other):
                found.append(f"{path}: expected {list(value)}, got {list(other)}")
        elif value != other:
            found.append(f"{path}: expected {value!r}, got {other!r}")
    return found


def _short(message: object) -> str:
    return text_format.MessageToString(message, as_one_line=True) if hasattr(message, "ListFields") else repr(message)
