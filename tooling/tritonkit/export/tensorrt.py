"""TensorRT: a `tensorrt_plan` engine where a GPU and the tensorrt package exist, otherwise the ONNX
model served by ONNX Runtime's TensorRT execution accelerator (configured in config.pbtxt).

Both cover the same shapes: batch 1..max_batch_size, sequence 1..max_sequence_length (an image's
fixed size as it is), tuned for half of each (the dynamic batcher rarely fills the largest batch).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tritonkit.errors import InputError
from tritonkit.export.tasks import Batch, Task
from tritonkit.triton.model_config import ModelConfig
from tritonkit.triton.onnx_signature import OnnxSignature

PLAN_FILE = "model.plan"
_WORKSPACE_BYTES = 1 << 30
_ENGINE_CACHE = "/tmp/tritonkit-trt-cache"  # inside the serving container: rebuilt engines are reused


def gpu_available() -> bool:
    if importlib.util.find_spec("tensorrt") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def profile_shapes(dims: Sequence[int], max_batch_size: int, max_sequence_length: int) -> dict[str, tuple[int, ...]]:
    """min/opt/max shape of one input of the optimization profile: its first axis the batch, any
    other dynamic (-1) axis a sequence, fixed axes (an image's channels and size) as they are."""
    batch = max(max_batch_size, 1)
    sizes = {
        "min": (1, 1),
        "opt": (max(batch // 2, 1), max(max_sequence_length // 2, 1)),
        "max": (batch, max_sequence_length),
    }
    return {
        which: tuple(first if axis == 0 else (sequence if dim < 0 else dim) for axis, dim in enumerate(dims))
        for which, (first, sequence) in sizes.items()
    }


def build_plan(onnx_path: Path, output: Path, *, max_batch_size: int, max_sequence_length: int) -> Path:
    """Build an FP16 (where the GPU has fast FP16) engine with one optimization profile."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise InputError(f"{onnx_path}: TensorRT cannot parse the ONNX model: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, _WORKSPACE_BYTES)
    if builder.platform_has_fast_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        shapes = profile_shapes(tuple(tensor.shape), max_batch_size, max_sequence_length)
        profile.set_shape(tensor.name, shapes["min"], shapes["opt"], shapes["max"])
    config.add_optimization_profile(profile)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise InputError(f"{onnx_path}: TensorRT failed to build an engine (see the messages above)")
    output.write_bytes(bytes(engine))
    return output


def plan_outputs(plan: Path, batches: list[Batch], task: Task) -> np.ndarray:
    """Run the engine on the gate batches (CUDA buffers through torch), so the plan itself is gated."""
    import tensorrt as trt
    import torch

    engine = trt.Runtime(trt.Logger(trt.Logger.WARNING)).deserialize_cuda_engine(plan.read_bytes())
    context = engine.create_execution_context()
    stream = torch.cuda.current_stream()
    names = [engine.get_tensor_name(index) for index in range(engine.num_io_tensors)]
    inputs = [name for name in names if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT]
    results = []
    for batch in batches:
        buffers = {name: torch.from_numpy(batch[name]).cuda() for name in inputs}
        for name, tensor in buffers.items():
            context.set_input_shape(name, tuple(tensor.shape))
        for name in names:
            if name not in buffers:
                dtype = torch.from_numpy(np.empty(0, dtype=trt.nptype(engine.get_tensor_dtype(name)))).dtype
                buffers[name] = torch.empty(tuple(context.get_tensor_shape(name)), dtype=dtype, device="cuda")
            context.set_tensor_address(name, buffers[name].data_ptr())
        if not context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"{plan}: TensorRT execution failed")
        stream.synchronize()
        results.append(task.rows(buffers[task.output].float().cpu().numpy(), batch))
    return np.concatenate(results)


def plan_config(config: ModelConfig) -> ModelConfig:
    """The ONNX model's config turned into a `tensorrt_plan` one: same I/O, no ONNX Runtime settings."""
    plan = ModelConfig()
    plan.CopyFrom(config)
    plan.platform = "tensorrt_plan"
    plan.default_model_filename = PLAN_FILE
    plan.ClearField("optimization")
    plan.ClearField("parameters")
    return plan


def add_tensorrt_accelerator(
    config: ModelConfig, signature: OnnxSignature, *, max_batch_size: int, max_sequence_length: int
) -> None:
    """ONNX Runtime's TensorRT execution provider for this model on a GPU host: FP16, a cached engine
    and an explicit profile, so batches the dynamic batcher forms never trigger a rebuild."""
    shapes = {t.name: profile_shapes(t.dims, max_batch_size, max_sequence_length) for t in signature.inputs}
    accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator.add()
    accelerator.name = "tensorrt"
    parameters = {
        "precision_mode": "FP16",
        "max_workspace_size_bytes": str(_WORKSPACE_BYTES),
        "trt_engine_cache_enable": "true",
        "trt_engine_cache_path": f"{_ENGINE_CACHE}/{config.name}",
        **{
            f"trt_profile_{which}_shapes": ",".join(
                f"{name}:{'x'.join(str(d) for d in shape[which])}" for name, shape in shapes.items()
            )
            for which in ("min", "opt", "max")
        },
    }
    accelerator.parameters.update(parameters)
