"""Request payloads, prepared before the load starts so generating them costs nothing during it.

Five kinds: token ids from the model's own tokenizer on real sentences (realistic lengths and
padding, as a text client sends them), prompts for a streaming generator (real sentences as ids and
the tokens to generate), pixel values from the model's own image processor on real
photographs, seeded random tensors shaped from the served config (any model), and user-supplied
.npz files. Shared with the Locust load tests, so nothing here may import asyncio or
gevent-sensitive modules.
"""

from __future__ import annotations

import importlib.util
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tokenizers import Encoding, Tokenizer
from tritonclient.grpc import model_config_pb2
from tritonclient.utils import triton_to_np_dtype

from tritonkit.errors import InputError
from tritonkit.images import header_problems, image_files, read_rgb, views
from tritonkit.inputs import attempt, excerpt, read_json_object, read_lines
from tritonkit.specs import (
    FilesPayload,
    ImagesPayload,
    PayloadSpec,
    PromptsPayload,
    RandomPayload,
    TextsPayload,
    TokensPayload,
)
from tritonkit.tokenizer_files import read_tokenizer
from tritonkit.triton.model_config import ModelConfig

if TYPE_CHECKING:
    from transformers.image_processing_utils import BaseImageProcessor

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


def check_pool_size(what: str, request_bytes: int, count: int) -> None:
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
    if isinstance(spec, TextsPayload):
        return _texts(spec, config, batching, seed)
    if isinstance(spec, PromptsPayload):
        return _prompts(spec, config, seed)
    if isinstance(spec, ImagesPayload):
        return _images(spec, config, batching, seed)
    if isinstance(spec, RandomPayload):
        return _random(spec, config, batching, seed)
    return _files(spec, config, batching)


# -- the files the exporter writes beside a model --------------------------------------------------

# Per payload kind that reads them: the field they are the default of, and the folder beside the
# model's config.pbtxt the exporter writes them into.
_MODEL_FILES: dict[type[PayloadSpec], tuple[str, str]] = {
    TokensPayload: ("tokenizer", "tokenizer"),
    PromptsPayload: ("tokenizer", "tokenizer"),
    ImagesPayload: ("processor", "preprocessor"),
}
MODEL_ASSET_FOLDERS = tuple(dict.fromkeys(folder for _, folder in _MODEL_FILES.values()))


def with_model_files(payload: PayloadSpec, model_folder: Path | None) -> PayloadSpec:
    """The payload with its tokenizer or image processor, when not given, the one the exporter wrote
    into `model_folder`; None (a running server, whose repository is not here) cannot default it."""
    if type(payload) not in _MODEL_FILES:
        return payload
    field, folder = _MODEL_FILES[type(payload)]
    if getattr(payload, field) is not None:
        return payload
    if model_folder is None:
        raise InputError(f"the {payload.kind} payload needs `{field}:` on a running server")
    return payload.model_copy(update={field: model_folder / folder})


# -- tokens ------------------------------------------------------------------------------------

_TOKEN_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}


def _token_inputs(config: ModelConfig, batching: bool) -> list[ModelInput]:
    """The model's inputs, each one a tokens payload fills, of rank 1 or 2 with the batch."""
    inputs = model_inputs(config)
    unknown = [i.name for i in inputs if i.name not in _TOKEN_FIELDS]
    if unknown:
        raise InputError(
            f"a tokens payload fills {', '.join(_TOKEN_FIELDS)}; model '{config.name}' also takes "
            f"{', '.join(unknown)}: use a random or files payload"
        )
    for model_input in inputs:
        rank = len(model_input.dims) + (1 if batching else 0)
        if rank not in (1, 2):
            raise InputError(f"model '{config.name}' input '{model_input.name}' has rank {rank}; token ids need 1 or 2")
    return inputs


