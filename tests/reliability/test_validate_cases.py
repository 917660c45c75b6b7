"""`tritonkit validate` on spoiled config.pbtxt files and repositories. A problem found is exit 1,
one line per problem on stdout (for grep), and `error: N problem(s)` on stderr; a path that does
not exist is exit 2. The config rules themselves are the validator's (tests/unit/test_validate.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.mark import ParameterSet

from tests.reliability.harness import Case, check, params, write_files

ONNX_HEAD = 'name: "m"\nplatform: "onnxruntime_onnx"\n'


def problem(case_id: str, files: dict[str, str | bytes], fragments: tuple[str, ...], readme: str = "") -> Case:
    """A repository `repo` holding `files`, with these fragments among its problems (stdout)."""
    setup = write_files({f"repo/{name}": content for name, content in files.items()})
    return Case(
        f"validate-{case_id}", ("validate", "repo"), fragments, exit_code=1, setup=setup, stream="stdout", readme=readme
    )


CASES: list[Case | ParameterSet] = [
    problem(
        "bls-callees",
        {
            "caller/config.pbtxt": 'name: "caller"\nbackend: "python"\n'
            'parameters { key: "bls_models" value { string_value: "gone,caller,../up" } }\n',
            "caller/1/model.py": "",
        },
        (
            "repo/caller/config.pbtxt: parameters['bls_models'] = 'gone': expected a model of repo",
            "parameters['bls_models'] = 'caller': expected other models: a model cannot call itself",
            "parameters['bls_models'] = '../up': expected a model of repo",
        ),
        readme="a BLS model declaring callees that are missing, itself, or outside the repository",
    ),
    problem("empty-repository", {".keep": ""}, ("repo: <repository> = empty",)),
    problem("no-config", {"m/1/.keep": ""}, ("repo/m/config.pbtxt: <file> = missing",)),
    problem("config-a-directory", {"m/config.pbtxt/.keep": ""}, ("repo/m/config.pbtxt: <file> = missing",)),
    problem(
        "syntax",
        {"m/config.pbtxt": "nonsense {{{\n"},
        ("repo/m/config.pbtxt: <syntax> = 1:1",),
        readme="a config.pbtxt field that does not exist",
    ),
    problem(
        "int32-overflow",
        {"m/config.pbtxt": ONNX_HEAD + "max_batch_size: 2147483648\n"},
        ("Value out of range: 2147483648",),
        readme="`max_batch_size: 2147483648` in config.pbtxt",
    ),
    problem(
        "int64-overflow",
        {"m/config.pbtxt": ONNX_HEAD + 'input [{name: "x" data_type: TYPE_FP32 dims: [9223372036854775808]}]\n'},
        ("Value out of range: 9223372036854775808",),
    ),
    problem("negative-batch", {"m/config.pbtxt": ONNX_HEAD + "max_batch_size: -1\n"}, ("max_batch_size",)),
    problem(
        "preferred-zero",
        {"m/config.pbtxt": ONNX_HEAD + "max_batch_size: 4 dynamic_batching { preferred_batch_size: [0] }\n"},
        ("dynamic_batching.preferred_batch_size[0] = 0: expected >= 1",),
    ),
    problem(
        "version-beyond-int64",
        {"m/config.pbtxt": ONNX_HEAD, "m/99999999999999999999/.keep": ""},
        ("<version folder> = '99999999999999999999': expected a version within int64",),
        readme="a version folder beyond int64",
    ),
    problem(
        "model-name-with-space",
        {"my model/config.pbtxt": ONNX_HEAD.replace('"m"', '"my model"'), "my model/1/.keep": ""},
        ("<model name> = 'my model'",),
    ),
    problem("empty-config", {"m/config.pbtxt": ""}, ('platform = "": expected a platform or a backend',)),
    problem(
        "non-utf8",
        {"m/config.pbtxt": ONNX_HEAD.encode() + b"max_batch_size: 4\xff\n"},
        ("repo/m/config.pbtxt", "UTF-8"),
    ),
    problem(
        "huge-config",
        {"m/config.pbtxt": ONNX_HEAD + 'input { name: "x" dims: 0 }\n' * 50_000, "m/1/.keep": ""},
        ("repo/m/config.pbtxt: <file> = 1400039 bytes: expected a config.pbtxt under 1048576 bytes",),
        readme="a config.pbtxt of 50,000 inputs (1.4 MB)",
    ),
    problem("nul-bytes", {"m/config.pbtxt": ONNX_HEAD.encode() + b"\x00\x00\n"}, ("repo/m/config.pbtxt: <syntax>",)),
]


@pytest.mark.parametrize("case", params(CASES))
def test_validate_reports(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)
