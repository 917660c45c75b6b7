"""text-generation end to end on a tiny random GPT-2: the KV-cache decoder exported with optimum,
gated by greedy decoding through its own cache loop in ONNX Runtime against PyTorch's, written
with the streaming generator model beside it, and served by the real local Triton: the decoder
on an empty cache, the generator's token stream equal to transformers' greedy generate()."""

from __future__ import annotations

import ast
import queue
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import tritonclient.grpc as grpcclient
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer
from tritonclient.grpc import model_config_pb2 as mc

from tests.e2e.test_check_cli import write_targets
from tests.e2e.test_cli import run
from tests.export.conftest import ALL_TEXTS, TEXTS, recipe_fields
from tests.export.tiny_decoders import POSITIONS, gpt2_model, with_eos
from tritonkit.errors import InputError
from tritonkit.export import gates, generation, variants
from tritonkit.export.gating import GreedyGating
from tritonkit.export.int8_graphs import Int8Graphs
from tritonkit.export.pipeline import VariantOutcome, export
from tritonkit.export.recipe import load_recipe, read_texts
from tritonkit.export.source import resolve_source
from tritonkit.export.tasks import TASKS
from tritonkit.report.results import Results
from tritonkit.specs import DEFAULT_GATES, GenerationSpec, SourceSpec
from tritonkit.triton import model_config
from tritonkit.triton.infer import infer_once
from tritonkit.triton.server import LocalServer
from tritonkit.triton.validate import validate_path

CAP = 100  # generation.max_new_tokens of the recipe: the most one request may ask for
GATED = GenerationSpec()  # the default gate: its first prompts, its new tokens each
LAYERS, HEADS, HEAD_DIM, VOCABULARY = 2, 4, 8, 1000
EVALUATION = read_texts(TEXTS / "evaluation.txt")
PROMPT = EVALUATION[0]


def quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class Exported:
    source: Path
    eos_source: Path  # the same weights, stopping at a token its greedy decoding of PROMPT reaches
    repository: Path
    outcomes: list[VariantOutcome]

    def model(self, name: str) -> Path:
        return self.repository / name


def _write_recipe(folder: Path, source: Path, **overrides: object) -> Path:
    fields = recipe_fields(source, "text-generation", **overrides)
    del fields["distillation"]
    recipe = folder / f"{fields['name']}.yaml"
    recipe.write_text(yaml.safe_dump(fields))
    return recipe


