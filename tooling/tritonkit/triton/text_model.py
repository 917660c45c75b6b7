"""`<name>_text`: strings in, an encoder's outputs out. An ensemble of a batched tokenizer (a
Python model: the `tokenizers` library with the tokenizer.json the exporter wrote beside the
encoder, see tokenizer/model.py) and the encoder variant, both in one repository.

Triton's dynamic batcher merges only requests of identical shapes, so text tokenized at its own
length barely batches. The tokenizer pads instead: to the longest text of each of its batches, or
to fixed length buckets, so that requests of one bucket merge in the encoder's batcher. Texts are
truncated at `max_length` tokens; with buckets, `max_length` is the longest bucket's length (it is
added to the buckets when they stop short of it).

Everything is checked before anything is written, and every problem is reported at once: the
names, the encoder (a batching model taking input_ids and attention_mask, as integers of any
length), its tokenizer files (tokenizer.json that the `tokenizers` library reads, the pad token
and the position limit tokenizer_config.json gives), the lengths, and what the two names already
hold (`force` replaces only a text model and its tokenizer, never another model). The pair is then
written tokenizer first; should the ensemble's write still fail (or be interrupted), the tokenizer
is removed again, or put back as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer
from tritonclient.grpc import model_config_pb2 as mc

from tritonkit.errors import InputError
from tritonkit.inputs import MAX_TEXT_BYTES, attempt, excerpt, listed, read_json_object, read_text
from tritonkit.specs import DEFAULT_BUCKETS, TextModelSpec
from tritonkit.tokenizer_files import read_tokenizer
from tritonkit.triton import model_config
from tritonkit.triton.model_config import ModelConfig
from tritonkit.triton.repository import CONFIG_FILE, STAGING_PREFIX, check_model_name, write_model
from tritonkit.triton.validate import validate_model

TOKENIZER_SOURCE = Path(__file__).resolve().parent / "tokenizer" / "model.py"
TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
TEXT_INPUT = "TEXT"
TOKENIZER_FOLDER = "tokenizer"  # beside the encoder's config.pbtxt, as the exporter writes it
DEFAULT_MAX_LENGTH = 128  # tokens, or the encoder's model_max_length where it is shorter
# One request's texts together: tokenizing takes about 1 µs a byte on the tokenizer's one instance,
# and every request queued behind waits for it. A megabyte is thousands of times what max_length
# tokens need; the parameter max_request_bytes of the tokenizer's config.pbtxt raises it.
MAX_REQUEST_BYTES = 1 << 20
MAX_CONFIG_BYTES = 1 << 20  # the validator's bound: beyond it a file is not a config
_NO_LIMIT = 1_000_000  # transformers writes model_max_length 1e30 for "unknown"
_TOKEN_TYPES = {mc.TYPE_INT64: "TYPE_INT64", mc.TYPE_INT32: "TYPE_INT32"}  # what the tokenizer can give
_READ_FILES = ("tokenizer.json", "tokenizer_config.json")  # read (and bounded) by their readers
_TOKENIZER_DELAY_US = 500  # the tokenizer's batcher waits this long for company: tokenizing is ~50 µs a text


@dataclass(frozen=True)
class TextModel:
    ensemble: Path
    tokenizer: Path
    max_length: int
    buckets: tuple[int, ...]  # () with padding to the longest


@dataclass(frozen=True)
class _Plan:
    """Both configs and the tokenizer's files, checked: what write_text_model writes."""

    tokenizer: ModelConfig
    ensemble: ModelConfig
    files: dict[str, Path]
    max_length: int
    buckets: tuple[int, ...]


def tokenizer_name(name: str) -> str:
    return f"{name}_tokenizer"


