"""The payloads of text models: `kind: texts` (strings, one a batch row, for a `<name>_text` model)
and the tokens payload's `lengths: buckets` (each request padded to the smallest bucket that holds
it). What they build, and what they refuse before a server starts (fit_problems)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from tokenizers import Tokenizer
from tokenizers.models import WordPiece
from tokenizers.pre_tokenizers import BertPreTokenizer
from tokenizers.processors import TemplateProcessing
from tritonclient.grpc import model_config_pb2 as mc

from tests.reliability.text_encoder import write_encoder
from tritonkit.errors import InputError
from tritonkit.measure.payloads import MAX_POOL_BYTES, _width, build_pool, fit_problems
from tritonkit.specs import TextModelSpec, TextsPayload, TokensPayload
from tritonkit.triton import model_config
from tritonkit.triton.model_config import ModelConfig
from tritonkit.triton.text_model import write_text_model

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away", "and", "then", "home", "."]
# One token a word, [CLS] and [SEP] around: 5, 8, 20 and 3 tokens.
SENTENCES = ["the cat sat", "a dog ran far away .", " ".join(["the cat sat on a mat ."] * 2 + ["then ran home ."]),
             "home"]  # fmt: skip
LINES = [*SENTENCES, "la\u0301te 👍🏽 箱子", "it\x00 is"]  # what a texts payload sends as it is


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tokenizer")
    vocabulary = {token: i for i, token in enumerate([*SPECIALS, *WORDS])}
    tokenizer = Tokenizer(WordPiece(vocabulary, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = BertPreTokenizer()
    tokenizer.post_processor = TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder


def write_lines(folder: Path, lines: list[str]) -> Path:
    path = folder / "texts.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def string_model(dims: list[int], max_batch_size: int = 8, name: str = "m_text") -> ModelConfig:
    config = ModelConfig(name=name, platform="ensemble", max_batch_size=max_batch_size)
    config.input.add(name="TEXT", data_type=mc.TYPE_STRING, dims=dims)
    return config


def token_model(max_batch_size: int = 8) -> ModelConfig:
    config = ModelConfig(name="m", platform="onnxruntime_onnx", max_batch_size=max_batch_size)
    for name in ("input_ids", "attention_mask"):
        config.input.add(name=name, data_type=mc.TYPE_INT64, dims=[-1])
    return config


def texts(path: Path, **fields: object) -> TextsPayload:
    return TextsPayload.model_validate({"kind": "texts", "texts": path, **fields})


# -- texts --------------------------------------------------------------------------------------


def test_a_texts_pool_sends_each_line_as_utf8_bytes_one_a_row(tmp_path: Path) -> None:
    pool = build_pool(texts(write_lines(tmp_path, LINES), batch_size=4, count=50), string_model([1]), seed=3)
    assert len(pool) == 50 and pool.inferences_per_request == 4
    assert pool.description == "texts: texts.txt, batch 4"
    sent = set()
    for payload in pool.payloads:
        (array,) = payload.values()
        assert list(payload) == ["TEXT"] and array.shape == (4, 1) and array.dtype == np.object_
        sent.update(array[:, 0].tolist())
    assert sent == {line.encode() for line in LINES}  # emoji, combining marks, a null byte: as they are
    again = build_pool(texts(write_lines(tmp_path, LINES), batch_size=4, count=50), string_model([1]), seed=3)
    assert all((a["TEXT"] == b["TEXT"]).all() for a, b in zip(pool.payloads, again.payloads, strict=True))


@pytest.mark.parametrize("dims", [[-1], [1]])
def test_a_model_that_does_not_batch_gets_one_text_a_request(tmp_path: Path, dims: list[int]) -> None:
    pool = build_pool(texts(write_lines(tmp_path, LINES), count=5), string_model(dims, max_batch_size=0), seed=0)
    assert pool.inferences_per_request == 1
    assert all(payload["TEXT"].shape == (1,) for payload in pool.payloads)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (token_model(), "model 'm' takes 'input_ids' int64 [-1], 'attention_mask' int64 [-1]; a texts payload fills "
                        "one string input [1] (a <name>_text model: tritonkit add-text-model)"),
        (string_model([-1]), "model 'm_text' takes 'TEXT' object [-1]; a texts payload fills one string input [1]"),
        (string_model([2]), "model 'm_text' takes 'TEXT' object [2]"),
        (ModelConfig(name="empty", max_batch_size=8), "model 'empty' takes no inputs"),
    ],
    ids=["token-ids", "dynamic-dims", "two-texts-a-row", "no-inputs"],
)  # fmt: skip
def test_a_model_that_takes_no_single_string_is_refused_before_a_start(
    tmp_path: Path, config: ModelConfig, message: str
) -> None:
    payload = texts(write_lines(tmp_path, LINES))
    assert any(message in problem for problem in fit_problems(payload, config)), fit_problems(payload, config)
    with pytest.raises(InputError, match="a texts payload fills one string input"):
        build_pool(payload, config, seed=0)


def test_every_problem_of_a_texts_payload_is_listed_at_once(tmp_path: Path) -> None:
    problems = fit_problems(texts(write_lines(tmp_path, LINES), batch_size=9), token_model())
    assert problems[0] == "payload batch_size 9 exceeds model 'm' max_batch_size 8"
    assert "a texts payload fills one string input [1]" in problems[1] and len(problems) == 2


def test_a_batch_on_a_model_that_does_not_batch_is_refused(tmp_path: Path) -> None:
    problems = fit_problems(texts(write_lines(tmp_path, LINES), batch_size=2), string_model([-1], 0))
    assert problems == ["payload batch_size 2: model 'm_text' does not batch"]


def test_the_pool_is_bounded_by_the_bytes_sent_not_the_characters(tmp_path: Path) -> None:
    """30,000 bytes a line (10,000 CJK characters): 100,000 requests of one hold 3 GB, over the
    bound, though their characters would not be."""
    line = "箱" * 10_000
    assert 100_000 * len(line) < MAX_POOL_BYTES < 100_000 * len(line.encode())
    with pytest.raises(InputError, match=r"100000 requests of 30000 bytes; at most \d+ bytes prepared: lower count"):
        build_pool(texts(write_lines(tmp_path, [line]), count=100_000), string_model([1]), seed=0)


def test_a_texts_payload_fits_the_text_model_add_text_model_writes(tmp_path: Path) -> None:
    repository = write_encoder(tmp_path / "repo").parent
    write_text_model(repository, "enc_text", "enc", TextModelSpec(variant="fp32"))
    config = model_config.read_config(repository / "enc_text" / "config.pbtxt")
    payload = texts(write_lines(tmp_path, LINES), batch_size=8, count=3)
    assert fit_problems(payload, config) == []
    assert {p["TEXT"].shape for p in build_pool(payload, config, seed=0).payloads} == {(8, 1)}
    tokenizer = model_config.read_config(repository / "enc_text_tokenizer" / "config.pbtxt")
    assert fit_problems(payload, tokenizer) == []  # the tokenizer alone takes the same strings


# -- tokens in buckets --------------------------------------------------------------------------


def tokens(tokenizer_dir: Path, path: Path, **fields: object) -> TokensPayload:
    return TokensPayload.model_validate({"kind": "tokens", "tokenizer": tokenizer_dir, "texts": path, **fields})


def test_bucketed_requests_are_padded_to_the_smallest_bucket_that_holds_them(
    tokenizer_dir: Path, tmp_path: Path
) -> None:
    spec = tokens(tokenizer_dir, write_lines(tmp_path, SENTENCES), lengths="buckets", buckets=(4, 8, 16),
                  sequence_length=32, count=60)  # fmt: skip
    pool = build_pool(spec, token_model(), seed=0)
    wanted = {3: 4, 5: 8, 8: 8, 20: 32}  # beyond the largest bucket: sequence_length
    seen = set()
    for payload in pool.payloads:
        length = int(payload["attention_mask"].sum())
        assert payload["input_ids"].shape == (1, wanted[length])
        seen.add(length)
    assert seen == set(wanted)
    assert "buckets [4, 8, 16] ≤ 32" in pool.description


def test_a_bucketed_batch_is_padded_to_the_bucket_of_its_longest_sentence(tokenizer_dir: Path, tmp_path: Path) -> None:
    spec = tokens(tokenizer_dir, write_lines(tmp_path, SENTENCES), lengths="buckets", buckets=(4, 8, 16, 32),
                  sequence_length=32, batch_size=3, count=40)  # fmt: skip
    for payload in build_pool(spec, token_model(), seed=1).payloads:
        longest = int(payload["attention_mask"].sum(axis=1).max())
        assert payload["input_ids"].shape == (3, next(b for b in (4, 8, 16, 32) if b >= longest))


@pytest.mark.parametrize(
    ("lengths", "longest", "width"),
    [("buckets", 1, 16), ("buckets", 16, 16), ("buckets", 17, 32), ("buckets", 100, 128), ("buckets", 128, 128),
     ("fixed", 5, 128), ("texts", 5, 5), ("uniform", 7, 7)],
)  # fmt: skip
def test_the_width_a_request_is_padded_to(tokenizer_dir: Path, tmp_path: Path, lengths: str, longest: int,
                                          width: int) -> None:  # fmt: skip
    spec = tokens(tokenizer_dir, write_lines(tmp_path, SENTENCES), lengths=lengths, buckets=(16, 32, 64),
                  sequence_length=128)  # fmt: skip
    assert _width(spec, longest) == width


@pytest.mark.parametrize(
    ("buckets", "message"),
    [((16, 256), r"buckets \[256\] are longer than sequence_length 128"),
     ((32, 16), "bucket lengths go from shortest to longest, each once"),
     ((16, 16), "bucket lengths go from shortest to longest, each once"),
     ((0, 16), "greater than 0"), ((), "at least 1 item"), (tuple(range(1, 34)), "at most 32 items")],
)  # fmt: skip
def test_buckets_that_cannot_be_are_refused(
    tokenizer_dir: Path, tmp_path: Path, buckets: tuple[int, ...], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        tokens(tokenizer_dir, write_lines(tmp_path, SENTENCES), lengths="buckets", buckets=buckets)
