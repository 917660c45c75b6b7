"""Spoiled YAML, fed to every command that reads YAML: a traffic profile (plan), a targets file
(check, sweep), a recipe (export) and a knobs file (add-model). All go through one bounded reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.harness import Case, check, params, write_files
from tests.reliability.onnx_file import with_onnx
from tests.reliability.samples import BAD_YAML

READERS = {
    "plan": (("plan", "--traffic", "in.yaml", "--capacity", "100"), "TrafficSpec"),
    "check": (("check", "in.yaml"), "TargetsSpec"),
    "sweep": (("sweep", "in.yaml", "--target", "t"), "TargetsSpec"),
    "export": (("export", "in.yaml"), "RecipeSpec"),
    "knobs": (("add-model", "model.onnx", "--name", "m", "--knobs", "in.yaml", "--dry-run"), "ServingKnobs"),
}
README_ROWS = {
    "billion-laughs": "a YAML file of nested aliases (billion laughs)",
    "duplicate-key": "a YAML key given twice",
    "non-utf8": "a YAML file that is not UTF-8",
    "a-list": "a YAML list where a mapping belongs",
    "python-tag": "a YAML `!!python/object` tag",
}

CASES = (
    [
        Case(
            f"{reader}-{spoil}",
            argv,
            ("in.yaml", fragment),
            setup=with_onnx(write_files({"in.yaml": content})),
            readme=README_ROWS.get(spoil, "") if reader == "plan" else "",
        )
        for reader, (argv, _) in READERS.items()
        for spoil, (content, fragment) in BAD_YAML.items()
    ]
    + [
        Case(f"{reader}-missing-file", argv, ("in.yaml: not found", f"expected a YAML mapping for {model}"))
        for reader, (argv, model) in READERS.items()
    ]
    + [
        Case(
            f"{reader}-a-directory",
            argv,
            ("in.yaml: a directory",),
            setup=with_onnx(write_files({"in.yaml/inner": ""})),
        )
        for reader, (argv, _) in READERS.items()
    ]
)


@pytest.mark.parametrize("case", params(CASES))
def test_spoiled_yaml(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)
