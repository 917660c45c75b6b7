"""The per-token tasks end to end on tiny random encoders of four architectures: feature extraction
(last hidden states) and token classification (per-token logits), exported, gated token by token,
served by the real local Triton, measured by `tritonkit check`, and never reaching for the network."""

from __future__ import annotations

import math
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import huggingface_hub.constants
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import transformers.utils.hub
import yaml
from transformers import AutoModel, AutoModelForTokenClassification, AutoTokenizer

from tests.e2e.test_cli import run
from tests.export.conftest import ALL_TEXTS, TEXTS, recipe_fields
from tests.export.tiny_models import HIDDEN, MAX_LENGTH, TOKEN_LABELS, Architecture, Head, transformers_model
from tritonkit.errors import InputError
from tritonkit.export.pipeline import VariantOutcome, export
from tritonkit.export.recipe import load_recipe, read_texts
from tritonkit.export.reference import tokenize
from tritonkit.export.source import resolve_source
from tritonkit.measure.payloads import build_pool
from tritonkit.report.results import Results
from tritonkit.specs import CPU_VARIANTS, DEFAULT_GATES, SourceSpec, TokensPayload, VariantName
from tritonkit.triton import model_config
from tritonkit.triton.infer import infer_once
from tritonkit.triton.server import LocalServer
from tritonkit.triton.validate import validate_path

Case = tuple[Architecture, Head]
CASES: list[Case] = [
    ("bert", "feature-extraction"),
    ("distilbert", "feature-extraction"),  # no token_type_ids input
    ("roberta", "feature-extraction"),  # byte-level BPE, positions offset past the padding id
    ("electra", "feature-extraction"),  # embeddings projected up to the hidden size
    ("bert", "token-classification"),
    ("distilbert", "token-classification"),
]
VARIANTS: list[VariantName] = ["fp32", "optimized", "int8_dynamic"]
# The default distilled gate holds here: a random tiny encoder's layers barely move its hidden
# states (weights ~ N(0, 0.02) under residual connections), so half the layers cost little.
DISTILLED: set[Case] = {("bert", "feature-extraction"), ("distilbert", "token-classification")}
# What each task's output is, its last dimension, and the only gates that may judge it: cosine
# and max |diff| for hidden-state vectors, argmax agreement (and max |diff|) for logits.
OUTPUT = {"feature-extraction": ("last_hidden_state", HIDDEN), "token-classification": ("logits", TOKEN_LABELS)}
TASK_GATES = {
    "feature-extraction": {"max_abs_diff", "min_mean_cosine", "min_cosine"},
    "token-classification": {"max_abs_diff", "min_argmax_agreement"},
}
SHORT = {"feature-extraction": "fe", "token-classification": "ner"}
EVALUATION = read_texts(TEXTS / "evaluation.txt")
QUIET: Callable[[str], None] = lambda _: None  # noqa: E731


@dataclass(frozen=True)
class Exported:
    source: Path  # the tiny model's save_pretrained folder
    repository: Path  # shared by every case of this module
    name: str  # the recipe's name: models are <name>_<variant>
    outcomes: list[VariantOutcome]

    def model(self, variant: str) -> Path:
        return self.repository / f"{self.name}_{variant}"


Exports = Callable[[Architecture, Head], Exported]
each_case = pytest.mark.parametrize(("architecture", "task"), CASES, ids=[f"{a}-{t}" for a, t in CASES])


def variants_of(case: Case) -> list[VariantName]:
    return [*VARIANTS, "distilled"] if case in DISTILLED else VARIANTS


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Exports:
    """Each case exported once, on first use, into one repository (so one server serves them all)."""
    root = tmp_path_factory.mktemp("tasks")
    done: dict[Case, Exported] = {}

    def exported(architecture: Architecture, task: Head) -> Exported:
        if (architecture, task) not in done:
            name = f"{architecture}_{SHORT[task]}"
            source = transformers_model(root / name, ALL_TEXTS, architecture, task)
            recipe = root / f"{name}.yaml"
            fields = recipe_fields(source, task, name=name, variants=variants_of((architecture, task)))
            recipe.write_text(yaml.safe_dump(fields))
            outcomes = export(load_recipe(recipe), root / "model_repository", progress=QUIET)
            done[architecture, task] = Exported(source, root / "model_repository", name, outcomes)
        return done[architecture, task]

    return exported


