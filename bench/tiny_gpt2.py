"""The tiny GPT-2 the generation benchmark runs on, built and exported in one step: the test suite's
own model (tests/export/tiny_decoders.py: byte-level BPE trained on the project's texts, 2 layers,
n_embd 32) saved under OUT/, a recipe for it, and `tritonkit export` of its fp32 variant into
OUT/model_repository (decoder tiny_gpt2_fp32 and generator tiny_gpt2_fp32_generate). No hub.

    .venv/bin/python bench/tiny_gpt2.py /tmp/tiny_gpt2
    .venv/bin/python bench/generation.py --repository /tmp/tiny_gpt2/model_repository --model tiny_gpt2_fp32
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # one tiny GPT-2 definition, shared with the tests

from tests.export.conftest import ALL_TEXTS, TEXTS  # noqa: E402
from tests.export.tiny_decoders import gpt2_model  # noqa: E402

from tritonkit.export.pipeline import export  # noqa: E402
from tritonkit.export.recipe import load_recipe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    source = gpt2_model(args.out / "model", ALL_TEXTS)
    recipe = args.out / "tiny_gpt2.yaml"
    fields = {"name": "tiny_gpt2", "source": {"path": str(source)}, "task": "text-generation",
              "variants": ["fp32"], "evaluation_texts": str(TEXTS / "evaluation.txt")}  # fmt: skip
    recipe.write_text(yaml.safe_dump(fields))
    export(load_recipe(recipe), args.out / "model_repository", force=True)


if __name__ == "__main__":
    main()
