"""`<name>_text`: strings in, through the batched tokenizer model, into an encoder variant. Written
by the export (a recipe's `text_model`) and by `tritonkit add-text-model`; served, its outputs
equal tokenizing in-process and running the encoder in ONNX Runtime, whatever the padding; over-
long texts are truncated, an empty string is its special tokens, non-UTF-8 bytes are refused by
name; and with buckets, concurrent natural-length requests batch in the encoder."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient
import yaml
from transformers import AutoTokenizer
from tritonclient.utils import InferenceServerException

from tests.export.conftest import TEXTS, check_briefly, recipe_fields
from tritonkit.export.pipeline import export
from tritonkit.export.recipe import load_recipe, read_texts
from tritonkit.specs import TextModelSpec
from tritonkit.triton import model_config
from tritonkit.triton.infer import infer_once
from tritonkit.triton.server import LocalServer
from tritonkit.triton.text_model import write_text_model
from tritonkit.triton.validate import validate_path

MAX_LENGTH = 64  # the recipe's max_sequence_length (conftest.recipe_fields)
BUCKETS = [8, 16, 32]  # the export adds 64: texts are truncated there
OUTPUT = "sentence_embedding"


@pytest.fixture(scope="module")
def repository(tiny_embedder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("text")
    # No queue timeout: the local server's rare stalls of about half a second (seen at one request
    # in flight too) must not turn a batching test into a timeout test.
    knobs = {"max_batch_size": 32, "dynamic_batching": {"max_queue_delay_microseconds": 2000}}
    fields = recipe_fields(tiny_embedder, "sentence-embedding", variants=["fp32"], knobs=knobs,
                           text_model={"variant": "fp32", "buckets": BUCKETS})  # fmt: skip
    (folder / "tiny.yaml").write_text(yaml.safe_dump(fields))
    repository = folder / "model_repository"
    export(load_recipe(folder / "tiny.yaml"), repository, progress=lambda _: None)
    longest = TextModelSpec(variant="fp32", padding="longest")
    write_text_model(repository, "tiny_longest", "tiny_fp32", longest, MAX_LENGTH)
    return repository


def test_the_export_writes_the_text_model_and_its_tokenizer(repository: Path) -> None:
    config = model_config.read_config(repository / "tiny_text" / "config.pbtxt")
    assert config.platform == "ensemble" and config.max_batch_size > 1
    assert [(i.name, model_config.mc.DataType.Name(i.data_type), list(i.dims)) for i in config.input] == [
        ("TEXT", "TYPE_STRING", [1])
    ]
    assert [step.model_name for step in config.ensemble_scheduling.step] == ["tiny_text_tokenizer", "tiny_fp32"]
    tokenizer = model_config.read_config(repository / "tiny_text_tokenizer" / "config.pbtxt")
    assert tokenizer.parameters["buckets"].string_value == str([*BUCKETS, MAX_LENGTH])
    assert tokenizer.parameters["max_length"].string_value == str(MAX_LENGTH)
    assert (repository / "tiny_text_tokenizer" / "tokenizer" / "tokenizer.json").is_file()
    assert validate_path(repository) == []


def expected(repository: Path, texts: list[str]) -> np.ndarray:
    """Each text tokenized alone in-process, truncated at MAX_LENGTH, through the encoder in ONNX Runtime."""
    tokenizer = AutoTokenizer.from_pretrained(str(repository / "tiny_fp32" / "tokenizer"))
    model = repository / "tiny_fp32" / "1" / "model.onnx"
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    rows = []
    for text in texts:
        encoded = tokenizer([text], truncation=True, max_length=MAX_LENGTH, return_tensors="np")
        rows.append(session.run([OUTPUT], {n: encoded[n].astype(np.int64) for n in names})[0][0])
    return np.stack(rows)


def strings(texts: list[str]) -> dict[str, np.ndarray]:
    return {"TEXT": np.array([[t.encode()] for t in texts], dtype=np.object_)}


@pytest.fixture(scope="module")
def server(repository: Path) -> Iterator[LocalServer]:
    with LocalServer(repository) as running:  # every model: the ensembles load their steps with them
        yield running


SENTENCES = read_texts(TEXTS / "evaluation.txt")


@pytest.mark.integration
@pytest.mark.parametrize("model", ["tiny_text", "tiny_longest"])
def test_strings_give_what_tokenizing_in_process_gives(repository: Path, server: LocalServer, model: str) -> None:
    """A batch of mixed lengths (padded together), an over-long text (truncated at MAX_LENGTH) and
    an empty string (its special tokens only)."""
    texts = [SENTENCES[0], SENTENCES[1] + " " + SENTENCES[2], " ".join(SENTENCES) * 3, ""]
    served = infer_once(server.client, model, strings(texts), [OUTPUT])[OUTPUT]
    np.testing.assert_allclose(served, expected(repository, texts), atol=1e-5)


@pytest.mark.integration
def test_non_utf8_bytes_are_refused_by_name_and_the_model_keeps_serving(server: LocalServer) -> None:
    with pytest.raises(InferenceServerException, match=r"TEXT\[1\] is not UTF-8 \(byte 0xff at 2\)"):
        infer_once(server.client, "tiny_text", {"TEXT": np.array([[b"fine"], [b"ab\xff"]], dtype=np.object_)})
    assert infer_once(server.client, "tiny_text", strings(["still serving"]), [OUTPUT])[OUTPUT].shape == (1, 32)


@pytest.mark.integration
def test_buckets_batch_concurrent_natural_length_requests(server: LocalServer) -> None:
    """One sentence a request at its own length, 8 in flight: with buckets the encoder runs fewer
    executions than inferences (the statistics the server keeps, not a timing)."""
    before = _counts(server.client, "tiny_fp32")

    def send(index: int) -> None:
        infer_once(server.client, "tiny_text", strings([SENTENCES[index % len(SENTENCES)]]), [OUTPUT])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(400)))
    inferences, executions = (after - start for after, start in zip(_counts(server.client, "tiny_fp32"), before,
                                                                       strict=True))  # fmt: skip
    assert inferences == 400 and executions < inferences


def _counts(client: grpcclient.InferenceServerClient, model: str) -> tuple[int, int]:
    stats = client.get_inference_statistics(model).model_stats[0]
    return stats.inference_count, stats.execution_count


@pytest.mark.integration
def test_check_measures_the_text_model_with_strings(repository: Path, tmp_path: Path) -> None:
    payload = {"kind": "texts", "texts": str(TEXTS / "evaluation.txt"), "batch_size": 2}
    measurement = check_briefly(repository, "tiny_text", payload, tmp_path)
    assert measurement.inferences_per_request == 2