@torch.inference_mode()
def greedy(source: Path, prompt: str, max_new_tokens: int) -> list[int]:
    """transformers' own greedy decoding, stopping at the model's EOS as generate() does."""
    ids = AutoTokenizer.from_pretrained(str(source), local_files_only=True)(prompt, return_tensors="pt")
    model = AutoModelForCausalLM.from_pretrained(str(source), local_files_only=True).eval()
    out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=0)
    return [int(token) for token in out[0, ids["input_ids"].shape[1] :]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """The default variants of the tiny GPT-2, and fp32 of its EOS twin, in one repository."""
    root = tmp_path_factory.mktemp("generation")
    source = gpt2_model(root / "gpt2", ALL_TEXTS)
    recipe = _write_recipe(root, source, name="tiny", generation={"max_new_tokens": CAP})
    fields = yaml.safe_load(recipe.read_text())
    del fields["variants"]  # the defaults: those that apply to text generation
    recipe.write_text(yaml.safe_dump(fields))
    repository = root / "model_repository"
    outcomes = export(load_recipe(recipe), repository, progress=quiet)
    eos_source = Path(shutil.copytree(source, root / "gpt2-eos"))
    with_eos(eos_source, greedy(source, PROMPT, 8)[4])
    export(load_recipe(_write_recipe(root, eos_source, name="eos", variants=["fp32"])), repository, progress=quiet)
    return Exported(source, eos_source, repository, outcomes)


def test_the_variants_that_apply_pass_their_gates_and_are_written_with_a_generator(exported: Exported) -> None:
    assert [o.record.variant for o in exported.outcomes] == ["fp32", "optimized", "int8_dynamic"]
    for outcome in exported.outcomes:
        record = outcome.record
        assert record.passed, [g.describe() for g in record.gates]
        assert record.task == "text-generation"
        default = DEFAULT_GATES[record.variant]
        gated = {m for m in ("max_abs_diff", "min_token_agreement") if getattr(default, m) is not None}
        assert {g.metric for g in record.gates} == gated
        assert record.details["evaluation_rows"] == GATED.gate_prompts * GATED.gate_new_tokens  # tokens compared
        assert outcome.written == exported.model(f"tiny_{record.variant}")
        assert outcome.companions == (exported.model(f"tiny_{record.variant}_generate"),)
        assert (outcome.written / "1" / "model.onnx").is_file()
        (generator,) = outcome.companions
        assert (generator / "1" / "model.py").is_file()
        for model in (outcome.written, generator):
            assert (model / "tokenizer" / "tokenizer.json").is_file()
    assert validate_path(exported.repository) == []  # what `tritonkit validate` checks


def test_fp32_decodes_every_token_as_pytorch_does(exported: Exported) -> None:
    metrics = {o.record.variant: o.record.details["metrics"] for o in exported.outcomes}
    assert isinstance(metrics["fp32"], dict) and isinstance(metrics["optimized"], dict)
    assert metrics["fp32"]["token_agreement"] == 1.0
    assert metrics["optimized"]["token_agreement"] == 1.0
    assert metrics["fp32"]["max_abs_diff"] < 1e-5  # the first step's logits, every prompt position
    # The recorded figure is the gate's own: recomputed here from the served graph and PyTorch.
    model = exported.model("tiny_fp32") / "1" / "model.onnx"
    prompts = generation.prompt_ids(exported.source, EVALUATION[: GATED.gate_prompts], 64)
    decoded = generation.decode_onnx(model, prompts, GATED.gate_new_tokens)
    assert decoded.tokens == [greedy_without_eos(exported.source, p, GATED.gate_new_tokens) for p in prompts]
    assert len({token for tokens in decoded.tokens for token in tokens}) > 20  # varied, not one repeated token


@torch.inference_mode()
def greedy_without_eos(source: Path, prompt: list[int], new_tokens: int) -> list[int]:
    model = AutoModelForCausalLM.from_pretrained(str(source), local_files_only=True).eval()
    ids = torch.tensor([prompt])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, do_sample=False,
                         eos_token_id=None, pad_token_id=0)  # fmt: skip
    return [int(token) for token in out[0, len(prompt) :]]


def test_the_decoder_takes_its_cache_and_does_not_batch(exported: Exported) -> None:
    cache = [f"{layer}.{kind}" for layer in range(LAYERS) for kind in ("key", "value")]
    for outcome in exported.outcomes:
        config = model_config.read_config(exported.model(outcome.record.model) / "config.pbtxt")
        assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
        assert not config.model_warmup  # the mask is past + new tokens long: no one warmup size fits
        inputs = {t.name: list(t.dims) for t in config.input}
        assert inputs == {
            "input_ids": [-1, -1],
            "attention_mask": [-1, -1],
            "position_ids": [-1, -1],
            **{f"past_key_values.{name}": [-1, HEADS, -1, HEAD_DIM] for name in cache},
        }
        outputs = {t.name: list(t.dims) for t in config.output}
        assert outputs == {"logits": [-1, -1, VOCABULARY], **{f"present.{n}": [-1, HEADS, -1, HEAD_DIM] for n in cache}}