@each_case
def test_every_variant_passes_its_gates_and_is_written(
    exports: Exports, architecture: Architecture, task: Head
) -> None:
    exported = exports(architecture, task)
    assert [o.record.variant for o in exported.outcomes] == variants_of((architecture, task))
    for outcome in exported.outcomes:
        record = outcome.record
        assert record.passed, [g.describe() for g in record.gates]
        assert record.task == task
        # Only the task's own gates judge it, each one the variant's default gate sets.
        default = DEFAULT_GATES[record.variant]
        assert {g.metric for g in record.gates} == {m for m in TASK_GATES[task] if getattr(default, m) is not None}
        model = exported.model(record.variant)
        assert outcome.written == model
        assert (model / "1" / "model.onnx").is_file() and (model / "tokenizer" / "tokenizer.json").is_file()
        assert validate_path(model) == []


@each_case
def test_outputs_keep_batch_and_sequence_axes(exports: Exports, architecture: Architecture, task: Head) -> None:
    exported = exports(architecture, task)
    output, width = OUTPUT[task]
    inputs = set(AutoTokenizer.from_pretrained(str(exported.source), local_files_only=True).model_input_names)
    for variant in [o.record.variant for o in exported.outcomes]:
        config = model_config.read_config(exported.model(variant) / "config.pbtxt")
        (served,) = config.output
        assert served.name == output
        batch = [-1] if config.max_batch_size else []  # Triton leaves the batch axis out of dims
        assert [*batch, *served.dims] == [-1, -1, width], variant
        assert {i.name for i in config.input} == inputs, variant  # DistilBERT, RoBERTa: no token_type_ids
        graph = onnx.load(str(exported.model(variant) / "1" / "model.onnx")).graph
        (graph_output,) = graph.output
        dims = [d.dim_param or d.dim_value for d in graph_output.type.tensor_type.shape.dim]
        assert dims == ["batch_size", "sequence_length", width], variant


def _torch_model(source: Path, task: Head) -> torch.nn.Module:
    auto = AutoModel if task == "feature-extraction" else AutoModelForTokenClassification
    return auto.from_pretrained(str(source), local_files_only=True).eval()


@torch.inference_mode()
def _per_token_metrics(model: Path, source: Path, task: Head) -> tuple[dict[str, float], int]:
    """The gates' figures recomputed here, one text at a time (no padding anywhere): every token of
    every text is a row. Returns the figures and the number of rows."""
    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    reference = _torch_model(source, task)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    output = OUTPUT[task][0]
    got, want = [], []
    for text in EVALUATION:
        encoded = tokenizer(text, truncation=True, max_length=MAX_LENGTH, return_tensors="np")
        feed = {name: np.asarray(ids, dtype=np.int64) for name, ids in encoded.items()}
        got.append(session.run([output], {i.name: feed[i.name] for i in session.get_inputs()})[0][0])
        want.append(getattr(reference(**{k: torch.from_numpy(v) for k, v in feed.items()}), output)[0].numpy())
    candidate, expected = np.concatenate(got).astype(np.float64), np.concatenate(want).astype(np.float64)
    cosine = np.sum(candidate * expected, -1) / (np.linalg.norm(candidate, axis=-1) * np.linalg.norm(expected, axis=-1))
    figures = {
        "max_abs_diff": float(np.max(np.abs(candidate - expected))),
        "mean_cosine": float(np.mean(cosine)),
        "min_cosine": float(np.min(cosine)),
        "argmax_agreement": float(np.mean(candidate.argmax(-1) == expected.argmax(-1))),
    }
    return figures, len(candidate)


