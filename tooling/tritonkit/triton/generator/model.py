"""A streaming greedy generator for a KV-cache decoder model, served by Triton's Python backend
with `model_transaction_policy { decoupled: true }`.

A request carries `input_ids` (one prompt's token ids, INT64 [-1]) and `max_new_tokens` (INT32 [1]).
It gets one response per generated token (`token_id`, INT64 [1]), greedy, until max_new_tokens or
an EOS id of the model's config (that token is sent, as transformers' generate returns it), then an
empty response flagged TRITONSERVER_RESPONSE_COMPLETE_FINAL. A request it cannot serve (a bad
input, more tokens than its cap, a decoder error) gets one error response, flagged final.

Every step is a BLS request to the decoder model (parameter `decoder_model`), which holds the
weights: the prompt with an empty cache (past length 0) first, then each new token with the
present.* outputs of the step before fed back as past_key_values.*. This file imports only numpy
and triton_python_backend_utils, so it runs unchanged on tritonkit's local server and in the NGC
container, whose Python models have no onnxruntime. Each request runs on a thread of its own
(execute returns at once), so one instance serves several streams; at most `max_streams` run at a
time per instance and later ones wait for a thread.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils


@dataclass(frozen=True)
class _Settings:
    """The config's parameters, written by tritonkit's exporter beside the decoder."""

    decoder: str
    cache: list[tuple[str, str]]  # (present output, past input it feeds on the next step)
    cache_shape: tuple[int, int]  # (heads, head dim): an empty cache is [1, heads, 0, head dim]
    cache_dtype: Any  # numpy dtype of the cache tensors
    position_ids: bool  # the decoder takes position_ids
    vocab_size: int
    eos_token_ids: frozenset[int]
    max_new_tokens: int  # the most a request may ask for
    max_positions: int  # the model's context: prompt + new tokens
    max_streams: int  # threads per instance

    @classmethod
    def read(cls, parameters: dict[str, str]) -> _Settings:
        heads, head_dim = json.loads(parameters["cache_shape"])
        return cls(
            decoder=parameters["decoder_model"],
            cache=[(present, past) for present, past in json.loads(parameters["cache"])],
            cache_shape=(int(heads), int(head_dim)),
            cache_dtype=pb_utils.triton_string_to_numpy(parameters["cache_data_type"]),
            position_ids=parameters["position_ids"] == "true",
            vocab_size=int(parameters["vocab_size"]),
            eos_token_ids=frozenset(int(i) for i in json.loads(parameters["eos_token_ids"])),
            max_new_tokens=int(parameters["max_new_tokens"]),
            max_positions=int(parameters["max_positions"]),
            max_streams=int(parameters["max_streams"]),
        )


class _Refused(Exception):
    """A request this model will not run: its message goes back to the client."""


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        self._name = args["model_name"]
        if not pb_utils.using_decoupled_model_transaction_policy(config):
            raise pb_utils.TritonModelException(
                f"model '{self._name}': streams one response per token, so it needs "
                "model_transaction_policy { decoupled: true }"
            )
        parameters = {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
        try:
            self._settings = _Settings.read(parameters)
        except KeyError as exc:
            raise pb_utils.TritonModelException(f"model '{self._name}': parameter {exc} is missing") from None
        except (TypeError, ValueError) as exc:
            raise pb_utils.TritonModelException(f"model '{self._name}': bad parameter ({exc})") from None
        self._outputs = ["logits", *(present for present, _ in self._settings.cache)]
        self._decoder_checked = threading.Lock()
        self._decoder_ready = False
        self._pool = ThreadPoolExecutor(max_workers=self._settings.max_streams, thread_name_prefix=self._name)

    def execute(self, requests: list[Any]) -> None:
        for request in requests:
            self._pool.submit(self._stream, request)
        return None  # decoupled: the responses go through each request's sender

    def finalize(self) -> None:
        # Streams still waiting for a thread run too: each ends with a final response (an error one
        # once the decoder is gone), never in silence.
        self._pool.shutdown(wait=True)

    def _ensure_decoder(self) -> None:
        """Explicit model control loads a BLS model's callees only when asked: load the decoder at
        the first stream. Not in initialize: a server loading every model at start (`serve`, the
        container) is not ready for model-control calls then, and Triton 2.51's Python backend
        aborts on them (boost::interprocess::lock_exception); it loads the decoder itself."""
        with self._decoder_checked:
            if self._decoder_ready:
                return
            if not pb_utils.is_model_ready(model_name=self._settings.decoder):
                pb_utils.load_model(model_name=self._settings.decoder)
            self._decoder_ready = True

    def _stream(self, request: Any) -> None:
        sender = request.get_response_sender()
        final = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        try:
            self._ensure_decoder()
            prompt, max_new_tokens = self._read(request)
            for token in self._greedy(prompt, max_new_tokens):
                if sender.is_cancelled():  # the client went away: stop spending the decoder on it
                    break
                sender.send(pb_utils.InferenceResponse([pb_utils.Tensor("token_id", np.array([token], np.int64))]))
        except Exception as exc:  # one failing stream must not take the thread or the model down
            message = str(exc) if isinstance(exc, _Refused) else f"{type(exc).__name__}: {exc}"
            error = pb_utils.TritonError(f"model '{self._name}': {message}")
            sender.send(pb_utils.InferenceResponse(output_tensors=[], error=error), flags=final)
            return
        sender.send(flags=final)

    def _read(self, request: Any) -> tuple[np.ndarray, int]:
        settings = self._settings
        ids = pb_utils.get_input_tensor_by_name(request, "input_ids")
        wanted = pb_utils.get_input_tensor_by_name(request, "max_new_tokens")
        if ids is None or wanted is None:
            raise _Refused("expected inputs input_ids (INT64 [-1]) and max_new_tokens (INT32 [1])")
        prompt = ids.as_numpy().astype(np.int64).reshape(-1)
        max_new_tokens = int(wanted.as_numpy().reshape(-1)[0])
        if prompt.size == 0:
            raise _Refused("input_ids is empty; expected one prompt's token ids")
        if prompt.min() < 0 or prompt.max() >= settings.vocab_size:
            raise _Refused(f"input_ids holds ids outside 0..{settings.vocab_size - 1}, the model's vocabulary")
        if not 1 <= max_new_tokens <= settings.max_new_tokens:
            raise _Refused(
                f"max_new_tokens {max_new_tokens} is outside 1..{settings.max_new_tokens}, "
                "this model's cap (generation.max_new_tokens of its export recipe)"
            )
        if prompt.size + max_new_tokens > settings.max_positions:
            raise _Refused(
                f"input_ids has {prompt.size} tokens and max_new_tokens is {max_new_tokens}: together more "
                f"than the model's {settings.max_positions} positions"
            )
        return prompt, max_new_tokens

    def _greedy(self, prompt: np.ndarray, max_new_tokens: int) -> Iterator[int]:
        """Yields each new token as soon as the decoder step that chose it returns."""
        settings = self._settings
        heads, head_dim = settings.cache_shape
        empty = np.zeros((1, heads, 0, head_dim), settings.cache_dtype)
        cache = [pb_utils.Tensor(past, empty) for _, past in settings.cache]
        fed, length = prompt[None, :], prompt.size
        for step in range(max_new_tokens):
            feeds = {"input_ids": fed, "attention_mask": np.ones((1, length), np.int64)}
            if settings.position_ids:
                feeds["position_ids"] = np.arange(length - fed.shape[1], length, dtype=np.int64)[None, :]
            response = pb_utils.InferenceRequest(
                model_name=settings.decoder,
                inputs=[*(pb_utils.Tensor(name, array) for name, array in feeds.items()), *cache],
                requested_output_names=self._outputs,
            ).exec()
            if response.has_error():
                raise RuntimeError(f"decoder model '{settings.decoder}': {response.error().message()}")
            logits = pb_utils.get_output_tensor_by_name(response, "logits").as_numpy()
            token = int(np.argmax(logits[0, -1]))
            yield token
            if token in settings.eos_token_ids or step == max_new_tokens - 1:
                return
            # Renamed without a copy: DLPack hands the present tensors' memory to the next step's inputs.
            cache = [
                pb_utils.Tensor.from_dlpack(past, pb_utils.get_output_tensor_by_name(response, present).to_dlpack())
                for present, past in settings.cache
            ]
            fed, length = np.array([[token]], np.int64), length + 1
