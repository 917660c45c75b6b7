"""The main job end to end on the embedded default model: export all-MiniLM-L6-v2 (from its PyPI
package) into gated variants, serve every CPU variant on the local Triton, send real sentences and
check the served embeddings against in-process ONNX Runtime."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from tritonkit.errors import UserError
from tritonkit.export.pipeline import Progress, export
from tritonkit.export.recipe import load_recipe
from tritonkit.export.reference import TASK_OUTPUT, tokenize
from tritonkit.specs import CPU_VARIANTS, VariantName
from tritonkit.triton.infer import infer_once
from tritonkit.triton.server import LocalServer

DEFAULT_RECIPE = Path("export/minilm.yaml")
SENTENCES = (
    "The parcel arrived two days late and the box was damaged.",
    "My order came late, and the package was broken.",
    "The central bank raised interest rates by a quarter point.",
)
TOLERANCE = 1e-4  # same ONNX Runtime on both sides; only thread scheduling may differ


@dataclass(frozen=True)
class DemoInference:
    model: str
    similarity: tuple[float, float]  # cosine(sentence 0, 1) and cosine(sentence 0, 2)
    max_abs_difference: float  # served vs in-process ONNX Runtime


def run_demo(
    repository: Path,
    *,
    recipe_path: Path = DEFAULT_RECIPE,
    variants: Sequence[VariantName] = (),
    progress: Progress = print,
) -> list[DemoInference]:
    if not recipe_path.is_file():
        raise UserError(f"{recipe_path}: recipe not found (run from the project root, or pass --recipe)")
    recipe = load_recipe(recipe_path)
    outcomes = export(recipe, repository, only=variants, force=True, progress=progress)
    failed = [o.record.model for o in outcomes if not o.record.passed]
    if failed:
        raise UserError(f"{', '.join(failed)} failed their accuracy gates (see above); nothing of theirs was written")
    served = [o.record.model for o in outcomes if o.record.variant in CPU_VARIANTS]
    output = TASK_OUTPUT[recipe.task]

    results = []
    with LocalServer(repository, load_all=False) as server:
        for name in served:
            server.load(name)  # fails unless the served config equals the written one
            (batch,) = tokenize(repository / name / "tokenizer", list(SENTENCES), recipe.max_sequence_length)
            session = ort.InferenceSession(
                str(repository / name / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
            )
            feed = {i.name: batch[i.name] for i in session.get_inputs()}
            expected = session.run([output], feed)[0]
            embeddings = infer_once(server.client, name, feed, [output])[output]
            difference = float(np.max(np.abs(embeddings - expected)))
            if difference > TOLERANCE:
                raise UserError(f"model '{name}': served output differs from ONNX Runtime by {difference:g}")
            unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
            similarity = (float(unit[0] @ unit[1]), float(unit[0] @ unit[2]))
            results.append(DemoInference(name, similarity, difference))
    return results
