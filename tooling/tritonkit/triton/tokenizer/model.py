"""A batched tokenizer for Triton's Python backend: strings in, an encoder's token ids out, the
first step of a `<name>_text` ensemble.

Each request carries `TEXT` (TYPE_STRING [batch, 1]: UTF-8 texts); its response holds
`input_ids`, `attention_mask` and, where the encoder takes it, `token_type_ids` (the integer type
the config gives them, [batch, length]). The dynamic batcher hands several requests at once; all
their texts are tokenized in one `encode_batch` call (the `tokenizers` library, with the
tokenizer.json the exporter wrote beside this file). Every text is truncated at `max_length`
tokens, special tokens included. Padding (parameter `padding`):

- `longest`: every request of one batch is padded to the longest text of that batch, so the
  encoder's batcher can merge them;
- `buckets`: each request is padded to the smallest of the `buckets` lengths that holds its longest
  text, so requests of the same bucket merge in the encoder's batcher whichever batch they came in.

An empty string is its special tokens only ([CLS] [SEP] for BERT). A request gets an error response
naming what is wrong, and the other requests of its batch are served, when: it has no TEXT, a text
is not UTF-8, its texts together exceed `max_request_bytes` (tokenizing takes about 1 µs a byte on
this model's one instance: a request of megabytes would hold up every request behind it), or a text
comes out with no token at all (a tokenizer without special tokens, on an empty text). Triton
itself refuses a TEXT of another type or shape, or of more rows than max_batch_size.

Settings that cannot work (a bucket shorter than max_length as the longest, a pad id outside the
vocabulary, no room for text beside the special tokens) fail the model's load, naming the
parameter.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
from tokenizers import Encoding, Tokenizer

TOKENIZER_FILE = "tokenizer/tokenizer.json"
DEFAULT_MAX_REQUEST_BYTES = 1 << 20
REQUIRED_OUTPUTS = ("input_ids", "attention_mask")


class _Refused(Exception):
    """A request this model will not run: its message goes back to the client."""


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        self._name = args["model_name"]
        config = json.loads(args["model_config"])
        parameters = {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
        try:
            self._max_length = int(parameters["max_length"])
            self._pad_id = int(parameters["pad_id"])
            self._buckets = [int(b) for b in json.loads(parameters["buckets"])]
            self._padding = parameters["padding"]
            self._max_bytes = int(parameters.get("max_request_bytes") or DEFAULT_MAX_REQUEST_BYTES)
            self._outputs = {o["name"]: pb_utils.triton_string_to_numpy(o["data_type"]) for o in config["output"]}
            self._tokenizer = Tokenizer.from_file(os.path.join(args["model_repository"], TOKENIZER_FILE))
        except Exception as exc:  # KeyError, ValueError, TypeError, the tokenizers library's bare Exception
            raise pb_utils.TritonModelException(f"model '{self._name}': bad settings ({exc!r})") from None
        problem = self._settings_problem()
        if problem:
            raise pb_utils.TritonModelException(f"model '{self._name}': {problem}")
        self._tokenizer.no_padding()  # padded here, per request or per batch
        self._tokenizer.enable_truncation(self._max_length)

    def _settings_problem(self) -> str | None:
        specials = self._tokenizer.num_special_tokens_to_add(False)
        if self._max_length <= specials:
            return f"parameter max_length {self._max_length} leaves no room beside {specials} special tokens"
        if self._padding not in ("longest", "buckets"):
            return f"parameter padding {self._padding!r}: expected longest or buckets"
        if self._padding == "buckets" and (
            self._buckets != sorted(set(self._buckets)) or not self._buckets or self._buckets[0] < 1
            or self._buckets[-1] < self._max_length
        ):  # fmt: skip
            return (
                f"parameter buckets {self._buckets}: expected lengths from shortest to longest, each once, the "
                f"longest at least max_length {self._max_length}"
            )
        if not 0 <= self._pad_id < self._tokenizer.get_vocab_size(True):
            return f"parameter pad_id {self._pad_id}: not a token id of {TOKENIZER_FILE}"
        if self._max_bytes < 1:
            return f"parameter max_request_bytes {self._max_bytes}: expected a positive number of bytes"
        missing = [name for name in REQUIRED_OUTPUTS if name not in self._outputs]
        if missing:
            return f"outputs {missing} missing: the encoder takes input_ids and attention_mask"
        return None

    def execute(self, requests: list[Any]) -> list[Any]:
        texts: list[list[str] | _Refused] = []
        for request in requests:
            try:
                texts.append(self._texts(request))
            except _Refused as refused:
                texts.append(refused)
        per_request = self._encode(texts)
        served = [batch for batch in per_request if not isinstance(batch, _Refused)]
        longest = max((len(e.ids) for batch in served for e in batch), default=1)
        return [self._response(batch, longest) for batch in per_request]

    def _texts(self, request: Any) -> list[str]:
        tensor = pb_utils.get_input_tensor_by_name(request, "TEXT")
        if tensor is None:
            raise _Refused("expected input TEXT (TYPE_STRING [batch, 1])")
        values = [v if isinstance(v, bytes) else str(v).encode() for v in tensor.as_numpy().reshape(-1)]
        if not values:
            raise _Refused("TEXT holds no text (expected [batch, 1], batch at least 1)")
        size = sum(len(raw) for raw in values)
        if size > self._max_bytes:
            largest = max(range(len(values)), key=lambda i: len(values[i]))
            raise _Refused(
                f"TEXT holds {size} bytes (TEXT[{largest}]: {len(values[largest])}); at most {self._max_bytes} a "
                f"request (parameter max_request_bytes): texts are truncated at {self._max_length} tokens anyway"
            )
        texts = []
        for index, raw in enumerate(values):
            try:
                texts.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise _Refused(f"TEXT[{index}] is not UTF-8 (byte {raw[exc.start]:#04x} at {exc.start})") from None
        return texts

    def _encode(self, texts: list[list[str] | _Refused]) -> list[list[Encoding] | _Refused]:
        """Every request's encodings, all tokenized in one call; should that fail, one request at
        a time, so that only the request at fault gets the error."""
        try:
            flat = iter(self._tokenizer.encode_batch([t for batch in texts if not isinstance(batch, _Refused)
                                                      for t in batch]))  # fmt: skip
            encoded = [batch if isinstance(batch, _Refused) else [next(flat) for _ in batch] for batch in texts]
        except Exception:  # the tokenizers library raises a bare Exception
            encoded = [batch if isinstance(batch, _Refused) else self._encode_one(batch) for batch in texts]
        return [self._checked(batch) for batch in encoded]

    def _encode_one(self, batch: list[str]) -> list[Encoding] | _Refused:
        try:
            return list(self._tokenizer.encode_batch(batch))
        except Exception as exc:
            return _Refused(f"TEXT cannot be tokenized ({str(exc)[:200]})")

    def _checked(self, batch: list[Encoding] | _Refused) -> list[Encoding] | _Refused:
        if isinstance(batch, _Refused):
            return batch
        for index, encoding in enumerate(batch):
            if not encoding.ids:
                return _Refused(f"TEXT[{index}] has no tokens (an empty text, and the tokenizer adds none of its own)")
        return batch

    def _response(self, batch: list[Encoding] | _Refused, longest_in_batch: int) -> Any:
        if isinstance(batch, _Refused):
            error = pb_utils.TritonError(f"model '{self._name}': {batch}")
            return pb_utils.InferenceResponse(output_tensors=[], error=error)
        longest = max(len(e.ids) for e in batch)
        length = longest_in_batch if self._padding == "longest" else self._bucket(longest)
        arrays = {name: np.zeros((len(batch), length), dtype) for name, dtype in self._outputs.items()}
        arrays["input_ids"][:] = self._pad_id
        for row, encoding in enumerate(batch):
            size = len(encoding.ids)
            arrays["input_ids"][row, :size] = encoding.ids
            arrays["attention_mask"][row, :size] = 1
            if "token_type_ids" in arrays:
                arrays["token_type_ids"][row, :size] = encoding.type_ids
        return pb_utils.InferenceResponse([pb_utils.Tensor(name, array) for name, array in arrays.items()])

    def _bucket(self, length: int) -> int:
        """The smallest bucket that holds `length` tokens (the largest is at least max_length, and
        every text is truncated there)."""
        return next((bucket for bucket in self._buckets if bucket >= length), self._buckets[-1])
