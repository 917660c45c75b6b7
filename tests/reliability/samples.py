"""Valid inputs the cases start from, and ways to spoil them: a case changes one thing."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import yaml

from tests.reliability.harness import Setup, write_files

TRAFFIC = """\
peak_inferences_per_s: 300
off_peak_inferences_per_s: 50
peak_hours_per_day: 8
dollars_per_hour_per_replica: 0.50
cold_start_s: 40
target_utilization: 0.8
"""

SENTENCES = "The parcel arrived two days late.\nMy order came late, and the box was broken.\n"

TARGET: dict[str, Any] = {
    "name": "t",
    "model": "m",
    "load": {"mode": "closed", "concurrency": 2, "warmup_s": 1, "window_s": 1, "duration_s": 3},
    "payload": {"kind": "random"},
    "slo": {"p99_ms": 50},
}
TOKENS = {"kind": "tokens", "texts": "texts.txt", "tokenizer": "tokenizer"}

RECIPE: dict[str, Any] = {
    "name": "mini",
    "source": {"path": "weights"},
    "task": "sentence-embedding",
    "variants": ["fp32"],
    "evaluation_texts": "texts/evaluation.txt",
    "calibration_texts": "texts/calibration.txt",
}
RECIPE_TEXTS = {"texts/evaluation.txt": SENTENCES, "texts/calibration.txt": SENTENCES}

# A model directory the local repository holds, so that only the spoiled input is wrong.
MODEL_CONFIG = 'name: "m"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 8\n'
REPOSITORY = {"model_repository/m/config.pbtxt": MODEL_CONFIG}


def changed(base: Mapping[str, Any], path: str, value: object) -> dict[str, Any]:
    """`base` with the value at the dotted `path` replaced (a key created where missing)."""
    result = copy.deepcopy(dict(base))
    *parents, last = path.split(".")
    node = result
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return result


def without(base: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in base.items() if k != key}


def dumped(data: object) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def targets_file(*targets: Mapping[str, Any], **top: object) -> str:
    return dumped({**top, "targets": [dict(t) for t in targets]})


def targets_setup(text: str | bytes, **more: str | bytes) -> Setup:
    """targets.yaml with `text`, the texts file and a local repository holding model m."""
    return write_files({"targets.yaml": text, "texts.txt": SENTENCES, **REPOSITORY, **more})


def recipe_setup(text: str | bytes, **more: str | bytes) -> Setup:
    return write_files({"recipe.yaml": text, **RECIPE_TEXTS, **more})


# Spoiled YAML that any reader must refuse, with the fragment its message must hold.
BILLION_LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)
BAD_YAML: dict[str, tuple[str | bytes, str]] = {
    "non-utf8": (b"peak_inferences_per_s: \xff\xfe\n", "not UTF-8 text (byte 0xff at offset 23, line 1"),
    "latin1": ("peak_inferences_per_s: 3 # caf\xe9\n".encode("latin-1"), "not UTF-8 text"),
    "billion-laughs": (BILLION_LAUGHS, "expands to more than 100000 values"),
    "recursive-alias": ("a: &a [1, *a]\n", "an alias refers to its own anchor"),
    "deep-nesting": ("a: " + "[" * 500 + "]" * 500 + "\n", "nested deeper than 64 levels"),
    "duplicate-key": ("a: 1\nb: 2\na: 3\n", "duplicate key 'a' (lines 1 and 3)"),
    "a-list": ("- 1\n- 2\n", "the top level is a list; expected a mapping"),
    "a-scalar": ("just words\n", "the top level is a str; expected a mapping"),
    "syntax": ("a: [1, 2\n", "not valid YAML"),
    "tab-indent": ("a:\n\tb: 1\n", "not valid YAML"),
    "python-tag": ("a: !!python/object/apply:os.system ['true']\n", "could not determine a constructor"),
    "two-documents": ("a: 1\n---\nb: 2\n", "expected a single document"),
    "nul-character": ("a: 1\x00\n", "unacceptable character #x0000"),
    "too-large": ("# padding\n" * 110_000, "larger than 1048576 bytes"),
    "unknown-alias": ("a: *nowhere\n", "found undefined alias"),
}
