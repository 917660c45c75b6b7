"""Tiny randomly initialised BERTs, saved with save_pretrained: the export pipeline's test inputs.

The vocabulary is built from the test texts, so the tokenizer produces real, varied-length ids.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CONFIG = {
    "hidden_size": 32,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
}


def _tokenizer(folder: Path, texts: list[str]) -> BertTokenizerFast:
    words = sorted({word for text in texts for word in re.findall(r"\w+|[^\w\s]", text.lower())})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(SPECIAL_TOKENS + words) + "\n")
    tokenizer = BertTokenizerFast(
        vocab_file=str(folder / "vocab.txt"), model_max_length=CONFIG["max_position_embeddings"]
    )
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def sentence_embedding_model(folder: Path, texts: list[str], seed: int = 0) -> Path:
    """A sentence-transformers folder: tiny BERT, mean pooling, L2 normalisation."""
    from sentence_transformers import SentenceTransformer, models

    hf = folder.with_name(folder.name + "-hf")
    tokenizer = _tokenizer(hf, texts)
    torch.manual_seed(seed)
    BertModel(BertConfig(vocab_size=len(tokenizer), **CONFIG)).save_pretrained(str(hf))
    word = models.Transformer(str(hf), max_seq_length=CONFIG["max_position_embeddings"])
    pooling = models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[word, pooling, models.Normalize()], device="cpu").save(str(folder))
    return folder


def classifier_model(folder: Path, texts: list[str], seed: int = 0) -> Path:
    """A transformers folder: tiny BERT with a 3-label classification head."""
    tokenizer = _tokenizer(folder, texts)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), num_labels=3, **CONFIG)
    BertForSequenceClassification(config).save_pretrained(str(folder))
    return folder
