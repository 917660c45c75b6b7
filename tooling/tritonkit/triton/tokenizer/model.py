"""A batched tokenizer for Triton's Python backend: strings in, an encoder's token ids out, the
first step of a `<name>_text` ensemble.

Each request carries `TEXT` (TYPE_STRING [batch, 1]: UTF-8 texts); its response holds
`input_ids`, `attention_mask` and, where the encoder takes it, `token_type_ids` (INT64
[batch, length]). The dynamic batcher hands several requests at once; all their texts are
tokenized in one `encode_batch` call (the `tokenizers` library, with the tokenizer.json the
exporter wrote beside this file). Every text is truncated at `max_length` tokens, special tokens
included. Padding (parameter `padding`):

- `longest`: every request of one batch is padded to the longest text of that batch, so the
  encoder's batcher can merge them;
- `buckets`: each request is padded to the smallest of the `buckets` lengths that holds its longest
  text, so requests of the same bucket merge in the encoder's batcher whichever batch they came in.

An empty string is its special tokens only ([CLS] [SEP] for BERT). A text that is not UTF-8, or a
request without TEXT, gets an error response naming it; the other requests of the batch are
served.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
from tokenizers import Tokenizer

TOKENIZER_FILE = "tokenizer/tokenizer.json"


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
            self._buckets = sorted(int(b) for b in json.loads(parameters["buckets"]))
            self._padding = parameters["padding"]
            self._outputs = [output["name"] for output in config["output"]]
            self._tokenizer = Tokenizer.from_file(os.path.join(args["model_repository"], TOKENIZER_FILE))
        except (KeyError, ValueError, OSError, Exception) as exc:
            raise pb_utils.TritonModelException(f"model '{self._name}': bad settings ({exc!r})") from None
        if self._padding not in ("longest", "buckets") or (self._padding == "buckets" and not self._buckets):
            raise pb_utils.TritonModelException(f"model '{self._name}': padding {self._padding!r} needs buckets")
        self._tokenizer.no_padding()  # padded here, per request or per batch
        self._tokenizer.enable_truncation(self._max_length)

    def execute(self, requests: list[Any]) -> list[Any]:
        texts: list[list[str] | _Refused] = []
        for request in requests:
            try:
                texts.append(self._texts(request))
            except _Refused as refused:
                texts.append(refused)
        flat = [text for batch in texts if not isinstance(batch, _Refused) for text in batch]
        encodings = iter(self._tokenizer.encode_batch(flat))
        per_request = [batch if isinstance(batch, _Refused) else [next(encodings) for _ in batch] for batch in texts]
        served = [batch for batch in per_request if not isinstance(batch, _Refused)]
        longest = max((len(e.ids) for batch in served for e in batch), default=1)
        return [self._response(batch, longest) for batch in per_request]

    def _texts(self, request: Any) -> list[str]:
        tensor = pb_utils.get_input_tensor_by_name(request, "TEXT")
        if tensor is None:
            raise _Refused("expected input TEXT (TYPE_STRING [batch, 1])")
        texts = []
        for index, value in enumerate(tensor.as_numpy().reshape(-1)):
            raw = value if isinstance(value, bytes) else str(value).encode()
            try:
                texts.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise _Refused(f"TEXT[{index}] is not UTF-8 (byte {raw[exc.start]:#04x} at {exc.start})") from None
        return texts

    def _response(self, batch: Any, longest_in_batch: int) -> Any:
        if isinstance(batch, _Refused):
            error = pb_utils.TritonError(f"model '{self._name}': {batch}")
            return pb_utils.InferenceResponse(output_tensors=[], error=error)
        longest = max(len(e.ids) for e in batch)
        length = longest_in_batch if self._padding == "longest" else self._bucket(longest)
        arrays = {name: np.zeros((len(batch), length), np.int64) for name in self._outputs}
        arrays["input_ids"][:] = self._pad_id
        for row, encoding in enumerate(batch):
            size = len(encoding.ids)
            arrays["input_ids"][row, :size] = encoding.ids
            arrays["attention_mask"][row, :size] = 1
            if "token_type_ids" in arrays:
                arrays["token_type_ids"][row, :size] = encoding.type_ids
        return pb_utils.InferenceResponse([pb_utils.Tensor(name, arrays[name]) for name in self._outputs])

    def _bucket(self, length: int) -> int:
        """The smallest bucket that holds `length` tokens (the largest bucket is at least max_length)."""
        return next(bucket for bucket in self._buckets if bucket >= length)
