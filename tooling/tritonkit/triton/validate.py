"""Check a Triton model repository, or one model directory, before a server sees it.

Any config.pbtxt is checked, not only ones tritonkit wrote: ensembles, Python-backend and
sequence-batching models are checked as far as the files on disk allow. Every finding is a
Problem naming the file, the field, its value and what was expected; nothing raises, so one run
lists everything to fix.
"""

from __future__ import annotations

import re
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.grpc.model_config_pb2 import ModelConfig

from tritonkit.errors import InputError
from tritonkit.triton.model_config import parse
from tritonkit.triton.validate_io import check_io, fed_by_triton
from tritonkit.triton.validate_problem import CONFIG_FILE, Model, Problem
from tritonkit.triton.validate_scheduling import ENSEMBLE_PLATFORM, check_scheduling

__all__ = ["Problem", "validate_path"]

# The backend each platform runs on; a config naming both must agree.
_PLATFORM_BACKEND = {
    "onnxruntime_onnx": "onnxruntime",
    "tensorrt_plan": "tensorrt",
    "pytorch_libtorch": "pytorch",
    "tensorflow_savedmodel": "tensorflow",
    "tensorflow_graphdef": "tensorflow",
}
# Backends Triton itself pairs with platforms; any platform goes with a custom backend.
_KNOWN_BACKENDS = frozenset(_PLATFORM_BACKEND.values())
# The file Triton loads from a version directory when default_model_filename is not set.
_MODEL_FILE_BY_PLATFORM = {
    "onnxruntime_onnx": "model.onnx",
    "tensorrt_plan": "model.plan",
    "pytorch_libtorch": "model.pt",
    "tensorflow_savedmodel": "model.savedmodel",  # a directory
    "tensorflow_graphdef": "model.graphdef",
}
_MODEL_FILE_BY_BACKEND = {
    "onnxruntime": "model.onnx",
    "tensorrt": "model.plan",
    "pytorch": "model.pt",
    "python": "model.py",
}
# Triton ignores version directories that are not numbers or that start with 0.
_VERSION_NAME = re.compile(r"[1-9][0-9]*")
_THREAD_PARAMETERS = ("intra_op_thread_count", "inter_op_thread_count")
# text_format refuses a second member of a oneof; Triton's scheduler is one.
_SCHEDULER_CLASH = re.compile(
    r'Field "(\w+)" is specified along with field "(\w+)", another member of oneof "scheduling_choice"'
)


def validate_path(path: Path) -> list[Problem]:
    """Every problem in the repository or model directory at `path`; an empty list means valid."""
    if not path.is_dir():
        state = "not a directory" if path.exists() else "missing"
        return [Problem(path, "<path>", state, f"a model repository or a model directory holding {CONFIG_FILE}")]
    if (path / CONFIG_FILE).exists():
        return _validate_models([path], repository_models=None)
    directories = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not directories:
        return [Problem(path, "<repository>", "empty", f"at least one model directory <model>/{CONFIG_FILE}")]
    return _validate_models(directories, repository_models=frozenset(p.name for p in directories))


def _validate_models(directories: list[Path], repository_models: frozenset[str] | None) -> list[Problem]:
    problems: list[Problem] = []
    for directory in directories:
        config, found = _load(directory / CONFIG_FILE)
        problems += found
        if config is not None:
            problems += _check_model(directory, config, repository_models)
    return problems


def _load(file: Path) -> tuple[ModelConfig | None, list[Problem]]:
    if not file.is_file():
        return None, [Problem(file, "<file>", "missing", f"a {CONFIG_FILE} in every model directory")]
    try:
        return parse(file.read_text(), file), []
    except OSError as exc:
        return None, [Problem(file, "<file>", f"unreadable ({exc.strerror})", f"a readable {CONFIG_FILE}")]
    except InputError as exc:
        detail = str(exc).removeprefix(f"{file}:")  # "line:column : what is wrong"
        clash = _SCHEDULER_CLASH.search(detail)
        if clash is None:
            return None, [Problem(file, "<syntax>", detail, "a ModelConfig in protobuf text format")]
        value = f"{clash[2]} and {clash[1]} (at {detail.split(' ', 1)[0]})"
        expected = "one scheduler at most: dynamic_batching, sequence_batching or ensemble_scheduling"
        return None, [Problem(file, "scheduling_choice", value, expected)]


def _check_model(directory: Path, config: ModelConfig, repository_models: frozenset[str] | None) -> list[Problem]:
    versions = sorted((p for p in directory.iterdir() if p.is_dir() and _VERSION_NAME.fullmatch(p.name)), key=_number)
    filename = _model_filename(config)
    served = _served(config, versions)
    model = Model(directory, config, tuple(version / filename for version in served) if filename else ())
    return [
        *_identity(model),
        *_versions(model, versions),
        *check_io(model),
        *check_scheduling(model, repository_models),
        *_instance_groups(model),
        *_warmup(model),
        *_thread_parameters(model),
    ]