def write_text_model(
    repository: Path,
    name: str,
    encoder: str,
    spec: TextModelSpec,
    max_length: int | None = None,
    *,
    force: bool = False,
) -> TextModel:
    """Write `<name>` (the ensemble) and `<name>_tokenizer` beside the encoder `encoder`, or
    nothing. `max_length` None: DEFAULT_MAX_LENGTH, or the encoder's model_max_length where shorter;
    buckets not set in `spec`: the default ones up to `max_length`."""
    plan = plan_text_model(repository, name, encoder, spec, max_length, force=force)
    _write_pair(repository, plan, force=force)
    return TextModel(repository / name, repository / tokenizer_name(name), plan.max_length, plan.buckets)


def plan_text_model(
    repository: Path, name: str, encoder: str, spec: TextModelSpec, max_length: int | None, *, force: bool
) -> _Plan:
    """The text model to write, or an InputError listing every problem; reads, never writes."""
    heading = f"text model {excerpt(name)} over {excerpt(encoder)}: not written"
    problems = _name_problems(name, encoder)
    if problems:  # a name that is not one cannot be a path to read either
        raise InputError(heading + "\n" + listed([f"  {p}" for p in problems]))
    folder = repository / encoder
    config = attempt(lambda: _encoder_config(folder), problems)
    tokenizer_folder = folder / TOKENIZER_FOLDER
    tokenizer = attempt(lambda: _read_tokenizer(tokenizer_folder / "tokenizer.json"), problems)
    settings = attempt(lambda: _tokenizer_settings(tokenizer_folder / "tokenizer_config.json"), problems)
    files = _tokenizer_files(tokenizer_folder, repository, problems)
    limit = _model_max_length(settings or {})
    length = max_length if max_length is not None else min(DEFAULT_MAX_LENGTH, limit or DEFAULT_MAX_LENGTH)
    if "buckets" not in spec.model_fields_set:  # the default buckets, as far as the texts go
        spec = spec.model_copy(update={"buckets": tuple(b for b in DEFAULT_BUCKETS if b <= length)})
    buckets = (spec.buckets if length in spec.buckets else (*spec.buckets, length)) if spec.padding == "buckets" else ()
    problems += _length_problems(spec, length, limit, tokenizer, tokenizer_folder)
    if config is not None:
        problems += _encoder_problems(config, folder / CONFIG_FILE, buckets, length)
        # A model Triton would not load (a link out of the repository included): the ensemble over it
        # could not be written either; found now, not after the tokenizer.
        problems += [f"the encoder: {p}" for p in validate_model(folder, repository=repository)]
    pad_id = None
    if tokenizer is not None and settings is not None:
        pad_id = attempt(lambda: _pad_id(tokenizer, settings, tokenizer_folder), problems)
    problems += existing_problems(repository, name, force=force)
    if problems or config is None or pad_id is None:
        raise InputError(heading + "\n" + listed([f"  {p}" for p in problems]))
    tokenizer_model = tokenizer_config(tokenizer_name(name), config, spec, length, buckets, pad_id)
    return _Plan(tokenizer_model, ensemble_config(name, tokenizer_model, config), files, length, buckets)


def _name_problems(name: str, encoder: str) -> list[str]:
    problems = []
    for role, model in (("the encoder", encoder), ("the text model", name), ("its tokenizer", tokenizer_name(name))):
        try:
            check_model_name(model)
        except InputError as exc:
            problems.append(f"{role}: {exc}")
    if not problems and encoder in (name, tokenizer_name(name)):
        problems.append(
            f"the text model {name!r} and its tokenizer {tokenizer_name(name)!r} need names of their own: "
            f"writing them would replace the encoder {encoder!r}; choose another name"
        )
    return problems


def _read_config(path: Path, what: str) -> ModelConfig:
    return model_config.parse(read_text(path, what, MAX_CONFIG_BYTES), path)


def _encoder_config(folder: Path) -> ModelConfig:
    if not folder.is_dir():
        state = "not a directory" if folder.exists() else "not found"
        raise InputError(f"{folder}: {state} (expected the encoder: a model folder of the repository)")
    return _read_config(folder / CONFIG_FILE, "the config.pbtxt of an encoder the exporter wrote")


