"""`tritonkit check` on payloads that do not fit their model, refused before a server starts: the
checks before a start read each target's config.pbtxt in the local repository (the inputs a
payload kind fills, the batch size, a generator's cap on new tokens and its context) and every
photograph's header (MAX_PIXELS). Every problem of every target is listed at once.

The models are config.pbtxt files shaped as the exporter writes them (the generator's made by the
exporter's own builder), without weights: a check refused before a start never reads those."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tritonclient.grpc import model_config_pb2 as mc

from tests.reliability.harness import Case, Setup, chain, check, params, write_files
from tests.reliability.samples import TARGET, TOKENS, changed, targets_file, targets_setup
from tests.reliability.test_targets_cases import IMAGES, PROCESSOR, PROMPTS, WORD_TOKENIZER
from tritonkit.images import MAX_PIXELS
from tritonkit.triton.model_config import ModelConfig, render

CHECK = ("check", "targets.yaml")
REFUSED = "targets.yaml: cannot measure its targets"
GENERATOR = "gpt_fp32_generate"
CAP = 24  # the generator's max_new_tokens (generation.max_new_tokens of its recipe)
POSITIONS = 32  # its context
# texts.txt (samples.SENTENCES) through the word tokenizer: 7 and 11 tokens ("late," is two).
LONGEST_LINE = 11


def write_config(root: Path, config: ModelConfig) -> None:
    folder = root / "model_repository" / config.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.pbtxt").write_text(render(config))


def generator(positions: int = POSITIONS) -> Setup:
    """The streaming generator's config as the exporter writes it beside a decoder whose source
    model has `positions` (its context)."""

    def setup(root: Path) -> None:
        from tritonkit.export.generation import Decoder, generator_config  # torch: only where a case runs
        from tritonkit.specs import GenerationSpec

        source = root / "gpt_source"
        source.mkdir()
        (source / "config.json").write_text(json.dumps({"n_positions": positions, "eos_token_id": 0}))
        decoder = Decoder((("present.0.key", "past_key_values.0.key"),), 2, 4, "TYPE_FP32", True, 3)
        write_config(root, generator_config("gpt_fp32", decoder, source, GenerationSpec(max_new_tokens=CAP)))

    return setup


def encoder(root: Path) -> None:
    """A text encoder "bert": input_ids and attention_mask [batch, sequence], batching up to 8."""
    config = ModelConfig(name="bert", platform="onnxruntime_onnx", max_batch_size=8)
    for name in ("input_ids", "attention_mask"):
        config.input.add(name=name, data_type=mc.TYPE_INT64, dims=[-1])
    config.output.add(name="last_hidden_state", data_type=mc.TYPE_FP32, dims=[-1, 32])
    write_config(root, config)


def vision(root: Path) -> None:
    """An image classifier "vit": pixel_values [batch, 3, 32, 32], batching up to 8."""
    config = ModelConfig(name="vit", platform="onnxruntime_onnx", max_batch_size=8)
    config.input.add(name="pixel_values", data_type=mc.TYPE_FP32, dims=[3, 32, 32])
    config.output.add(name="logits", data_type=mc.TYPE_FP32, dims=[10])
    write_config(root, config)


def photographs(*, big: bool = False) -> Setup:
    """photos/: a small real photograph, and with `big` a real 60-megapixel one (60 KB as a PNG)."""

    def setup(root: Path) -> None:
        (root / "photos").mkdir(exist_ok=True)
        Image.new("RGB", (48, 40), (180, 90, 30)).save(root / "photos" / "small.png")
        if big:
            Image.new("L", (8000, 7500)).save(root / "photos" / "big.png")

    return setup


def target(model: str, payload: Mapping[str, Any], name: str = "t") -> dict[str, Any]:
    return changed(changed(changed(TARGET, "name", name), "model", model), "payload", dict(payload))


def case(
    case_id: str, targets: list[dict[str, Any]], fragments: tuple[str, ...], *models: Setup, readme: str = ""
) -> Case:
    """`targets`, refused before a start; the word tokenizer, the image processor and the models set up."""
    setup = chain(targets_setup(targets_file(*targets), **WORD_TOKENIZER, **PROCESSOR), *models)
    return Case(case_id, CHECK, (REFUSED, *fragments), setup=setup, readme=readme)


CASES = [
    case(
        "prompts-over-the-generator-cap",
        [target(GENERATOR, {**PROMPTS, "max_new_tokens": 40})],
        (
            "(parameter max_new_tokens of its config.pbtxt, from generation.max_new_tokens of its export recipe)",
            f"target 't': payload max_new_tokens 40: model '{GENERATOR}' generates at most {CAP} new tokens a request",
        ),
        generator(positions=1024),
        readme="a prompts payload's `max_new_tokens` over the generator's cap",
    ),
    case(
        "prompts-lines-overrun-the-context",
        [target(GENERATOR, {**PROMPTS, "max_new_tokens": POSITIONS - LONGEST_LINE + 1})],
        (
            f"make {POSITIONS + 1}: more than the {POSITIONS} positions of model '{GENERATOR}' (its context, "
            "parameter max_positions): lower max_prompt_tokens or max_new_tokens",
            f"target 't': prompts of up to {LONGEST_LINE} tokens (the longest line of texts.txt, cut at "
            f"max_prompt_tokens 64) and max_new_tokens {POSITIONS - LONGEST_LINE + 1}",
        ),
        generator(),
        readme="prompts that leave too little of the generator's context for the new tokens",
    ),
    case(
        "prompts-uniform-lengths-overrun-the-context",
        [
            target(
                GENERATOR,
                {**PROMPTS, "lengths": "uniform", "min_prompt_tokens": 8, "max_prompt_tokens": 30, "max_new_tokens": 8},
            )
        ],
        (
            f"prompts of up to 30 tokens (payload max_prompt_tokens 30) and max_new_tokens 8 make 38: more than the "
            f"{POSITIONS} positions of model '{GENERATOR}'",
            "lower max_prompt_tokens or max_new_tokens",
        ),
        generator(),
    ),
    case(
        "prompts-over-cap-and-context-at-once",
        [target(GENERATOR, {**PROMPTS, "max_new_tokens": 30})],
        (f"payload max_new_tokens 30: model '{GENERATOR}' generates at most {CAP}", "make 41: more than the 32"),
        generator(),
    ),
    case(
        "prompts-on-an-encoder",
        [target("bert", PROMPTS)],
        (
            "target 't': model 'bert' takes 'input_ids' int64 [-1], 'attention_mask' int64 [-1] (max_batch_size 8, "
            "not decoupled); a prompts payload streams from a decoupled generator",
        ),
        encoder,
    ),
    case(
        "images-on-a-text-model",
        [target("bert", IMAGES)],
        (
            "target 't': model 'bert' takes 'input_ids' int64 [-1], 'attention_mask' int64 [-1]; an images payload "
            "fills one float input [channels, height, width]",
        ),
        encoder,
        photographs(),
        readme="an images payload on a model taking `input_ids`",
    ),
    case(
        "tokens-on-an-image-model",
        [target("vit", TOKENS)],
        (
            "target 't': a tokens payload fills input_ids, attention_mask, token_type_ids; model 'vit' also takes "
            "pixel_values: use a random or files payload",
        ),
        vision,
        readme="a tokens payload on a model taking `pixel_values`",
    ),
    case(
        "images-batch-over-max-batch-size",
        [target("vit", {**IMAGES, "batch_size": 16})],
        ("target 't': payload batch_size 16 exceeds model 'vit' max_batch_size 8",),
        vision,
        photographs(),
        readme="an images payload's `batch_size` over the model's `max_batch_size`",
    ),
    case(
        "tokens-batch-over-max-batch-size",
        [target("bert", {**TOKENS, "batch_size": 9})],
        ("target 't': payload batch_size 9 exceeds model 'bert' max_batch_size 8",),
        encoder,
    ),
    case(
        "images-over-max-pixels",
        [target("vit", IMAGES)],
        (f"photos/big.png: 8000 x 7500 pixels; at most {MAX_PIXELS}",),
        vision,
        photographs(big=True),
        readme="a 60-megapixel photograph in an images payload's folder",
    ),
    case(
        "images-every-bad-photograph-at-once",
        [target("vit", IMAGES)],
        (
            "photos/broken.jpg: not an image Pillow can read",
            f"photos/big.png: 8000 x 7500 pixels; at most {MAX_PIXELS}",
        ),
        vision,
        photographs(big=True),
        write_files({"photos/broken.jpg": "not a photograph"}),
    ),
    case(
        "every-target-every-problem-at-once",
        [
            target(GENERATOR, {**PROMPTS, "max_new_tokens": 40}, name="chat"),
            target("vit", {**IMAGES, "batch_size": 16}, name="photos"),
            target("bert", IMAGES, name="mismatch"),
        ],
        (
            f"target 'chat': payload max_new_tokens 40: model '{GENERATOR}' generates at most {CAP}",
            "target 'photos': payload batch_size 16 exceeds model 'vit' max_batch_size 8",
            f"photos/big.png: 8000 x 7500 pixels; at most {MAX_PIXELS}",
            "target 'mismatch': model 'bert' takes 'input_ids' int64 [-1]",
        ),
        generator(),
        vision,
        encoder,
        photographs(big=True),
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_payload_refused_before_a_start(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)