def test_the_generator_follows_the_streaming_contract(exported: Exported) -> None:
    config = model_config.read_config(exported.model("tiny_fp32_generate") / "config.pbtxt")
    assert config.backend == "python" and config.model_transaction_policy.decoupled
    assert config.max_batch_size == 0
    assert [(t.name, mc.DataType.Name(t.data_type), list(t.dims)) for t in config.input] == [
        ("input_ids", "TYPE_INT64", [-1]),
        ("max_new_tokens", "TYPE_INT32", [1]),
    ]
    assert [(t.name, mc.DataType.Name(t.data_type), list(t.dims)) for t in config.output] == [
        ("token_id", "TYPE_INT64", [1])
    ]
    parameters = {key: value.string_value for key, value in config.parameters.items()}
    assert parameters["decoder_model"] == "tiny_fp32"
    assert parameters["max_new_tokens"] == str(CAP) and parameters["max_positions"] == str(POSITIONS)
    assert parameters["eos_token_ids"] == "[0]"  # <|endoftext|>, from the model's config
    # It must run in the NGC container too, whose Python models have no onnxruntime.
    tree = ast.parse((exported.model("tiny_fp32_generate") / "1" / "model.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported - {"__future__", "json", "collections", "concurrent", "dataclasses", "threading", "typing"} == {
        "numpy",
        "triton_python_backend_utils",
    }


def test_int8_quantizes_the_gpt2_projections(exported: Exported) -> None:
    """GPT-2's Conv1D layers export as Gemm, which dynamic quantization skips: rewritten as MatMuls,
    every projection and the head are int8 but those kept float to meet the token gate."""
    (int8,) = [o.record for o in exported.outcomes if o.record.variant == "int8_dynamic"]
    graph = onnx.load(str(exported.model("tiny_int8_dynamic") / "1" / "model.onnx")).graph
    ops = [node.op_type for node in graph.node]
    projections = LAYERS * 4 + 1  # attention in and out, MLP in and out per layer; the LM head
    kept = int8.details["float_nodes"]
    assert isinstance(kept, list) and len(kept) < projections
    assert ops.count("MatMulInteger") == projections - len(kept)
    assert "Gemm" not in ops


def test_the_generation_gate_cuts_at_the_first_divergence() -> None:
    expected = [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert gates.token_agreement(expected, expected) == 1.0
    assert gates.token_agreement([[1, 2, 9, 4], [5, 6, 7, 8]], expected) == 6 / 8  # 3 and 4 differ: text diverged
    assert gates.token_agreement([[9, 2, 3, 4], [5, 6, 7, 9]], expected) == 3 / 8


def test_what_does_not_apply_to_a_decoder_is_refused(exported: Exported, tmp_path: Path) -> None:
    recipe = _write_recipe(tmp_path, exported.source, variants=["fp32", "int8_static", "distilled"])
    with pytest.raises(InputError) as refused:
        export(load_recipe(recipe), tmp_path / "repo", progress=quiet)
    for variant in ("int8_static", "distilled"):
        assert f"variant {variant} applies to encoder tasks, not to text-generation" in str(refused.value)
    classifier = recipe_fields(exported.source, "text-classification", generation={"gate_prompts": 2})
    (tmp_path / "classifier.yaml").write_text(yaml.safe_dump(classifier))
    with pytest.raises(InputError, match="generation: only text-generation decodes; text-classification does not"):
        export(load_recipe(tmp_path / "classifier.yaml"), tmp_path / "repo", progress=quiet)
    # A generator is a model of its own: it is not replaced without --force either.
    (tmp_path / "repo" / "tiny_fp32_generate").mkdir(parents=True)
    with pytest.raises(InputError, match="tiny_fp32_generate already exist; pass --force"):
        export(load_recipe(_write_recipe(tmp_path, exported.source, variants=["fp32"])), tmp_path / "repo")


def test_new_tokens_are_bounded_by_the_context(exported: Exported, tmp_path: Path) -> None:
    """An explicit cap at or beyond the context is refused; the default (256) is capped at it."""
    generation_fields = {"max_new_tokens": POSITIONS, "gate_new_tokens": POSITIONS}
    recipe = _write_recipe(tmp_path, exported.source, variants=["fp32"], generation=generation_fields)
    with pytest.raises(InputError) as refused:
        export(load_recipe(recipe), tmp_path / "repo", progress=quiet)
    for field in ("max_new_tokens", "gate_new_tokens"):
        assert f"generation.{field} {POSITIONS} leaves no room for a prompt in the model's {POSITIONS}" in str(
            refused.value
        )
    default = model_config.read_config(exported.model("eos_fp32_generate") / "config.pbtxt")
    assert default.parameters["max_new_tokens"].string_value == str(POSITIONS - 1)


def test_tensorrt_is_configured_for_the_decoders_shapes(exported: Exported, tmp_path: Path) -> None:
    recipe = _write_recipe(tmp_path, exported.source, variants=["tensorrt"])
    (outcome,) = export(load_recipe(recipe), tmp_path / "repo", progress=quiet)
    assert outcome.record.passed and "GPU" in outcome.note
    config = model_config.read_config(tmp_path / "repo" / "tiny_tensorrt" / "config.pbtxt")
    assert config.platform == "onnxruntime_onnx" and config.max_batch_size == 0
    (accelerator,) = config.optimization.execution_accelerators.gpu_execution_accelerator
    shapes = {
        which: dict(entry.split(":") for entry in accelerator.parameters[f"trt_profile_{which}_shapes"].split(","))
        for which in ("min", "opt", "max")
    }
    assert shapes["min"]["past_key_values.0.key"] == f"1x{HEADS}x0x{HEAD_DIM}"  # the first step's empty cache
    assert shapes["max"]["past_key_values.1.value"] == f"1x{HEADS}x{POSITIONS - 1}x{HEAD_DIM}"
    assert shapes["max"]["attention_mask"] == f"1x{POSITIONS}" and shapes["opt"]["input_ids"] == "1x1"


# -- served by the real local Triton ----------------------------------------------------------


@pytest.fixture(scope="module")
def server(exported: Exported) -> Iterator[LocalServer]:
    with LocalServer(exported.repository, load_all=False) as running:
        for model in ("tiny_fp32", "tiny_fp32_generate", "eos_fp32", "eos_fp32_generate"):
            running.load(model)  # fails unless the served config equals the written one
        yield running


@dataclass(frozen=True)
class Response:
    request: str
    tokens: list[int] | None  # the token_id output's elements; None: the empty final response
    final: bool


class Streams:
    """One gRPC stream to the server (tritonclient's streaming API); requests told apart by id."""

    def __init__(self, url: str) -> None:
        self.client = grpcclient.InferenceServerClient(url)
        self.received: queue.Queue[Response | Exception] = queue.Queue()
        self.client.start_stream(callback=self._received)

    def _received(self, result: grpcclient.InferResult | None, error: Exception | None) -> None:
        if result is None:
            self.received.put(error or RuntimeError("neither a result nor an error"))
            return
        response = result.get_response()
        tokens = result.as_numpy("token_id")
        final = response.parameters["triton_final_response"].bool_param
        self.received.put(Response(response.id, None if tokens is None else tokens.tolist(), final))

    def send(self, model: str, ids: list[int], max_new_tokens: int, request: str = "0") -> None:
        inputs = [grpcclient.InferInput("input_ids", [len(ids)], "INT64"),
                  grpcclient.InferInput("max_new_tokens", [1], "INT32")]  # fmt: skip
        inputs[0].set_data_from_numpy(np.array(ids, np.int64))
        inputs[1].set_data_from_numpy(np.array([max_new_tokens], np.int32))
        self.client.async_stream_infer(model, inputs, request_id=request, enable_empty_final_response=True)

    def until_final(self, requests: set[str]) -> list[Response]:
        """Every response, in arrival order, until each of `requests` had its final one."""
        responses: list[Response] = []
        while requests - {r.request for r in responses if r.final}:
            got = self.received.get(timeout=120)
            if isinstance(got, Exception):
                raise got
            responses.append(got)
        return responses

    def error(self) -> str:
        got = self.received.get(timeout=120)
        assert isinstance(got, Exception), f"expected an error response, got {got}"
        return str(got)

    def __enter__(self) -> Streams:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.stop_stream()
        self.client.close()


def ids_of(source: Path, text: str) -> list[int]:
    return list(AutoTokenizer.from_pretrained(str(source), local_files_only=True)(text)["input_ids"])


def tokens_of(responses: list[Response], request: str = "0") -> list[int]:
    """The streamed tokens, checked one per response and then one empty final response."""
    mine = [r for r in responses if r.request == request]
    assert [r.final for r in mine] == [False] * (len(mine) - 1) + [True]
    assert mine[-1].tokens is None
    assert all(r.tokens is not None and len(r.tokens) == 1 for r in mine[:-1])
    return [r.tokens[0] for r in mine[:-1] if r.tokens is not None]


@pytest.mark.integration
def test_the_decoder_serves_a_first_step_on_an_empty_cache(exported: Exported, server: LocalServer) -> None:
    ids = ids_of(exported.source, PROMPT)
    decoder = generation.read_decoder(exported.model("tiny_fp32") / "1" / "model.onnx")
    feeds = decoder.step(ids, len(ids), decoder.empty_cache())  # past length 0
    session = ort.InferenceSession(str(exported.model("tiny_fp32") / "1" / "model.onnx"))
    expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True))
    served = infer_once(server.client, "tiny_fp32", feeds)
    assert served["present.0.key"].shape == (1, HEADS, len(ids), HEAD_DIM)
    for name, array in expected.items():
        np.testing.assert_allclose(served[name], array, atol=1e-6, err_msg=name)


