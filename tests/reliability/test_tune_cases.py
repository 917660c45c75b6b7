"""`tritonkit tune`: its flags, the search space file, the targets it can tune, the report
directory and the trial log it resumes — refused before any server starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.reliability.harness import Case, check, params, write_files
from tests.reliability.samples import TARGET, changed, dumped, targets_file
from tests.unit.tune_tables import candidate, figures, trial
from tritonkit.tune.log import LogHeader

TUNE = ("tune", "targets.yaml")
# A family the repository holds: only the spoiled input is wrong (tune checks that the files are
# there before a server starts; they are not loaded).
FAMILY = {
    f"model_repository/m_{variant}/{path}": content
    for variant in ("fp32", "int8_dynamic")
    for path, content in (("config.pbtxt", 'name: "m"\n'), ("1/model.onnx", b"onnx"))
}
TUNE_TARGET = changed(TARGET, "model", "m_fp32")
BATCHING_FAMILY = {
    f"model_repository/m_{variant}/config.pbtxt": f'name: "m_{variant}"\nplatform: "onnxruntime_onnx"\n'
    'max_batch_size: 2\ninput { name: "x" data_type: TYPE_FP32 dims: [16] }\n'
    for variant in ("fp32", "int8_dynamic")
}

TEXTS = {"kind": "texts", "texts": "texts.txt"}
TEXTS_TARGET = changed(changed(TUNE_TARGET, "model", "m_text"), "payload", TEXTS)
TEXT_STEPS = 'ensemble_scheduling { step { model_name: "m_text_tokenizer" } step { model_name: "m_fp32" } }'
TEXT_MODEL = {  # as write_text_model lays one out (what tune reads of it before a server starts)
    "model_repository/m_text/config.pbtxt": f'name: "m_text"\nplatform: "ensemble"\n{TEXT_STEPS}\n',
    "model_repository/m_text_tokenizer/config.pbtxt": 'name: "m_text_tokenizer"\nbackend: "python"\n'
    'input { name: "TEXT" data_type: TYPE_STRING dims: [1] }\n'
    'parameters { key: "max_length" value { string_value: "32" } }\n',
}


def files(*targets: dict[str, Any], **more: str | bytes) -> dict[str, str | bytes]:
    return {"targets.yaml": targets_file(*(targets or (TUNE_TARGET,))), **FAMILY, **more}


def case(case_id: str, argv: tuple[str, ...], fragments: tuple[str, ...], setup: dict[str, str | bytes] | None = None,
         readme: str = "") -> Case:  # fmt: skip
    return Case(f"tune-{case_id}", argv, fragments, setup=write_files(setup or files()), readme=readme)


def space_case(case_id: str, space: object, fragments: tuple[str, ...], readme: str = "") -> Case:
    text = space if isinstance(space, str) else dumped(space)
    return case(f"space-{case_id}", (*TUNE, "--space", "space.yaml"), ("space.yaml", *fragments),
                files(**{"space.yaml": text}), readme)  # fmt: skip


def log_text(**header: Any) -> str:
    """A trial log whose header differs from this tune's by `header`."""
    base = {"family": "m", "variants": ["fp32", "int8_dynamic"], "space": "other", "targets": {}, "cores": 2,
            "machine": "cpu"}  # fmt: skip
    first = LogHeader.model_validate(base | header).model_dump_json()
    return first + "\n" + trial(candidate(), figures(10.0, 100.0)).model_dump_json() + "\n"