def _number(version: Path) -> int:
    return int(version.name)


def _model_filename(config: ModelConfig) -> str | None:
    """None where there is no model file (ensembles) or we do not know its name (other backends)."""
    if config.platform == ENSEMBLE_PLATFORM:
        return None
    return (
        config.default_model_filename
        or _MODEL_FILE_BY_PLATFORM.get(config.platform)
        or _MODEL_FILE_BY_BACKEND.get(config.backend)
    )


def _served(config: ModelConfig, versions: list[Path]) -> list[Path]:
    """The version directories Triton loads under the config's version policy (default: the latest one)."""
    policy = config.version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return versions
    if choice == "specific":
        return [version for version in versions if _number(version) in policy.specific.versions]
    return versions[-max(policy.latest.num_versions, 1) :]


def _identity(model: Model) -> list[Problem]:
    config = model.config
    platform, backend = config.platform, config.backend
    problems = []
    if config.name and config.name != model.dir.name:
        problems.append(model.problem("name", repr(config.name), f"{model.dir.name!r}, the directory's name"))
    if not platform and not backend:
        expected = 'a platform or a backend, e.g. backend: "onnxruntime" or platform: "ensemble"'
        problems.append(model.problem("platform", '""', expected))
    elif platform == ENSEMBLE_PLATFORM:
        if backend:
            problems.append(model.problem("backend", repr(backend), '"" for platform "ensemble"'))
    elif platform and platform not in _PLATFORM_BACKEND and (not backend or backend in _KNOWN_BACKENDS):
        expected = f"one of {sorted([*_PLATFORM_BACKEND, ENSEMBLE_PLATFORM])}"
        problems.append(model.problem("platform", repr(platform), expected))
    elif platform and backend in _KNOWN_BACKENDS and backend != _PLATFORM_BACKEND[platform]:
        expected = f"{_PLATFORM_BACKEND[platform]!r} for platform {platform!r}, or a custom backend"
        problems.append(model.problem("backend", repr(backend), expected))
    if config.max_batch_size < 0:
        expected = ">= 0 (0: the model does not batch)"
        problems.append(model.problem("max_batch_size", str(config.max_batch_size), expected))
    return problems


def _versions(model: Model, versions: list[Path]) -> list[Problem]:
    if not versions:
        expected = f"a numeric version directory such as {model.dir / '1'} (names starting with 0 are ignored)"
        return [Problem(model.dir, "<versions>", "none", expected)]
    on_disk = sorted(_number(version) for version in versions)
    problems = [
        model.problem(f"version_policy.specific.versions[{index}]", str(number), f"an existing version ({on_disk})")
        for index, number in enumerate(model.config.version_policy.specific.versions)
        if number not in on_disk
    ]
    field = "default_model_filename" if model.config.default_model_filename else "<model file>"
    problems += [
        Problem(file, field, "missing", f"{file.name} in every version directory the version policy serves")
        for file in model.model_files
        if not file.exists()
    ]
    return problems


def _instance_groups(model: Model) -> list[Problem]:
    problems = []
    for index, group in enumerate(model.config.instance_group):
        where = f"instance_group[{index}]"
        # proto3 cannot tell an explicit `count: 0` from an omitted count, and Triton turns both
        # into 1, so only a negative count is certainly wrong.
        if group.count < 0:
            problems.append(model.problem(f"{where}.count", str(group.count), ">= 1 (0 or omitted means 1)"))
        if group.gpus and group.kind in (mc.ModelInstanceGroup.KIND_CPU, mc.ModelInstanceGroup.KIND_MODEL):
            kind = mc.ModelInstanceGroup.Kind.Name(group.kind)
            problems.append(model.problem(f"{where}.gpus", str(list(group.gpus)), f"no gpus for {kind}"))
        problems += [
            model.problem(f"{where}.gpus[{number}]", str(gpu), ">= 0 (a GPU device id)")
            for number, gpu in enumerate(group.gpus)
            if gpu < 0
        ]
    return problems


def _warmup(model: Model) -> list[Problem]:
    config = model.config
    inputs = {tensor.name: tensor for tensor in config.input}
    controls = fed_by_triton(config)  # warmup samples may feed sequence controls too
    # Triton documents batch_size >= 1 (1 without batching) and silently skips a 0 sample.
    limit = max(config.max_batch_size, 1)
    problems = []
    for index, sample in enumerate(config.model_warmup):
        where = f"model_warmup[{index}]"
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
    if source is None:
        problems.append(model.problem(where, "no data", "one of zero_data, random_data or input_data_file"))
    elif source == "input_data_file" and not (model.dir / "warmup" / data.input_data_file).is_file():
        expected = f"a file in {model.dir / 'warmup'}"
        problems.append(model.problem(f"{where}.input_data_file", repr(data.input_data_file), expected))
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
