"""A tiny randomly initialised CLIP (text and vision towers with their projections), its tokenizer
and image processor, saved with save_pretrained: the zero-shot-image-classification export's test
input. Its tokenizer is WordPiece over the test texts (a CLIP BPE cannot be trained fresh offline)
with the two inputs CLIP's text tower takes; [SEP], which ends every text, is the EOS token the
text tower pools at."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

from tests.export.tiny_models import MAX_LENGTH, wordpiece_tokenizer

IMAGE_SIZE = 32
POSITIONS = MAX_LENGTH
PROJECTION = 16
LABELS = ("a photo of an astronaut", "a photo of a cat", "a cup of coffee", "a motorcycle", "a rocket")


def clip_model(folder: Path, texts: list[str], seed: int = 0) -> Path:
    tokenizer = wordpiece_tokenizer(folder, [*texts, *LABELS], input_names=("input_ids", "attention_mask"))
    torch.manual_seed(seed)
    tower = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
             "projection_dim": PROJECTION}  # fmt: skip
    text = {**tower, "vocab_size": len(tokenizer), "max_position_embeddings": POSITIONS,
            "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.sep_token_id}  # fmt: skip
    config = CLIPConfig(
        text_config=text, vision_config={**tower, "image_size": IMAGE_SIZE, "patch_size": 8},
        projection_dim=PROJECTION,
    )  # fmt: skip
    CLIPModel(config).save_pretrained(str(folder))
    size = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE}, crop_size=size).save_pretrained(str(folder))
    return folder
