from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tritonkit.errors import InputError
from tritonkit.specs import DynamicBatchingKnobs, InstanceGroupKnobs, OnnxRuntimeKnobs, ServingKnobs, VersionPolicyKnobs
from tritonkit.triton import model_config, profiles
from tritonkit.triton.onnx_signature import OnnxSignature, TensorSignature, read_signature
from tritonkit.triton.repository import write_model
from tritonkit.triton.validate import validate_path

GOLDEN = Path(__file__).parent / "golden"

# A sentence encoder's signature (MiniLM-like): token ids in, embeddings out.
ENCODER = OnnxSignature(
    inputs=tuple(TensorSignature(n, "TYPE_INT64", (-1, -1)) for n in ("input_ids", "attention_mask", "token_type_ids")),
    outputs=(
        TensorSignature("last_hidden_state", "TYPE_FP32", (-1, -1, 384)),
        TensorSignature("sentence_embedding", "TYPE_FP32", (-1, 384)),
    ),
)


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_profile_matches_golden_file(name: str) -> None:
    config = model_config.build_config("encoder", ENCODER, profiles.profile(name))
    assert model_config.render(config) == (GOLDEN / f"{name}.pbtxt").read_text()


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_render_parse_round_trip(name: str) -> None:
    config = model_config.build_config("encoder", ENCODER, profiles.profile(name))
    assert model_config.parse(model_config.render(config)) == config


def test_unbatched_config_writes_max_batch_size_zero_and_full_dims() -> None:
    config = model_config.build_config("encoder", ENCODER, ServingKnobs())
    text = model_config.render(config)
    assert "max_batch_size: 0\n" in text
    assert text.index("max_batch_size") < text.index("input {")
    assert list(config.input[0].dims) == [-1, -1]
    assert model_config.parse(text) == config


def test_batched_config_drops_the_batch_dim() -> None:
    config = model_config.build_config("encoder", ENCODER, profiles.profile("throughput"))
    assert config.max_batch_size == 64
    assert list(config.output[0].dims) == [-1, 384]
    assert list(config.dynamic_batching.preferred_batch_size) == [16, 32]


def test_batching_a_fixed_first_dim_is_refused() -> None:
    fixed = OnnxSignature(
        inputs=(TensorSignature("x", "TYPE_FP32", (1, 4)),), outputs=(TensorSignature("y", "TYPE_FP32", (1, 2)),)
    )
    assert not fixed.batchable
    with pytest.raises(InputError, match=r"cannot batch.*x\[1, 4\]"):
        model_config.build_config("m", fixed, profiles.profile("latency"))
    config = model_config.build_config("m", fixed, profiles.profile("latency").without_batching())
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")


def test_knobs_map_to_the_fields_triton_reads() -> None:
    knobs = ServingKnobs(
        max_batch_size=8,
        dynamic_batching=DynamicBatchingKnobs(priority_levels=2, default_priority_level=1),
        instance_groups=(InstanceGroupKnobs(kind="KIND_GPU", count=2, gpus=(0, 1)),),
        onnxruntime=OnnxRuntimeKnobs(intra_op_thread_count=3, graph_optimization_level="disabled"),
        response_cache=True,
        version_policy=VersionPolicyKnobs(policy="specific", versions=(1, 3)),
    )
    config = model_config.build_config("m", ENCODER, knobs)
    assert config.dynamic_batching.priority_levels == 2 and config.dynamic_batching.default_priority_level == 1
    assert not config.dynamic_batching.HasField("default_queue_policy")
    assert list(config.instance_group[0].gpus) == [0, 1]
    assert config.parameters["intra_op_thread_count"].string_value == "3"
    assert "inter_op_thread_count" not in config.parameters
    assert config.optimization.graph.level == 2
    assert config.response_cache.enable
    assert list(config.version_policy.specific.versions) == [1, 3]


def test_apply_knobs_replaces_knob_fields_and_keeps_the_rest() -> None:
    base = model_config.build_config("m", ENCODER, profiles.profile("latency"))
    base.optimization.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt")
    retuned = model_config.apply_knobs(base, profiles.profile("throughput"))
    assert retuned.instance_group[0].count == 1 and len(retuned.instance_group) == 1
    assert retuned.parameters["intra_op_thread_count"].string_value == "0"
    assert retuned.optimization.execution_accelerators.gpu_execution_accelerator[0].name == "tensorrt"
    assert list(retuned.input) == list(base.input)
    assert base.instance_group[0].count == 2, "apply_knobs must not modify its input"