@dataclass(frozen=True)
class TokenEncoder:
    """A tokens payload's tokenizer and the model's token inputs: sentences to request tensors."""

    tokenizer: Tokenizer
    pad: tuple[int, str]
    inputs: list[ModelInput]
    batching: bool

    @classmethod
    def for_payload(
        cls, spec: TokensPayload, config: ModelConfig, batching: bool, shortest: int,
        fields: str = "min_tokens/sequence_length",
    ) -> TokenEncoder:  # fmt: skip
        """`shortest`: the fewest tokens a request may have (`fields` say where it was set)."""
        inputs = _token_inputs(config, batching)
        tokenizer = _tokenizer_for(spec, config, shortest, fields)
        pad = _padding(tokenizer)
        tokenizer.no_padding()  # padding is per request: to the longest sentence, or fixed
        return cls(tokenizer, pad, inputs, batching)

    def request(self, encodings: list[Encoding], width: int) -> Payload:
        """One request of `encodings` (one a batch row), each padded to `width` tokens."""
        pad_id, pad_token = self.pad
        for encoding in encodings:
            encoding.pad(width, pad_id=pad_id, pad_token=pad_token)
        payload = {}
        for model_input in self.inputs:
            rows = [getattr(e, _TOKEN_FIELDS[model_input.name]) for e in encodings]
            array = np.asarray(rows, dtype=model_input.dtype)
            rank = len(model_input.dims) + (1 if self.batching else 0)  # 1 or 2: checked by _token_inputs
            payload[model_input.name] = array if rank == 2 else array[0]
        return payload

    def request_bytes(self, batch_size: int, length: int) -> int:
        return batch_size * length * sum(i.dtype.itemsize for i in self.inputs)


def _tokens(spec: TokensPayload, config: ModelConfig, batching: bool, seed: int) -> PayloadPool:
    _check_batch(spec.batch_size, config, batching)
    shortest = spec.min_tokens if spec.lengths == "uniform" else spec.sequence_length
    encoder = TokenEncoder.for_payload(spec, config, batching, shortest)
    what = f"tokens payload for model '{config.name}'"
    check_pool_size(what, encoder.request_bytes(spec.batch_size, spec.sequence_length), spec.count)
    texts = read_lines(spec.texts)
    rng = np.random.default_rng(seed)
    payloads = []
    for _ in range(spec.count):
        encodings = [
            encode_one(encoder.tokenizer, texts, rng, spec.lengths == "uniform", spec.min_tokens, spec.sequence_length)
            for _ in range(spec.batch_size)
        ]
        payloads.append(encoder.request(encodings, _width(spec, max(len(e.ids) for e in encodings))))
    lengths = f"buckets {list(spec.buckets)}" if spec.lengths == "buckets" else f"lengths {spec.lengths}"
    description = f"tokens: {spec.texts.name}, {lengths} ≤ {spec.sequence_length}, batch {spec.batch_size}"
    return PayloadPool(tuple(payloads), spec.batch_size if batching else 1, description)


def _width(spec: TokensPayload, longest: int) -> int:
    """What a request of `longest` tokens is padded to."""
    if spec.lengths == "fixed":
        return spec.sequence_length
    if spec.lengths == "buckets":  # the buckets up to sequence_length, where texts are cut, then it
        return next((b for b in spec.buckets if longest <= b < spec.sequence_length), spec.sequence_length)
    return longest


# -- texts -------------------------------------------------------------------------------------


def text_input(config: ModelConfig, batching: bool) -> ModelInput:
    """The one string input of a `<name>_text` model: one text per batch row ([1] with the batch
    dimension implicit; a model that does not batch takes [1] or [-1], one text a request)."""
    inputs = model_inputs(config, strings=True)
    shapes = ((1,),) if batching else ((1,), (-1,))
    if len(inputs) != 1 or inputs[0].dtype != np.object_ or inputs[0].dims not in shapes:
        taken = ", ".join(f"'{i.name}' {i.dtype} {list(i.dims)}" for i in inputs) or "no inputs"
        raise InputError(
            f"model '{config.name}' takes {taken}; a texts payload fills one string input [1] "
            "(a <name>_text model: tritonkit add-text-model)"
        )
    return inputs[0]


