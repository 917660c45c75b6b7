"""Tiny randomly initialised encoders, saved with save_pretrained: the export pipeline's test inputs.

The vocabulary is built from the test texts (WordPiece words, or byte-level BPE merges trained on
them for RoBERTa), so the tokenizer produces real, varied-length ids.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Tokenizer, decoders, pre_tokenizers, processors, trainers
from tokenizers.models import BPE
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    BertTokenizerFast,
    DistilBertConfig,
    DistilBertForTokenClassification,
    DistilBertModel,
    DistilBertTokenizerFast,
    ElectraConfig,
    ElectraModel,
    ElectraTokenizerFast,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    RobertaConfig,
    RobertaModel,
    RobertaTokenizerFast,
)

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BYTE_LEVEL_SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # RoBERTa's ids 0-4
MAX_LENGTH = 64
CONFIG = {
    "hidden_size": 32,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "max_position_embeddings": MAX_LENGTH,
}
HIDDEN = CONFIG["hidden_size"]
TOKEN_LABELS = 5  # e.g. O, B-PER, I-PER, B-LOC, I-LOC
_BPE_VOCABULARY = 1000

Head = Literal["feature-extraction", "token-classification", "text-classification"]
Architecture = Literal["bert", "distilbert", "roberta", "electra"]


def wordpiece_tokenizer(
    folder: Path,
    texts: list[str],
    tokenizer_class: type[PreTrainedTokenizerFast] = BertTokenizerFast,
    input_names: tuple[str, ...] | None = None,
) -> PreTrainedTokenizerFast:
    """A WordPiece tokenizer (BERT's, DistilBERT's, ELECTRA's) whose vocabulary is the texts' words,
    returning `input_names` (None: those of `tokenizer_class`)."""
    words = sorted({word for text in texts for word in re.findall(r"\w+|[^\w\s]", text.lower())})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(SPECIAL_TOKENS + words) + "\n")
    names = {"model_input_names": list(input_names)} if input_names else {}
    tokenizer = tokenizer_class(vocab_file=str(folder / "vocab.txt"), model_max_length=MAX_LENGTH, **names)
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def _byte_level_tokenizer(folder: Path, texts: list[str]) -> PreTrainedTokenizerFast:
    """RoBERTa's kind: byte-level BPE, its merges trained here on the texts (offline, in seconds)."""
    bpe = Tokenizer(BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=_BPE_VOCABULARY,
        special_tokens=BYTE_LEVEL_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    bpe.post_processor = processors.RobertaProcessing(
        sep=("</s>", bpe.token_to_id("</s>")), cls=("<s>", bpe.token_to_id("<s>")), add_prefix_space=False
    )
    tokenizer = RobertaTokenizerFast(tokenizer_object=bpe, model_max_length=MAX_LENGTH)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(folder))
    return tokenizer


@dataclass(frozen=True)
class _Family:
    tokenizer: Callable[[Path, list[str]], PreTrainedTokenizerFast]
    config: Callable[..., PretrainedConfig]  # (vocab_size=…, num_labels=…) -> the tiny config
    heads: Mapping[Head, type[PreTrainedModel]]


def _distilbert_config(**fields: int) -> DistilBertConfig:
    return DistilBertConfig(
        dim=HIDDEN, n_layers=4, n_heads=4, hidden_dim=64, max_position_embeddings=MAX_LENGTH, **fields
    )


def _roberta_config(**fields: int) -> RobertaConfig:
    # Positions start after the padding id (1), so a sequence of MAX_LENGTH needs 2 more.
    shape = {**CONFIG, "num_hidden_layers": 2, "max_position_embeddings": MAX_LENGTH + 2}
    return RobertaConfig(type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2, **shape, **fields)


def _electra_config(**fields: int) -> ElectraConfig:
    # Embeddings narrower than the hidden size, projected up: ELECTRA's own shape (small: 128 → 256).
    return ElectraConfig(embedding_size=16, **{**CONFIG, "num_hidden_layers": 2}, **fields)


FAMILIES: dict[Architecture, _Family] = {
    "bert": _Family(
        wordpiece_tokenizer,
        lambda **fields: BertConfig(**CONFIG, **fields),
        {
            "feature-extraction": BertModel,
            "token-classification": BertForTokenClassification,
            "text-classification": BertForSequenceClassification,
        },
    ),
    "distilbert": _Family(
        lambda folder, texts: wordpiece_tokenizer(folder, texts, DistilBertTokenizerFast),
        _distilbert_config,
        {"feature-extraction": DistilBertModel, "token-classification": DistilBertForTokenClassification},
    ),
    "roberta": _Family(_byte_level_tokenizer, _roberta_config, {"feature-extraction": RobertaModel}),
    "electra": _Family(
        lambda folder, texts: wordpiece_tokenizer(folder, texts, ElectraTokenizerFast),
        _electra_config,
        {"feature-extraction": ElectraModel},
    ),
}


def transformers_model(
    folder: Path, texts: list[str], architecture: Architecture, head: Head, *, labels: int = TOKEN_LABELS, seed: int = 0
) -> Path:
    """A plain transformers folder (no modules.json): a tiny `architecture` with `head`, its
    tokenizer beside it. `labels` sizes a classification head."""
    family = FAMILIES[architecture]
    tokenizer = family.tokenizer(folder, texts)
    fields = {"vocab_size": len(tokenizer)} | ({} if head == "feature-extraction" else {"num_labels": labels})
    torch.manual_seed(seed)
    family.heads[head](family.config(**fields)).save_pretrained(str(folder))
    return folder


def sentence_embedding_model(folder: Path, texts: list[str], seed: int = 0) -> Path:
    """A sentence-transformers folder: tiny BERT, mean pooling, L2 normalisation."""
    from sentence_transformers import SentenceTransformer, models

    hf = transformers_model(folder.with_name(folder.name + "-hf"), texts, "bert", "feature-extraction", seed=seed)
    word = models.Transformer(str(hf), max_seq_length=MAX_LENGTH)
    pooling = models.Pooling(HIDDEN, pooling_mode="mean")
    SentenceTransformer(modules=[word, pooling, models.Normalize()], device="cpu").save(str(folder))
    return folder


def classifier_model(folder: Path, texts: list[str], seed: int = 0) -> Path:
    """A transformers folder: tiny BERT with a 3-label classification head."""
    return transformers_model(folder, texts, "bert", "text-classification", labels=3, seed=seed)
