"""A config's model-wide fields: identity (name, platform, backend, max_batch_size), instance groups,
warmup samples, backend parameters and the response cache."""

from __future__ import annotations

from tritonclient.grpc import model_config_pb2 as mc

from tritonkit.triton.validate.layout import bad_name
from tritonkit.triton.validate.problem import ENSEMBLE_PLATFORM, Model, Problem, data_source, named
from tritonkit.triton.validate.tensors import fed_by_triton

# The backend each platform runs on; a config naming both must agree.
PLATFORM_BACKEND = {
    "onnxruntime_onnx": "onnxruntime",
    "tensorrt_plan": "tensorrt",
    "pytorch_libtorch": "pytorch",
    "tensorflow_savedmodel": "tensorflow",
    "tensorflow_graphdef": "tensorflow",
}
# Backends Triton itself pairs with platforms; any platform goes with a custom backend.
_KNOWN_BACKENDS = frozenset(PLATFORM_BACKEND.values())
_THREAD_PARAMETERS = ("intra_op_thread_count", "inter_op_thread_count")
_GROUP = mc.ModelInstanceGroup


def check_fields(model: Model) -> list[Problem]:
    return [
        *_identity(model),
        *_instance_groups(model),
        *_warmup(model),
        *_thread_parameters(model),
        *_response_cache(model),
    ]


def _identity(model: Model) -> list[Problem]:
    config = model.config
    platform, backend = config.platform, config.backend
    problems = []
    if config.name and (reason := bad_name(config.name)) is not None:
        problems.append(model.problem("name", repr(config.name), f"a name Triton can serve, not {reason}"))
    elif config.name and config.name != model.dir.name:
        problems.append(model.problem("name", repr(config.name), f"{model.dir.name!r}, the directory's name"))
    if not platform and not backend:
        expected = 'a platform or a backend, e.g. backend: "onnxruntime" or platform: "ensemble"'
        problems.append(model.problem("platform", '""', expected))
    elif platform == ENSEMBLE_PLATFORM:
        if backend:
            problems.append(model.problem("backend", repr(backend), '"" for platform "ensemble"'))
    elif platform and platform not in PLATFORM_BACKEND and (not backend or backend in _KNOWN_BACKENDS):
        expected = f"one of {sorted([*PLATFORM_BACKEND, ENSEMBLE_PLATFORM])}"
        problems.append(model.problem("platform", repr(platform), expected))
    elif platform and backend in _KNOWN_BACKENDS and backend != PLATFORM_BACKEND[platform]:
        expected = f"{PLATFORM_BACKEND[platform]!r} for platform {platform!r}, or a custom backend"
        problems.append(model.problem("backend", repr(backend), expected))
    if config.max_batch_size < 0:
        expected = ">= 0 (0: the model does not batch)"
        problems.append(model.problem("max_batch_size", str(config.max_batch_size), expected))
    return problems


def _instance_groups(model: Model) -> list[Problem]:
    problems = []
    for index, group in enumerate(model.config.instance_group):
        where = named("instance_group", index, group.name)
        # proto3 cannot tell an explicit `count: 0` from an omitted count, and Triton turns both
        # into its default, so only a negative count is certainly wrong.
        if group.count < 0:
            problems.append(model.problem(f"{where}.count", str(group.count), ">= 1 (0 or omitted: Triton's default)"))
        if group.gpus and group.kind in (_GROUP.KIND_CPU, _GROUP.KIND_MODEL):
            kind = _GROUP.Kind.Name(group.kind)
            problems.append(model.problem(f"{where}.gpus", str(list(group.gpus)), f"no gpus for {kind}"))
        else:
            problems += _gpu_ids(model, where, group)
        if group.profile and model.config.platform != "tensorrt_plan":
            problems.append(
                model.problem(f"{where}.profile", str(list(group.profile)), "none: profiles are TensorRT's")
            )
        problems += [
            model.problem(f"{where}.profile[{number}]", repr(profile), "a non-negative integer (a TensorRT profile)")
            for number, profile in enumerate(group.profile)
            if not (profile.isascii() and profile.isdigit())
        ]
    return problems


def _gpu_ids(model: Model, where: str, group: mc.ModelInstanceGroup) -> list[Problem]:
    limit = f"within 0..{model.gpus - 1}, the GPUs here" if model.gpus else ">= 0 (a GPU device id)"
    return [
        model.problem(f"{where}.gpus[{number}]", str(gpu), limit)
        for number, gpu in enumerate(group.gpus)
        if gpu < 0 or (model.gpus is not None and gpu >= model.gpus)
    ]


def _warmup(model: Model) -> list[Problem]:
    config = model.config
    inputs = {tensor.name: tensor for tensor in config.input}
    controls = fed_by_triton(config)  # warmup samples may feed sequence controls too
    # Triton documents batch_size >= 1 (1 without batching) and silently skips a 0 sample.
    limit = max(config.max_batch_size, 1)
    problems = []
    for index, sample in enumerate(config.model_warmup):
        where = named("model_warmup", index, sample.name)
        if not sample.name:
            problems.append(model.problem(f"{where}.name", '""', "a name (Triton logs it)"))
        if not 1 <= sample.batch_size <= limit:
            expected = f"within 1..{limit} (max_batch_size is {config.max_batch_size}; Triton skips batch_size 0)"
            problems.append(model.problem(f"{where}.batch_size", str(sample.batch_size), expected))
        for name in sorted(sample.inputs):
            field = f"{where}.inputs[{name!r}]"
            if name in inputs or name in controls:
                problems += _warmup_input(model, field, sample.inputs[name], inputs.get(name))
            else:
                problems.append(model.problem(field, "an unknown input", f"a config input ({sorted(inputs)})"))
        problems += [
            model.problem(f"{where}.inputs", f"no entry for {name!r}", "data for every non-optional config input")
            for name, tensor in inputs.items()
            if name not in sample.inputs and not tensor.optional
        ]
    return problems


def _warmup_input(model: Model, where: str, data: mc.ModelWarmup.Input, tensor: mc.ModelInput | None) -> list[Problem]:
    problems = []
    if tensor is not None and data.data_type != tensor.data_type:
        expected = f"{mc.DataType.Name(tensor.data_type)}, the input's type"
        problems.append(model.problem(f"{where}.data_type", mc.DataType.Name(data.data_type), expected))
    problems += [
        model.problem(f"{where}.dims[{index}]", str(dim), ">= 0: warmup data has concrete sizes")
        for index, dim in enumerate(data.dims)
        if dim < 0
    ]
    # A oneof: text_format already refuses two of them, so only "none" is left to catch.
    source = data.WhichOneof("input_data_type")
    problems += data_source(
        model, where, source, "zero_data, random_data or input_data_file", "warmup", data.input_data_file
    )
    return problems


def _thread_parameters(model: Model) -> list[Problem]:
    parameters = model.config.parameters
    values = {key: parameters[key].string_value for key in _THREAD_PARAMETERS if key in parameters}
    return [
        model.problem(
            f"parameters[{key!r}].string_value", repr(value), "a non-negative integer (0: ONNX Runtime chooses)"
        )
        for key, value in values.items()
        if not (value.isascii() and value.isdigit())
    ]


def _response_cache(model: Model) -> list[Problem]:
    config = model.config
    if not config.response_cache.enable:
        return []
    clashes = [
        reason
        for reason, present in (
            ("sequence_batching", config.HasField("sequence_batching")),
            ("model_transaction_policy.decoupled", config.model_transaction_policy.decoupled),
        )
        if present
    ]
    return [model.problem("response_cache.enable", "true", f"false with {reason}") for reason in clashes]