def _texts(spec: TextsPayload, config: ModelConfig, batching: bool, seed: int) -> PayloadPool:
    _check_batch(spec.batch_size, config, batching)
    string_input = text_input(config, batching)
    lines = [line.encode() for line in read_lines(spec.texts)]  # once: every request shares them
    longest = max(map(len, lines))  # bytes, as they go over the wire
    check_pool_size(f"texts payload for model '{config.name}'", spec.batch_size * longest, spec.count)
    rng = np.random.default_rng(seed)
    payloads = []
    for _ in range(spec.count):
        rows = [lines[int(i)] for i in rng.integers(0, len(lines), spec.batch_size)]
        array = np.array(rows, dtype=np.object_)
        payloads.append({string_input.name: array[:, None] if batching else array})
    description = f"texts: {spec.texts.name}, batch {spec.batch_size}"
    return PayloadPool(tuple(payloads), spec.batch_size if batching else 1, description)


def encode_one(
    tokenizer: Tokenizer, texts: list[str], rng: np.random.Generator, uniform: bool, shortest: int, longest: int
) -> Encoding:
    """One sentence as the client would send it, cut at `longest` tokens; for `uniform`, sentences
    joined until long enough, then cut at a length drawn in [shortest, longest]."""
    pick = texts[int(rng.integers(0, len(texts)))]
    if not uniform:
        tokenizer.enable_truncation(max_length=longest)
        return tokenizer.encode(pick)
    wanted = int(rng.integers(shortest, longest + 1))
    tokenizer.enable_truncation(max_length=wanted)
    sentences = [pick]
    while True:
        encoding = tokenizer.encode(" ".join(sentences))
        if len(encoding.ids) >= wanted or len(sentences) > longest:
            return encoding
        sentences.append(texts[int(rng.integers(0, len(texts)))])


def _tokenizer_for(spec: TokensPayload | PromptsPayload, config: ModelConfig, shortest: int, fields: str) -> Tokenizer:
    """The payload's tokenizer, refused when the shortest length asked for (`fields`) leaves no
    room beyond the special tokens it adds to every text."""
    if spec.tokenizer is None:
        raise InputError(
            f"model '{config.name}': the {spec.kind} payload needs `tokenizer:` (a folder with tokenizer.json)"
        )
    tokenizer = _load_tokenizer(spec.tokenizer)
    specials = tokenizer.num_special_tokens_to_add(False)
    if shortest <= specials:
        raise InputError(f"{fields} {shortest} must exceed the tokenizer's {specials} special tokens")
    return tokenizer


def _load_tokenizer(folder: Path) -> Tokenizer:
    if not folder.is_dir():
        state = "not a folder" if folder.exists() else "not found"
        raise InputError(f"{folder}: {state} (expected a tokenizer folder holding tokenizer.json)")
    path = folder / "tokenizer.json"
    if not path.exists():
        raise InputError(f"{path}: no tokenizer.json (the exporter writes one into <model>/tokenizer/)")
    return read_tokenizer(path, "a tokenizer.json of the tokenizers library")


def _padding(tokenizer: Tokenizer) -> tuple[int, str]:
    """The id and token a real client pads with: the tokenizer's own padding setting, else its pad
    token by BERT's or RoBERTa's name, else id 0."""
    if tokenizer.padding is not None:
        return int(tokenizer.padding["pad_id"]), str(tokenizer.padding["pad_token"])
    for token in ("[PAD]", "<pad>"):
        if (pad := tokenizer.token_to_id(token)) is not None:
            return pad, token
    return 0, "[PAD]"


# -- prompts -----------------------------------------------------------------------------------

# The generator contract: one prompt's ids and the tokens to generate, streamed back one a response.
GENERATOR_INPUTS = {"input_ids": (np.dtype(np.int64), (-1,)), "max_new_tokens": (np.dtype(np.int32), (1,))}


