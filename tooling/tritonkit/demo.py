"""The main job end to end on the embedded default model: export all-MiniLM-L6-v2 (from its PyPI
package) into gated fp32 and int8 variants, write a latency and a throughput configuration of
each, serve them on the local Triton, check that served embeddings equal in-process ONNX Runtime,
then measure every configuration against the shipped targets and write the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import tritonclient.grpc as grpcclient

from tritonkit.check import CheckResult, run_check, with_local_model_files
from tritonkit.errors import CheckFailed, InputError
from tritonkit.export.pipeline import Progress, export
from tritonkit.export.recipe import load_recipe
from tritonkit.export.reference import tokenize
from tritonkit.export.tasks import TASKS
from tritonkit.serving import serving
from tritonkit.specs import RecipeSpec, VariantName, load_targets
from tritonkit.triton import model_config, profiles
from tritonkit.triton.infer import infer_once
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model

DEFAULT_RECIPE = Path("export/minilm.yaml")
DEFAULT_TARGETS = Path("targets/minilm.yaml")
DEMO_VARIANTS: tuple[VariantName, ...] = ("fp32", "int8_dynamic")
DEMO_PROFILES = ("latency", "throughput")
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


@dataclass(frozen=True)
class DemoResult:
    inferences: tuple[DemoInference, ...]
    check: CheckResult


def run_demo(
    repository: Path,
    *,
    recipe_path: Path = DEFAULT_RECIPE,
    targets_path: Path = DEFAULT_TARGETS,
    progress: Progress = print,
) -> DemoResult:
    for path in (recipe_path, targets_path):
        if not path.is_file():
            raise InputError(f"{path}: not found (run from the project root)")
    recipe = load_recipe(recipe_path)
    targets = load_targets(targets_path)
    outcomes = export(recipe, repository, only=DEMO_VARIANTS, force=True, progress=progress)
    failed = [o.record.model for o in outcomes if not o.record.passed]
    if failed:
        raise CheckFailed(f"{', '.join(failed)} failed their accuracy gates (see above); nothing of theirs was written")
    exported = [o.record.model for o in outcomes]
    configurations = [write_profile_configs(repository, recipe, name) for name in exported]
    wanted = {t.model for t in targets.targets}
    missing = wanted - {c for names in configurations for c in names}
    if missing:
        raise InputError(f"{targets_path}: targets name models the demo does not write: {', '.join(sorted(missing))}")

    with serving(targets, repository) as served:
        inferences = []
        for name in exported:
            served.load(name)  # fails unless the served config equals the written one
            inferences.append(_compare_with_onnxruntime(served.client, repository, recipe, name))
            served.unload(name)
        served.load_each(sorted(wanted), progress)
        check = run_check(with_local_model_files(targets, repository), served.host, progress)
    return DemoResult(tuple(inferences), check)


def write_profile_configs(repository: Path, recipe: RecipeSpec, exported: str) -> list[str]:
    """`<exported>_<profile>` for each demo profile: the same ONNX file (and tokenizer) under that
    profile's knobs."""
    onnx = repository / exported / "1" / "model.onnx"
    signature = read_signature(onnx)
    tokenizer = {f"tokenizer/{f.name}": f for f in (repository / exported / "tokenizer").iterdir()}
    names = []
    for profile in DEMO_PROFILES:
        knobs = profiles.profile(profile).warmed_up_at(recipe.max_sequence_length)
        name = f"{exported}_{profile}"
        config = model_config.build_config(name, signature, knobs)
        write_model(repository, config, onnx, extra_files=tokenizer, force=True)
        names.append(name)
    return names


def _compare_with_onnxruntime(
    client: grpcclient.InferenceServerClient, repository: Path, recipe: RecipeSpec, name: str
) -> DemoInference:
    output = TASKS[recipe.task].output
    (batch,) = tokenize(repository / name / "tokenizer", list(SENTENCES), recipe.max_sequence_length)
    session = ort.InferenceSession(str(repository / name / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    feed = {i.name: batch[i.name] for i in session.get_inputs()}
    expected = session.run([output], feed)[0]
    embeddings = infer_once(client, name, feed, [output])[output]
    difference = float(np.max(np.abs(embeddings - expected)))
    if difference > TOLERANCE:
        raise CheckFailed(f"model '{name}': served output differs from ONNX Runtime by {difference:g}")
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    return DemoInference(name, (float(unit[0] @ unit[1]), float(unit[0] @ unit[2])), difference)