def test_warmup_uses_zeros_for_integers_and_concrete_dims() -> None:
    config = model_config.build_config("encoder", ENCODER, profiles.profile("balanced"))
    samples = {s.batch_size: s for s in config.model_warmup}
    assert sorted(samples) == [1, 8]
    ids = samples[8].inputs["input_ids"]
    assert ids.zero_data and list(ids.dims) == [128]


def test_parse_error_names_file_line_and_column() -> None:
    with pytest.raises(InputError, match=r"^models/m/config.pbtxt:2:\d+ : .*max_batch_sise"):
        model_config.parse('name: "m"\nmax_batch_sise: 4\n', "models/m/config.pbtxt")


def test_two_schedulers_do_not_parse() -> None:
    with pytest.raises(InputError, match="oneof"):
        model_config.parse("dynamic_batching {}\nsequence_batching {}\n", "c.pbtxt")


def test_differences_report_only_fields_we_set() -> None:
    written = model_config.build_config("m", ENCODER, profiles.profile("latency"))
    served = model_config.parse(model_config.render(written))
    served.backend = "onnxruntime"  # servers fill in fields of their own: not a difference
    served.instance_group[0].name = "m_0"
    assert model_config.differences(written, served) == []
    served.instance_group[0].count = 1
    served.dynamic_batching.default_queue_policy.max_queue_size = 99
    served.parameters["intra_op_thread_count"].string_value = "4"
    assert model_config.differences(written, served) == [
        "instance_group[0].count: expected 2, got 1",
        "dynamic_batching.default_queue_policy.max_queue_size: expected 8, got 99",
        "parameters['intra_op_thread_count'].string_value: expected '1', got '4'",
    ]


def test_differences_catch_batching_turned_on_behind_our_back() -> None:
    written = model_config.build_config("m", ENCODER, ServingKnobs())
    served = model_config.parse(model_config.render(written))
    served.max_batch_size = 4  # what an auto-completing backend does to a batchable model
    assert model_config.differences(written, served) == ["max_batch_size: expected 0, got 4"]


def test_read_signature_of_a_real_graph(mlp_onnx: Path) -> None:
    signature = read_signature(mlp_onnx)
    assert [(t.name, t.data_type, t.dims) for t in signature.inputs] == [("x", "TYPE_FP32", (-1, 16))]
    assert [t.name for t in signature.outputs] == ["logits", "probabilities"]
    assert signature.batchable


def test_read_signature_rejects_a_non_onnx_file(tmp_path: Path) -> None:
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"\x00not a model")
    with pytest.raises(InputError, match="not a readable ONNX model"):
        read_signature(bogus)
    with pytest.raises(InputError, match="no such ONNX file"):
        read_signature(tmp_path / "missing.onnx")


@pytest.mark.parametrize(
    ("tensor", "fragment"),
    [
        (TensorSignature("x", "TYPE_FP32", ()), "input 'x' is a scalar (rank 0)"),
        (TensorSignature("x", "TYPE_FP32", (), shaped=False), "input 'x' has no shape in the graph"),
    ],
)
def test_tensors_triton_cannot_declare_are_refused_by_name(tensor: TensorSignature, fragment: str) -> None:
    signature = OnnxSignature(inputs=(tensor,), outputs=(TensorSignature("y", "TYPE_FP32", (-1, 2)),))
    for knobs in (ServingKnobs(), profiles.profile("latency")):
        with pytest.raises(InputError, match=re.escape(fragment)):
            model_config.build_config("m", signature, knobs)


def test_a_graph_without_outputs_is_refused() -> None:
    signature = OnnxSignature(inputs=(TensorSignature("x", "TYPE_FP32", (-1, 2)),), outputs=())
    with pytest.raises(InputError, match="no outputs"):
        model_config.build_config("m", signature, ServingKnobs())


def test_a_batch_only_tensor_is_declared_as_triton_expects(tmp_path: Path) -> None:
    """A [batch] output (one value per request) is `dims: [1]` reshaped to nothing, and validates."""
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["total"], keepdims=0)],
        "sum",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("total", TensorProto.FLOAT, ["batch"])],
        [numpy_helper.from_array(np.array([1], np.int64), "axes")],
    )
    onnx_file = tmp_path / "sum.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9), str(onnx_file))
    config = model_config.build_config("sum", read_signature(onnx_file), profiles.profile("latency"))
    output = config.output[0]
    assert list(output.dims) == [1] and output.HasField("reshape") and list(output.reshape.shape) == []
    assert model_config.parse(model_config.render(config)) == config
    written = write_model(tmp_path / "repo", config, onnx_file)  # refuses what the validator refuses
    assert validate_path(written) == []
    unbatched = model_config.build_config("sum", read_signature(onnx_file), ServingKnobs())
    assert list(unbatched.output[0].dims) == [-1] and not unbatched.output[0].HasField("reshape")
