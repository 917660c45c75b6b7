"""A small real decoupled generator for the streaming tests: `counting_generate`, a Python model
under the generator contract (`input_ids` INT64 [-1] and `max_new_tokens` INT32 [1] in, one
`token_id` INT64 [1] response per token, then an empty response with the final flag), with a
word-level tokenizer beside it where the exporter puts one.

Its timing is known by construction: each token is sent `TOKEN_INTERVAL_S` after the previous one
(the first one too, after the request arrives), so a stream's time to first token and every gap
between its tokens are at least that. It generates at most `MAX_NEW_TOKENS`: a request asking for
more gets those tokens and then an error response (a stream that fails midway). Every request runs
on its own thread, so concurrent streams overlap as they do on a real generator."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

NAME = "counting_generate"
TOKEN_INTERVAL_S = 0.02
MAX_NEW_TOKENS = 16
SENTENCES = "the parcel arrived two days late .\nmy order came late , and the box was broken .\n"
VOCAB = {word: i for i, word in enumerate(["[UNK]", *sorted(set(SENTENCES.split()))])}  # a token a word

CONFIG = f"""
name: "{NAME}"
backend: "python"
max_batch_size: 0
input [
  {{ name: "input_ids", data_type: TYPE_INT64, dims: [ -1 ] }},
  {{ name: "max_new_tokens", data_type: TYPE_INT32, dims: [ 1 ] }}
]
output [{{ name: "token_id", data_type: TYPE_INT64, dims: [ 1 ] }}]
model_transaction_policy {{ decoupled: true }}
instance_group [{{ kind: KIND_CPU, count: 1 }}]
parameters [
  {{ key: "token_interval_s", value: {{ string_value: "{TOKEN_INTERVAL_S}" }} }},
  {{ key: "max_new_tokens", value: {{ string_value: "{MAX_NEW_TOKENS}" }} }}
]
"""

# Token k of a stream is the prompt's id k (cycling): the tokens a client gets back are checkable.
MODEL_PY = """
import json
import threading
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        parameters = json.loads(args["model_config"])["parameters"]
        self.interval_s = float(parameters["token_interval_s"]["string_value"])
        self.limit = int(parameters["max_new_tokens"]["string_value"])
        self.threads = set()
        self.lock = threading.Lock()

    def execute(self, requests):
        for request in requests:
            ids = pb_utils.get_input_tensor_by_name(request, "input_ids").as_numpy()
            wanted = int(pb_utils.get_input_tensor_by_name(request, "max_new_tokens").as_numpy()[0])
            thread = threading.Thread(target=self.generate, args=(request.get_response_sender(), ids, wanted))
            with self.lock:
                self.threads.add(thread)
            thread.start()
        return None

    def generate(self, sender, ids, wanted):
        try:
            for k in range(min(wanted, self.limit)):
                time.sleep(self.interval_s)
                token = pb_utils.Tensor("token_id", np.array([ids[k % ids.size]], dtype=np.int64))
                sender.send(pb_utils.InferenceResponse([token]))
            if wanted > self.limit:
                error = pb_utils.TritonError(f"max_new_tokens {wanted} exceeds this model's {self.limit}")
                sender.send(pb_utils.InferenceResponse(error=error))
            sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        finally:
            with self.lock:
                self.threads.discard(threading.current_thread())

    def finalize(self):
        with self.lock:
            running = list(self.threads)
        for thread in running:
            thread.join(timeout=10)
"""


def write_generator(repository: Path) -> Path:
    """`counting_generate` in `repository`, its tokenizer in <model>/tokenizer/; the model folder."""
    folder = repository / NAME
    (folder / "1").mkdir(parents=True)
    (folder / "config.pbtxt").write_text(CONFIG)
    (folder / "1" / "model.py").write_text(MODEL_PY)
    tokenizer = Tokenizer(WordLevel(VOCAB, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    (folder / "tokenizer").mkdir()
    tokenizer.save(str(folder / "tokenizer" / "tokenizer.json"))
    return folder
