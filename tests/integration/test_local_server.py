"""The local tritonserver with the project's onnxruntime backend, against in-process ONNX Runtime."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient
from google.protobuf import json_format
from tritonclient.utils import InferenceServerException

from tests.integration.conftest import stub_processes
from tritonkit.errors import InputError, ServerError
from tritonkit.triton import model_config
from tritonkit.triton.infer import infer_once
from tritonkit.triton.server import LocalServer

pytestmark = pytest.mark.integration


def _reference(onnx_path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return dict(zip(["logits", "probabilities"], session.run(["logits", "probabilities"], {"x": x}), strict=True))


def _x(rows: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, 16)).astype(np.float32)


def test_good_models_are_ready_and_the_broken_one_is_reported(server: LocalServer) -> None:
    states = server.model_states()
    assert {n for n, s in states.items() if s.state == "READY"} == {
        "mlp_batching",
        "mlp_two_instances",
        "mlp_reload",
        "mlp_fixed",
    }
    failed = server.verify_all_ready()  # also checks every ready model runs the config we wrote
    assert [s.name for s in failed] == ["broken"]
    assert "input 'nope' is not in the model (it has ['x'])" in failed[0].reason
    assert "model input 'x' is missing from the config" in failed[0].reason
    assert "\n\nAt:" not in failed[0].reason, "the stub's traceback is trimmed"


@pytest.mark.parametrize(("model", "rows"), [("mlp_batching", 5), ("mlp_two_instances", 8), ("mlp_fixed", 1)])
def test_outputs_equal_in_process_onnxruntime(server: LocalServer, onnx_path: Path, model: str, rows: int) -> None:
    x = _x(rows)
    served = infer_once(server.client, model, {"x": x})
    expected = _reference(onnx_path, x)
    assert sorted(served) == ["logits", "probabilities"]
    for name, array in expected.items():
        np.testing.assert_allclose(served[name], array, rtol=1e-5, atol=1e-6)


def test_only_requested_outputs_are_returned(server: LocalServer, onnx_path: Path) -> None:
    x = _x(3)
    result = server.client.infer(
        "mlp_two_instances",
        _inputs(x),
        outputs=[grpcclient.InferRequestedOutput("logits")],
    )
    assert [o.name for o in result.get_response().outputs] == ["logits"]
    np.testing.assert_allclose(result.as_numpy("logits"), _reference(onnx_path, x)["logits"], rtol=1e-5, atol=1e-6)


def _inputs(x: np.ndarray) -> list[grpcclient.InferInput]:
    tensor = grpcclient.InferInput("x", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    return [tensor]


def _eventually(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _counts(server: LocalServer, model: str) -> tuple[int, int]:
    stats = server.client.get_inference_statistics(model, as_json=False).model_stats[0]
    return stats.inference_count, stats.execution_count


def test_dynamic_batching_executes_concurrent_requests_together(server: LocalServer, onnx_path: Path) -> None:
    requests = 16
    rows = [_x(1, seed=i) for i in range(requests)]
    inferences_before, executions_before = _counts(server, "mlp_batching")
    with ThreadPoolExecutor(max_workers=requests) as pool:
        results = list(pool.map(lambda x: infer_once(server.client, "mlp_batching", {"x": x}), rows))
    inferences, executions = (
        a - b for a, b in zip(_counts(server, "mlp_batching"), (inferences_before, executions_before), strict=True)
    )
    assert inferences == requests
    assert executions < inferences, f"{executions} executions for {inferences} inferences: nothing was batched"
    # Each request still gets its own rows back after the backend's one batched session.run.
    for x, result in zip(rows, results, strict=True):
        np.testing.assert_allclose(result["logits"], _reference(onnx_path, x)["logits"], rtol=1e-5, atol=1e-6)


def test_instance_count_is_honoured(server: LocalServer) -> None:
    assert len(stub_processes(server, "mlp_two_instances")) == 2
    assert len(stub_processes(server, "mlp_batching")) == 1


def test_thread_and_graph_settings_reach_onnxruntime(server: LocalServer) -> None:
    # ONNX Runtime's intra-op pool has (threads - 1) workers: 2 threads show as one more OS thread than 1.
    [(_, one_thread)] = stub_processes(server, "mlp_batching")
    two_threads = {threads for _, threads in stub_processes(server, "mlp_two_instances")}
    assert two_threads == {one_thread + 1}
    log = server.log_path.read_text()
    assert re.search(r"model 'mlp_batching' .*intra_op_num_threads=1 .*graph_optimization_level=ORT_ENABLE_BASIC", log)
    assert re.search(r"model 'mlp_two_instances' .*intra_op_num_threads=2 .*ORT_DISABLE_ALL", log)


def test_load_with_a_config_override_and_unload(server: LocalServer) -> None:
    written = model_config.read_config(server.model_repository / "mlp_reload" / "config.pbtxt")
    override = model_config.parse(model_config.render(written))
    override.instance_group[0].count = 2
    override.dynamic_batching.max_queue_delay_microseconds = 1_000
    server.load("mlp_reload", override)  # verifies the served config equals the override
    assert server.served_config("mlp_reload").instance_group[0].count == 2
    # The previous instance's stub exits asynchronously after the swap.
    assert _eventually(lambda: len(stub_processes(server, "mlp_reload")) == 2)
    assert infer_once(server.client, "mlp_reload", {"x": _x(2)})["logits"].shape == (2, 4)

    server.unload("mlp_reload")
    assert not server.client.is_model_ready("mlp_reload")
    server.load("mlp_reload")  # back to config.pbtxt
    assert server.served_config("mlp_reload").instance_group[0].count == 1
    assert not server.served_config("mlp_reload").HasField("dynamic_batching")


def test_verify_fails_when_the_served_config_differs(server: LocalServer) -> None:
    expected = model_config.read_config(server.model_repository / "mlp_batching" / "config.pbtxt")
    expected.dynamic_batching.max_queue_delay_microseconds = 5
    with pytest.raises(ServerError, match=r"dynamic_batching.max_queue_delay_microseconds: expected 5, got 200000"):
        server.verify("mlp_batching", expected)


def _tensorrt_accelerator(config: model_config.ModelConfig) -> None:
    config.optimization.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt")


def _unknown_graph_level(config: model_config.ModelConfig) -> None:
    config.optimization.graph.level = 7


def _non_integer_threads(config: model_config.ModelConfig) -> None:
    config.parameters["intra_op_thread_count"].string_value = "two"


def _gpu_instances(config: model_config.ModelConfig) -> None:
    config.instance_group[0].kind = model_config.mc.ModelInstanceGroup.KIND_GPU


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_tensorrt_accelerator, r"gpu_execution_accelerator \['tensorrt'\] needs a GPU"),
        (_unknown_graph_level, "optimization.graph.level 7"),
        (_non_integer_threads, "bad ONNX Runtime parameter"),
        (_gpu_instances, "GPU"),
    ],
)
def test_settings_the_cpu_backend_cannot_honour_fail_clearly(
    server: LocalServer, change: Callable[[model_config.ModelConfig], None], message: str
) -> None:
    """The backend's own refusals, reached through the raw client: LocalServer.load validates first
    and refuses some of these before Triton sees them."""
    config = model_config.read_config(server.model_repository / "mlp_reload" / "config.pbtxt")
    change(config)
    with pytest.raises(InferenceServerException, match=message):
        server.client.load_model("mlp_reload", config=json_format.MessageToJson(config))
    server.load("mlp_reload")  # the model still loads from its own config afterwards
    assert server.client.is_model_ready("mlp_reload")


def test_an_invalid_override_never_reaches_the_server(server: LocalServer) -> None:
    server.load("mlp_reload")
    config = model_config.read_config(server.model_repository / "mlp_reload" / "config.pbtxt")
    config.input[0].dims[0] = 0
    config.parameters["intra_op_thread_count"].string_value = "two"
    both = r"(?s)^model 'mlp_reload': not loaded(?=.*'x'.dims\[0\] = 0)(?=.*intra_op_thread_count)"
    with pytest.raises(InputError, match=both):
        server.load("mlp_reload", config)
    assert server.client.is_model_ready("mlp_reload")  # still serving the config it had
    server.verify("mlp_reload")


def test_a_missing_repository_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="model repository is not a directory"):
        LocalServer(tmp_path / "absent").start()
