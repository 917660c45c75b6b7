"""What each request of a trace carries: its recorded text, its length in tokens, or both.

A tokens payload takes a row's text (else a sentence of its texts file) padded or cut to the row's
length (else to the text's own, at most sequence_length); a texts payload (a `<name>_text` model)
sends the row's text. Rows that carry the same text and length share one prepared request.
"""

from __future__ import annotations

import numpy as np

from tritonkit.errors import InputError
from tritonkit.inputs import read_lines
from tritonkit.measure.payloads import (
    PayloadPool,
    TokenEncoder,
    check_pool_size,
    encode_one,
    text_input,
)
from tritonkit.measure.trace import Trace
from tritonkit.specs import PayloadSpec, TextsPayload, TokensPayload
from tritonkit.triton.model_config import ModelConfig

Row = tuple[str | None, int | None]  # a request's text and length, None where the trace gives none


def carries_payloads(trace: Trace) -> bool:
    return trace.texts is not None or trace.lengths is not None


def row_payload_problem(trace: Trace, payload: PayloadSpec) -> str | None:
    """Why `payload` cannot send what the trace's rows carry, or None."""
    if not carries_payloads(trace):
        return None
    carried = [name for name, given in (("text", trace.texts), ("length", trace.lengths)) if given is not None]
    if isinstance(payload, TextsPayload) and trace.lengths is not None:
        return "its length column sets token counts: use a tokens payload (a texts payload sends the row's text)"
    if not isinstance(payload, TokensPayload | TextsPayload):
        return f"its {' and '.join(carried)} column needs a tokens or texts payload, not {payload.kind}"
    if payload.batch_size != 1:
        return f"a row is one request of one text: payload batch_size must be 1, not {payload.batch_size}"
    longest = max(trace.lengths) if trace.lengths is not None else 0
    if isinstance(payload, TokensPayload) and longest > payload.sequence_length:
        return f"a row's length {longest} exceeds the payload's sequence_length {payload.sequence_length}"
    return None


def trace_pool(trace: Trace, payload: PayloadSpec, config: ModelConfig, seed: int) -> tuple[PayloadPool, np.ndarray]:
    """One request per distinct row, and the index of each row's request."""
    if problem := row_payload_problem(trace, payload):
        raise InputError(problem)
    count = len(trace)
    rows: list[Row] = list(zip(trace.texts or [None] * count, trace.lengths or [None] * count, strict=True))
    distinct = list(dict.fromkeys(rows))
    index = {row: i for i, row in enumerate(distinct)}
    order = np.fromiter((index[row] for row in rows), dtype=np.int64, count=count)
    batching = config.max_batch_size > 0
    if isinstance(payload, TextsPayload):
        return _texts_pool(distinct, config, batching), order
    assert isinstance(payload, TokensPayload)  # row_payload_problem allows no other kind
    return _tokens_pool(distinct, payload, config, batching, seed), order


def _tokens_pool(rows: list[Row], spec: TokensPayload, config: ModelConfig, batching: bool, seed: int) -> PayloadPool:
    shortest = min((length for _, length in rows if length is not None), default=spec.sequence_length)
    encoder = TokenEncoder.for_payload(spec, config, batching, shortest, "the trace's shortest length")
    longest = max((length or spec.sequence_length for _, length in rows), default=1)
    check_pool_size(f"trace payloads for model '{config.name}'", encoder.request_bytes(1, longest), len(rows))
    texts = read_lines(spec.texts) if any(text is None for text, _ in rows) else []
    rng = np.random.default_rng(seed)
    payloads = []
    for text, length in rows:
        cut = length or spec.sequence_length
        if text is None:  # a sentence of the texts file, joined with more until `length` tokens
            encoding = encode_one(encoder.tokenizer, texts, rng, length is not None, cut, cut)
        else:
            encoder.tokenizer.enable_truncation(max_length=cut)
            encoding = encoder.tokenizer.encode(text)
        payloads.append(encoder.request([encoding], length or len(encoding.ids)))
    return PayloadPool(tuple(payloads), 1, f"tokens: the trace's {_carried(rows)}, ≤ {spec.sequence_length}")


def _texts_pool(rows: list[Row], config: ModelConfig, batching: bool) -> PayloadPool:
    string_input = text_input(config, batching)
    encoded = [(text or "").encode() for text, _ in rows]
    check_pool_size(f"trace payloads for model '{config.name}'", max(map(len, encoded)), len(rows))
    payloads = []
    for text in encoded:
        array = np.array([text], dtype=np.object_)
        payloads.append({string_input.name: array[:, None] if batching else array})
    return PayloadPool(tuple(payloads), 1, "texts: the trace's texts")


def _carried(rows: list[Row]) -> str:
    texts, lengths = any(t is not None for t, _ in rows), any(n is not None for _, n in rows)
    return " and ".join(name for name, given in (("texts", texts), ("lengths", lengths)) if given)
