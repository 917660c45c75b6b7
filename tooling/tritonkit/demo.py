"""The main job end to end on a small model: build an ONNX model, write it to the repository under
two deployment profiles, serve it on the local Triton and check a real inference against
in-process ONNX Runtime."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from tritonkit import onnx_builders
from tritonkit.errors import UserError
from tritonkit.triton import model_config, profiles
from tritonkit.triton.infer import infer_once
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model
from tritonkit.triton.server import LocalServer
from tritonkit.triton.validate import validate_path

DEMO_PROFILES = ("latency", "throughput")
TOLERANCE = 1e-5


@dataclass(frozen=True)
class DemoInference:
    model: str
    batch_size: int
    predicted_classes: list[int]
    max_abs_difference: float  # served vs in-process ONNX Runtime


def run_demo(repository: Path, *, batch_size: int = 4, seed: int = 0) -> list[DemoInference]:
    with tempfile.TemporaryDirectory() as scratch:
        onnx_path = onnx_builders.mlp(Path(scratch) / "model.onnx", seed=seed)
        signature = read_signature(onnx_path)
        names = []
        for profile_name in DEMO_PROFILES:
            config = model_config.build_config(f"demo_mlp_{profile_name}", signature, profiles.profile(profile_name))
            target = write_model(repository, config, onnx_path, force=True)
            problems = validate_path(target)
            if problems:
                raise UserError("generated model does not validate:\n" + "\n".join(map(str, problems)))
            names.append(config.name)

        x = np.random.default_rng(seed).standard_normal((batch_size, signature.inputs[0].dims[1])).astype(np.float32)
        expected = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(
            ["probabilities"], {"x": x}
        )[0]

    results = []
    with LocalServer(repository, load_all=False) as server:
        for name in names:
            server.load(name)  # fails unless the served config equals the written one
            served = infer_once(server.client, name, {"x": x}, ["probabilities"])["probabilities"]
            difference = float(np.max(np.abs(served - expected)))
            if difference > TOLERANCE:
                raise UserError(f"model '{name}': served output differs from ONNX Runtime by {difference:g}")
            results.append(DemoInference(name, batch_size, served.argmax(axis=1).tolist(), difference))
    return results
