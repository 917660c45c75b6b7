"""`<name>_text`: strings in, an encoder's outputs out. An ensemble of a batched tokenizer (a
Python model: the `tokenizers` library with the tokenizer.json the exporter wrote beside the
encoder, see tokenizer/model.py) and the encoder variant, both in one repository.

Triton's dynamic batcher merges only requests of identical shapes, so text tokenized at its own
length barely batches. The tokenizer pads instead: to the longest text of each of its batches, or
to fixed length buckets, so that requests of one bucket merge in the encoder's batcher. Texts are
truncated at `max_length` tokens; with buckets, `max_length` is the longest bucket's length (it is
added to the buckets when they stop short of it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

from tritonkit.errors import InputError
from tritonkit.specs import TextModelSpec
from tritonkit.triton import model_config
from tritonkit.triton.model_config import ModelConfig
from tritonkit.triton.repository import CONFIG_FILE, write_model

TOKENIZER_SOURCE = Path(__file__).resolve().parent / "tokenizer" / "model.py"
TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
TEXT_INPUT = "TEXT"
_TOKENIZER_DELAY_US = 500  # the tokenizer's batcher waits this long for company: tokenizing is ~50 µs a text


@dataclass(frozen=True)
class TextModel:
    ensemble: Path
    tokenizer: Path
    max_length: int
    buckets: tuple[int, ...]  # () with padding to the longest


def tokenizer_name(name: str) -> str:
    return f"{name}_tokenizer"


def write_text_model(
    repository: Path, name: str, encoder: str, spec: TextModelSpec, max_length: int, *, force: bool = False
) -> TextModel:
    """Write `<name>` (the ensemble) and `<name>_tokenizer` beside the encoder `encoder`."""
    folder = repository / encoder
    tokenizer_file = folder / "tokenizer" / "tokenizer.json"
    config = model_config.read_config(folder / CONFIG_FILE) if (folder / CONFIG_FILE).is_file() else None
    problems = text_model_problems(config, spec, max_length, tokenizer_file)
    if problems or config is None:
        raise InputError(f"text model {name} over {encoder}:\n" + "\n".join(f"  {p}" for p in problems))
    buckets = spec.buckets if max_length in spec.buckets else (*spec.buckets, max_length)
    buckets = buckets if spec.padding == "buckets" else ()
    tokenizer = tokenizer_config(tokenizer_name(name), config, spec, max_length, buckets, _pad_id(folder / "tokenizer"))
    files = {f"tokenizer/{f.name}": f for f in sorted((folder / "tokenizer").iterdir()) if f.is_file()}
    written = write_model(repository, tokenizer, TOKENIZER_SOURCE, extra_files=files, force=force)
    placed = write_model(repository, ensemble_config(name, tokenizer, config), None, force=force)
    return TextModel(placed, written, max_length, buckets)


def text_model_problems(config: ModelConfig | None, spec: TextModelSpec, max_length: int, tokenizer: Path) -> list[str]:
    """What makes the encoder (None: not there) unfit to take text through the tokenizer, all of it."""
    problems = []
    if config is None:
        problems.append(f"{tokenizer.parents[1] / CONFIG_FILE} not found (expected an encoder the exporter wrote)")
    else:
        names = [tensor.name for tensor in config.input]
        if not {"input_ids", "attention_mask"} <= set(names) or not set(names) <= set(TOKEN_INPUTS):
            problems.append(f"the encoder takes {names}; expected input_ids, attention_mask (and token_type_ids)")
        if config.max_batch_size < 1:
            problems.append("the encoder does not batch (max_batch_size 0): a text model exists to batch texts")
    if not tokenizer.is_file():
        problems.append(f"{tokenizer} not found (the exporter writes it beside the encoder)")
    too_long = [b for b in spec.buckets if b > max_length]
    if spec.padding == "buckets" and too_long:
        problems.append(f"buckets {too_long} are longer than max_length {max_length}, where texts are truncated")
    return problems


def tokenizer_config(
    name: str, encoder: ModelConfig, spec: TextModelSpec, max_length: int, buckets: tuple[int, ...], pad_id: int
) -> ModelConfig:
    config = ModelConfig(
        name=name, backend="python", max_batch_size=encoder.max_batch_size, default_model_filename="model.py"
    )
    config.input.add(name=TEXT_INPUT, data_type=mc.TYPE_STRING, dims=[1])
    for tensor in encoder.input:
        config.output.add(name=tensor.name, data_type=mc.TYPE_INT64, dims=[-1])
    config.dynamic_batching.max_queue_delay_microseconds = _TOKENIZER_DELAY_US
    config.instance_group.add(kind=mc.ModelInstanceGroup.KIND_CPU, count=1)
    parameters = {"padding": spec.padding, "buckets": json.dumps(list(buckets)), "max_length": str(max_length),
                  "pad_id": str(pad_id)}  # fmt: skip
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


def _pad_id(tokenizer_folder: Path) -> int:
    """The pad token's id: tokenizer_config.json names the token, tokenizer.json gives its id."""
    settings = _json(tokenizer_folder / "tokenizer_config.json")
    token = settings.get("pad_token")
    token = token.get("content") if isinstance(token, dict) else token
    added = _json(tokenizer_folder / "tokenizer.json").get("added_tokens")
    ids = (
        {entry.get("content"): entry.get("id") for entry in added if isinstance(entry, dict)}
        if isinstance(added, list)
        else {}
    )
    pad = ids.get(token)
    return int(pad) if isinstance(pad, int) else 0


def _json(path: Path) -> dict[str, object]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}
