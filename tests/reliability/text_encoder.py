"""A tiny encoder as the exporter lays one out, built in milliseconds without torch: an ONNX graph
taking input_ids and attention_mask (a masked sum of the ids: padding must not change it), its
config.pbtxt, and a tokenizer/ folder (a BERT-like WordPiece tokenizer.json and its
tokenizer_config.json). For add-text-model's bad-input cases and the tokenizer's request tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

from tritonkit.specs import ServingKnobs
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ("the", "a", "parcel", "arrived", "two", "days", "late", "my", "order", "came", "and", "box", "was", "broken",
         "it", "is", "fine", "still", "serving")  # fmt: skip
MAX_LENGTH = 64  # model_max_length in tokenizer_config.json: the encoder's positions
OUTPUT = "embedding"


def tokenizer(words: Sequence[str] = WORDS, specials: Sequence[str] = SPECIALS) -> Tokenizer:
    vocabulary = {token: index for index, token in enumerate([*specials, *words, ",", ".", "!"])}
    built = Tokenizer(WordPiece(vocabulary, unk_token="[UNK]"))
    built.normalizer = normalizers.BertNormalizer(lowercase=True)
    built.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    built.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocabulary["[CLS]"]), ("[SEP]", vocabulary["[SEP]"])]
    )
    return built


def write_tokenizer(folder: Path, settings: dict[str, object] | None = None) -> Path:
    """tokenizer/ as transformers saves it: tokenizer.json and (unless `settings` is {}) tokenizer_config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer().save(str(folder / "tokenizer.json"))
    settings = {"pad_token": "[PAD]", "model_max_length": MAX_LENGTH} if settings is None else settings
    if settings:
        (folder / "tokenizer_config.json").write_text(json.dumps(settings))
    return folder


def encoder_graph(
    path: Path, *, elem_type: int = TensorProto.INT64, sequence: int | str = "sequence", token_types: bool = False
) -> Path:
    """embedding[batch, 1] = sum(input_ids * attention_mask (+ token_type_ids)) as a float."""
    names = ["input_ids", "attention_mask", *(["token_type_ids"] if token_types else [])]
    inputs = [helper.make_tensor_value_info(name, elem_type, ["batch", sequence]) for name in names]
    nodes = [helper.make_node("Cast", [name], [f"{name}_f"], to=TensorProto.FLOAT) for name in names]
    nodes.append(helper.make_node("Mul", ["input_ids_f", "attention_mask_f"], ["masked"]))
    total = "masked"
    if token_types:
        nodes.append(helper.make_node("Add", ["masked", "token_type_ids_f"], ["summed"]))
        total = "summed"
    nodes.append(helper.make_node("ReduceSum", [total, "axes"], [OUTPUT], keepdims=1))
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    output = helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", 1])
    graph = helper.make_graph(nodes, "encoder", inputs, [output], [axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def write_encoder(
    repository: Path,
    name: str = "enc",
    *,
    max_batch_size: int = 8,
    elem_type: int = TensorProto.INT64,
    sequence: int | str = "sequence",
    token_types: bool = False,
    settings: dict[str, object] | None = None,
) -> Path:
    """<repository>/<name>: config.pbtxt, 1/model.onnx and tokenizer/, as `tritonkit export` writes them."""
    onnx_file = encoder_graph(
        repository.parent / f".{name}-source" / "model.onnx", elem_type=elem_type, sequence=sequence,
        token_types=token_types,
    )  # fmt: skip
    config = model_config.build_config(name, read_signature(onnx_file), ServingKnobs(max_batch_size=max_batch_size))
    folder = write_model(repository, config, onnx_file)
    write_tokenizer(folder / "tokenizer", settings)
    return folder
