"""A Python-based Triton backend named `onnxruntime`, for servers without the native one.

Triton uses `<backend-dir>/onnxruntime/model.py` for every model whose config says
`platform: "onnxruntime_onnx"` or `backend: "onnxruntime"`, so the config.pbtxt that the NGC
container serves with the native C++ backend runs here unchanged on CPU, with the real
`onnxruntime`. It honours the config like the native backend: the requests it is handed run as
one `session.run` per group of equal shapes, only requested outputs are returned, and the
thread and graph-optimization settings apply. Settings it cannot honour on CPU fail the load
with a message saying so.

This file runs inside Triton's Python stub: it imports only numpy, onnxruntime and the stub's
`triton_python_backend_utils`.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Any

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

# The native backend's `optimization.graph.level` values; 0 (unset) enables everything.
_GRAPH_LEVELS = {
    -1: ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    0: ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    1: ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    2: ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
}
_ORT_TO_TRITON = {
    "tensor(bool)": "TYPE_BOOL", "tensor(uint8)": "TYPE_UINT8", "tensor(uint16)": "TYPE_UINT16",
    "tensor(uint32)": "TYPE_UINT32", "tensor(uint64)": "TYPE_UINT64", "tensor(int8)": "TYPE_INT8",
    "tensor(int16)": "TYPE_INT16", "tensor(int32)": "TYPE_INT32", "tensor(int64)": "TYPE_INT64",
    "tensor(float16)": "TYPE_FP16", "tensor(float)": "TYPE_FP32", "tensor(double)": "TYPE_FP64",
    "tensor(string)": "TYPE_STRING", "tensor(bfloat16)": "TYPE_BF16",
}  # fmt: skip
_PARAMETERS = {
    "intra_op_thread_count",
    "inter_op_thread_count",
    "execution_mode",
    "enable_mem_arena",
    "enable_mem_pattern",
}


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        name = args["model_name"]
        if args.get("model_instance_kind") == "GPU":
            raise pb_utils.TritonModelException(
                f"model '{name}': instance_group KIND_GPU needs the native ONNX Runtime backend with CUDA "
                "(the NGC container on a GPU host); this CPU backend serves KIND_CPU instances only"
            )
        self._batching = int(config.get("max_batch_size", 0)) > 0
        filename = config.get("default_model_filename") or "model.onnx"
        path = os.path.join(args["model_repository"], args["model_version"], filename)
        self._session = ort.InferenceSession(
            path, sess_options=_session_options(name, config), providers=_providers(name, config)
        )
        _check_io(name, config, self._session)
        applied = self._session.get_session_options()  # read back from the session, not from our input
        pb_utils.Logger.log_info(
            f"model '{name}' instance {args['model_instance_name']}: onnxruntime {ort.__version__} "
            f"intra_op_num_threads={applied.intra_op_num_threads} "
            f"inter_op_num_threads={applied.inter_op_num_threads} "
            f"execution_mode={applied.execution_mode.name} "
            f"graph_optimization_level={applied.graph_optimization_level.name} "
            f"providers={self._session.get_providers()}"
        )
        self._input_names = [i.name for i in self._session.get_inputs()]
        self._output_names = [o["name"] for o in config.get("output", [])]

    def execute(self, requests: list[Any]) -> list[Any]:
        responses: list[Any] = [None] * len(requests)
        for indices, feeds in self._groups(requests):
            wanted = self._requested_outputs([requests[i] for i in indices])
            try:
                results = self._run_batched(feeds, wanted)
            except Exception as exc:  # one failing group must not fail the others
                error = pb_utils.TritonError(f"onnxruntime: {exc}")
                for i in indices:
                    responses[i] = pb_utils.InferenceResponse(output_tensors=[], error=error)
                continue
            for i, outputs in zip(indices, results, strict=True):
                names = requests[i].requested_output_names() or self._output_names
                tensors = [pb_utils.Tensor(n, outputs[n]) for n in names]
                responses[i] = pb_utils.InferenceResponse(output_tensors=tensors)
        return responses

    def _groups(self, requests: list[Any]) -> list[tuple[list[int], list[dict[str, np.ndarray]]]]:
        """Requests whose inputs can be concatenated along the batch dim, grouped together."""
        groups: dict[object, tuple[list[int], list[dict[str, np.ndarray]]]] = defaultdict(lambda: ([], []))
        for index, request in enumerate(requests):
            feed = {n: pb_utils.get_input_tensor_by_name(request, n).as_numpy() for n in self._input_names}
            key = tuple((a.dtype.str, a.shape[1:]) for a in feed.values()) if self._batching else index
            indices, feeds = groups[key]
            indices.append(index)
            feeds.append(feed)
        return list(groups.values())

    def _requested_outputs(self, requests: list[Any]) -> list[str]:
        wanted: set[str] = set()
        for request in requests:
            wanted.update(request.requested_output_names() or self._output_names)
        return [n for n in self._output_names if n in wanted]

    def _run(self, feed: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        return dict(zip(outputs, self._session.run(outputs, feed), strict=True))

    def _run_batched(self, feeds: list[dict[str, np.ndarray]], outputs: list[str]) -> list[dict[str, np.ndarray]]:
        if len(feeds) == 1:
            return [self._run(feeds[0], outputs)]
        merged = {n: np.concatenate([f[n] for f in feeds]) for n in self._input_names}
        result = self._run(merged, outputs)
        sizes = [next(iter(f.values())).shape[0] for f in feeds]
        bounds = np.cumsum(sizes)[:-1]
        split = {n: np.split(a, bounds) for n, a in result.items()}
        return [{n: parts[k] for n, parts in split.items()} for k in range(len(feeds))]


def _check_io(name: str, config: dict[str, Any], session: ort.InferenceSession) -> None:
    """Like the native backend: every graph input configured, every configured tensor in the graph
    with the same data type."""
    graph = {
        "input": {t.name: _ORT_TO_TRITON.get(t.type, t.type) for t in session.get_inputs()},
        "output": {t.name: _ORT_TO_TRITON.get(t.type, t.type) for t in session.get_outputs()},
    }
    problems = []
    for kind, tensors in graph.items():
        configured = {t["name"]: t["data_type"] for t in config.get(kind, [])}
        for tensor, data_type in configured.items():
            if tensor not in tensors:
                problems.append(f"{kind} '{tensor}' is not in the model (it has {sorted(tensors)})")
            elif tensors[tensor] != data_type:
                problems.append(f"{kind} '{tensor}' is {data_type} in the config but {tensors[tensor]} in the model")
        if kind == "input":
            problems += [f"model input '{t}' is missing from the config" for t in tensors if t not in configured]
    if not config.get("output"):
        problems.append("the config lists no output")
    if problems:
        raise pb_utils.TritonModelException(f"model '{name}': " + "; ".join(problems))


def _session_options(name: str, config: dict[str, Any]) -> ort.SessionOptions:
    options = ort.SessionOptions()
    parameters = {k: v.get("string_value", "") for k, v in config.get("parameters", {}).items()}
    unknown = sorted(k for k in parameters if k not in _PARAMETERS)
    if unknown:
        pb_utils.Logger.log_warn(f"model '{name}': parameters {unknown} are not ONNX Runtime settings; ignored")
    try:
        options.intra_op_num_threads = int(parameters.get("intra_op_thread_count", 0))
        options.inter_op_num_threads = int(parameters.get("inter_op_thread_count", 0))
        if int(parameters.get("execution_mode", 0)) == 1:
            options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        options.enable_cpu_mem_arena = parameters.get("enable_mem_arena", "1") not in ("0", "false")
        options.enable_mem_pattern = parameters.get("enable_mem_pattern", "1") not in ("0", "false")
    except ValueError as exc:
        raise pb_utils.TritonModelException(f"model '{name}': bad ONNX Runtime parameter ({exc})") from None
    level = int(config.get("optimization", {}).get("graph", {}).get("level", 0))
    if level not in _GRAPH_LEVELS:
        raise pb_utils.TritonModelException(
            f"model '{name}': optimization.graph.level {level} is not one of -1 (basic), 1 (extended), "
            "2 (disabled) or 0 (all)"
        )
    options.graph_optimization_level = _GRAPH_LEVELS[level]
    return options


def _providers(name: str, config: dict[str, Any]) -> list[str]:
    accelerators = config.get("optimization", {}).get("execution_accelerators", {})
    gpu = [a.get("name") for a in accelerators.get("gpu_execution_accelerator", [])]
    cpu = [a.get("name") for a in accelerators.get("cpu_execution_accelerator", [])]
    if gpu:
        raise pb_utils.TritonModelException(
            f"model '{name}': gpu_execution_accelerator {gpu} needs a GPU and the native ONNX Runtime "
            "backend (the NGC container); this local backend runs on CPU"
        )
    if not cpu:
        return ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    if cpu != ["openvino"] or "OpenVINOExecutionProvider" not in available:
        raise pb_utils.TritonModelException(
            f"model '{name}': cpu_execution_accelerator {cpu} cannot run here: only openvino is known, "
            f"and it needs onnxruntime-openvino (this onnxruntime offers {available})"
        )
    return ["OpenVINOExecutionProvider", "CPUExecutionProvider"]
