"""Request payloads, prepared before the load starts so generating them costs nothing during it.

Three kinds: token ids from the model's own tokenizer on real sentences (realistic lengths and
padding, as a text client sends them), seeded random tensors shaped from the served config (any
model), and user-supplied .npz files. Shared with the Locust load tests, so nothing here may
import asyncio or gevent-sensitive modules.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from tokenizers import Encoding, Tokenizer
from tritonclient.grpc import model_config_pb2
from tritonclient.utils import triton_to_np_dtype

from tritonkit.errors import InputError
from tritonkit.inputs import MAX_TEXT_BYTES, excerpt, read_lines, read_text
from tritonkit.specs import FilesPayload, PayloadSpec, RandomPayload, TokensPayload
from tritonkit.triton.model_config import ModelConfig

Payload = dict[str, np.ndarray]
MAX_REQUEST_BYTES = 256 << 20  # one request's tensors, uncompressed: beyond gRPC's and Triton's limits
MAX_POOL_BYTES = 2 << 30  # every prepared request together: they are held in memory for the whole run


@dataclass(frozen=True)
class ModelInput:
    name: str
    dtype: np.dtype
    dims: tuple[int, ...]  # without the batch dimension; -1 where dynamic


@dataclass(frozen=True)
class PayloadPool:
    """Distinct requests, sent in a seeded random order by cycling through `order`."""

    payloads: tuple[Payload, ...]
    inferences_per_request: int  # the batch dimension (1 for a model that does not batch)
    description: str

    def __len__(self) -> int:
        return len(self.payloads)


def model_inputs(config: ModelConfig, strings: bool = False) -> list[ModelInput]:
    inputs = []
    for tensor in config.input:
        triton_type = model_config_pb2.DataType.Name(tensor.data_type).removeprefix("TYPE_")
        if triton_type == "STRING":
            if not strings:
                raise InputError(f"model '{config.name}' input '{tensor.name}' is a string tensor; use a files payload")
            triton_type = "BYTES"
        inputs.append(ModelInput(tensor.name, np.dtype(triton_to_np_dtype(triton_type)), tuple(tensor.dims)))
    return inputs


def _check_pool_size(what: str, request_bytes: int, count: int) -> None:
    """Refuse a pool that would exhaust memory before it is built."""
    if request_bytes > MAX_REQUEST_BYTES:
        raise InputError(f"{what}: {request_bytes} bytes a request; at most {MAX_REQUEST_BYTES}: lower the sizes")
    if request_bytes * count > MAX_POOL_BYTES:
        raise InputError(
            f"{what}: {count} requests of {request_bytes} bytes; at most {MAX_POOL_BYTES} bytes prepared: lower count"
        )


def _check_batch(batch_size: int, config: ModelConfig, batching: bool) -> None:
    if batch_size > 1 and not batching:
        raise InputError(f"payload batch_size {batch_size}: model '{config.name}' does not batch")
    if batching and batch_size > config.max_batch_size:
        raise InputError(
            f"payload batch_size {batch_size} exceeds model '{config.name}' max_batch_size {config.max_batch_size}"
        )


def build_pool(spec: PayloadSpec, config: ModelConfig, seed: int) -> PayloadPool:
    batching = config.max_batch_size > 0
    if isinstance(spec, TokensPayload):
        return _tokens(spec, config, batching, seed)
    if isinstance(spec, RandomPayload):
        return _random(spec, config, batching, seed)
    return _files(spec, config, batching)


# -- tokens ------------------------------------------------------------------------------------

_TOKEN_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}


def _tokens(spec: TokensPayload, config: ModelConfig, batching: bool, seed: int) -> PayloadPool:
    _check_batch(spec.batch_size, config, batching)
    inputs = model_inputs(config)
    unknown = [i.name for i in inputs if i.name not in _TOKEN_FIELDS]
    if unknown:
        raise InputError(
            f"a tokens payload fills {', '.join(_TOKEN_FIELDS)}; model '{config.name}' also takes "
            f"{', '.join(unknown)}: use a random or files payload"
        )
    if spec.tokenizer is None:
        raise InputError(f"model '{config.name}': the tokens payload needs `tokenizer:` (a folder with tokenizer.json)")
    longest = spec.batch_size * spec.sequence_length * sum(i.dtype.itemsize for i in inputs)
    _check_pool_size(f"tokens payload for model '{config.name}'", longest, spec.count)
    tokenizer = _load_tokenizer(spec.tokenizer)
    specials = tokenizer.num_special_tokens_to_add(False)
    shortest = spec.min_tokens if spec.lengths == "uniform" else spec.sequence_length
    if shortest <= specials:
        raise InputError(f"min_tokens/sequence_length {shortest} must exceed the tokenizer's {specials} special tokens")
    tokenizer.no_padding()  # padding is per batch below: to the longest sentence, or fixed
    texts = read_lines(spec.texts)
    rng = np.random.default_rng(seed)
    pad_id = _pad_id(tokenizer)

    payloads = []
    for _ in range(spec.count):
        encodings = [_encode_one(tokenizer, texts, rng, spec) for _ in range(spec.batch_size)]
        width = spec.sequence_length if spec.lengths == "fixed" else max(len(e.ids) for e in encodings)
        for encoding in encodings:
            encoding.pad(width, pad_id=pad_id, pad_token=_PAD_TOKEN)
        payload = {}
        for model_input in inputs:
            rows = [getattr(e, _TOKEN_FIELDS[model_input.name]) for e in encodings]
            array = np.asarray(rows, dtype=model_input.dtype)
            rank = len(model_input.dims) + (1 if batching else 0)
            if rank not in (1, 2):
                raise InputError(
                    f"model '{config.name}' input '{model_input.name}' has rank {rank}; token ids need 1 or 2"
                )
            payload[model_input.name] = array if rank == 2 else array[0]
        payloads.append(payload)
    description = f"tokens: {spec.texts.name}, lengths {spec.lengths} ≤ {spec.sequence_length}, batch {spec.batch_size}"
    return PayloadPool(tuple(payloads), spec.batch_size if batching else 1, description)


_PAD_TOKEN = "[PAD]"


def _encode_one(tokenizer: Tokenizer, texts: list[str], rng: np.random.Generator, spec: TokensPayload) -> Encoding:
    """One sentence as the client would send it; for `uniform`, sentences joined until long enough,
    then cut at a length drawn in [min_tokens, sequence_length]."""
    pick = texts[int(rng.integers(0, len(texts)))]
    if spec.lengths != "uniform":
        tokenizer.enable_truncation(max_length=spec.sequence_length)
        return tokenizer.encode(pick)
    wanted = int(rng.integers(spec.min_tokens, spec.sequence_length + 1))
    tokenizer.enable_truncation(max_length=wanted)
    sentences = [pick]
    while True:
        encoding = tokenizer.encode(" ".join(sentences))
        if len(encoding.ids) >= wanted or len(sentences) > spec.sequence_length:
            return encoding
        sentences.append(texts[int(rng.integers(0, len(texts)))])


def _load_tokenizer(folder: Path) -> Tokenizer:
    if not folder.is_dir():
        state = "not a folder" if folder.exists() else "not found"
        raise InputError(f"{folder}: {state} (expected a tokenizer folder holding tokenizer.json)")
    path = folder / "tokenizer.json"
    if not path.exists():
        raise InputError(f"{path}: no tokenizer.json (the exporter writes one into <model>/tokenizer/)")
    text = read_text(path, "a tokenizer.json of the tokenizers library", MAX_TEXT_BYTES)
    try:
        return Tokenizer.from_str(text)
    except Exception as exc:  # tokenizers raises a bare Exception for every malformed file
        raise InputError(f"{path}: not a tokenizer.json that tokenizers can read ({excerpt(str(exc))})") from None


def _pad_id(tokenizer: Tokenizer) -> int:
    pad = tokenizer.token_to_id(_PAD_TOKEN)
    return 0 if pad is None else pad


# -- random ------------------------------------------------------------------------------------


def _random(spec: RandomPayload, config: ModelConfig, batching: bool, seed: int) -> PayloadPool:
    _check_batch(spec.batch_size, config, batching)
    rng = np.random.default_rng(seed)
    inputs = model_inputs(config)
    shapes = {}
    for model_input in inputs:
        dims = [spec.dynamic_dim_size if d < 0 else d for d in model_input.dims]
        shapes[model_input.name] = [spec.batch_size, *dims] if batching else dims
    size = sum(math.prod(shape) * i.dtype.itemsize for shape, i in zip(shapes.values(), inputs, strict=True))
    _check_pool_size(f"random payload for model '{config.name}' (shapes {excerpt(shapes)})", size, spec.count)
    payloads = []
    for _ in range(spec.count):
        payload = {}
        for model_input in inputs:
            payload[model_input.name] = _random_array(
                rng, shapes[model_input.name], model_input.dtype, spec.integer_high
            )
        payloads.append(payload)
    description = f"random: seed {seed}, dynamic dims {spec.dynamic_dim_size}, batch {spec.batch_size}"
    return PayloadPool(tuple(payloads), spec.batch_size if batching else 1, description)


def _random_array(rng: np.random.Generator, shape: list[int], dtype: np.dtype, integer_high: int) -> np.ndarray:
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, min(integer_high, int(np.iinfo(dtype).max) + 1), shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


# -- files -------------------------------------------------------------------------------------


def _files(spec: FilesPayload, config: ModelConfig, batching: bool) -> PayloadPool:
    inputs = model_inputs(config, strings=True)
    payloads = [_read_request(path, inputs, batching) for path in spec.paths]
    sizes = {p[inputs[0].name].shape[0] if batching else 1 for p in payloads}
    if len(sizes) > 1:
        raise InputError(f"payload files must share one batch size; found {sorted(sizes)} in {spec.paths[0].parent}")
    return PayloadPool(tuple(payloads), sizes.pop(), f"files: {len(payloads)} .npz requests")


def _read_archive(path: Path) -> Payload:
    """The arrays of one .npz request file, refused before reading when they would be too large."""
    if not path.is_file():
        state = "a directory" if path.is_dir() else "not a regular file" if path.exists() else "not found"
        raise InputError(f"{path}: {state} (expected an .npz file of arrays named after the model's inputs)")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                size = sum(member.file_size for member in archive.infolist())
            if size > MAX_REQUEST_BYTES:
                raise InputError(f"{path}: {size} bytes uncompressed; one request holds at most {MAX_REQUEST_BYTES}")
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise InputError(f"{path}: a single array (.npy), not an .npz archive of arrays named by input")
        with loaded as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable .npz file ({excerpt(str(exc))})") from None


def _read_request(path: Path, inputs: list[ModelInput], batching: bool) -> Payload:
    arrays = _read_archive(path)
    expected = {i.name for i in inputs}
    if set(arrays) != expected:
        raise InputError(f"{path}: holds arrays {sorted(arrays)}; the model takes exactly {sorted(expected)}")
    for model_input in inputs:
        array = arrays[model_input.name]
        if model_input.dtype == np.object_ and array.dtype.kind in "SO":
            arrays[model_input.name] = array = array.astype(np.object_)
        if array.dtype != model_input.dtype:
            raise InputError(f"{path}: '{model_input.name}' is {array.dtype}; the model expects {model_input.dtype}")
        rank = len(model_input.dims) + (1 if batching else 0)
        if array.ndim != rank:
            raise InputError(f"{path}: '{model_input.name}' has {array.ndim} dimensions; the model expects {rank}")
    return arrays


# -- before a server starts ----------------------------------------------------------------------


def payload_file_problems(spec: PayloadSpec) -> list[str]:
    """What is wrong with the files a payload names, found without the served config (texts,
    tokenizer, .npz archives), so that a check fails before it starts a server."""
    readers: list[Callable[[], object]] = []
    if isinstance(spec, TokensPayload):
        readers.append(partial(read_lines, spec.texts))
        if spec.tokenizer is not None:
            readers.append(partial(_load_tokenizer, spec.tokenizer))
    elif isinstance(spec, FilesPayload):
        readers.extend(partial(_read_archive, path) for path in spec.paths)
    problems = []
    for read in readers:
        try:
            read()
        except InputError as exc:
            problems.append(str(exc))
    return problems
