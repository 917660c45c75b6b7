"""A tokenizer.json read as a user's file: bounded in size, parsed by the `tokenizers` library, an
InputError naming the file when it cannot be (payloads read it, and so does the text model)."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer

from tritonkit.errors import InputError
from tritonkit.inputs import MAX_TEXT_BYTES, excerpt, read_text


def read_tokenizer(path: Path, what: str) -> Tokenizer:
    """`what`: the file as the message describes it, e.g. "the tokenizer.json the exporter writes"."""
    text = read_text(path, what, MAX_TEXT_BYTES)
    try:
        return Tokenizer.from_str(text)
    except Exception as exc:  # tokenizers raises a bare Exception for every malformed file
        raise InputError(f"{path}: not a tokenizer.json the tokenizers library reads ({excerpt(str(exc))})") from None