def _encoder_problems(config: ModelConfig, path: Path, buckets: tuple[int, ...], length: int) -> list[str]:
    """What makes the encoder unfit to take the tokenizer's outputs, all of it."""
    what = f"{path}: model '{config.name}'"
    if config.platform == "ensemble":
        return [f"{what} is an ensemble; expected the encoder variant it runs (an ONNX or TensorRT model), "
                "whose batcher merges the padded requests"]  # fmt: skip
    if config.backend == "python" or config.model_transaction_policy.decoupled:
        kind = "a Python model" if config.backend == "python" else "decoupled"
        return [f"{what} is {kind}; expected an encoder variant the exporter wrote (an ONNX or TensorRT model)"]
    problems = []
    names = [tensor.name for tensor in config.input]
    if not {"input_ids", "attention_mask"} <= set(names) or not set(names) <= set(TOKEN_INPUTS):
        problems.append(f"{what} takes {excerpt(names)}; expected input_ids, attention_mask (and token_type_ids)")
    tokens = [tensor for tensor in config.input if tensor.name in TOKEN_INPUTS]
    problems += [
        f"{what} input '{tensor.name}' is {mc.DataType.Name(tensor.data_type)}; expected TYPE_INT64 or TYPE_INT32 "
        "(token ids)"
        for tensor in tokens
        if tensor.data_type not in _TOKEN_TYPES
    ]
    if config.max_batch_size < 1:  # its dims hold the batch too: they are beside the point
        problems.append(f"{what} does not batch (max_batch_size {config.max_batch_size}): a text model exists to "
                        "batch texts")  # fmt: skip
        return problems
    for tensor in tokens:
        dims = list(tensor.dims)
        if len(dims) != 1 or dims[0] == 0 or dims[0] < -1:
            problems.append(f"{what} input '{tensor.name}' has dims {excerpt(dims)}; expected [-1] (tokens of any "
                            "length, the batch dimension implicit)")  # fmt: skip
        elif dims[0] > 0 and (buckets, length) != ((dims[0],), dims[0]):
            problems.append(
                f"{what} input '{tensor.name}' takes exactly {dims[0]} tokens (dims {dims}); pad every text to "
                f"them: padding buckets, buckets [{dims[0]}], max_length {dims[0]}"
            )
    return problems


def _length_problems(
    spec: TextModelSpec, length: int, limit: int | None, tokenizer: Tokenizer | None, folder: Path
) -> list[str]:
    problems = []
    if limit is not None and length > limit:
        problems.append(
            f"max_length {length} is more than the encoder's {limit} positions (model_max_length in "
            f"{folder / 'tokenizer_config.json'}): longer texts would fail in the encoder; at most {limit}"
        )
    specials = tokenizer.num_special_tokens_to_add(False) if tokenizer is not None else 0
    if length <= specials:
        problems.append(f"max_length {length} leaves no room for text: the tokenizer adds {specials} special tokens "
                        "to every text")  # fmt: skip
    too_long = [b for b in spec.buckets if b > length]
    if spec.padding == "buckets" and too_long:
        problems.append(f"buckets {too_long} are longer than max_length {length}, where texts are truncated")
    return problems


def _read_tokenizer(path: Path) -> Tokenizer:
    return read_tokenizer(path, "the tokenizer.json the exporter writes beside the encoder")


def _tokenizer_settings(path: Path) -> dict[str, object]:
    """tokenizer_config.json's settings; none where there is no such file (tokenizer.json suffices)."""
    if not (path.exists() or path.is_symlink()):
        return {}
    return read_json_object(path, "the tokenizer's settings (JSON), as transformers saves them", "tokenizer settings")


def _tokenizer_files(folder: Path, repository: Path, problems: list[str]) -> dict[str, Path]:
    """The files copied beside the tokenizer model (for clients too): regular files only, each one
    bounded (tokenizer.json and tokenizer_config.json are, where they are read), never through a
    link out of the repository (the validator names those)."""
    if not folder.is_dir():
        return {}  # _read_tokenizer says what is missing
    files = {}
    root = repository.resolve()
    for entry in sorted(folder.iterdir()):
        if not entry.is_file() or (entry.is_symlink() and not entry.resolve().is_relative_to(root)):
            continue
        if entry.name not in _READ_FILES and entry.stat().st_size > MAX_TEXT_BYTES:
            problems.append(f"{entry}: larger than {MAX_TEXT_BYTES} bytes (expected a tokenizer file)")
        files[f"{TOKENIZER_FOLDER}/{entry.name}"] = entry
    return files


