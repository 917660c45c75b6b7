"""Requests to a served text model, as a user and as an attacker would send them: the tokenizer
model gives what the tokenizers library gives (emoji, combining characters, null bytes, empty
strings, right-to-left text, texts truncated at max_length), and answers every bad request (not
UTF-8, megabytes of text, too many rows, TEXT of another type or shape, no TEXT) with an error
naming it while the other requests, and the server, keep being served. Settings that cannot work
fail the tokenizer's load, naming the parameter.

The encoder is a tiny ONNX graph (tests/reliability/text_encoder.py: embedding = the sum of the
ids under the attention mask), so served outputs are checked exactly, without torch."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from onnx import TensorProto
from tokenizers import Tokenizer
from tritonclient.utils import InferenceServerException

from tests.reliability.text_encoder import OUTPUT, write_encoder
from tritonkit.errors import ServerError
from tritonkit.specs import TextModelSpec
from tritonkit.triton import model_config
from tritonkit.triton.infer import infer_once
from tritonkit.triton.server import LocalServer
from tritonkit.triton.text_model import MAX_REQUEST_BYTES, write_text_model

pytestmark = pytest.mark.integration

MAX_LENGTH = 32
BUCKETS = (8, 16)  # and 32, max_length
MAX_BATCH = 8
BATCH_WINDOW_US = 500_000  # enc_batched's tokenizer: concurrent requests meet in one batch
TOKENS = ("input_ids", "attention_mask")


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("text")
    repository = write_encoder(root / "repo", max_batch_size=MAX_BATCH).parent
    write_encoder(repository, "enc32", max_batch_size=MAX_BATCH, elem_type=TensorProto.INT32, token_types=True)
    buckets = TextModelSpec(variant="fp32", buckets=BUCKETS)
    write_text_model(repository, "enc_text", "enc", buckets, MAX_LENGTH)
    write_text_model(repository, "enc_longest", "enc", TextModelSpec(variant="fp32", padding="longest"), MAX_LENGTH)
    write_text_model(repository, "enc32_text", "enc32", buckets, MAX_LENGTH)
    write_text_model(repository, "enc_batched", "enc", buckets, MAX_LENGTH)
    path = repository / "enc_batched_tokenizer" / "config.pbtxt"
    config = model_config.read_config(path)
    config.dynamic_batching.max_queue_delay_microseconds = BATCH_WINDOW_US
    path.write_text(model_config.render(config))
    return repository


@pytest.fixture(scope="module")
def server(repository: Path) -> Iterator[LocalServer]:
    with LocalServer(repository) as running:
        yield running


@pytest.fixture(scope="module")
def library(repository: Path) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(repository / "enc" / "tokenizer" / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_LENGTH)
    return tokenizer


def strings(texts: list[bytes]) -> dict[str, np.ndarray]:
    array = np.empty((len(texts), 1), dtype=np.object_)
    array[:, 0] = texts
    return {"TEXT": array}


def tokenize(server: LocalServer, model: str, texts: list[bytes]) -> dict[str, np.ndarray]:
    return infer_once(server.client, model, strings(texts), list(TOKENS))


UNLOADABLE = "enc_unloaded_tokenizer"  # loaded with settings that cannot work, by the last tests


def assert_still_serving(server: LocalServer) -> None:
    served = infer_once(server.client, "enc_text", strings([b"still serving"]), [OUTPUT])[OUTPUT]
    assert served.shape == (1, 1)
    states = {state.name: state.state for state in server.model_states().values() if state.name != UNLOADABLE}
    assert set(states.values()) == {"READY"}, states


# Texts a user sends: each goes through unchanged, as the library tokenizes it.
TEXTS = [
    "The parcel arrived two days late.",
    "",  # its special tokens only
    "la\u0301te\u0301 ca\u0301me, e\u0301\u0301\u0301",  # combining accents, stacked
    "my order 👍🏽👨‍👩‍👧 came 🇫🇷",  # emoji, skin tone, ZWJ family, flag
    "it\x00 is\x00\x00 fine\x00",  # null bytes inside a valid UTF-8 text
    "\u202eit is fine\u202c مرحبا שלום",  # right-to-left override, Arabic, Hebrew
    "箱子坏了 壊れた箱 상자",  # CJK
    " ".join(["the box was broken"] * 40),  # 160 words: truncated at MAX_LENGTH tokens
]


def test_texts_are_tokenized_as_the_library_tokenizes_them(server: LocalServer, library: Tokenizer) -> None:
    served = tokenize(server, "enc_text_tokenizer", [t.encode() for t in TEXTS])
    encodings = library.encode_batch(TEXTS)
    longest = max(len(e.ids) for e in encodings)
    assert longest == MAX_LENGTH  # the long text was cut there
    assert served["input_ids"].shape == (len(TEXTS), MAX_LENGTH)  # the bucket that holds the longest
    for row, encoding in enumerate(encodings):
        size = len(encoding.ids)
        assert served["input_ids"][row, :size].tolist() == encoding.ids, TEXTS[row]
        assert (served["input_ids"][row, size:] == 0).all()  # [PAD]
        assert served["attention_mask"][row].tolist() == [1] * size + [0] * (MAX_LENGTH - size)


@pytest.mark.parametrize(("text", "width"), [("fine", 8), (" ".join(["the"] * 10), 16), ("the " * 100, 32)])
def test_each_request_is_padded_to_its_bucket(server: LocalServer, text: str, width: int) -> None:
    assert tokenize(server, "enc_text_tokenizer", [text.encode()])["input_ids"].shape == (1, width)


def test_through_the_ensemble_padding_changes_nothing(server: LocalServer, library: Tokenizer) -> None:
    """The encoder sums the ids under the mask: each text's sum, whatever it was padded to."""
    texts = [t.encode() for t in TEXTS]
    expected = [[float(sum(e.ids))] for e in library.encode_batch(TEXTS)]
    for model in ("enc_text", "enc_longest"):
        served = infer_once(server.client, model, strings(texts), [OUTPUT])[OUTPUT]
        np.testing.assert_array_equal(served, np.array(expected, dtype=np.float32))