REPORT = "reports/tune/trials.jsonl"
CASES = [
    case(
        "payload-batch-over-the-models",
        TUNE,
        ("cannot tune:", "target 't': payload batch_size 8 exceeds model 'm_fp32' max_batch_size 2"),
        files(changed(TUNE_TARGET, "payload.batch_size", 8), **BATCHING_FAMILY),
        readme="a payload batch larger than the family's max_batch_size",
    ),
    case("budget-zero", (*TUNE, "--budget-minutes", "0"), ("--budget-minutes", "expected a number 0.1-1440, got 0")),
    case("budget-nan", (*TUNE, "--budget-minutes", "nan"), ("--budget-minutes", "expected a number 0.1-1440")),
    case(
        "trials-too-few",
        (*TUNE, "--max-trials", "2"),
        ("--max-trials", "expected a whole number 4-10000, got 2"),
        readme="`tune --max-trials 2`",
    ),
    case("unknown-variant", (*TUNE, "--variants", "fp64"), ("--variants", "unknown variant(s) ['fp64']")),
    case(
        "variant-not-exported",
        (*TUNE, "--variants", "int8_static"),
        ("--variants int8_static: not exported for 'm'", "exported: fp32, int8_dynamic"),
    ),
    case("unknown-target", (*TUNE, "--target", "nope", "--target", "t"), ("no target named 'nope'; there are t",)),
    case(
        "resume-without-log",
        (*TUNE, "--resume"),
        ("--resume: no trial log at reports/tune/trials.jsonl",),
        readme="`tune --resume` with no trial log",
    ),
    case(
        "resume-another-space",
        (*TUNE, "--resume"),
        (REPORT, "written by another tune", "space: the log has 'other'"),
        files(**{REPORT: log_text()}),
        readme="`tune --resume` on another tune's log",
    ),
    case(
        "resume-another-family",
        (*TUNE, "--resume"),
        ("written by another tune", "family: the log has 'n'"),
        files(**{REPORT: log_text(family="n")}),
    ),
    case(
        "resume-garbage",
        (*TUNE, "--resume"),
        (REPORT, "not a trial log tritonkit wrote", "line 1"),
        files(**{REPORT: "{not json\n"}),
    ),
    case("resume-binary", (*TUNE, "--resume"), (REPORT, "UTF-8"), files(**{REPORT: b"\xff\xfe\x00"})),
    case(
        "no-family",
        TUNE,
        ("target 't': model 'x_fp32': no exported variants", "run `tritonkit export` first"),
        files(changed(TARGET, "model", "x_fp32")),
        readme="`tune` of a model never exported",
    ),
    case(
        "two-families",
        TUNE,
        ("span several model families (m, n)",),
        {
            **files(TUNE_TARGET, changed(changed(TARGET, "name", "u"), "model", "n_fp32")),
            "model_repository/n_fp32/config.pbtxt": "x",
            "model_repository/n_fp32/1/model.onnx": b"x",
        },
    ),
    case(
        "files-payload",
        TUNE,
        ("tune needs a tokens, texts or random payload (files cannot vary batch size)",),
        files(changed(TUNE_TARGET, "payload", {"kind": "files", "paths": ["a.npz"]}), **{"a.npz": b""}),
    ),
    case(
        "texts-not-a-text-model",
        TUNE,
        ("target 't': model 'm_fp32' is not a text model", "a texts target is tuned through one"),
        files(changed(TUNE_TARGET, "payload", TEXTS), **{"texts.txt": "hello\n"}),
        readme="a texts target whose model is not a text model",
    ),
    case(
        "texts-text-model-missing",
        TUNE,
        ("target 't': model 'm_text' is not in model_repository (no m_text/config.pbtxt)",),
        files(TEXTS_TARGET, **{"texts.txt": "hello\n"}),
    ),
    case(
        "texts-tuned-name-taken",
        TUNE,
        ("model_repository/m_tuned_t: model 'mine'", "is not a text model's ensemble", "choose another name"),
        files(TEXTS_TARGET, **TEXT_MODEL, **{"model_repository/m_tuned_t/config.pbtxt": 'name: "mine"\n'}),
        readme="a texts target whose tuned text model's name holds a model of yours",
    ),
    case(
        "tuned-name-too-long",
        TUNE,
        ("model name 'bbbbbbbbbbbbbbb", "_tuned_aaaaaa", "at most 255 bytes"),
        {
            "targets.yaml": targets_file(changed(changed(TARGET, "name", "a" * 128), "model", "b" * 123 + "_fp32")),
            f"model_repository/{'b' * 123}_fp32/config.pbtxt": "x",
            f"model_repository/{'b' * 123}_fp32/1/model.onnx": b"x",
        },
    ),
    case(
        "report-dir-not-ours",
        (*TUNE, "--report-dir", "mine"),
        ("mine exists and is not a tune report directory; refusing to replace it",),
        files(**{"mine/notes.txt": "keep me"}),
        readme="`tune --report-dir` a folder of yours",
    ),
    case(
        "tuned-name-taken",
        TUNE,
        ("model_repository/m_tuned_t exists and tune did not write it",),
        files(**{"model_repository/m_tuned_t/config.pbtxt": "mine"}),
        readme="`tune` whose `<name>_tuned_<target>` is a model of yours",
    ),
    case(
        "report-inside-repository",
        (*TUNE, "--report-dir", "model_repository/tune"),
        ("--report-dir model_repository/tune is inside the model repository",),
    ),
    case(
        "every-problem-at-once",
        (*TUNE, "--target", "nope", "--space", "space.yaml", "--report-dir", "mine", "--resume"),
        ("no target named 'nope'", "space.yaml: invalid SpaceSpec", "mine exists and is not a tune report", "--resume"),
        files(**{"space.yaml": "instances: [0]\n", "mine/notes.txt": "keep me"}),
    ),
    case(
        "repository-missing",
        (*TUNE, "--model-repository", "nowhere"),
        ("--model-repository nowhere: not found",),
    ),
    case("http-url-only", (*TUNE, "--http-url", "127.0.0.1:1"), ("needs its --grpc-url",)),
    space_case(
        "unknown-key",
        {"max_batch_sizes": [8]},
        ("invalid SpaceSpec", "max_batch_sizes: Extra inputs"),
        readme="a misspelt search-space key",
    ),
    space_case("batch-zero", {"max_batch_size": [0, 8]}, ("max_batch_size.0: Input should be greater than 0",)),
    space_case("batch-huge", {"max_batch_size": [2**40]}, ("max_batch_size.0", "less than or equal to 4096")),
    space_case("no-values", {"instances": []}, ("instances: Tuple should have at least 1 item",)),
    space_case(
        "threads-a-string", {"intra_op_threads": ["two"]}, ("intra_op_threads.0: Input should be a valid integer",)
    ),
    space_case("queue-negative", {"queue_policies": [{"max_queue_size": -1}]}, ("queue_policies.0.max_queue_size",)),
    space_case(
        "field-owned",
        {"fields": [{"path": "max_batch_size", "values": [4]}]},
        ("max_batch_size is the model's identity or a built-in dimension",),
        readme="a search-space field the tuner owns",
    ),
    space_case(
        "field-unknown",
        {"fields": [{"path": "optimisation.graph.level", "values": [1]}]},
        ("ModelConfig has no field 'optimisation'",),
    ),
    space_case(
        "field-wrong-type",
        {"fields": [{"path": "optimization.graph.level", "values": ["high"]}]},
        ("'level' takes an integer",),
    ),
    space_case(
        "field-bad-path", {"fields": [{"path": "a..b", "values": [1]}]}, ("fields.0.path: String should match",)
    ),
    space_case(
        "too-many",
        {"max_batch_size": list(range(1, 65)), "instances": list(range(1, 65)), "intra_op_threads": list(range(64))},
        ("combinations of values; at most 250000: narrow the space",),
    ),
    space_case("value-twice", {"instances": [1, 2, 1]}, ("instances: Value error, values given twice: [1]",)),
    case(
        "space-empty",
        (*TUNE, "--space", "space.yaml"),
        (
            "target 't': the space has no candidate for it",
            "every client_batch_sizes value is above every max_batch_size",
        ),
        files(**{"space.yaml": dumped({"max_batch_size": [8], "client_batch_sizes": [16]})}),
        readme="a search space with no candidate for a target",
    ),
    space_case(
        "field-another-scheduler",
        {"fields": [{"path": "sequence_batching.max_sequence_idle_microseconds", "values": [1000]}]},
        ("sequence_batching changes what the load measures",),
    ),
    space_case(
        "field-enum-number",
        {"fields": [{"path": "optimization.priority", "values": [99]}]},
        ("'priority' takes one of PRIORITY_DEFAULT, PRIORITY_MAX, PRIORITY_MIN",),
    ),
    space_case(
        "timing-a-string",
        {"screen": {"warmup_s": "1", "window_s": 1, "windows": 3}},
        ("screen.warmup_s: Input should be a valid number",),
    ),
    space_case("not-a-mapping", "- 1\n- 2\n", ("the top level is a list",)),
]


@pytest.mark.parametrize("case", params(CASES))
def test_tune_refuses(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)
