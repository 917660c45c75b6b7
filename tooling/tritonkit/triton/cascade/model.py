"""A cascade of two classifiers, served by Triton's Python backend: the small model answers every
row; a row it is less confident of than the threshold is answered by the large model instead.

Parameters (written by tritonkit's exporter, export/cascade.py): `small_model`, `large_model` (the
two classifiers, each with a `probabilities` output), `threshold` and `confidence` (max_probability,
or margin: the best probability minus the second). A batch of requests of one input shape is one
BLS request to the small model, and its escalated rows one to the large model. Each row's response
holds `probabilities` (of the model that answered; label_filename names the classes),
`answered_by` (that model's name) and `confidence` (its confidence in its answer).

Custom metrics (Triton's /metrics), labelled by model and stub_pid (one series per instance):
tritonkit_cascade_rows, tritonkit_cascade_escalations, and a histogram of each stage's (small,
large) BLS requests, tritonkit_cascade_stage_duration_seconds.

The two models are loaded before the cascade (their names are its `bls_models`, which tritonkit
loads first); it makes no model-control calls of its own. A stage not loaded fails the batch with
an error naming it.

This file imports only numpy and triton_python_backend_utils, so it runs unchanged on tritonkit's
local server and in the NGC container.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

PROBABILITIES = "probabilities"
STAGES = ("small", "large")
DURATION_BUCKETS_S = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0]


def confidence(probabilities: np.ndarray, margin: bool) -> np.ndarray:
    """Each row's confidence in its best class."""
    if not margin:
        return np.asarray(probabilities.max(axis=1), np.float32)
    top_two = np.sort(probabilities, axis=1)[:, -2:]
    return np.asarray(top_two[:, 1] - top_two[:, 0], np.float32)


class TritonPythonModel:
    def initialize(self, args: dict[str, str]) -> None:
        self._name = args["model_name"]
        config = json.loads(args["model_config"])
        parameters = {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
        try:
            self._models = {"small": parameters["small_model"], "large": parameters["large_model"]}
            self._threshold = float(parameters["threshold"])
            self._margin = {"max_probability": False, "margin": True}[parameters["confidence"]]
        except KeyError as exc:
            message = f"model '{self._name}': parameter {exc} is missing or unknown"
            raise pb_utils.TritonModelException(message) from None
        except ValueError as exc:
            raise pb_utils.TritonModelException(f"model '{self._name}': bad parameter ({exc})") from None
        self._inputs = [tensor["name"] for tensor in config["input"]]
        # The families outlive their metrics (the backend refuses a metric whose family was deleted).
        counter, histogram = pb_utils.MetricFamily.COUNTER, pb_utils.MetricFamily.HISTOGRAM
        self._families = {
            "rows": pb_utils.MetricFamily("tritonkit_cascade_rows", "Rows the cascade classified", counter),
            "escalations": pb_utils.MetricFamily(
                "tritonkit_cascade_escalations", "Rows the large model answered", counter
            ),
            "stage": pb_utils.MetricFamily(
                "tritonkit_cascade_stage_duration_seconds", "Each stage's BLS requests, seconds", histogram
            ),
        }
        # Triton shares a metric between callers giving the same labels and frees it when one of
        # them deletes it: a reload's old instances (deleted after the new ones start) would free
        # the new ones' metrics. The stub process's pid keeps each instance's series its own.
        labels = {"model": self._name, "stub_pid": str(os.getpid())}
        self._rows = self._families["rows"].Metric(labels=labels)
        self._escalations = self._families["escalations"].Metric(labels=labels)
        self._stage_seconds = {
            stage: self._families["stage"].Metric(labels={**labels, "stage": stage}, buckets=DURATION_BUCKETS_S)
            for stage in STAGES
        }

    def execute(self, requests: list[Any]) -> list[Any]:
        responses: list[Any] = [None] * len(requests)
        inputs = [[pb_utils.get_input_tensor_by_name(r, name).as_numpy() for name in self._inputs] for r in requests]
        groups: dict[tuple[tuple[int, ...], ...], list[int]] = {}
        for index, arrays in enumerate(inputs):  # the batcher may merge requests of different lengths
            groups.setdefault(tuple(a.shape[1:] for a in arrays), []).append(index)
        for indices in groups.values():
            try:
                batch = [np.concatenate([inputs[i][k] for i in indices]) for k in range(len(self._inputs))]
                outputs = self._classify(batch)
            except Exception as exc:  # these requests fail, the model stays up
                error = pb_utils.TritonError(f"model '{self._name}': {type(exc).__name__}: {exc}")
                for i in indices:
                    responses[i] = pb_utils.InferenceResponse(output_tensors=[], error=error)
                continue
            start = 0
            for i in indices:
                rows = slice(start, start + len(inputs[i][0]))
                start = rows.stop
                responses[i] = pb_utils.InferenceResponse([pb_utils.Tensor(n, a[rows]) for n, a in outputs.items()])
        return responses

    def finalize(self) -> None:
        del self._rows, self._escalations, self._stage_seconds  # metrics before their families
        del self._families

    def _classify(self, batch: list[np.ndarray]) -> dict[str, np.ndarray]:
        probabilities = self._run("small", batch)
        confident = confidence(probabilities, self._margin)
        answered_by = np.full((len(probabilities), 1), self._models["small"].encode(), dtype=np.object_)
        hard = np.flatnonzero(confident < self._threshold)
        if len(hard):
            escalated = self._run("large", [array[hard] for array in batch])
            probabilities[hard] = escalated
            confident[hard] = confidence(escalated, self._margin)
            answered_by[hard] = self._models["large"].encode()
        self._rows.increment(len(probabilities))
        self._escalations.increment(len(hard))
        return {PROBABILITIES: probabilities, "answered_by": answered_by, "confidence": confident[:, None]}

    def _run(self, stage: str, batch: list[np.ndarray]) -> np.ndarray:
        model = self._models[stage]
        tensors = [pb_utils.Tensor(name, array) for name, array in zip(self._inputs, batch, strict=True)]
        start = time.perf_counter()
        response = pb_utils.InferenceRequest(
            model_name=model, inputs=tensors, requested_output_names=[PROBABILITIES]
        ).exec()
        self._stage_seconds[stage].observe(time.perf_counter() - start)
        if response.has_error():
            raise RuntimeError(f"model '{model}': {response.error().message()}")
        return np.array(pb_utils.get_output_tensor_by_name(response, PROBABILITIES).as_numpy(), np.float32)