def test_an_int32_encoder_gets_int32_ids_and_token_types(server: LocalServer, library: Tokenizer) -> None:
    served = infer_once(server.client, "enc32_text_tokenizer", strings([b"it is fine"]))
    assert {name: array.dtype for name, array in served.items()} == {
        name: np.dtype(np.int32) for name in ("input_ids", "attention_mask", "token_type_ids")
    }
    embedding = infer_once(server.client, "enc32_text", strings([b"it is fine"]), [OUTPUT])[OUTPUT]
    assert embedding.tolist() == [[float(sum(library.encode("it is fine").ids))]]


def test_a_full_batch_of_rows_is_served(server: LocalServer) -> None:
    texts = [("the " * i).encode() for i in range(MAX_BATCH)]
    assert tokenize(server, "enc_text_tokenizer", texts)["input_ids"].shape == (MAX_BATCH, 16)


def test_a_text_just_under_the_byte_limit_is_served_truncated(server: LocalServer) -> None:
    text = b"the box was broken " * ((MAX_REQUEST_BYTES - 1) // 19)
    assert tokenize(server, "enc_text_tokenizer", [text])["input_ids"].shape == (1, MAX_LENGTH)


def _object(values: list[object], shape: tuple[int, ...]) -> np.ndarray:
    array = np.empty(len(values), dtype=np.object_)
    array[:] = values
    return array.reshape(shape)


MEGA = MAX_REQUEST_BYTES
# (id, inputs, the error it gets): refused by the model (its message) or by Triton before it.
BAD_REQUESTS = [
    ("not-utf8", strings([b"fine", b"ab\xff"]), r"TEXT\[1\] is not UTF-8 \(byte 0xff at 2\)"),
    ("overlong-utf8", strings([b"\xc0\xaf"]), r"TEXT\[0\] is not UTF-8 \(byte 0xc0 at 0\)"),
    ("lone-surrogate", strings(["\ud800".encode("utf-8", "surrogatepass")]), r"TEXT\[0\] is not UTF-8"),
    (
        "two-megabytes",
        strings([b"x" * (2 * MEGA)]),
        rf"TEXT holds {2 * MEGA} bytes \(TEXT\[0\]: {2 * MEGA}\); at most {MEGA} a request \(parameter "
        r"max_request_bytes\)",
    ),
    (
        "many-rows-of-a-quarter-megabyte",
        strings([b"a"] + [b"word " * (MEGA // 20)] * 7),
        rf"TEXT holds {1 + 7 * 5 * (MEGA // 20)} bytes \(TEXT\[1\]: {5 * (MEGA // 20)}\); at most {MEGA}",
    ),
    ("too-many-rows", strings([b"fine"] * (MAX_BATCH + 1)), rf"batch-size must be <= {MAX_BATCH}"),
    ("thousands-of-rows", strings([b"fine"] * 5000), rf"batch-size must be <= {MAX_BATCH}"),
    ("no-rows", {"TEXT": np.zeros((0, 1), dtype=np.object_)}, r"input 'TEXT'"),
    ("int64", {"TEXT": np.array([[1], [2]], dtype=np.int64)}, r"input 'TEXT' data-type is 'INT64', but model"),
    ("float", {"TEXT": np.array([[1.5]], dtype=np.float32)}, r"input 'TEXT' data-type is 'FP32', but model"),
    ("no-batch-dimension", {"TEXT": _object([b"a", b"b"], (2,))}, r"unexpected shape for input 'TEXT'"),
    ("two-texts-a-row", {"TEXT": _object([b"a", b"b"], (1, 2))}, r"unexpected shape for input 'TEXT'"),
    ("another-input", {"OTHER": _object([b"a"], (1, 1))}, r"unexpected inference input 'OTHER'"),
]


@pytest.mark.parametrize("model", ["enc_text", "enc_text_tokenizer"])
@pytest.mark.parametrize(("inputs", "error"), [pytest.param(i, e, id=n) for n, i, e in BAD_REQUESTS])
def test_a_bad_request_gets_an_error_naming_it_and_the_server_keeps_serving(
    server: LocalServer, model: str, inputs: dict[str, np.ndarray], error: str
) -> None:
    with pytest.raises(InferenceServerException, match=error):
        infer_once(server.client, model, inputs)
    assert_still_serving(server)


def test_a_request_without_inputs_is_refused(server: LocalServer) -> None:
    with pytest.raises(InferenceServerException, match="expected 1 inputs but got 0"):
        server.client.infer("enc_text", [])
    assert_still_serving(server)


def _statistics(client: grpcclient.InferenceServerClient, model: str) -> tuple[int, int]:
    stats = client.get_inference_statistics(model).model_stats[0]
    return stats.execution_count, stats.inference_count


def test_a_bad_request_leaves_the_others_of_its_batch_served(server: LocalServer) -> None:
    """One request not UTF-8 and three good ones, sent together into a tokenizer whose batcher
    waits for them: one execution; the three get their outputs, the bad one its error."""
    requests = [strings([b"ab\xff"]), strings([b"it is fine"]), strings([b"the box", b"was broken"]),
                strings([b"my order came"])]  # fmt: skip
    start = threading.Barrier(len(requests))

    def send(inputs: dict[str, np.ndarray]) -> str | int:
        client = grpcclient.InferenceServerClient(server.grpc_url)  # one channel each: sent at once
        start.wait()
        try:
            return int(infer_once(client, "enc_batched", inputs, [OUTPUT])[OUTPUT].shape[0])
        except InferenceServerException as exc:
            return str(exc.message())
        finally:
            client.close()

    executions_before, _ = _statistics(server.client, "enc_batched_tokenizer")
    with ThreadPoolExecutor(len(requests)) as pool:
        results = list(pool.map(send, requests))
    executions, _ = _statistics(server.client, "enc_batched_tokenizer")
    assert isinstance(results[0], str) and "TEXT[0] is not UTF-8 (byte 0xff at 2)" in results[0]
    assert results[1:] == [1, 2, 1]
    assert executions - executions_before == 1  # all four met in one batch
    assert_still_serving(server)


BAD_SETTINGS = [
    ("buckets-short", {"buckets": "[8, 16]"}, r"parameter buckets \[8, 16\]: expected lengths from shortest to "
     rf"longest, each once, the longest at least max_length {MAX_LENGTH}"),
    ("buckets-unsorted", {"buckets": "[16, 8, 32]"}, r"parameter buckets \[16, 8, 32\]"),
    ("buckets-zero", {"buckets": "[0, 32]"}, r"parameter buckets \[0, 32\]"),
    ("buckets-not-json", {"buckets": "not json"}, r"bad settings \(JSONDecodeError"),
    ("max-length-specials", {"max_length": "2"}, r"parameter max_length 2 leaves no room beside 2 special tokens"),
    ("max-length-negative", {"max_length": "-1"}, r"parameter max_length -1 leaves no room"),
    ("pad-id-huge", {"pad_id": "100000"}, r"parameter pad_id 100000: not a token id of tokenizer/tokenizer.json"),
    ("pad-id-negative", {"pad_id": "-1"}, r"parameter pad_id -1: not a token id"),
    ("padding-unknown", {"padding": "left"}, r"parameter padding 'left': expected longest or buckets"),
    ("max-request-bytes-zero", {"max_request_bytes": "0"}, r"parameter max_request_bytes 0: expected a positive"),
]  # fmt: skip


@pytest.mark.parametrize(("settings", "error"), [pytest.param(s, e, id=n) for n, s, e in BAD_SETTINGS])
def test_settings_that_cannot_work_fail_the_load_naming_the_parameter(
    server: LocalServer, repository: Path, settings: dict[str, str], error: str
) -> None:
    config = model_config.read_config(repository / "enc_text_tokenizer" / "config.pbtxt")
    config.name = UNLOADABLE  # a copy of the tokenizer, loaded with the settings
    folder = repository / UNLOADABLE
    if not folder.exists():
        shutil.copytree(repository / "enc_text_tokenizer", folder)
        (folder / "config.pbtxt").write_text(model_config.render(config))
    for key, value in settings.items():
        config.parameters[key].string_value = value
    with pytest.raises(ServerError, match=error):
        server.load(UNLOADABLE, config)
    assert_still_serving(server)