@each_case
def test_gates_compare_every_real_token_and_no_padding(
    exports: Exports, architecture: Architecture, task: Head
) -> None:
    exported = exports(architecture, task)
    tokenizer = AutoTokenizer.from_pretrained(str(exported.source), local_files_only=True)
    real_tokens = sum(len(ids) for ids in tokenizer(EVALUATION, truncation=True, max_length=MAX_LENGTH)["input_ids"])
    assert real_tokens > 5 * len(EVALUATION)  # rows per token are not rows per text
    for outcome in exported.outcomes:
        variant, details = outcome.record.variant, outcome.record.details
        assert details["evaluation_rows"] == real_tokens, variant  # padding left out
        recorded = details["metrics"]
        assert isinstance(recorded, dict)
        agreeing = recorded["argmax_agreement"] * real_tokens  # a fraction of tokens, not of texts
        assert math.isclose(agreeing, round(agreeing), abs_tol=1e-6), variant
        if variant == "int8_dynamic":
            continue  # activation scales come from the whole batch: a text alone is quantized otherwise
        figures, rows = _per_token_metrics(exported.model(variant) / "1" / "model.onnx", exported.source, task)
        assert rows == real_tokens
        assert recorded["mean_cosine"] == pytest.approx(figures["mean_cosine"], abs=1e-6), variant
        assert recorded["min_cosine"] == pytest.approx(figures["min_cosine"], abs=1e-6), variant
        assert recorded["max_abs_diff"] == pytest.approx(figures["max_abs_diff"], abs=1e-5), variant
        # One token may flip on a near tie between padded and unpadded float rounding, no more.
        assert recorded["argmax_agreement"] == pytest.approx(figures["argmax_agreement"], abs=1.5 / rows), variant


SERVED: list[Case] = [
    ("roberta", "feature-extraction"),
    ("bert", "token-classification"),
    ("distilbert", "token-classification"),
]


