"""A tiny randomly initialised ViT classifier with its image processor, saved with save_pretrained:
the image-classification export's test input (32 x 32 pixels, 8 x 8 patches, 10 classes)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

IMAGE_SIZE = 32
LABELS = 10


def vit_classifier(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    config = ViTConfig(
        image_size=IMAGE_SIZE, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, num_labels=LABELS,
    )  # fmt: skip
    ViTForImageClassification(config).save_pretrained(str(folder))
    ViTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(str(folder))
    return folder
