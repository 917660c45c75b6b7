"""Targets files: load, payload and SLO per configuration, and how mistakes in them are reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tritonkit.errors import InputError
from tritonkit.specs import (
    ClosedLoopLoad,
    FilesPayload,
    OpenLoopLoad,
    RandomPayload,
    SloSpec,
    TargetSpec,
    TargetsSpec,
    TokensPayload,
    load_targets,
)

REPO = Path(__file__).resolve().parents[2]

TARGET = """\
  - name: {name}
    model: m
    load: {{mode: closed, concurrency: 2, warmup_s: 0, window_s: 1, duration_s: 3}}
    payload: {{kind: random}}
    slo: {{p99_ms: 50}}
"""


def write(tmp_path: Path, text: str, name: str = "targets.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def user_error(path: Path) -> str:
    with pytest.raises(InputError) as error:
        load_targets(path)
    return str(error.value)


# -- the shipped example ------------------------------------------------------------------------


def test_the_shipped_minilm_targets_resolve_their_anchors() -> None:
    """Structure, not tuning: the limits in the example may change, the anchors must keep resolving."""
    spec = load_targets(REPO / "targets" / "minilm.yaml")
    assert [t.name for t in spec.targets] == [
        "chat-fp32", "chat-fp32-peak", "chat-int8", "chat-int8-peak", "pipeline-fp32", "pipeline-int8",
    ]  # fmt: skip
    chat_fp32, chat_fp32_peak, chat_int8, chat_int8_peak, pipeline_fp32, pipeline_int8 = spec.targets
    shared = spec.shared
    assert {"chat_load", "chat_payload", "chat_slo", "pipeline_load", "pipeline_payload", "pipeline_slo"} <= set(shared)

    # Every alias is the anchored mapping, validated like any other.
    chat_load = OpenLoopLoad.model_validate(shared["chat_load"])
    pipeline_load = ClosedLoopLoad.model_validate(shared["pipeline_load"])
    assert chat_fp32.load == chat_int8.load == chat_load
    assert pipeline_fp32.load == pipeline_int8.load == pipeline_load
    # `<<: *chat_load` keeps everything of the anchor and overrides the rate only.
    assert chat_load.rate_per_s != 40
    assert chat_fp32_peak.load == chat_int8_peak.load == chat_load.model_copy(update={"rate_per_s": 40.0})
    assert chat_fp32_peak.load.level == 40.0 and chat_fp32_peak.model == chat_fp32.model
    assert chat_int8_peak.model == chat_int8.model
    chat_slo, pipeline_slo = SloSpec.model_validate(shared["chat_slo"]), SloSpec.model_validate(shared["pipeline_slo"])
    assert all(t.slo == chat_slo for t in spec.targets[:4]) and chat_slo.p99_ms is not None
    assert pipeline_fp32.slo == pipeline_int8.slo == pipeline_slo and pipeline_slo.min_inferences_per_s is not None

    # Payload paths are relative to the targets file, and point at a real file from the repository root.
    texts = (REPO / "export" / "texts" / "evaluation.txt").resolve()
    for target, anchor in zip(spec.targets, ["chat_payload"] * 4 + ["pipeline_payload"] * 2, strict=True):
        payload = target.payload
        assert isinstance(payload, TokensPayload)
        assert payload.texts.resolve() == texts and payload.texts.is_file()
        assert payload.tokenizer is None  # the model repository's tokenizer, filled in by the caller
        in_file = TokensPayload.model_validate(shared[anchor])
        assert payload == in_file.model_copy(update={"texts": REPO / "targets" / in_file.texts})
    assert spec.dollars_per_hour is not None and spec.dollars_per_hour > 0


# -- loading ------------------------------------------------------------------------------------


def test_relative_payload_paths_are_resolved_against_the_file(tmp_path: Path) -> None:
    absolute = tmp_path / "elsewhere" / "b.npz"
    base = tmp_path / "sub"
    base.mkdir()
    path = write(
        base,
        f"""\