@pytest.mark.integration
def test_a_stream_is_pytorch_greedy_one_token_per_response(exported: Exported, server: LocalServer) -> None:
    with Streams(server.grpc_url) as streams:
        streams.send("tiny_fp32_generate", ids_of(exported.source, PROMPT), 12)
        responses = streams.until_final({"0"})
    assert len(responses) == 12 + 1  # a response per token, then the empty final one
    assert tokens_of(responses) == greedy(exported.source, PROMPT, 12)


@pytest.mark.integration
def test_a_stream_stops_at_the_models_eos(exported: Exported, server: LocalServer) -> None:
    expected = greedy(exported.eos_source, PROMPT, 12)
    assert len(expected) < 12  # generate() stopped at the EOS: the stream must too, after sending it
    with Streams(server.grpc_url) as streams:
        streams.send("eos_fp32_generate", ids_of(exported.eos_source, PROMPT), 12)
        assert tokens_of(streams.until_final({"0"})) == expected


@pytest.mark.integration
def test_one_generator_instance_serves_concurrent_streams(exported: Exported, server: LocalServer) -> None:
    """A short stream sent just after a long one ends first: each request has a thread of its own
    (were execute() to decode in place, the short one would wait for the long one to end)."""
    long, short = "Refund please.", EVALUATION[1]
    with Streams(server.grpc_url) as streams:
        streams.send("tiny_fp32_generate", ids_of(exported.source, long), CAP, request="long")
        streams.send("tiny_fp32_generate", ids_of(exported.source, short), 5, request="short")
        responses = streams.until_final({"long", "short"})
    assert tokens_of(responses, "long") == greedy(exported.source, long, CAP)
    assert tokens_of(responses, "short") == greedy(exported.source, short, 5)
    finals = [r.request for r in responses if r.final]
    assert finals == ["short", "long"]