def _prompts(spec: PromptsPayload, config: ModelConfig, seed: int) -> PayloadPool:
    _check_generator(config)
    check_pool_size(f"prompts payload for model '{config.name}'", spec.max_prompt_tokens * 8 + 4, spec.count)
    shortest = spec.min_prompt_tokens if spec.lengths == "uniform" else spec.max_prompt_tokens
    tokenizer = _tokenizer_for(spec, config, shortest, "min_prompt_tokens/max_prompt_tokens")
    tokenizer.no_padding()  # one prompt a request: nothing to pad to
    texts = read_lines(spec.texts)
    rng = np.random.default_rng(seed)
    new_tokens = np.asarray([spec.max_new_tokens], dtype=np.int32)
    payloads: list[Payload] = []
    for _ in range(spec.count):
        uniform = spec.lengths == "uniform"
        encoding = encode_one(tokenizer, texts, rng, uniform, spec.min_prompt_tokens, spec.max_prompt_tokens)
        if not encoding.ids:
            raise InputError(f"{spec.texts}: a line the tokenizer in {spec.tokenizer} makes no tokens of")
        payloads.append({"input_ids": np.asarray(encoding.ids, dtype=np.int64), "max_new_tokens": new_tokens})
    description = (
        f"prompts: {spec.texts.name}, lengths {spec.lengths} ≤ {spec.max_prompt_tokens}, "
        f"{spec.max_new_tokens} new tokens"
    )
    return PayloadPool(tuple(payloads), 1, description)


def _check_generator(config: ModelConfig) -> None:
    """A decoupled model taking exactly the generator contract's inputs, unbatched."""
    inputs = model_inputs(config)
    fits = config.max_batch_size == 0 and {i.name: (i.dtype, i.dims) for i in inputs} == GENERATOR_INPUTS
    decoupled = config.model_transaction_policy.decoupled
    if not (fits and decoupled):
        taken = ", ".join(f"'{i.name}' {i.dtype} {list(i.dims)}" for i in inputs) or "no inputs"
        wanted = " and ".join(f"'{name}' {dtype} {list(dims)}" for name, (dtype, dims) in GENERATOR_INPUTS.items())
        raise InputError(
            f"model '{config.name}' takes {taken} (max_batch_size {config.max_batch_size}, "
            f"{'decoupled' if decoupled else 'not decoupled'}); a prompts payload streams from a decoupled "
            f"generator taking exactly {wanted} (max_batch_size 0): use a tokens, random or files payload"
        )


# -- images ------------------------------------------------------------------------------------

PROCESSOR_CONFIG = "preprocessor_config.json"
_NEEDS_TRANSFORMERS = "the images payload needs transformers, in the export extra: pip install 'tritonkit[export]'"


def _images(spec: ImagesPayload, config: ModelConfig, batching: bool, seed: int) -> PayloadPool:
    _check_batch(spec.batch_size, config, batching)
    model_input, batched = _image_input(config, batching)
    if spec.processor is None:
        raise InputError(
            f"model '{config.name}': the images payload needs `processor:` (a folder with {PROCESSOR_CONFIG})"
        )
    processor = _load_processor(spec.processor)
    files = _photographs(spec.images)
    per_photograph = len(views(np.zeros((1, 1, 3), np.uint8)))  # views() makes as many of every photograph
    # A drawn view is photograph index * per_photograph + view index.
    drawn = np.random.default_rng(seed).integers(0, len(files) * per_photograph, (spec.count, spec.batch_size))
    pixels = _pixel_values(processor, spec, files, per_photograph, drawn, model_input, config.name)
    payloads = []
    for row in drawn:
        batch = np.stack([pixels[int(view)] for view in row])
        payloads.append({model_input.name: batch if batched else batch[0]})
    source = spec.images.name if spec.images else "scikit-image samples"
    height, width = next(iter(pixels.values())).shape[1:]
    description = (
        f"images: {source} ({len(files)} photographs, {len(pixels)} views), {height}x{width}, batch {spec.batch_size}"
    )
    return PayloadPool(tuple(payloads), spec.batch_size if batching else 1, description)