targets:
  - name: text
    model: m
    load: {{mode: open, rate_per_s: 5}}
    payload: {{kind: tokens, tokenizer: tok, texts: ../texts.txt}}
    slo: {{}}
  - name: files
    model: m
    load: {{mode: open, rate_per_s: 5}}
    payload: {{kind: files, paths: [requests/a.npz, {absolute}]}}
    slo: {{}}
  - name: default-tokenizer
    model: m
    load: {{mode: open, rate_per_s: 5}}
    payload: {{kind: tokens, texts: texts.txt}}
    slo: {{}}
""",
    )
    spec = load_targets(path)
    text, files, default = (t.payload for t in spec.targets)
    assert isinstance(text, TokensPayload) and isinstance(files, FilesPayload) and isinstance(default, TokensPayload)
    assert text.tokenizer == base / "tok" and text.texts == base / "../texts.txt"
    assert files.paths == (base / "requests" / "a.npz", absolute)
    assert default.tokenizer is None and default.texts == base / "texts.txt"


def test_defaults_of_a_minimal_target(tmp_path: Path) -> None:
    spec = load_targets(write(tmp_path, "targets:\n" + TARGET.format(name="t")))
    (target,) = spec.targets
    assert isinstance(target.load, ClosedLoopLoad) and isinstance(target.payload, RandomPayload)
    assert (target.load.protocol, target.load.stable_windows, target.load.stability_tolerance) == ("grpc", 3, 0.10)
    assert target.model_version == "" and target.outputs == ()
    assert target.slo.max_error_rate == 0.0 and target.slo.p50_ms is None
    assert spec.dollars_per_hour is None and spec.shared == {}
    open_loop = OpenLoopLoad(mode="open", rate_per_s=10)
    assert (open_loop.arrivals, open_loop.max_in_flight, open_loop.max_windows) == ("poisson", 1024, 6)


def test_a_typo_names_the_file_and_the_field(tmp_path: Path) -> None:
    text = "targets:\n" + TARGET.format(name="ok") + TARGET.format(name="bad").replace("p99_ms", "p99ms")
    path = write(tmp_path, text)
    message = user_error(path)
    assert message == f"{path}: invalid TargetsSpec:\n  targets.1.slo.p99ms: Extra inputs are not permitted (got 50)"


def test_typos_in_the_only_target_report_just_the_typos(tmp_path: Path) -> None:
    """Every mistake is named, and nothing else: no claim that the file has no targets, and not
    the whole file echoed back."""
    path = write(
        tmp_path,
        """\
targets:
  - name: a
    model: m
    load: {mode: open, rate_per_sec: 3}
    payload: {kind: random, cout: 3}
    slo: {p99_ms: 3}
