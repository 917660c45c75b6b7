"""Payload pools, built before a load starts: token ids from a real (tiny) tokenizer, seeded random
tensors shaped from the config, and user .npz files with every way they can be wrong."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordPiece
from tokenizers.pre_tokenizers import BertPreTokenizer
from tokenizers.processors import TemplateProcessing
from tritonclient.grpc import model_config_pb2 as mc

from tritonkit.errors import InputError
from tritonkit.measure.payloads import ModelInput, build_pool, model_inputs, payload_file_problems
from tritonkit.specs import FilesPayload, RandomPayload, TokensPayload
from tritonkit.triton.model_config import ModelConfig, base_config
from tritonkit.triton.onnx_signature import OnnxSignature, TensorSignature

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "dog",
    "ran",
    "far",
    "away",
    "very",
    "fast",
    "slow",
    "big",
    "small",
    "red",
    "blue",
    "and",
    "then",
    "home",
    ".",
]
VOCAB = {token: i for i, token in enumerate([*SPECIALS, *WORDS])}
PAD, UNK, CLS, SEP = 0, 1, 2, 3
# Every word is in the vocabulary and is one token: a sentence of n words is n + 2 tokens.
TEXTS = [
    "the cat sat",  # 5 tokens
    "a dog ran far away .",  # 8
    "the big red dog and the small blue cat sat on a mat then ran home very fast .",  # 20
    "slow",  # 3
    "the cat sat on a mat",  # 8
]
LENGTHS = {len(t.split()) + 2 for t in TEXTS}
TOKEN_INPUTS = (("input_ids", mc.TYPE_INT64, [-1]), ("attention_mask", mc.TYPE_INT64, [-1]))


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tokenizer")
    tokenizer = Tokenizer(WordPiece(VOCAB, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = BertPreTokenizer()
    tokenizer.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", CLS), ("[SEP]", SEP)]
    )
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("texts") / "texts.txt"
    path.write_text("\n".join(["", *TEXTS[:2], "   ", *TEXTS[2:], ""]) + "\n")  # blank lines are skipped
    return path


def config(
    inputs: Sequence[tuple[str, int, Sequence[int]]] = TOKEN_INPUTS, max_batch_size: int = 8, name: str = "m"
) -> ModelConfig:
    result = ModelConfig(name=name, platform="onnxruntime_onnx", max_batch_size=max_batch_size)
    for input_name, data_type, dims in inputs:
        result.input.add(name=input_name, data_type=data_type, dims=dims)
    result.output.add(name="out", data_type=mc.TYPE_FP32, dims=[-1])
    return result


def tokens(tokenizer_dir: Path, texts: Path, **fields: object) -> TokensPayload:
    return TokensPayload.model_validate({"kind": "tokens", "tokenizer": tokenizer_dir, "texts": texts} | fields)


def real_lengths(payload: dict[str, np.ndarray]) -> list[int]:
    return [int(row.sum()) for row in payload["attention_mask"]]


def assert_well_formed(payload: dict[str, np.ndarray]) -> None:
    """[CLS] words [SEP] then padding, with the attention mask exactly on the real tokens."""
    ids, mask = payload["input_ids"], payload["attention_mask"]
    assert ids.shape == mask.shape and ids.ndim == 2
    for row, row_mask in zip(ids, mask, strict=True):
        n = int(row_mask.sum())
        assert row_mask.tolist() == [1] * n + [0] * (row.size - n)
        assert row[0] == CLS and row[n - 1] == SEP
        assert (row[n:] == PAD).all() and (row[1 : n - 1] > SEP).all()


# -- model_inputs -------------------------------------------------------------------------------


def test_model_inputs_reads_names_dtypes_and_dims() -> None:
    inputs = model_inputs(config([("a", mc.TYPE_FP16, [-1, 3]), ("b", mc.TYPE_BOOL, []), ("c", mc.TYPE_UINT8, [4])]))
    assert inputs == [
        ModelInput("a", np.dtype(np.float16), (-1, 3)),
        ModelInput("b", np.dtype(np.bool_), ()),
        ModelInput("c", np.dtype(np.uint8), (4,)),
    ]


# -- tokens -------------------------------------------------------------------------------------


def test_fixed_lengths_pad_every_request_to_the_sequence_length(tokenizer_dir: Path, texts: Path) -> None:
    spec = tokens(tokenizer_dir, texts, lengths="fixed", sequence_length=24, batch_size=3, count=20)
    pool = build_pool(spec, config(), seed=1)
    assert len(pool) == 20 and pool.inferences_per_request == 3
    assert "lengths fixed ≤ 24, batch 3" in pool.description and "texts.txt" in pool.description
    seen = set()
    for payload in pool.payloads:
        assert set(payload) == {"input_ids", "attention_mask"}
        assert payload["input_ids"].shape == (3, 24) and payload["input_ids"].dtype == np.int64
        assert payload["attention_mask"].dtype == np.int64
        assert_well_formed(payload)
        seen.update(real_lengths(payload))
    assert seen == LENGTHS  # every sentence fits in 24 tokens, each is drawn at some point


def test_fixed_lengths_truncate_long_sentences(tokenizer_dir: Path, texts: Path) -> None:
    pool = build_pool(tokens(tokenizer_dir, texts, lengths="fixed", sequence_length=6, count=30), config(), seed=0)
    for payload in pool.payloads:
        assert payload["input_ids"].shape == (1, 6)
        assert_well_formed(payload)
    lengths = {n for p in pool.payloads for n in real_lengths(p)}
    assert lengths == {5, 3, 6}  # "the cat sat", "slow", and every longer sentence cut to 6


def test_text_lengths_pad_to_the_longest_sentence_of_each_request(tokenizer_dir: Path, texts: Path) -> None:
    spec = tokens(tokenizer_dir, texts, lengths="texts", sequence_length=128, batch_size=4, count=40)
    pool = build_pool(spec, config(), seed=3)
    widths = set()
    for payload in pool.payloads:
        assert_well_formed(payload)
        lengths = real_lengths(payload)
        assert set(lengths) <= LENGTHS
        assert payload["input_ids"].shape == (4, max(lengths))  # dynamic padding: no column is all padding
        widths.add(max(lengths))
    assert len(widths) > 1


def test_text_lengths_of_single_requests_are_the_sentences(tokenizer_dir: Path, texts: Path) -> None:
    spec = tokens(tokenizer_dir, texts, lengths="texts", sequence_length=10, count=50)
    pool = build_pool(spec, config(), seed=0)
    decoded = set()
    for payload in pool.payloads:
        (row,) = payload["input_ids"]
        assert payload["attention_mask"].tolist() == [[1] * row.size]  # nothing to pad
        assert row.size <= 10
        words = {i: w for w, i in VOCAB.items()}
        decoded.add(" ".join(words[int(i)] for i in row[1:-1]))
    long = "the big red dog and the small blue"  # 20 tokens cut to 10: [CLS] + 8 words + [SEP]
    assert decoded == {"the cat sat", "a dog ran far away .", long, "slow", "the cat sat on a mat"}


def test_uniform_lengths_are_drawn_between_min_tokens_and_the_sequence_length(tokenizer_dir: Path, texts: Path) -> None:
    spec = tokens(tokenizer_dir, texts, lengths="uniform", min_tokens=4, sequence_length=40, count=300)
    pool = build_pool(spec, config(), seed=0)
    lengths = [n for p in pool.payloads for n in real_lengths(p)]
    for payload in pool.payloads:
        assert_well_formed(payload)
    assert min(lengths) >= 4 and max(lengths) <= 40
    # Sentences are joined until long enough, so lengths beyond the longest sentence (20) occur,
    # and the whole range is covered.
    assert len(set(lengths)) >= 30 and max(lengths) > 30 and min(lengths) < 8


def test_uniform_lengths_with_a_batch_pad_to_the_longest(tokenizer_dir: Path, texts: Path) -> None:
    spec = tokens(tokenizer_dir, texts, lengths="uniform", min_tokens=5, sequence_length=12, batch_size=5, count=30)
    pool = build_pool(spec, config(), seed=4)
    for payload in pool.payloads:
        assert_well_formed(payload)
        lengths = real_lengths(payload)
        assert payload["input_ids"].shape == (5, max(lengths)) and min(lengths) >= 5 and max(lengths) <= 12


def test_lengths_never_exceed_the_sequence_length_even_with_tiny_minimums(tokenizer_dir: Path, texts: Path) -> None:
    """A length the tokenizer cannot truncate to (below its 2 special tokens) must not come out
    untruncated: either every request respects sequence_length, or the spec is refused."""
    spec = tokens(tokenizer_dir, texts, lengths="uniform", min_tokens=1, sequence_length=6, count=100)
    try:
        pool = build_pool(spec, config(), seed=0)
    except InputError as error:
        assert "min_tokens" in str(error)
        return
    assert max(n for p in pool.payloads for n in real_lengths(p)) <= 6


def test_the_same_seed_gives_the_same_pool(tokenizer_dir: Path, texts: Path) -> None:
    spec = tokens(tokenizer_dir, texts, lengths="uniform", sequence_length=20, batch_size=2, count=30)

    def arrays(seed: int) -> list[list[int]]:
        return [p["input_ids"].ravel().tolist() for p in build_pool(spec, config(), seed).payloads]

    assert arrays(7) == arrays(7)
    assert arrays(7) != arrays(8)


def test_token_inputs_take_the_models_dtype_and_token_type_ids(tokenizer_dir: Path, texts: Path) -> None:
    inputs = [
        ("input_ids", mc.TYPE_INT32, [-1]),
        ("token_type_ids", mc.TYPE_INT32, [-1]),
        ("attention_mask", mc.TYPE_INT32, [-1]),
    ]
    pool = build_pool(tokens(tokenizer_dir, texts, batch_size=2, count=5), config(inputs), seed=0)
    for payload in pool.payloads:
        assert list(payload) == ["input_ids", "token_type_ids", "attention_mask"]  # the config's order
        assert {a.dtype for a in payload.values()} == {np.dtype(np.int32)}
        assert (payload["token_type_ids"] == 0).all()
        assert payload["token_type_ids"].shape == payload["input_ids"].shape
        assert_well_formed(payload)


def test_a_model_that_does_not_batch_gets_one_sentence_without_a_batch_dimension(
    tokenizer_dir: Path, texts: Path
) -> None:
    pool = build_pool(tokens(tokenizer_dir, texts, count=10), config(max_batch_size=0), seed=0)
    assert pool.inferences_per_request == 1
    for payload in pool.payloads:
        ids, mask = payload["input_ids"], payload["attention_mask"]
        assert ids.ndim == 1 and ids.size in LENGTHS and ids[0] == CLS and ids[-1] == SEP
        assert mask.tolist() == [1] * ids.size
    with pytest.raises(InputError, match="payload batch_size 2: model 'm' does not batch"):
        build_pool(tokens(tokenizer_dir, texts, batch_size=2), config(max_batch_size=0), seed=0)


def test_a_model_written_without_batching_gets_requests_of_its_own_rank(tokenizer_dir: Path, texts: Path) -> None:
    """tritonkit writes a model that does not batch with its full ONNX dims ([-1, -1] for token ids):
    a tokens request must then be one sentence of rank 2, as Triton checks the rank."""
    signature = OnnxSignature(
        inputs=(
            TensorSignature("input_ids", "TYPE_INT64", (-1, -1)),
            TensorSignature("attention_mask", "TYPE_INT64", (-1, -1)),
        ),
        outputs=(TensorSignature("sentence_embedding", "TYPE_FP32", (-1, 384)),),
    )
    model = base_config("unbatched", signature, batching=False)
    assert model.max_batch_size == 0 and list(model.input[0].dims) == [-1, -1]
    pool = build_pool(tokens(tokenizer_dir, texts, count=10), model, seed=0)
    assert pool.inferences_per_request == 1
    for payload in pool.payloads:
        assert payload["input_ids"].ndim == 2 and payload["input_ids"].shape[0] == 1
        assert_well_formed(payload)


def test_a_batch_larger_than_the_model_takes_is_refused(tokenizer_dir: Path, texts: Path) -> None:
    """Triton rejects every request whose batch exceeds max_batch_size: refuse it before the load."""
    with pytest.raises(InputError, match="batch_size 16"):
        build_pool(tokens(tokenizer_dir, texts, batch_size=16), config(max_batch_size=8), seed=0)
    with pytest.raises(InputError, match="batch_size 9"):
        build_pool(RandomPayload(kind="random", batch_size=9), config(max_batch_size=8), seed=0)


def test_an_input_a_tokens_payload_cannot_fill(tokenizer_dir: Path, texts: Path) -> None:
    model = config([*TOKEN_INPUTS, ("pixel_values", mc.TYPE_FP32, [3, 8, 8])], name="vision")
    with pytest.raises(InputError) as error:
        build_pool(tokens(tokenizer_dir, texts), model, seed=0)
    assert "model 'vision' also takes pixel_values: use a random or files payload" in str(error.value)
    with pytest.raises(InputError, match="input 'text' is a string tensor"):
        build_pool(tokens(tokenizer_dir, texts), config([("text", mc.TYPE_STRING, [1])]), seed=0)


def test_tokens_payload_problems_are_user_errors(tmp_path: Path, tokenizer_dir: Path, texts: Path) -> None:
    with pytest.raises(InputError, match=r"model 'm': the tokens payload needs `tokenizer:`"):
        build_pool(TokensPayload(kind="tokens", texts=texts), config(), seed=0)
    with pytest.raises(InputError, match=f"{tmp_path / 'tokenizer.json'}: no tokenizer.json"):
        build_pool(tokens(tmp_path, texts), config(), seed=0)
    with pytest.raises(InputError, match=f"{tmp_path / 'absent.txt'}: not found"):
        build_pool(tokens(tokenizer_dir, tmp_path / "absent.txt"), config(), seed=0)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n\n")
    with pytest.raises(InputError, match=f"{blank}: no text lines"):
        build_pool(tokens(tokenizer_dir, blank), config(), seed=0)


# -- random -------------------------------------------------------------------------------------

MIXED = (
    ("x", mc.TYPE_FP32, [-1, 3]),
    ("ids", mc.TYPE_INT64, [-1]),
    ("flag", mc.TYPE_BOOL, [2]),
    ("half", mc.TYPE_FP16, [4]),
    ("small", mc.TYPE_UINT8, [-1, -1]),
)


def test_random_payload_shapes_and_dtypes_come_from_the_config() -> None:
    spec = RandomPayload(kind="random", batch_size=4, dynamic_dim_size=5, integer_high=7, count=40)
    pool = build_pool(spec, config(MIXED), seed=0)
    assert len(pool) == 40 and pool.inferences_per_request == 4
    assert pool.description == "random: seed 0, dynamic dims 5, batch 4"
    expected = {
        "x": ((4, 5, 3), np.float32),
        "ids": ((4, 5), np.int64),
        "flag": ((4, 2), np.bool_),
        "half": ((4, 4), np.float16),
        "small": ((4, 5, 5), np.uint8),
    }
    for payload in pool.payloads:
        assert {name: (a.shape, a.dtype) for name, a in payload.items()} == expected
    ids = np.concatenate([p["ids"].ravel() for p in pool.payloads])
    small = np.concatenate([p["small"].ravel() for p in pool.payloads])
    assert ids.min() == 0 and ids.max() == 6 and small.min() == 0 and small.max() == 6  # in [0, integer_high)
    flags = np.concatenate([p["flag"].ravel() for p in pool.payloads])
    assert flags.any() and not flags.all()
    floats = np.concatenate([p["x"].ravel() for p in pool.payloads])
    assert abs(floats.mean()) < 0.2 and 0.8 < floats.std() < 1.2 and (floats < 0).any()


def test_random_payload_without_batching_has_no_batch_dimension() -> None:
    spec = RandomPayload(kind="random", dynamic_dim_size=3, count=2)
    pool = build_pool(spec, config(MIXED, max_batch_size=0), seed=0)
    assert pool.inferences_per_request == 1
    assert {n: a.shape for n, a in pool.payloads[0].items()} == {
        "x": (3, 3), "ids": (3,), "flag": (2,), "half": (4,), "small": (3, 3),
    }  # fmt: skip
    with pytest.raises(InputError, match="payload batch_size 2: model 'm' does not batch"):
        build_pool(RandomPayload(kind="random", batch_size=2), config(MIXED, max_batch_size=0), seed=0)


def test_random_payload_is_seeded() -> None:
    spec = RandomPayload(kind="random", batch_size=2, count=5)

    def flat(seed: int) -> list[np.ndarray]:
        return [a for p in build_pool(spec, config(MIXED), seed).payloads for a in p.values()]

    assert all(np.array_equal(a, b) for a, b in zip(flat(3), flat(3), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(flat(3), flat(4), strict=True))
    # Requests differ from one another within a pool.
    first, second = build_pool(spec, config(MIXED), 3).payloads[:2]
    assert not np.array_equal(first["x"], second["x"])


def test_random_integers_stay_within_the_inputs_type() -> None:
    """integer_high above what the dtype holds must not wrap around into negative ids."""
    spec = RandomPayload(kind="random", integer_high=1000, count=20)
    pool = build_pool(spec, config([("tiny", mc.TYPE_INT8, [64])]), seed=0)
    values = np.concatenate([p["tiny"].ravel() for p in pool.payloads])
    assert values.dtype == np.int8 and values.min() >= 0


def test_string_inputs_cannot_be_random() -> None:
    with pytest.raises(InputError, match="model 'm' input 'text' is a string tensor; use a files payload"):
        build_pool(RandomPayload(kind="random"), config([("text", mc.TYPE_STRING, [1])]), seed=0)


# -- files --------------------------------------------------------------------------------------


def npz(path: Path, **arrays: np.ndarray) -> Path:
    with path.open("wb") as file:
        np.savez(file, **arrays)
    return path


def ids(batch: int, length: int, dtype: type = np.int64) -> np.ndarray:
    return np.arange(batch * length, dtype=dtype).reshape(batch, length)


def files(*paths: Path) -> FilesPayload:
    return FilesPayload(kind="files", paths=paths)


def test_files_payload_reads_each_request(tmp_path: Path) -> None:
    a = npz(tmp_path / "a.npz", input_ids=ids(2, 7), attention_mask=np.ones((2, 7), np.int64))
    b = npz(tmp_path / "b.npz", attention_mask=np.ones((2, 3), np.int64), input_ids=ids(2, 3) + 5)
    pool = build_pool(files(a, b), config(), seed=0)
    assert len(pool) == 2 and pool.inferences_per_request == 2
    assert pool.description == "files: 2 .npz requests"
    assert np.array_equal(pool.payloads[0]["input_ids"], ids(2, 7))
    assert np.array_equal(pool.payloads[1]["input_ids"], ids(2, 3) + 5)
    assert pool.payloads[1]["attention_mask"].shape == (2, 3)


def test_files_payload_for_a_model_that_does_not_batch(tmp_path: Path) -> None:
    a = npz(tmp_path / "a.npz", input_ids=np.arange(4), attention_mask=np.ones(4, np.int64))
    pool = build_pool(files(a, a), config(max_batch_size=0), seed=0)
    assert pool.inferences_per_request == 1 and pool.payloads[0]["input_ids"].shape == (4,)
    with pytest.raises(InputError, match=f"{a}: 'input_ids' has 1 dimensions; the model expects 2"):
        build_pool(files(a), config(), seed=0)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"input_ids": ids(1, 4)}, r"holds arrays \['input_ids'\]; the model takes exactly \['attention_mask', 'inp"),
        (
            {"input_ids": ids(1, 4), "attention_mask": ids(1, 4), "token_type_ids": ids(1, 4)},
            r"holds arrays \['attention_mask', 'input_ids', 'token_type_ids'\]",
        ),
        (
            {"input_ids": ids(1, 4, np.int32), "attention_mask": ids(1, 4)},
            "'input_ids' is int32; the model expects int64",
        ),
        ({"input_ids": ids(1, 4), "attention_mask": np.ones((1, 1, 4), np.int64)}, "'attention_mask' has 3 dimensions"),
    ],
)
def test_files_that_do_not_fit_the_model_name_the_file(
    tmp_path: Path, arrays: dict[str, np.ndarray], message: str
) -> None:
    good = npz(tmp_path / "good.npz", input_ids=ids(1, 4), attention_mask=ids(1, 4))
    bad = npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(InputError) as error:
        build_pool(files(good, bad), config(), seed=0)
    text = str(error.value)
    assert text.startswith(f"{bad}: ")
    assert re.search(message, text), text


def test_files_must_share_one_batch_size(tmp_path: Path) -> None:
    a = npz(tmp_path / "a.npz", input_ids=ids(2, 4), attention_mask=ids(2, 4))
    b = npz(tmp_path / "b.npz", input_ids=ids(3, 4), attention_mask=ids(3, 4))
    with pytest.raises(InputError, match=rf"must share one batch size; found \[2, 3\] in {tmp_path}"):
        build_pool(files(a, b, a), config(), seed=0)


@pytest.mark.parametrize("content", ["absent", "text", "npy", "truncated"])
def test_unreadable_files_are_user_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "request.npz"
    if content == "text":
        path.write_text("input_ids: [1, 2, 3]\n")
    elif content == "npy":
        np.save(path.open("wb"), ids(1, 4))  # a single array, not an archive of named arrays
    elif content == "truncated":
        npz(path, input_ids=ids(1, 4), attention_mask=ids(1, 4))
        path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(InputError) as error:
        build_pool(files(path), config(), seed=0)
    assert str(error.value).startswith(f"{path}: ")


def test_files_payload_can_feed_string_inputs(tmp_path: Path) -> None:
    """String tensors are what a files payload is for: the random and tokens payloads send users here."""
    path = npz(tmp_path / "text.npz", text=np.array([[b"hello world"], [b"bye"]], dtype=np.object_).astype(np.bytes_))
    pool = build_pool(files(path), config([("text", mc.TYPE_STRING, [1])]), seed=0)
    assert pool.inferences_per_request == 2
    assert [bytes(v) for v in pool.payloads[0]["text"].ravel()] == [b"hello world", b"bye"]


# -- bounds, and the files checked before a server starts --------------------------------------------


def test_a_random_request_beyond_the_size_bound_is_refused() -> None:
    spec = RandomPayload(kind="random", batch_size=1024, dynamic_dim_size=65_536)
    big = config([("x", mc.TYPE_FP32, [-1, -1])], max_batch_size=1024)
    with pytest.raises(InputError, match=r"random payload for model 'm' .*: \d+ bytes a request; at most 268435456"):
        build_pool(spec, big, seed=0)
    many = RandomPayload(kind="random", batch_size=1024, dynamic_dim_size=64, count=100_000)
    with pytest.raises(InputError, match=r"100000 requests of 262144 bytes; at most 2147483648 bytes prepared"):
        build_pool(many, config([("x", mc.TYPE_FP32, [-1])], max_batch_size=1024), seed=0)


def test_payload_file_problems_are_found_without_a_config(tmp_path: Path, tokenizer_dir: Path, texts: Path) -> None:
    good = npz(tmp_path / "good.npz", input_ids=ids(1, 3))
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not really")
    problems = payload_file_problems(files(good, tmp_path / "bad.npz", tmp_path / "absent.npz"))
    assert [p.split(": ", 1)[1][:20] for p in problems] == ["not a readable .npz ", "not found (expected "]
    assert payload_file_problems(tokens(tokenizer_dir, texts)) == []
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_text("{}")
    found = payload_file_problems(tokens(tmp_path / "tok", tmp_path / "latin1.txt"))
    assert len(found) == 2 and "not UTF-8 text" in found[0] and "not a tokenizer.json" in found[1]
