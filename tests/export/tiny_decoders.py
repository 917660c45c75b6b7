"""A tiny randomly initialised GPT-2 (n_embd 32, 2 layers, 4 heads), saved with save_pretrained:
the text-generation tests' model. Its vocabulary is byte-level BPE merges trained here on the test
texts, so prompts tokenize into real, varied-length ids.

The language-model head is not tied to the embeddings: a tied random GPT-2 scores the token it
was fed highest and repeats it forever, while an untied one walks through varied tokens, which is
what a decoding test needs to tell a correct KV cache from a broken one. The wider initialisation
(0.1, GPT-2's is 0.02) spreads the logits so that greedy choices are rarely near ties.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
from tokenizers.models import BPE
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

EOS = "<|endoftext|>"
POSITIONS = 128
_VOCABULARY = 1000


def _gpt2_tokenizer(folder: Path, texts: list[str]) -> GPT2TokenizerFast:
    """GPT-2's kind: byte-level BPE without post-processing (a prompt gets no special tokens), one
    special token that is BOS, EOS and UNK at once."""
    bpe = Tokenizer(BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=_VOCABULARY,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    tokenizer = GPT2TokenizerFast(
        tokenizer_object=bpe, bos_token=EOS, eos_token=EOS, unk_token=EOS, model_max_length=POSITIONS
    )
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def gpt2_model(folder: Path, texts: list[str], *, seed: int = 0) -> Path:
    """A transformers folder: the tiny GPT-2 with its tokenizer beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = _gpt2_tokenizer(folder, texts)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_positions=POSITIONS,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
        initializer_range=0.1,
    )
    torch.manual_seed(seed)
    GPT2LMHeadModel(config).save_pretrained(str(folder))
    return folder


def with_eos(folder: Path, eos_token_id: int) -> None:
    """Make `eos_token_id` the id generation stops at, in both files that say so."""
    for name in ("config.json", "generation_config.json"):
        config = json.loads((folder / name).read_text())
        (folder / name).write_text(json.dumps({**config, "eos_token_id": eos_token_id}, indent=2))