def _image_input(config: ModelConfig, batching: bool) -> tuple[ModelInput, bool]:
    """The model's one float image input [channels, height, width], and whether a request carries a
    batch dimension (implicit in a batching model's dims, or explicit as the first of four)."""
    inputs = model_inputs(config)
    rank = len(inputs[0].dims) if len(inputs) == 1 else 0  # 0: not one input
    explicit_batch = rank == 4 and not batching
    if (rank != 3 and not explicit_batch) or not np.issubdtype(inputs[0].dtype, np.floating):
        taken = ", ".join(f"'{i.name}' {i.dtype} {list(i.dims)}" for i in inputs) or "no inputs"
        raise InputError(
            f"model '{config.name}' takes {taken}; an images payload fills one float input [channels, height, width]"
            f" (max_batch_size {config.max_batch_size}): use a tokens, random or files payload"
        )
    return inputs[0], batching or explicit_batch


def _pixel_values(
    processor: BaseImageProcessor, spec: ImagesPayload, files: list[Path], per_photograph: int, drawn: np.ndarray,
    model_input: ModelInput, model: str,
) -> dict[int, np.ndarray]:  # fmt: skip
    """Every drawn view preprocessed once, one photograph in memory at a time. Every view must come
    out in one shape, the model's (its dynamic dims as the first view's)."""
    pixels: dict[int, np.ndarray] = {}
    shape: tuple[int, ...] = ()
    wanted = np.unique(drawn)
    for photograph in np.unique(wanted // per_photograph):
        path = files[photograph]
        photograph_views = views(read_rgb(path))
        for view in wanted[wanted // per_photograph == photograph]:
            try:
                output = processor(images=photograph_views[view % per_photograph], return_tensors="np")
            except Exception as exc:  # transformers raises whatever a bad setting makes it raise
                raise InputError(
                    f"{path}: the image processor in {spec.processor} fails on it ({excerpt(str(exc))})"
                ) from None
            array = np.asarray(output["pixel_values"][0], dtype=model_input.dtype)
            if not shape:
                dims = model_input.dims[-3:]
                # Unequal ranks leave `shape` short, so the comparison below refuses them.
                shape = tuple(size if dim < 0 else dim for dim, size in zip(dims, array.shape, strict=False))
                what = f"images payload for model '{model}' (pixel values {list(array.shape)})"
                check_pool_size(what, spec.batch_size * array.nbytes, spec.count)
            if array.shape != shape:
                raise InputError(
                    f"{path}: the image processor in {spec.processor} makes pixel values of shape "
                    f"{list(array.shape)}; model '{model}' input '{model_input.name}' takes {list(shape)}"
                )
            pixels[int(view)] = array
    return pixels


def _photographs(folder: Path | None) -> list[Path]:
    files = image_files(folder)
    if not files:  # scikit-image installed without its data folder
        raise InputError(
            "scikit-image's sample photographs are not installed: give `images:` (a folder of photographs)"
        )
    return files


def _read_processor_config(folder: Path) -> None:
    """`folder` holds a preprocessor_config.json that is a JSON object (read bounded, without
    importing transformers, which takes seconds)."""
    if not folder.is_dir():
        state = "not a folder" if folder.exists() else "not found"
        raise InputError(f"{folder}: {state} (expected an image processor folder holding {PROCESSOR_CONFIG})")
    path = folder / PROCESSOR_CONFIG
    if not path.exists():
        raise InputError(f"{path}: no {PROCESSOR_CONFIG} (the exporter writes one into <model>/preprocessor/)")
    read_json_object(path, "an image processor's JSON settings", "image processor settings")


def _require_transformers() -> None:
    if importlib.util.find_spec("transformers") is None:
        raise InputError(_NEEDS_TRANSFORMERS)


def _load_processor(folder: Path) -> BaseImageProcessor:
    _read_processor_config(folder)
    try:
        import transformers
    except ImportError:
        raise InputError(_NEEDS_TRANSFORMERS) from None
    try:
        # The NumPy processor: no torchvision needed, and no warning that transformers chose one.
        processor: BaseImageProcessor = transformers.AutoImageProcessor.from_pretrained(
            str(folder), local_files_only=True, use_fast=False
        )
    except Exception as exc:  # OSError, ValueError, AttributeError...: whatever the settings provoke
        path = folder / PROCESSOR_CONFIG
        raise InputError(f"{path}: not an image processor transformers can load ({excerpt(str(exc))})") from None
    return processor


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
    check_pool_size(f"random payload for model '{config.name}' (shapes {excerpt(shapes)})", size, spec.count)
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
    tokenizer, image processor settings, photographs, .npz archives), so that a check fails before
    it starts a server."""
    if isinstance(spec, ImagesPayload):
        return _image_problems(spec)
    readers: list[Callable[[], object]] = []
    if isinstance(spec, TokensPayload | PromptsPayload | TextsPayload):
        readers.append(partial(read_lines, spec.texts))
        if not isinstance(spec, TextsPayload) and spec.tokenizer is not None:
            readers.append(partial(_load_tokenizer, spec.tokenizer))
    elif isinstance(spec, FilesPayload):
        readers.extend(partial(_read_archive, path) for path in spec.paths)
    problems: list[str] = []
    for read in readers:
        attempt(read, problems)
    return problems


def _image_problems(spec: ImagesPayload) -> list[str]:
    problems: list[str] = []
    attempt(_require_transformers, problems)
    if spec.processor is not None:
        attempt(partial(_read_processor_config, spec.processor), problems)
    # Headers only: decoding every photograph of a large folder would take minutes before a start;
    # the pool decodes those it draws (bounded).
    problems += header_problems(attempt(partial(_photographs, spec.images), problems) or ())
    return problems


def fit_problems(spec: PayloadSpec, config: ModelConfig) -> list[str]:
    """What stops `spec` from fitting the model `config` describes (its batch size, the inputs its
    kind fills, the generator contract), found from the config alone: the local config.pbtxt before
    a server starts. build_pool meets the same checks on the served config."""
    batching = config.max_batch_size > 0
    checks: list[Callable[[], object]] = []
    if isinstance(spec, TokensPayload | TextsPayload | ImagesPayload | RandomPayload):
        checks.append(partial(_check_batch, spec.batch_size, config, batching))
    if isinstance(spec, TokensPayload):
        checks.append(partial(_token_inputs, config, batching))
    elif isinstance(spec, TextsPayload):
        checks.append(partial(text_input, config, batching))
    elif isinstance(spec, PromptsPayload):
        checks.append(partial(_check_generator, config))
    elif isinstance(spec, ImagesPayload):
        checks.append(partial(_image_input, config, batching))
    elif isinstance(spec, RandomPayload):
        checks.append(partial(model_inputs, config))  # a string input needs a files payload
    problems: list[str] = []
    for check in checks:
        attempt(check, problems)
    return problems


def longest_prompt(spec: PromptsPayload) -> int:
    """The most tokens a prompt of this payload's pool can have: max_prompt_tokens for uniform
    lengths (lines joined, then cut at a drawn length), else its longest line's, cut there as the
    pool cuts it. An InputError where the texts or the tokenizer cannot be read."""
    if spec.lengths == "uniform":
        return spec.max_prompt_tokens
    if spec.tokenizer is None:
        raise InputError(f"the {spec.kind} payload needs `tokenizer:`")
    tokenizer = _load_tokenizer(spec.tokenizer)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=spec.max_prompt_tokens)
    return max(len(encoding.ids) for encoding in tokenizer.encode_batch(read_lines(spec.texts)))