""",
    )
    assert user_error(path) == (
        f"{path}: invalid TargetsSpec:\n"
        "  targets.0.load.open.rate_per_s: Field required\n"
        "  targets.0.load.open.rate_per_sec: Extra inputs are not permitted (got 3)\n"
        "  targets.0.payload.random.cout: Extra inputs are not permitted (got 3)"
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ({"load": "{mode: opne, rate_per_s: 3}"}, "targets.0.load: Input tag 'opne' found using 'mode' does not match"),
        ({"load": "{rate_per_s: 3}"}, "targets.0.load: Unable to extract tag using discriminator 'mode'"),
        ({"payload": "{kind: tokens}"}, "targets.0.payload.tokens.texts: Field required"),
        ({"payload": "{kind: files, paths: []}"}, "targets.0.payload.files.paths: Tuple should have at least 1 item"),
        ({"payload": "{kind: random, count: 0}"}, "targets.0.payload.random.count: Input should be greater than 0"),
        ({"slo": "{p99_ms: 0}"}, "targets.0.slo.p99_ms: Input should be greater than 0"),
        ({"slo": "{max_error_rate: 1.5}"}, "targets.0.slo.max_error_rate: Input should be less than or equal to 1"),
        ({"name": "'-bad name'"}, "targets.0.name: String should match pattern"),
        ({"load": "{mode: open, rate_per_s: 0}"}, "targets.0.load.open.rate_per_s: Input should be greater than 0"),
        ({"load": "{mode: closed, concurrency: 0}"}, "targets.0.load.closed.concurrency: Input should be greater"),
        ({"load": "{mode: open, rate_per_s: 1, arrivals: burst}"}, "targets.0.load.open.arrivals: Input should be"),
    ],
)
def test_each_invalid_field_is_named(tmp_path: Path, target: dict[str, str], expected: str) -> None:
    fields = {"name": "t", "model": "m", "load": "{mode: open, rate_per_s: 3}", "payload": "{kind: random}"}
    fields |= {"slo": "{}"} | target
    text = "targets:\n  - " + "\n    ".join(f"{k}: {v}" for k, v in fields.items()) + "\n"
    path = write(tmp_path, text)
    message = user_error(path)
    assert message.startswith(f"{path}: invalid TargetsSpec:\n")
    assert expected in message


def test_target_names_must_be_unique(tmp_path: Path) -> None:
    text = "targets:\n" + "".join(TARGET.format(name=n) for n in ("b", "a", "b", "c", "a"))
    message = user_error(write(tmp_path, text))
    assert "target names must be unique; repeated: ['a', 'b']" in message


def test_a_file_without_targets_is_rejected(tmp_path: Path) -> None:
    assert "targets: Field required" in user_error(write(tmp_path, "dollars_per_hour: 1\n"))
    assert "targets: Tuple should have at least 1 item" in user_error(write(tmp_path, "targets: []\n", "b.yaml"))
    assert "targets: Field required" in user_error(write(tmp_path, "", "empty.yaml"))


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    assert "absent.yaml: not found" in user_error(tmp_path / "absent.yaml")
    assert "not valid YAML" in user_error(write(tmp_path, "targets: [\n"))
    assert "the top level is a list; expected a mapping" in user_error(write(tmp_path, "- a\n- b\n", "list.yaml"))


def test_shared_is_free_form_and_not_read(tmp_path: Path) -> None:
    text = "shared:\n  anything: {goes: [1, 2]}\n  x: &slo {p99_ms: 7}\ntargets:\n" + TARGET.format(name="t")
    spec = load_targets(write(tmp_path, text.replace("slo: {p99_ms: 50}", "slo: *slo")))
    assert spec.shared["anything"] == {"goes": [1, 2]} and spec.targets[0].slo.p99_ms == 7


def test_host_cost_and_power_must_be_positive(tmp_path: Path) -> None:
    for field in ("dollars_per_hour", "host_watts"):
        message = user_error(write(tmp_path, f"{field}: 0\ntargets:\n" + TARGET.format(name="t"), f"{field}.yaml"))
        assert f"  {field}: Input should be greater than 0 (got 0)" in message


# -- load models --------------------------------------------------------------------------------


def test_duration_must_leave_room_for_the_stability_rule(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"duration_s 10.0 is shorter than stable_windows x window_s \(3 x 4.0\)"):
        OpenLoopLoad(mode="open", rate_per_s=1, window_s=4, duration_s=10)
    with pytest.raises(ValidationError, match="the stability rule could never be checked"):
        ClosedLoopLoad(mode="closed", concurrency=1, window_s=1, stable_windows=5, duration_s=4.5)
    # Exactly enough room is fine, despite 0.2 x 3 being 0.6000000000000001 in floating point.
    assert ClosedLoopLoad(mode="closed", concurrency=1, window_s=0.2, duration_s=0.6).max_windows == 3
    text = "targets:\n" + TARGET.format(name="t").replace("duration_s: 3", "duration_s: 2.5")
    assert "targets.0.load.closed: Value error, duration_s 2.5 is shorter" in user_error(write(tmp_path, text))


@pytest.mark.parametrize(
    ("window_s", "duration_s", "expected"),
    [(5.0, 30.0, 6), (3.0, 10.0, 3), (0.2, 0.6, 3), (0.1, 0.7, 7), (0.3, 0.9, 3), (4.0, 16.0, 4), (1.0, 3.99, 3)],
)
def test_max_windows_is_the_whole_windows_that_fit(window_s: float, duration_s: float, expected: int) -> None:
    load = OpenLoopLoad(mode="open", rate_per_s=1, window_s=window_s, duration_s=duration_s, stable_windows=1)
    assert load.max_windows == expected


def test_level_is_the_rate_or_the_concurrency() -> None:
    assert OpenLoopLoad(mode="open", rate_per_s=12.5).level == 12.5
    closed = ClosedLoopLoad(mode="closed", concurrency=7)
    assert closed.level == 7.0 and isinstance(closed.level, float)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"window_s": 0}, "greater than 0"),
        ({"warmup_s": -1}, "greater than or equal to 0"),
        ({"stable_windows": 0}, "greater than 0"),
        ({"stability_tolerance": 0}, "greater than 0"),
        ({"request_timeout_s": 0}, "greater than 0"),
        ({"protocol": "udp"}, "'grpc' or 'http'"),
        ({"max_in_flight": 0}, "greater than 0"),
    ],
)
def test_invalid_load_fields(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OpenLoopLoad.model_validate({"mode": "open", "rate_per_s": 1} | fields)


def test_loads_are_frozen() -> None:
    load = OpenLoopLoad(mode="open", rate_per_s=1)
    with pytest.raises(ValidationError, match="frozen"):
        load.rate_per_s = 2  # type: ignore[misc]


# -- payload and SLO models ---------------------------------------------------------------------


def test_tokens_payload_defaults_and_the_uniform_range() -> None:
    payload = TokensPayload(kind="tokens", texts=Path("t.txt"))
    assert (payload.lengths, payload.sequence_length, payload.min_tokens, payload.batch_size, payload.count) == (
        "texts", 128, 4, 1, 256,
    )  # fmt: skip
    with pytest.raises(ValidationError, match="min_tokens 40 exceeds sequence_length 32"):
        TokensPayload(kind="tokens", texts=Path("t.txt"), lengths="uniform", min_tokens=40, sequence_length=32)
    # Only the uniform lengths read min_tokens.
    assert TokensPayload(kind="tokens", texts=Path("t.txt"), lengths="fixed", min_tokens=40, sequence_length=32)


def test_random_and_files_payload_defaults() -> None:
    random = RandomPayload(kind="random")
    assert (random.batch_size, random.dynamic_dim_size, random.integer_high, random.count) == (1, 16, 100, 64)
    with pytest.raises(ValidationError, match="at least 1 item"):
        FilesPayload(kind="files", paths=())


def test_slo_limits_are_optional_and_positive() -> None:
    assert SloSpec() == SloSpec(p50_ms=None, p90_ms=None, p95_ms=None, p99_ms=None, min_inferences_per_s=None)
    for field in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "min_inferences_per_s"):
        with pytest.raises(ValidationError, match="greater than 0"):
            SloSpec.model_validate({field: -1})
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        SloSpec(max_error_rate=-0.1)


def test_targets_spec_in_code() -> None:
    target = TargetSpec(
        name="a.b-c_1",
        model="m",
        load=ClosedLoopLoad(mode="closed", concurrency=1, window_s=1, duration_s=3),
        payload=RandomPayload(kind="random"),
        slo=SloSpec(),
    )
    spec = TargetsSpec(targets=(target, target.model_copy(update={"name": "other"})))
    assert [t.name for t in spec.targets] == ["a.b-c_1", "other"]
    with pytest.raises(ValidationError, match=r"repeated: \['a.b-c_1'\]"):
        TargetsSpec(targets=(target, target))