@pytest.mark.integration
def test_requests_it_cannot_serve_get_an_error_response_and_it_keeps_serving(
    exported: Exported, server: LocalServer
) -> None:
    ids = ids_of(exported.source, PROMPT)
    refused = [
        (ids, CAP + 1, f"max_new_tokens {CAP + 1} is outside 1..{CAP}, this model's cap"),
        (ids, 0, "max_new_tokens 0 is outside"),
        ([], 4, "input_ids is empty"),
        ([*ids[:-1], VOCABULARY], 4, f"ids outside 0..{VOCABULARY - 1}"),
        ((ids * POSITIONS)[: POSITIONS - 10], 20, f"more than the model's {POSITIONS} positions"),
    ]
    for prompt, max_new_tokens, message in refused:
        with Streams(server.grpc_url) as streams:
            streams.send("tiny_fp32_generate", prompt, max_new_tokens)
            error = streams.error()
            assert "tiny_fp32_generate" in error and message in error, error
            assert streams.received.empty()  # one error response, nothing after it
    assert server.running
    with Streams(server.grpc_url) as streams:
        streams.send("tiny_fp32_generate", ids, 3)
        assert tokens_of(streams.until_final({"0"})) == greedy(exported.source, PROMPT, 3)


@pytest.mark.integration
def test_check_measures_the_exported_generator_streaming(exported: Exported, tmp_path: Path) -> None:
    """`tritonkit check` as a user runs it on the export: a prompts payload (real sentences through
    the tokenizer shipped beside tiny_fp32_generate), streamed over gRPC, judged on TTFT, ITL and
    output tokens/s. The check loads only the generator; the generator loads its decoder."""
    target = {
        "name": "chat", "model": "tiny_fp32_generate",
        # Four windows at least: with two, the tokens/s interval (batch means, t with 1 degree of
        # freedom) is wide enough to reach 0 and leave any floor inconclusive.
        "load": {"mode": "closed", "concurrency": 2, "warmup_s": 0.5, "window_s": 0.5, "duration_s": 3.0,
                 "stable_windows": 4},
        "payload": {"kind": "prompts", "texts": str(TEXTS / "evaluation.txt"), "max_new_tokens": 6, "count": 8},
        "slo": {"ttft_p99_ms": 60_000, "itl_p99_ms": 60_000, "min_output_tokens_per_s": 0.01},
    }  # fmt: skip
    targets = write_targets(tmp_path / "targets.yaml", [target])
    report = tmp_path / "report"
    result = run("check", targets, "--model-repository", exported.repository, "--report-dir", report, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (measurement,) = Results.model_validate_json((report / "results.json").read_text()).measurements
    assert measurement.error_count == 0 and measurement.generation is not None
    streamed, latency = measurement.generation, measurement.latency
    assert streamed.ttft is not None and streamed.itl is not None and latency is not None
    assert streamed.tokens_per_request == 6  # every stream gave what it asked for (none ended at EOS)
    assert streamed.ttft.p50_us is not None and latency.p50_us is not None
    assert 0 < streamed.ttft.p50_us <= latency.p50_us  # the first token comes before the stream ends


@pytest.mark.integration
def test_a_server_that_loads_everything_at_start_serves_the_generator(exported: Exported) -> None:
    """`tritonkit serve` (and the container) load every model at start, while the server is not
    ready yet to answer the generator's readiness question about its decoder: it must load anyway."""
    with LocalServer(exported.repository) as running:  # load_all: --load-model=*
        assert running.client.is_model_ready("tiny_fp32_generate")
        with Streams(running.grpc_url) as streams:
            streams.send("tiny_fp32_generate", ids_of(exported.source, PROMPT), 4)
            responses = streams.until_final({"0"})
    assert tokens_of(responses) == greedy(exported.source, PROMPT, 4)


def test_int8_reads_a_decoders_activations_on_each_prompts_first_step(exported: Exported, tmp_path: Path) -> None:
    """Smoothing and the int8 ranking run on a decoder too: its calibration prompts' first steps
    feed the graph, every projection is ranked, and the smoothed graph decodes the same tokens."""
    fp32 = exported.model("tiny_fp32") / "1" / "model.onnx"
    prompts = generation.prompt_ids(exported.source, EVALUATION[:4], 32)
    gating = GreedyGating(resolve_source(SourceSpec(path=exported.source)), TASKS["text-generation"], GATED,
                          lambda: prompts, lambda: prompts, quiet)  # fmt: skip
    prepared = tmp_path / "prepared.onnx"
    variants.prepare_for_quantization(fp32, prepared, gemms_as_matmuls=True)
    graphs = Int8Graphs(prepared, gating.calibration_inputs(fp32))
    assert len(graphs.ranked(None)) == LAYERS * 4 + 1  # every projection and the head
    smoothed = generation.decode_onnx(graphs.graph(0.5), prompts, 8)
    assert smoothed.tokens == generation.decode_onnx(fp32, prompts, 8).tokens