def _model_max_length(settings: dict[str, object]) -> int | None:
    """The encoder's position limit, where tokenizer_config.json gives a real one."""
    value = settings.get("model_max_length")
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < _NO_LIMIT else None


def _pad_id(tokenizer: Tokenizer, settings: dict[str, object], folder: Path) -> int:
    """The pad token's id: the one tokenizer_config.json names, else the one a client pads with
    (tokenizer.json's padding setting, else [PAD] or <pad>)."""
    token = settings.get("pad_token")
    token = token.get("content") if isinstance(token, dict) else token
    if token is not None:
        path = folder / "tokenizer_config.json"
        if not isinstance(token, str):
            raise InputError(f"{path}: pad_token is {excerpt(token)}; expected a token (a string)")
        pad = tokenizer.token_to_id(token)
        if pad is None:
            raise InputError(f"{path}: pad_token {excerpt(token)} is not a token of {folder / 'tokenizer.json'}")
        return int(pad)
    if tokenizer.padding is not None:
        return int(tokenizer.padding["pad_id"])
    for name in ("[PAD]", "<pad>"):
        if (pad := tokenizer.token_to_id(name)) is not None:
            return int(pad)
    raise InputError(
        f"{folder}: no pad token: tokenizer_config.json names none (pad_token), and tokenizer.json has no padding "
        "setting and no [PAD] or <pad> token"
    )


def existing_problems(repository: Path, name: str, *, force: bool) -> list[str]:
    """What stops writing the text model `name` and its tokenizer over what the repository holds."""
    tokenizer = _existing_problem(repository / tokenizer_name(name), "tokenizer", force)
    return _existing_problem(repository / name, "ensemble", force) + tokenizer


def source_length_problems(tokenizer_folder: Path, max_length: int) -> list[str]:
    """`max_length` against the positions the tokenizer's settings give (model_max_length), where
    they give a real limit; what cannot be read is found again, and said, when the model is written."""
    try:
        limit = _model_max_length(_tokenizer_settings(tokenizer_folder / "tokenizer_config.json"))
    except InputError:
        return []
    if limit is not None and max_length > limit:
        return [f"max_sequence_length {max_length} is more than the tokenizer's model_max_length {limit} (its "
                "positions): texts would be truncated where the encoder cannot go"]  # fmt: skip
    return []


def _existing_problem(target: Path, kind: str, force: bool) -> list[str]:
    """What stops writing the text model's `kind` ("ensemble" or "tokenizer") at `target`."""
    if target.is_symlink():
        return [f"{target} is a symbolic link; tritonkit writes only real model directories"]
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        return []
    if not (target / CONFIG_FILE).is_file():
        return [f"{target} exists and is not a model directory (no {CONFIG_FILE}); refusing to replace it"]
    if not force:
        return [f"{target} already exists; pass --force to replace the text model and its tokenizer"]
    try:
        config = _read_config(target / CONFIG_FILE, "a model config")
    except InputError as exc:
        return [f"{exc}; --force replaces only a text model and its tokenizer, and this one cannot be told apart"]
    inputs = [(tensor.name, tensor.data_type) for tensor in config.input]
    written = config.platform == "ensemble" if kind == "ensemble" else config.backend == "python"
    if not written or inputs != [(TEXT_INPUT, mc.TYPE_STRING)]:
        found = config.platform or config.backend or "no platform"
        return [
            f"{target}: model '{config.name}' ({found}, inputs {excerpt([name for name, _ in inputs])}) is not a "
            f"text model's {kind}; --force replaces only a text model and its tokenizer: choose another name"
        ]
    return []


