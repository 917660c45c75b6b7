"""Zero-shot image classification composed from CLIP's two towers, served by Triton's Python
backend: each image's similarity to every label of the export recipe.

A request carries `pixel_values` (a batch of images as the model's image processor prepares them);
the response holds `logits_per_image` [batch, labels] = exp(logit_scale) · cos(image, label), as
CLIPModel computes it, and the config's `label_filename` lets Triton's classification extension
name the best labels. The label texts are embedded once, by a BLS request to the text tower with
the token ids the exporter wrote (label_inputs.json), at the first request, as many at a time as
the text tower batches; each batch of images
is one BLS request to the image tower. This file imports only numpy and
triton_python_backend_utils, so it runs unchanged on tritonkit's local server and in the NGC
container.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

LABEL_INPUTS = "label_inputs.json"


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        self._name = args["model_name"]
        config = json.loads(args["model_config"])
        parameters = {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
        try:
            self._image_tower = parameters["image_tower"]
            self._text_tower = parameters["text_tower"]
            self._scale = float(parameters["logit_scale"])
            self._text_batch = int(parameters["text_batch_size"])  # the text tower's largest batch
            with open(os.path.join(args["model_repository"], LABEL_INPUTS)) as file:
                inputs = json.load(file)
            self._label_inputs = {name: np.array(ids, np.int64) for name, ids in inputs.items()}
        except (KeyError, ValueError, OSError) as exc:
            raise pb_utils.TritonModelException(f"model '{self._name}': bad settings ({exc!r})") from None
        self._labels: np.ndarray | None = None  # the label embeddings, unit length, once computed
        self._lock = threading.Lock()

    def execute(self, requests: list[Any]) -> list[Any]:
        try:
            labels = self._label_embeddings()
            pixels = [pb_utils.get_input_tensor_by_name(r, "pixel_values").as_numpy() for r in requests]
            images = _unit(self._embed(self._image_tower, "pixel_values", np.concatenate(pixels), "image_embeds"))
        except Exception as exc:  # the batch fails, the model stays up
            error = pb_utils.TritonError(f"model '{self._name}': {type(exc).__name__}: {exc}")
            return [pb_utils.InferenceResponse(output_tensors=[], error=error) for _ in requests]
        logits = (self._scale * images @ labels.T).astype(np.float32)
        ends = np.cumsum([len(p) for p in pixels])[:-1]
        return [
            pb_utils.InferenceResponse([pb_utils.Tensor("logits_per_image", part)]) for part in np.split(logits, ends)
        ]

    def _label_embeddings(self) -> np.ndarray:
        """At the first request, not in initialize: a server loading every model at start is not
        ready for BLS requests then (Triton 2.51's Python backend aborts on model-control calls)."""
        with self._lock:
            if self._labels is None:
                for tower in (self._text_tower, self._image_tower):
                    if not pb_utils.is_model_ready(model_name=tower):  # explicit model control: load callees
                        pb_utils.load_model(model_name=tower)
                count = len(self._label_inputs["input_ids"])
                chunks = [
                    self._run(self._text_tower, [pb_utils.Tensor(n, ids[start : start + self._text_batch])
                                                 for n, ids in self._label_inputs.items()], "text_embeds")
                    for start in range(0, count, self._text_batch)
                ]  # fmt: skip
                self._labels = _unit(np.concatenate(chunks))
            return self._labels

    def _embed(self, tower: str, name: str, batch: np.ndarray, output: str) -> np.ndarray:
        return self._run(tower, [pb_utils.Tensor(name, batch)], output)

    def _run(self, tower: str, inputs: list[Any], output: str) -> np.ndarray:
        response = pb_utils.InferenceRequest(model_name=tower, inputs=inputs, requested_output_names=[output]).exec()
        if response.has_error():
            raise RuntimeError(f"model '{tower}': {response.error().message()}")
        return pb_utils.get_output_tensor_by_name(response, output).as_numpy().astype(np.float64)
