"""`tritonkit export` on a spoiled recipe: refused before anything is exported (most before torch
is even imported); paths in a recipe stay inside its folder."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from tests.reliability.harness import Case, check, params
from tests.reliability.samples import RECIPE, SENTENCES, changed, dumped, recipe_setup, without
from tritonkit.specs import TaskName

EXPORT = ("export", "recipe.yaml")


def source_case(case_id: str, source: dict[str, str], fragments: tuple[str, ...]) -> Case:
    """A source the recipe names well but that is not there: found when the export resolves it,
    before anything is built."""
    return Case(f"recipe-{case_id}", EXPORT, fragments, setup=recipe_setup(dumped(changed(RECIPE, "source", source))))


def recipe_case(
    case_id: str, path: str, value: object, fragments: tuple[str, ...], readme: str = "", **files: str | bytes
) -> Case:
    setup = recipe_setup(dumped(changed(RECIPE, path, value)), **files)
    return Case(f"recipe-{case_id}", EXPORT, ("recipe.yaml", *fragments), setup=setup, readme=readme)


OUTSIDE = "leaves the recipe's folder"
# A plain transformers folder as far as the export can tell before loading anything: config.json,
# no modules.json. The problems below are found before any weight is read.
PLAIN_FOLDER = {"weights/config.json": "{}"}
TASKS = get_args(TaskName)
TASK_CHOICES = ", ".join(map(repr, TASKS[:-1])) + f" or {TASKS[-1]!r}"  # as pydantic lists them

IMAGE_RECIPE = {
    **without(without(RECIPE, "evaluation_texts"), "calibration_texts"),
    "task": "image-classification",
    "variants": ["fp32", "int8_static"],
    "evaluation_images": "photos",
    "calibration_images": "calibration",
}
BAD_PHOTOGRAPHS = {"photos/broken.jpg": b"\xff\xd8 not a jpeg", "photos/notes.txt": "not read: not an image suffix",
                   "calibration/text.png": "a text file"}  # fmt: skip


MESSAGES = "text\ts\tsplit\nlate again\tnegative\ttrain\nfine\tpositive\ttrain\nok\tpositive\ttest\n"
# Two CPU variants with a head each: what a cascade needs.
HEADED = changed(
    changed(RECIPE, "variants", ["fp32", "int8_dynamic"]),
    "heads",
    [{"name": "sentiment", "data": "m.tsv", "label": "s"}],
)


def _symlink_loop(root: Path, recipe: str) -> None:
    recipe_setup(recipe)(root)
    (root / "loop_a").symlink_to(root / "loop_b")
    (root / "loop_b").symlink_to(root / "loop_a")


CASES = [
    recipe_case("name-pattern", "name", "Bad-Name", ("name: String should match pattern",)),
    recipe_case(
        "name-traversal", "name", "../x", ("name: String should match pattern",), readme="a recipe name `../x`"
    ),
    recipe_case("name-too-long", "name", "m" * 100, ("name: String should have at most 64 characters",)),
    recipe_case(
        "task-unknown",
        "task",
        "summarization",
        (f"task: Input should be {TASK_CHOICES} (got 'summarization')",),
        readme="`task: summarization`",
    ),
    recipe_case(
        "source-none", "source", {}, ("source: Value error, give exactly one of package, path, hub_id (got none)",)
    ),
    recipe_case(
        "source-two",
        "source",
        {"package": "x", "path": "y"},
        ("give exactly one of package, path, hub_id (got ['package', 'path'])",),
    ),
    recipe_case(
        "source-package-code", "source", {"package": "os; rm -rf /"}, ("source.package: String should match pattern",)
    ),
    recipe_case(
        "source-hub-traversal",
        "source",
        {"hub_id": "../../etc/passwd"},
        ("source.hub_id: String should match pattern",),
    ),
    recipe_case(
        "source-revision-without-hub",
        "source",
        {"package": "x", "revision": "main"},
        ("revision only applies to hub_id",),
    ),
    recipe_case(
        "source-path-outside",
        "source",
        {"path": "../weights"},
        ("source.path = '../weights': " + OUTSIDE,),
        readme="`source.path: ../weights`",
    ),
    source_case(
        "source-path-missing", {"path": "weights"}, ("source (folder ", "weights): not found (expected a folder")
    ),
    source_case("source-path-a-file", {"path": "texts/evaluation.txt"}, ("evaluation.txt): not a folder",)),
    source_case("source-path-no-config", {"path": "texts"}, ("texts has no config.json",)),
    Case(
        "recipe-source-config-not-json",
        EXPORT,
        ("recipe mini:", "weights/config.json is not JSON (JSONDecodeError)"),
        setup=recipe_setup(dumped(RECIPE), **{"weights/config.json": "{model_type: bert"}),
    ),
    Case(
        "recipe-source-config-a-list",
        EXPORT,
        ("recipe mini:", "weights/config.json holds a JSON list; expected an object"),
        setup=recipe_setup(dumped(RECIPE), **{"weights/config.json": "[]"}),
    ),
    source_case(
        "source-package-absent", {"package": "no_such_package_here"}, ("source.package 'no_such_package_here' is not",)
    ),
    recipe_case("opset-13", "opset", 13, ("opset: Input should be greater than or equal to 14",)),
    recipe_case("opset-2-31", "opset", 2**31, ("opset: Input should be less than or equal to 28",)),
    recipe_case("opset-a-string", "opset", "17", ("opset: Input should be a valid integer", "(got '17')")),
    recipe_case("sequence-zero", "max_sequence_length", 0, ("max_sequence_length: Input should be greater than 0",)),
    recipe_case(
        "sequence-2-40",
        "max_sequence_length",
        2**40,
        ("max_sequence_length: Input should be less than or equal to 65536",),
    ),
    recipe_case("variant-unknown", "variants", ["fp32", "int4"], ("variants.1: Input should be 'fp32'",)),
    recipe_case("variants-a-string", "variants", "fp32", ("variants: Input should be a valid tuple",)),
    recipe_case(
        "profile-unknown", "profile", "fast", ("profile: Input should be 'latency', 'throughput' or 'balanced'",)
    ),
    recipe_case(
        "gate-negative",
        "gates",
        {"fp32": {"max_abs_diff": -1}},
        ("gates.fp32.max_abs_diff: Input should be greater than 0",),
    ),
    recipe_case(
        "gate-nan",
        "gates",
        {"fp32": {"max_abs_diff": float("nan")}},
        ("gates.fp32.max_abs_diff: Input should be a finite number",),
    ),
    recipe_case(
        "gate-cosine-above-one",
        "gates",
        {"int8_dynamic": {"min_cosine": 1.5}},
        ("gates.int8_dynamic.min_cosine: Input should be less than or equal to 1",),
    ),
    recipe_case(
        "gate-unknown-variant", "gates", {"int4": {"min_cosine": 0.9}}, ("gates.int4.[key]: Input should be 'fp32'",)
    ),
    recipe_case(
        "gate-typo", "gates", {"fp32": {"max_abs": 1}}, ("gates.fp32.max_abs: Extra inputs are not permitted",)
    ),
    recipe_case(
        "distill-keep-zero", "distillation.keep_every", 0, ("distillation.keep_every: Input should be greater than 0",)
    ),
    recipe_case(
        "distill-steps-negative",
        "distillation.steps",
        -1,
        ("distillation.steps: Input should be greater than or equal to 0",),
    ),
    recipe_case(
        "distill-steps-huge",
        "distillation.steps",
        10**12,
        ("distillation.steps: Input should be less than or equal to 1000000",),
    ),
    recipe_case(
        "distill-rate-inf",
        "distillation.learning_rate",
        float("inf"),
        ("distillation.learning_rate: Input should be a finite number",),
    ),
    recipe_case(
        "distill-text-outside",
        "distillation.text_file",
        "../../etc/passwd",
        ("distillation.text_file = '../../etc/passwd': " + OUTSIDE,),
        readme="a text file `../../etc/passwd`",
    ),
    recipe_case("variants-none", "variants", [], ("variants: Tuple should have at least 1 item",)),
    recipe_case(
        "variants-repeated",
        "variants",
        ["fp32", "int8_dynamic", "fp32"],
        ("variants: each at most once; repeated: ['fp32']",),
        readme="`variants: [fp32, int8_dynamic, fp32]`",
    ),
    Case(
        "recipe-texts-symlink-loop",
        EXPORT,
        ("recipe.yaml", "evaluation_texts = 'loop_a': a symbolic link loop"),
        setup=lambda root: _symlink_loop(root, dumped(changed(RECIPE, "evaluation_texts", "loop_a"))),
    ),
    recipe_case(
        "knobs-invalid",
        "knobs",
        {"max_batch_size": -1},
        ("knobs.max_batch_size: Input should be greater than or equal to 0",),
    ),
    recipe_case("unknown-key", "varaints", ["fp32"], ("varaints: Extra inputs are not permitted",)),
    Case(  # optional in the spec (image tasks have a default), required by every text task
        "recipe-texts-missing-field",
        EXPORT,
        ("recipe mini:", "evaluation_texts: task feature-extraction is gated on real text (a file, a line each)"),
        setup=recipe_setup(
            dumped({**without(RECIPE, "evaluation_texts"), "task": "feature-extraction"}), **PLAIN_FOLDER
        ),
    ),
    recipe_case(
        "texts-outside",
        "evaluation_texts",
        "../evaluation.txt",
        ("evaluation_texts = '../evaluation.txt': " + OUTSIDE,),
    ),
    recipe_case("texts-outside-by-symlink-name", "evaluation_texts", "texts/../../x.txt", (OUTSIDE,)),
    recipe_case(
        "texts-not-found", "evaluation_texts", "texts/absent.txt", ("evaluation_texts = ", "absent.txt: file not found")
    ),
    recipe_case(
        "texts-absolute-not-found",
        "calibration_texts",
        "/nonexistent/calibration.txt",
        ("calibration_texts = /nonexistent/calibration.txt: file not found",),
    ),
    recipe_case(
        "texts-non-utf8",
        "evaluation_texts",
        "texts/latin1.txt",
        (
            "evaluation_texts: ",
            "latin1.txt: not UTF-8 text (byte 0xe9",
        ),
        readme="evaluation texts in Latin-1",
        **{"texts/latin1.txt": "caf\xe9\n".encode("latin-1")},
    ),
    recipe_case(
        "texts-empty",
        "evaluation_texts",
        "texts/empty.txt",
        ("empty.txt: no text lines",),
        **{"texts/empty.txt": "\n\n"},
    ),
    recipe_case(
        "texts-dev-zero", "calibration_texts", "/dev/zero", ("calibration_texts: /dev/zero: not a regular file",)
    ),
    recipe_case("texts-a-directory", "evaluation_texts", "texts", ("texts: a directory",)),
    recipe_case(
        "texts-nul",
        "evaluation_texts",
        "te\0xt",
        ("evaluation_texts: Value error, path 'te\\x00xt' contains a NUL character",),
    ),
    Case(
        "recipe-every-text-problem-at-once",
        EXPORT,
        ("evaluation_texts = ", "absent.txt: file not found", "calibration_texts: ", "empty.txt: no text lines"),
        setup=recipe_setup(
            dumped({**RECIPE, "evaluation_texts": "absent.txt", "calibration_texts": "empty.txt"}), **{"empty.txt": ""}
        ),
    ),
    Case(
        "recipe-int8-without-calibration-texts",
        EXPORT,
        (
            "recipe mini:",
            "variant int8_dynamic needs calibration_texts",
            "variant int8_static needs calibration_texts (real text, a line each); the recipe has none",
        ),
        setup=recipe_setup(
            dumped(
                {
                    **without(RECIPE, "calibration_texts"),
                    "task": "feature-extraction",
                    "variants": ["fp32", "int8_static", "int8_dynamic"],
                }
            ),
            **PLAIN_FOLDER,
        ),
        readme="int8 variants and no `calibration_texts`",
    ),
    Case(
        "recipe-sentence-embedding-on-a-plain-folder",
        EXPORT,
        (
            "recipe mini:",
            "weights is a plain transformers one; use another task (feature-extraction, text-classification",
            "task sentence-embedding needs a sentence-transformers folder (modules.json with pooling)",
        ),
        setup=recipe_setup(dumped(RECIPE), **PLAIN_FOLDER),
        readme="`task: sentence-embedding` on a plain transformers folder",
    ),
    recipe_case("labels-one", "labels", ["a cat"], ("labels: Tuple should have at least 2 items",)),
    recipe_case(
        "labels-repeated",
        "labels",
        ["a cat", "a dog", "a cat"],
        ("labels: each at most once; repeated: ['a cat']",),
        readme="`labels: [a cat, a dog, a cat]`",
    ),
    recipe_case(
        "labels-blank-and-multiline",
        "labels",
        ["a cat", " ", "a\ndog"],
        ("labels.1: Value error, a label is one line of text, not blank", "labels.2: Value error, a label is one"),
    ),
    recipe_case("labels-numbers", "labels", [1, 2], ("labels.0: Input should be a valid string",)),
    recipe_case("labels-too-long", "labels", ["a cat", "x" * 201], ("labels.1: String should have at most 200",)),
    Case(
        "recipe-labels-on-another-task",
        EXPORT,
        ("recipe mini:", "labels: only zero-shot-image-classification takes labels; feature-extraction does not"),
        setup=recipe_setup(
            dumped({**RECIPE, "task": "feature-extraction", "labels": ["a cat", "a dog"]}), **PLAIN_FOLDER
        ),
    ),
    Case(
        "recipe-zero-shot-without-labels-on-a-non-clip-folder",
        EXPORT,
        (
            "recipe mini:",
            "labels: task zero-shot-image-classification scores images against labels (at least 2 texts)",
            "needs a CLIP model (model_type clip);",
        ),
        setup=recipe_setup(dumped({**RECIPE, "task": "zero-shot-image-classification"}), **PLAIN_FOLDER),
        readme="`task: zero-shot-image-classification` with no labels, on a folder that is not CLIP",
    ),
    Case(
        "recipe-every-bad-photograph-at-once",
        EXPORT,
        ("recipe mini:", "broken.jpg: not an image Pillow can read", "text.png: not an image Pillow can read"),
        setup=recipe_setup(dumped(IMAGE_RECIPE), **PLAIN_FOLDER, **BAD_PHOTOGRAPHS),
        readme="photographs that cannot be read, in both image folders",
    ),
    Case(
        "recipe-existing-model-without-force",
        (*EXPORT, "--model-repository", "repo"),
        ("repo: mini_fp32 already exist; pass --force",),
        setup=recipe_setup(
            dumped(RECIPE), **{"repo/mini_fp32/config.pbtxt": "", "weights/config.json": "{}", "more.txt": SENTENCES}
        ),
    ),
    recipe_case(
        "heads-data-columns",
        "heads",
        [{"name": "sentiment", "data": "messages.tsv"}],
        ("heads.sentiment.data", "messages.tsv", "has no column sentiment"),
        readme="a head's data without its label column",
        **{"messages.tsv": "text\tsplit\nthe parcel is late\ttrain\n"},
    ),
    recipe_case(
        "heads-data-rows",
        "heads",
        [{"name": "mood", "data": "messages.tsv", "label": "sentiment"}],
        (
            "an empty text on line 3",
            "a split other than train or test on line 4",
            "3 columns expected on line 5",
            "the train split has 1 sentiment value(s)",
            "the test split has sentiment values the train split lacks",
        ),
        readme="a head's data with bad rows (every one named, by line)",
        **{
            "messages.tsv": "text\tsentiment\tsplit\nlate again\tnegative\ttrain\n\tnegative\ttrain\n"
            "fine\tpositive\tvalidation\ntoo\tmany\tcolumns\there\nok\tpositive\ttest\n"
        },
    ),
    recipe_case(
        "heads-data-binary",
        "heads",
        [{"name": "sentiment", "data": "messages.tsv"}],
        ("heads.sentiment.data", "not UTF-8 text"),
        **{"messages.tsv": b"text\tsentiment\tsplit\n\xff\xfe\tpositive\ttrain\n"},
    ),
    recipe_case("heads-data-outside", "heads", [{"name": "sentiment", "data": "../messages.tsv"}], (OUTSIDE,)),
    recipe_case(
        "heads-repeated",
        "heads",
        [{"name": "sentiment", "data": "a.tsv"}, {"name": "sentiment", "data": "b.tsv"}],
        ("heads: each name at most once; repeated: ['sentiment']",),
    ),
    recipe_case("heads-name", "heads", [{"name": "Sentiment!", "data": "a.tsv"}], ("heads.0.name", "pattern")),
    Case(
        "recipe-heads-on-a-classifier",
        EXPORT,
        ("heads: a head is trained on sentence embeddings; text-classification gives none",),
        setup=recipe_setup(
            dumped(changed(changed(RECIPE, "task", "text-classification"), "heads", [{"name": "s", "data": "m.tsv"}])),
            **PLAIN_FOLDER,
            **{"m.tsv": MESSAGES},
        ),
        readme="heads on a task without sentence embeddings",
    ),
    *[
        Case(
            f"recipe-cascade-{case_id}",
            EXPORT,
            fragments,
            setup=recipe_setup(dumped(changed(HEADED, "cascades", cascades)), **PLAIN_FOLDER, **{"m.tsv": MESSAGES}),
            readme=readme,
        )
        for case_id, cascades, fragments, readme in [
            (
                "unknown-head-and-variants",
                [{"head": "topic", "small": "distilled", "large": "fp16"}],
                (
                    "recipe mini:",
                    "cascades[0].head topic: not one of the recipe's heads (sentiment)",
                    "cascades[0].small distilled: heads are trained on the CPU variants exported (fp32, int8_dynamic)",
                    "cascades[0].large fp16: heads are trained on the CPU variants exported",
                ),
                "a cascade over a head or variants the recipe does not export (all at once)",
            ),
            (
                "same-variant",
                [{"head": "sentiment", "small": "fp32", "large": "fp32"}],
                (
                    "recipe.yaml",
                    "small and large are the same variant (fp32)",
                ),
                "",
            ),
            (
                "threshold-range",
                [{"head": "sentiment", "small": "int8_dynamic", "large": "fp32", "threshold": 1.5}],
                ("recipe.yaml", "cascades.0.threshold", "less than or equal to 1"),
                "a cascade threshold outside [0, 1]",
            ),
            (
                "threshold-text",
                [{"head": "sentiment", "small": "int8_dynamic", "large": "fp32", "threshold": "0.9"}],
                ("recipe.yaml", "cascades.0.threshold", "valid number"),
                "",
            ),
            (
                "threshold-and-loss",
                [
                    {
                        "head": "sentiment",
                        "small": "int8_dynamic",
                        "large": "fp32",
                        "threshold": 0.9,
                        "max_accuracy_loss": 0.01,
                    }
                ],
                (
                    "recipe.yaml",
                    "give threshold or max_accuracy_loss",
                ),
                "",
            ),
            (
                "loss-negative",
                [{"head": "sentiment", "small": "int8_dynamic", "large": "fp32", "max_accuracy_loss": -0.1}],
                ("recipe.yaml", "cascades.0.max_accuracy_loss", "greater than or equal to 0"),
                "",
            ),
            (
                "confidence",
                [{"head": "sentiment", "small": "int8_dynamic", "large": "fp32", "confidence": "entropy"}],
                ("recipe.yaml", "cascades.0.confidence", "'max_probability' or 'margin'"),
                "",
            ),
            (
                "repeated",
                [
                    {"head": "sentiment", "small": "int8_dynamic", "large": "fp32"},
                    {"head": "sentiment", "small": "fp32", "large": "int8_dynamic"},
                ],
                ("recipe.yaml", "cascades: one per head", "repeated: ['sentiment']"),
                "",
            ),
        ]
    ],
]


@pytest.mark.parametrize("case", params(CASES))
def test_recipe_refused(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)