def tokenizer_config(
    name: str, encoder: ModelConfig, spec: TextModelSpec, max_length: int, buckets: tuple[int, ...], pad_id: int
) -> ModelConfig:
    config = ModelConfig(
        name=name, backend="python", max_batch_size=encoder.max_batch_size, default_model_filename="model.py"
    )
    config.input.add(name=TEXT_INPUT, data_type=mc.TYPE_STRING, dims=[1])
    for tensor in encoder.input:  # the encoder's own types and dims: the ensemble maps them one to one
        config.output.add(name=tensor.name, data_type=tensor.data_type, dims=list(tensor.dims))
    config.dynamic_batching.max_queue_delay_microseconds = _TOKENIZER_DELAY_US
    config.instance_group.add(kind=mc.ModelInstanceGroup.KIND_CPU, count=1)
    parameters = {"padding": spec.padding, "buckets": json.dumps(list(buckets)), "max_length": str(max_length),
                  "pad_id": str(pad_id), "max_request_bytes": str(MAX_REQUEST_BYTES)}  # fmt: skip
    for key, value in parameters.items():
        config.parameters[key].string_value = value
    return config


def ensemble_config(name: str, tokenizer: ModelConfig, encoder: ModelConfig) -> ModelConfig:
    """TEXT → tokenizer → encoder: the encoder's outputs, as it names them."""
    config = ModelConfig(name=name, platform="ensemble", max_batch_size=encoder.max_batch_size)
    config.input.add(name=TEXT_INPUT, data_type=mc.TYPE_STRING, dims=[1])
    for output in encoder.output:
        config.output.add().CopyFrom(output)
    tokenize = config.ensemble_scheduling.step.add(model_name=tokenizer.name, model_version=-1)
    tokenize.input_map[TEXT_INPUT] = TEXT_INPUT
    encode = config.ensemble_scheduling.step.add(model_name=encoder.name, model_version=-1)
    for tensor in encoder.input:
        tokenize.output_map[tensor.name] = tensor.name
        encode.input_map[tensor.name] = tensor.name
    for output in encoder.output:
        encode.output_map[output.name] = output.name
    return config


def _write_pair(repository: Path, plan: _Plan, *, force: bool) -> None:
    """The tokenizer, then the ensemble (its steps are checked against the repository, so the
    tokenizer must be there first). A failed or interrupted ensemble write takes the tokenizer
    back out: removed if it is new, its previous files put back if it replaced one."""
    created = [d for d in (repository, *repository.parents) if not d.exists()]
    before = repository.stat() if repository.is_dir() else None
    target = repository / plan.tokenizer.name
    keep: Path | None = None
    wrote = False
    try:
        if target.is_dir() and any(target.iterdir()):  # replaced with --force: keep a copy to put back
            keep = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=repository))
            shutil.copytree(target, keep / "previous", copy_function=_link_or_copy, symlinks=True)
        write_model(repository, plan.tokenizer, TOKENIZER_SOURCE, extra_files=plan.files, force=force)
        wrote = True
        write_model(repository, plan.ensemble, None, force=force)
    except BaseException:
        if wrote:
            _take_back(target, keep)
        if keep is not None:
            shutil.rmtree(keep, ignore_errors=True)
        if before is not None:  # no trace, as write_model leaves none: not even the directory's timestamp
            os.utime(repository, ns=(before.st_atime_ns, before.st_mtime_ns))
        for directory in created:  # innermost first
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise
    if keep is not None:
        shutil.rmtree(keep, ignore_errors=True)


def _take_back(target: Path, keep: Path | None) -> None:
    """Remove the tokenizer just written; put the one it replaced back."""
    trash = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target.parent))
    try:
        if target.exists():
            target.rename(trash / "written")
        if keep is not None and (keep / "previous").exists():
            (keep / "previous").rename(target)
    finally:
        shutil.rmtree(trash, ignore_errors=True)


def _link_or_copy(source: str, destination: str) -> None:
    """The copy to put back is made of hard links: the replaced files' data stays where it is."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)
