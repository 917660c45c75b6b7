"""The export pipeline on a tiny random BERT: every variant gated, written, recorded and servable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.export.conftest import TEXTS, WriteRecipe, recipe_fields
from tritonkit.errors import InputError
from tritonkit.export import gates
from tritonkit.export.int8_memory import CACHE_ENV
from tritonkit.export.pipeline import VariantOutcome, export
from tritonkit.export.recipe import load_recipe
from tritonkit.export.record import RECORD_FILE, ExportRecord
from tritonkit.export.reference import tokenize
from tritonkit.export.source import folder_sha256
from tritonkit.specs import CPU_VARIANTS
from tritonkit.triton import model_config
from tritonkit.triton.infer import infer_once
from tritonkit.triton.server import LocalServer
from tritonkit.triton.validate import validate_path

Export = tuple[Path, list[VariantOutcome]]


def record_of(repository: Path, model: str) -> ExportRecord:
    return ExportRecord.model_validate_json((repository / model / RECORD_FILE).read_text())


def test_every_variant_passes_its_gates_and_is_written(tiny_export: Export) -> None:
    repository, outcomes = tiny_export
    assert [o.record.variant for o in outcomes] == [
        "fp32", "optimized", "int8_dynamic", "int8_static", "distilled", "fp16", "tensorrt",
    ]  # fmt: skip
    for outcome in outcomes:
        assert outcome.record.passed, [g.describe() for g in outcome.record.gates]
        model = repository / outcome.record.model
        assert outcome.written == model
        assert (model / "config.pbtxt").is_file() and (model / "1" / "model.onnx").is_file()
        assert (model / "tokenizer" / "tokenizer.json").is_file()  # text-in serving needs it
    assert validate_path(repository) == []


def test_fp32_has_dynamic_batch_and_sequence_axes(tiny_export: Export) -> None:
    repository, _ = tiny_export
    graph = onnx.load(str(repository / "tiny_fp32" / "1" / "model.onnx")).graph
    for tensor in graph.input:
        assert [d.dim_param for d in tensor.type.tensor_type.shape.dim] == ["batch_size", "sequence_length"]
    outputs = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in graph.output}
    assert outputs["sentence_embedding"] == ["batch_size", 32]
    assert outputs["token_embeddings"] == ["batch_size", "sequence_length", 32]


def test_records_say_what_was_exported_from_what(tiny_export: Export, tiny_embedder: Path) -> None:
    repository, _ = tiny_export
    fp32 = record_of(repository, "tiny_fp32")
    assert fp32.source_sha256 == folder_sha256(tiny_embedder)
    assert fp32.opset == 17 and fp32.task == "sentence-embedding"
    assert {"torch", "onnxruntime", "onnx", "optimum-onnx"} <= fp32.tools.keys()
    assert fp32.cpu and isinstance(fp32.cpu_features, list)
    assert fp32.file_bytes == (repository / "tiny_fp32" / "1" / "model.onnx").stat().st_size
    assert {g.metric for g in fp32.gates} == {"max_abs_diff", "min_mean_cosine"}
    assert fp32.details["evaluation_rows"] == len((TEXTS / "evaluation.txt").read_text().split("\n")) - 1

    fusions = record_of(repository, "tiny_optimized").details["fusions"]
    assert isinstance(fusions, dict) and fusions["Attention"] == 4 and fusions["SkipLayerNormalization"] == 8
    int8 = record_of(repository, "tiny_int8_dynamic").details
    assert int8["float_nodes"] == [] and int8["quantization_trials"] == 1  # a random tiny BERT quantizes cleanly
    distilled = record_of(repository, "tiny_distilled")
    assert distilled.details["kept_layers"] == [1, 3] and distilled.details["steps"] == 20


def test_quantized_graphs_really_are_int8(tiny_export: Export) -> None:
    repository, _ = tiny_export
    dynamic = {n.op_type for n in onnx.load(str(repository / "tiny_int8_dynamic" / "1" / "model.onnx")).graph.node}
    assert "DynamicQuantizeLinear" in dynamic and "MatMulInteger" in dynamic
    static = {n.op_type for n in onnx.load(str(repository / "tiny_int8_static" / "1" / "model.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= static
    fp16 = onnx.load(str(repository / "tiny_fp16" / "1" / "model.onnx")).graph
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in fp16.initializer)
    assert fp16.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert fp16.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # fp32 I/O kept


def test_gpu_variants_are_configured_for_gpu_hosts(tiny_export: Export) -> None:
    repository, outcomes = tiny_export
    fp16 = model_config.read_config(repository / "tiny_fp16" / "config.pbtxt")
    assert [g.kind for g in fp16.instance_group] == [fp16.instance_group[0].KIND_GPU]
    trt = model_config.read_config(repository / "tiny_tensorrt" / "config.pbtxt")
    assert trt.platform == "onnxruntime_onnx"  # no GPU here: ONNX Runtime's TensorRT accelerator
    (accelerator,) = trt.optimization.execution_accelerators.gpu_execution_accelerator
    assert accelerator.name == "tensorrt"
    assert accelerator.parameters["precision_mode"] == "FP16"
    inputs = [t.name for t in trt.input]
    assert accelerator.parameters["trt_profile_max_shapes"] == ",".join(
        f"{name}:{trt.max_batch_size}x64" for name in inputs
    )
    assert accelerator.parameters["trt_profile_min_shapes"] == ",".join(f"{name}:1x1" for name in inputs)
    notes = {o.record.variant: o.note for o in outcomes}
    assert "GPU" in notes["fp16"] and "GPU" in notes["tensorrt"]


@pytest.mark.integration
def test_cpu_variants_served_by_triton_match_onnxruntime(tiny_export: Export, tiny_embedder: Path) -> None:
    repository, _ = tiny_export
    texts = (TEXTS / "evaluation.txt").read_text().splitlines()[:6]
    (batch,) = tokenize(tiny_embedder, texts, max_length=64)
    with LocalServer(repository, load_all=False) as server:
        for variant in CPU_VARIANTS:
            name = f"tiny_{variant}"
            server.load(name)  # fails unless the served config equals the written one
            path = repository / name / "1" / "model.onnx"
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            feed = {i.name: batch[i.name] for i in session.get_inputs()}
            expected = session.run(["sentence_embedding"], feed)[0]
            served = infer_once(server.client, name, feed, ["sentence_embedding"])["sentence_embedding"]
            np.testing.assert_allclose(served, expected, atol=1e-5, err_msg=name)


def test_classifier_is_gated_on_argmax_agreement(tiny_classifier: Path, write_recipe, tmp_path: Path) -> None:
    fields = recipe_fields(tiny_classifier, "text-classification", variants=["fp32", "int8_dynamic"])
    outcomes = export(load_recipe(write_recipe(fields)), tmp_path / "repo", progress=lambda _: None)
    for outcome in outcomes:
        assert outcome.record.passed
        assert {g.metric for g in outcome.record.gates} <= {"max_abs_diff", "min_argmax_agreement"}
        assert "min_argmax_agreement" in {g.metric for g in outcome.record.gates}
    assert model_config.read_config(tmp_path / "repo" / "tiny_fp32" / "config.pbtxt").output[0].name == "logits"


def test_a_failing_gate_is_reported_and_nothing_is_written(tiny_embedder: Path, write_recipe, tmp_path: Path) -> None:
    # No int8 model is within 1e-9 of the reference: the gate must fail, by a stated amount.
    fields = recipe_fields(
        tiny_embedder, "sentence-embedding", variants=["int8_dynamic"], gates={"int8_dynamic": {"max_abs_diff": 1e-9}}
    )
    recipe = load_recipe(write_recipe(fields))
    (outcome,) = export(recipe, tmp_path / "repo", progress=lambda _: None)
    assert not outcome.record.passed and outcome.written is None
    (failed,) = [g for g in outcome.record.gates if not g.passed]
    assert failed.metric == "max_abs_diff" and "FAILED by" in failed.describe()
    assert not (tmp_path / "repo" / "tiny_int8_dynamic").exists()

    (kept,) = export(recipe, tmp_path / "repo", allow_failed=True, progress=lambda _: None)
    record = json.loads((tmp_path / "repo" / "tiny_int8_dynamic" / RECORD_FILE).read_text())
    assert kept.written is not None and record["passed"] is False


def test_existing_models_are_kept_without_force(tiny_embedder: Path, write_recipe, tmp_path: Path) -> None:
    recipe = load_recipe(write_recipe(recipe_fields(tiny_embedder, "sentence-embedding", variants=["fp32"])))
    export(recipe, tmp_path / "repo", progress=lambda _: None)
    before = (tmp_path / "repo" / "tiny_fp32" / "1" / "model.onnx").stat().st_mtime_ns
    with pytest.raises(InputError, match="tiny_fp32 already exist; pass --force"):
        export(recipe, tmp_path / "repo", progress=lambda _: None)
    assert (tmp_path / "repo" / "tiny_fp32" / "1" / "model.onnx").stat().st_mtime_ns == before
    export(recipe, tmp_path / "repo", force=True, progress=lambda _: None)


def test_gate_metrics_measure_what_they_say() -> None:
    expected = np.array([[1.0, 0.0], [0.0, 1.0]])
    candidate = np.array([[1.0, 0.0], [1.0, 1.0]])
    measured = gates.metrics(candidate, expected)
    assert measured.max_abs_diff == 1.0
    assert measured.min_cosine == pytest.approx(np.sqrt(0.5))
    assert measured.mean_cosine == pytest.approx((1 + np.sqrt(0.5)) / 2)
    assert measured.argmax_agreement == 0.5


def test_exporting_again_reuses_the_int8_search(
    tiny_embedder: Path, write_recipe: WriteRecipe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gate strict enough that the tiny BERT keeps MatMuls in float: the second export of the
    same model quantizes once with the first one's answer, and writes the same graph."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    strict = {"int8_dynamic": {"max_abs_diff": 8e-5}}  # all-int8 errs by ~2e-4; about half in float: ~6e-5
    recipe = load_recipe(write_recipe(recipe_fields(tiny_embedder, "sentence-embedding", variants=["int8_dynamic"],
                                                    gates=strict)))  # fmt: skip
    first, again = (export(recipe, tmp_path / name, progress=lambda _: None)[0].record for name in ("first", "again"))
    assert first.passed and again.passed
    kept = first.details["float_nodes"]
    assert isinstance(kept, list) and kept and first.details["float_nodes_from"] == "searched"
    assert first.details["quantization_trials"] > 1 + 4  # as prepared, four smoothings, then the bisection
    assert again.details["float_nodes"] == kept and again.details["quantization_trials"] == 1
    assert again.details["smoothing_alpha"] == first.details["smoothing_alpha"]
    assert again.details["float_nodes_from"] == "an earlier export's, checked again"
    graph = "tiny_int8_dynamic/1/model.onnx"
    assert (tmp_path / "first" / graph).read_bytes() == (tmp_path / "again" / graph).read_bytes()