@pytest.mark.integration
def test_served_outputs_equal_onnxruntime(exports: Exports) -> None:
    """Every CPU variant of a feature extractor and of two token classifiers (with and without
    token_type_ids), one padded batch of varied lengths each, Triton against ONNX Runtime."""
    served = [exports(architecture, task) for architecture, task in SERVED]
    with LocalServer(served[0].repository, load_all=False) as server:
        for (_, task), exported in zip(SERVED, served, strict=True):
            output = OUTPUT[task][0]
            (batch,) = tokenize(exported.source, EVALUATION[:6], max_length=MAX_LENGTH)
            assert len(set(batch["attention_mask"].sum(1))) > 1  # lengths vary: padding is in play
            for variant in [o.record.variant for o in exported.outcomes if o.record.variant in CPU_VARIANTS]:
                name = exported.model(variant).name
                server.load(name)  # fails unless the served config equals the written one
                session = ort.InferenceSession(
                    str(exported.model(variant) / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
                )
                feed = {i.name: batch[i.name] for i in session.get_inputs()}
                expected = session.run([output], feed)[0]
                answer = infer_once(server.client, name, feed, [output])[output]
                assert answer.shape == (6, batch["input_ids"].shape[1], OUTPUT[task][1])
                np.testing.assert_allclose(answer, expected, atol=1e-5, err_msg=name)


@pytest.mark.integration
def test_check_measures_token_classifiers_on_their_own_tokenizers(exports: Exports, tmp_path: Path) -> None:
    """`tritonkit check` as users run it: tokens payloads from the tokenizer the exporter shipped
    beside each model, a few seconds of load, a verdict per target."""
    bert, distilbert = exports("bert", "token-classification"), exports("distilbert", "token-classification")
    load = {
        "mode": "closed",
        "concurrency": 2,
        "warmup_s": 0.5,
        "window_s": 1.0,
        "duration_s": 3.0,
        "stable_windows": 2,
    }
    texts = str(TEXTS / "evaluation.txt")
    targets = [
        {
            "name": "ner-bert",
            "model": bert.model("fp32").name,
            "load": load,
            "payload": {"kind": "tokens", "texts": texts, "lengths": "texts", "sequence_length": MAX_LENGTH},
            "slo": {"p99_ms": 5000, "max_error_rate": 0.0},
            "outputs": ["logits"],
        },
        {
            "name": "ner-distilbert-batch",
            "model": distilbert.model("int8_dynamic").name,
            "load": load,
            "payload": {"kind": "tokens", "texts": texts, "lengths": "fixed", "sequence_length": 32, "batch_size": 4},
            "slo": {"p99_ms": 5000, "max_error_rate": 0.0},
        },
    ]
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump({"dollars_per_hour": 1.0, "targets": targets}))
    report = tmp_path / "report"
    result = run("check", path, "--model-repository", bert.repository, "--report-dir", report, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 of 2 targets met their SLO" in result.stdout
    results = Results.model_validate_json((report / "results.json").read_text())
    assert [m.model for m in results.measurements] == [bert.model("fp32").name, distilbert.model("int8_dynamic").name]
    assert [m.inferences_per_request for m in results.measurements] == [1, 4]
    for measurement in results.measurements:
        assert measurement.sent > 0 and measurement.errors == {}, measurement.error_examples
        assert measurement.latency is not None and measurement.latency.count > 0
    assert all(v.passed for v in results.verdicts)


# -- no network -------------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[str]]:
    """Every Python-level way out refused and recorded: connect (TCP, UDP, Unix sockets alike),
    create_connection, and name lookups (a lookup alone already tells a resolver where we go). The
    libraries' offline switches are off, as on a user's machine, and the hub cache is empty."""
    attempts: list[str] = []

    def refuse(where: object) -> NoReturn:
        attempts.append(repr(where))
        raise ConnectionRefusedError(f"the test forbids network access (to {where!r})")

    monkeypatch.setattr(socket.socket, "connect", lambda self, address: refuse(address))
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, address: refuse(address))
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(address))
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: refuse(host))
    for switch in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(switch, raising=False)
    # Both libraries read their switch once, at import: set what they read to "online".
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(transformers.utils.hub, "_is_offline_mode", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    yield attempts


def test_a_folder_export_never_reaches_for_the_network(no_network: list[str], tmp_path: Path) -> None:
    source = transformers_model(tmp_path / "bert", ALL_TEXTS, "bert", "token-classification")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(recipe_fields(source, "token-classification", variants=["fp32", "int8_dynamic"])))
    outcomes = export(load_recipe(recipe), tmp_path / "repo", progress=QUIET)
    assert [o.record.passed for o in outcomes] == [True, True]
    assert no_network == []


def test_the_network_guard_catches_a_hub_fetch(no_network: list[str]) -> None:
    """The guard above is not vacuous: the same libraries, asked for a hub model, try the network
    and are stopped (and the user gets the hub message, not a traceback)."""
    with pytest.raises(InputError, match="cannot fetch 'bert-base-uncased' from the Hugging Face Hub"):
        resolve_source(SourceSpec(hub_id="bert-base-uncased"))
    assert no_network, "no connection was attempted"


def test_tokens_payloads_pad_with_the_tokenizers_own_pad_id(exports: Exports) -> None:
    """RoBERTa pads with <pad> (id 1; id 0 is <s>): a payload must send what a real client sends."""
    exported = exports("roberta", "feature-extraction")
    model = exported.model("fp32")
    config = model_config.read_config(model / "config.pbtxt")
    spec = TokensPayload(kind="tokens", tokenizer=model / "tokenizer", texts=TEXTS / "evaluation.txt",
                         lengths="fixed", sequence_length=24, batch_size=4, count=4)  # fmt: skip
    pad_id = AutoTokenizer.from_pretrained(str(exported.source), local_files_only=True).pad_token_id
    assert pad_id == 1
    for payload in build_pool(spec, config, seed=0).payloads:
        padding = payload["attention_mask"] == 0
        assert padding.any() and (payload["input_ids"][padding] == pad_id).all()
