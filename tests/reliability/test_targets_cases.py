"""`tritonkit check` on a spoiled targets file, on the files its payloads name, and on a payload
that does not fit its model's local config: refused before any server starts (every check here
fails in the targets file or in the checks before a start)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from tests.reliability.harness import Case, chain, check, params, write_files
from tests.reliability.samples import TARGET, TOKENS, changed, targets_file, targets_setup, without
from tritonkit import onnx_builders
from tritonkit.specs import ServingKnobs
from tritonkit.triton.model_config import build_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model

CHECK = ("check", "targets.yaml")


def field_case(case_id: str, path: str, value: object, fragments: tuple[str, ...], readme: str = "") -> Case:
    """The sample target with the value at `path` replaced."""
    setup = targets_setup(targets_file(changed(TARGET, path, value)))
    return Case(
        f"target-{case_id}", CHECK, ("targets.yaml: invalid TargetsSpec", *fragments), setup=setup, readme=readme
    )


def spec_case(case_id: str, text: str, fragments: tuple[str, ...], readme: str = "") -> Case:
    return Case(f"spec-{case_id}", CHECK, ("targets.yaml", *fragments), setup=targets_setup(text), readme=readme)


def payload_case(
    case_id: str,
    payload: Mapping[str, object],
    fragments: tuple[str, ...],
    readme: str = "",
    files: Mapping[str, str | bytes] = MappingProxyType({}),
) -> Case:
    """The sample target with this payload, its model present in the local repository: only the
    payload's files are wrong."""
    setup = targets_setup(targets_file(changed(TARGET, "payload", payload)), **files)
    return Case(
        f"payload-{case_id}",
        CHECK,
        ("targets.yaml: cannot measure its targets", *fragments),
        setup=setup,
        readme=readme,
    )


def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3))
    return buffer.getvalue()


def zip_bomb() -> bytes:
    """An .npz whose directory claims a 4 GB array: refused before anything is decompressed."""
    data = bytearray(npz(input=np.zeros(4, np.float32)))
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = (4_000_000_000).to_bytes(4, "little")  # the uncompressed size
    return bytes(data)


def mlp_model(root: Path) -> None:
    """A real, servable model "mlp" in the case's repository: one float input x [batch, 16]."""
    onnx = onnx_builders.mlp(root / "mlp.onnx")
    write_model(
        root / "model_repository", build_config("mlp", read_signature(onnx), ServingKnobs(max_batch_size=8)), onnx
    )


LONG = "x" * 10_000
TOKENIZER = {"tokenizer/tokenizer.json": '{"version": "1.0", "model": {"type": "Nonsense"}}'}
IMAGES = {"kind": "images", "processor": "preprocessor", "images": "photos"}
VIT_SETTINGS = {"image_processor_type": "ViTImageProcessor", "size": {"height": 32, "width": 32}}
PROCESSOR = {"preprocessor/preprocessor_config.json": json.dumps(VIT_SETTINGS)}
PROMPTS = {"kind": "prompts", "texts": "texts.txt", "tokenizer": "tokenizer"}
# A tokenizer.json that loads, so that only the spoiled input is wrong.
_WORDS = Tokenizer(WordLevel({"[UNK]": 0, "the": 1}, unk_token="[UNK]"))
_WORDS.pre_tokenizer = Whitespace()
WORD_TOKENIZER = {"tokenizer/tokenizer.json": _WORDS.to_str()}


def generation_case(case_id: str, target: Mapping[str, object], fragments: tuple[str, ...], readme: str = "") -> Case:
    """A target whose SLO or load does not fit its payload's kind, refused before a start."""
    setup = targets_setup(targets_file(target), **WORD_TOKENIZER)
    return Case(case_id, CHECK, ("targets.yaml: cannot measure its targets", *fragments), setup=setup, readme=readme)


CASES = [
    field_case(
        "model-traversal",
        "model",
        "../../etc",
        ("model: Value error, expected a model name: letters, digits",),
        readme="a model name `../../etc`",
    ),
    field_case("model-absolute", "model", "/tmp/m", ("model: Value error, expected a model name: letters, digits",)),
    field_case("model-space", "model", "my model", ("model: Value error, expected a model name: letters, digits",)),
    field_case("model-semicolon", "model", "m;rm", ("model: Value error, expected a model name: letters, digits",)),
    field_case("model-dot", "model", ".", ("model: Value error, expected a model name: letters, digits",)),
    field_case("model-empty", "model", "", ("model: Value error, expected a model name: letters, digits",)),
    field_case("model-too-long", "model", "m" * 200, ("expected a model name", "at most 128 characters")),
    field_case("model-a-number", "model", 7, ("model: Input should be a valid string",)),
    field_case(
        "version-negative",
        "model_version",
        "-1",
        ("model_version: Value error, expected a model version: a number from 1",),
    ),
    field_case(
        "version-leading-zero",
        "model_version",
        "01",
        ("model_version: Value error, expected a model version: a number from 1",),
    ),
    field_case(
        "version-beyond-int64",
        "model_version",
        "9" * 20,
        ("model_version: Value error, expected a model version: a number from 1",),
        readme="a model version beyond int64",
    ),
    field_case("name-with-slash", "name", "a/b", ("name: String should match pattern",)),
    field_case(
        "name-huge",
        "name",
        LONG,
        ("name: String should have at most 128 characters", "(got 'xxxx"),
    ),
    field_case("concurrency-zero", "load.concurrency", 0, ("load.closed.concurrency: Input should be greater than 0",)),
    field_case(
        "concurrency-2-31",
        "load.concurrency",
        2**31,
        ("load.closed.concurrency: Input should be less than or equal to 10000",),
        readme="`concurrency: 2147483648`",
    ),
    field_case(
        "concurrency-2-63",
        "load.concurrency",
        2**63,
        ("load.closed.concurrency: Input should be less than or equal to 10000",),
    ),
    field_case(
        "concurrency-a-bool",
        "load.concurrency",
        True,
        ("load.closed.concurrency: Input should be a valid integer", "(got True)"),
    ),
    field_case(
        "concurrency-a-fraction", "load.concurrency", 2.5, ("load.closed.concurrency: Input should be a valid integer",)
    ),
    field_case(
        "concurrency-a-string",
        "load.concurrency",
        "8",
        ("load.closed.concurrency: Input should be a valid integer", "(got '8')"),
    ),
    field_case(
        "mode-unknown",
        "load.mode",
        "burst",
        ("load: Input tag 'burst' found using 'mode' does not match any of the expected tags",),
    ),
    field_case(
        "mode-missing",
        "load",
        without(TARGET["load"], "mode"),
        ("load: Unable to extract tag using discriminator 'mode'",),
    ),
    field_case(
        "rate-zero",
        "load",
        {"mode": "open", "rate_per_s": 0},
        ("load.open.rate_per_s: Input should be greater than 0",),
    ),
    field_case(
        "rate-negative",
        "load",
        {"mode": "open", "rate_per_s": -20},
        ("load.open.rate_per_s: Input should be greater than 0",),
        readme="a negative rate",
    ),
    field_case(
        "rate-nan",
        "load",
        {"mode": "open", "rate_per_s": float("nan")},
        ("load.open.rate_per_s: Input should be a finite number",),
    ),
    field_case(
        "rate-inf",
        "load",
        {"mode": "open", "rate_per_s": float("inf")},
        ("load.open.rate_per_s: Input should be a finite number",),
    ),
    field_case(
        "rate-huge",
        "load",
        {"mode": "open", "rate_per_s": 1e9},
        ("load.open.rate_per_s: Input should be less than or equal to 1000000",),
    ),
    field_case(
        "in-flight-zero",
        "load",
        {"mode": "open", "rate_per_s": 5, "max_in_flight": 0},
        ("max_in_flight: Input should be greater than 0",),
    ),
    field_case(
        "arrivals-unknown",
        "load",
        {"mode": "open", "rate_per_s": 5, "arrivals": "bursty"},
        ("load.open.arrivals: Input should be 'constant' or 'poisson'",),
    ),
    field_case("window-zero", "load.window_s", 0, ("load.closed.window_s: Input should be greater than 0",)),
    field_case("window-tiny", "load.window_s", 1e-6, ("windows; at most 10000",), readme="a window of a microsecond"),
    field_case(
        "duration-a-year",
        "load.duration_s",
        3.2e7,
        ("load.closed.duration_s: Input should be less than or equal to 86400",),
    ),
    field_case(
        "duration-below-windows",
        "load.duration_s",
        2,
        ("duration_s 2.0 is shorter than stable_windows x window_s (3 x 1.0)",),
    ),
    field_case(
        "warmup-negative", "load.warmup_s", -1, ("load.closed.warmup_s: Input should be greater than or equal to 0",)
    ),
    field_case(
        "stable-windows-zero", "load.stable_windows", 0, ("load.closed.stable_windows: Input should be greater than 0",)
    ),
    field_case(
        "tolerance-zero",
        "load.stability_tolerance",
        0,
        ("load.closed.stability_tolerance: Input should be greater than 0",),
    ),
    field_case(
        "timeout-zero", "load.request_timeout_s", 0, ("load.closed.request_timeout_s: Input should be greater than 0",)
    ),
    field_case("seed-negative", "load.seed", -1, ("load.closed.seed: Input should be greater than or equal to 0",)),
    field_case(
        "seed-2-64",
        "load.seed",
        2**64,
        ("load.closed.seed: Input should be less than or equal to 9223372036854775807",),
    ),
    field_case("protocol-unknown", "load.protocol", "udp", ("load.closed.protocol: Input should be 'grpc' or 'http'",)),
    field_case("p99-negative", "slo.p99_ms", -5, ("slo.p99_ms: Input should be greater than 0",)),
    field_case("p99-nan", "slo.p99_ms", float("nan"), ("slo.p99_ms: Input should be a finite number",)),
    field_case(
        "error-rate-above-one",
        "slo.max_error_rate",
        2,
        ("slo.max_error_rate: Input should be less than or equal to 1",),
    ),
    field_case("slo-unknown-key", "slo.p99", 5, ("slo.p99: Extra inputs are not permitted",)),
    field_case("slo-missing", "slo", None, ("slo: Input should be a valid dictionary",)),
    field_case("payload-kind-unknown", "payload.kind", "audio", ("payload: Input tag 'audio' found using 'kind'",)),
    field_case(
        "random-batch-zero", "payload.batch_size", 0, ("payload.random.batch_size: Input should be greater than 0",)
    ),
    field_case(
        "random-dim-2-40",
        "payload.dynamic_dim_size",
        2**40,
        ("payload.random.dynamic_dim_size: Input should be less than or equal to 65536",),
        readme="a tensor dimension of 2**40",
    ),
    field_case(
        "random-count-huge",
        "payload.count",
        10**9,
        ("payload.random.count: Input should be less than or equal to 100000",),
    ),
    field_case(
        "random-integer-high-zero",
        "payload.integer_high",
        0,
        ("payload.random.integer_high: Input should be greater than 0",),
    ),
    field_case(
        "tokens-length-zero",
        "payload",
        {**TOKENS, "sequence_length": 0},
        ("payload.tokens.sequence_length: Input should be greater than 0",),
    ),
    field_case(
        "tokens-length-2-31",
        "payload",
        {**TOKENS, "sequence_length": 2**31},
        ("payload.tokens.sequence_length: Input should be less than or equal to 65536",),
    ),
    field_case(
        "tokens-min-above-length",
        "payload",
        {**TOKENS, "lengths": "uniform", "min_tokens": 64, "sequence_length": 8},
        ("min_tokens 64 exceeds sequence_length 8",),
    ),
    field_case(
        "tokens-lengths-unknown",
        "payload",
        {**TOKENS, "lengths": "long"},
        ("payload.tokens.lengths: Input should be 'fixed', 'texts', 'uniform' or 'buckets'",),
    ),
    field_case("tokens-texts-missing", "payload", without(TOKENS, "texts"), ("payload.tokens.texts: Field required",)),
    field_case(
        "tokens-texts-nul",
        "payload",
        {**TOKENS, "texts": "a\0b"},
        ("payload.tokens.texts: Value error, path 'a\\x00b' contains a NUL character",),
    ),
    field_case(
        "tokens-texts-too-long",
        "payload",
        {**TOKENS, "texts": "d/" * 2100 + "t"},
        ("payload.tokens.texts: Value error", "characters long; at most 4096"),
    ),
    field_case(
        "tokens-name-too-long", "payload", {**TOKENS, "texts": "n" * 300}, ("has a name longer than 255 bytes",)
    ),
    field_case(
        "images-batch-zero",
        "payload",
        {**IMAGES, "batch_size": 0},
        ("payload.images.batch_size: Input should be greater than 0",),
    ),
    field_case(
        "images-count-a-million",
        "payload",
        {**IMAGES, "count": 10**6},
        ("payload.images.count: Input should be less than or equal to 10000",),
    ),
    field_case(
        "prompts-new-tokens-zero",
        "payload",
        {**PROMPTS, "max_new_tokens": 0},
        ("payload.prompts.max_new_tokens: Input should be greater than 0",),
    ),
    field_case(
        "prompts-new-tokens-2-31",
        "payload",
        {**PROMPTS, "max_new_tokens": 2**31},
        ("payload.prompts.max_new_tokens: Input should be less than or equal to 65536",),
    ),
    field_case(
        "prompts-min-above-max",
        "payload",
        {**PROMPTS, "lengths": "uniform", "min_prompt_tokens": 64, "max_prompt_tokens": 8},
        ("min_prompt_tokens 64 exceeds max_prompt_tokens 8",),
    ),
    field_case(
        "prompts-lengths-fixed",
        "payload",
        {**PROMPTS, "lengths": "fixed"},
        ("payload.prompts.lengths: Input should be 'texts' or 'uniform'",),
    ),
    field_case(
        "prompts-texts-missing", "payload", without(PROMPTS, "texts"), ("payload.prompts.texts: Field required",)
    ),
    field_case("slo-ttft-negative", "slo.ttft_p99_ms", -5, ("slo.ttft_p99_ms: Input should be greater than 0",)),
    field_case("slo-itl-nan", "slo.itl_p50_ms", float("nan"), ("slo.itl_p50_ms: Input should be a finite number",)),
    field_case("slo-itl-a-string", "slo.itl_p99_ms", "20ms", ("slo.itl_p99_ms: Input should be a valid number",)),
    field_case(
        "slo-tokens-per-s-zero",
        "slo.min_output_tokens_per_s",
        0,
        ("slo.min_output_tokens_per_s: Input should be greater than 0",),
    ),
    field_case(
        "files-none",
        "payload",
        {"kind": "files", "paths": []},
        ("payload.files.paths: Tuple should have at least 1 item",),
    ),
    field_case("outputs-empty-name", "outputs", [""], ("outputs.0: String should have at least 1 character",)),
    field_case("outputs-not-a-list", "outputs", 5, ("outputs: Input should be a valid tuple",)),
    field_case("unknown-key", "paylod", {}, ("paylod: Extra inputs are not permitted",)),
    spec_case("no-targets", targets_file(), ("targets: Tuple should have at least 1 item",)),
    spec_case("targets-a-mapping", "targets: {t: 1}\n", ("targets: Input should be a valid tuple",)),
    spec_case(
        "repeated-names",
        targets_file(TARGET, TARGET),
        ("target names must be unique; repeated: ['t']",),
        readme="two targets of one name",
    ),
    spec_case(
        "price-negative",
        targets_file(TARGET, dollars_per_hour=-1),
        ("dollars_per_hour: Input should be greater than 0",),
    ),
    spec_case(
        "watts-inf", targets_file(TARGET, host_watts=float("inf")), ("host_watts: Input should be a finite number",)
    ),
    spec_case("shared-a-list", targets_file(TARGET, shared=[1]), ("shared: Input should be a valid dictionary",)),
    spec_case(
        "every-problem-at-once",
        targets_file(changed(TARGET, "load.concurrency", 0), changed(changed(TARGET, "name", "u"), "slo.p99_ms", -1)),
        (
            "targets.0.load.closed.concurrency: Input should be greater than 0",
            "targets.1.slo.p99_ms: Input should be greater than 0",
        ),
    ),
    spec_case(
        "twenty-problems-listed",
        targets_file(*(changed(changed(TARGET, "name", f"t{i}"), "slo.p99_ms", -1) for i in range(30))),
        ("targets.19.slo.p99_ms", "… and 10 more"),
    ),
    Case(
        "preflight-model-not-in-repository",
        CHECK,
        ("target 't': model 'absent' is not in model_repository (no absent/config.pbtxt)",),
        setup=targets_setup(targets_file(changed(TARGET, "model", "absent"))),
        readme="a target's model not in the repository",
    ),
    Case(
        "images-on-a-model-without-an-image-input",
        CHECK,
        ("model 'mlp' takes 'x' float32 [16]; an images payload fills one float input [channels, height, width]",),
        setup=chain(
            targets_setup(
                targets_file(changed(changed(TARGET, "model", "mlp"), "payload", without(IMAGES, "images"))),
                **PROCESSOR,
            ),
            mlp_model,
        ),
    ),
    generation_case(
        "preflight-generation-slo-on-a-tokens-payload",
        changed(changed(TARGET, "payload", TOKENS), "slo.itl_p50_ms", 20),
        ("target 't': slo itl_p50_ms judge streamed generation, which a tokens payload does not measure",),
        readme="a generation SLO (`itl_p50_ms`) on a tokens payload",
    ),
    generation_case(
        "preflight-generation-slos-on-a-random-payload",
        changed(changed(TARGET, "slo.ttft_p99_ms", 200), "slo.min_output_tokens_per_s", 50),
        ("slo ttft_p99_ms, min_output_tokens_per_s judge streamed generation, which a random payload does not",),
    ),
    generation_case(
        "preflight-prompts-over-http",
        changed(changed(TARGET, "payload", PROMPTS), "load.protocol", "http"),
        ("target 't': load.protocol http: a prompts payload streams its tokens over gRPC (protocol: grpc)",),
    ),
    Case(
        "prompts-on-a-model-that-is-not-a-generator",
        CHECK,
        (
            "model 'mlp' takes 'x' float32 [16] (max_batch_size 8, not decoupled); a prompts payload streams "
            "from a decoupled generator taking exactly 'input_ids' int64 [-1] and 'max_new_tokens' int32 [1]",
        ),
        setup=chain(
            targets_setup(targets_file(changed(changed(TARGET, "model", "mlp"), "payload", PROMPTS))),
            write_files(WORD_TOKENIZER),
            mlp_model,
        ),
        readme="a prompts payload on a model that is not a decoupled generator",
    ),
    Case(
        "preflight-prompts-without-tokenizer-on-a-server",
        (*CHECK, "--grpc-url", "127.0.0.1:1"),
        ("target 't': the prompts payload needs `tokenizer:` on a running server",),
        setup=targets_setup(targets_file(changed(TARGET, "payload", without(PROMPTS, "tokenizer")))),
    ),
    Case(
        "preflight-repository-missing",
        (*CHECK, "--model-repository", "nowhere"),
        ("model repository nowhere: not found (--model-repository)",),
        setup=targets_setup(targets_file(TARGET)),
    ),
    Case(
        "preflight-repository-a-file",
        (*CHECK, "--model-repository", "texts.txt"),
        ("model repository texts.txt: not a directory",),
        setup=targets_setup(targets_file(TARGET)),
    ),
    Case(
        "preflight-tokens-without-tokenizer-on-a-server",
        (*CHECK, "--grpc-url", "127.0.0.1:1"),
        ("target 't': the tokens payload needs `tokenizer:` on a running server",),
        setup=targets_setup(targets_file(changed(TARGET, "payload", without(TOKENS, "tokenizer")))),
    ),
    payload_case("texts-missing", {**TOKENS, "texts": "absent.txt"}, ("absent.txt: not found",), files=TOKENIZER),
    payload_case(
        "texts-non-utf8",
        {**TOKENS, "texts": "bad.txt"},
        ("bad.txt: not UTF-8 text (byte 0xe9 at offset 3, line 1",),
        readme="a texts file in Latin-1",
        files={"bad.txt": "caf\xe9\n".encode("latin-1")},
    ),
    payload_case(
        "texts-empty", {**TOKENS, "texts": "empty.txt"}, ("empty.txt: no text lines",), files={"empty.txt": "\n  \n"}
    ),
    payload_case(
        "texts-dev-zero", {**TOKENS, "texts": "/dev/zero"}, ("/dev/zero: not a regular file",), files=TOKENIZER
    ),
    payload_case("texts-a-directory", {**TOKENS, "texts": "."}, (": a directory (expected UTF-8 text",)),
    payload_case(
        "tokenizer-missing",
        {**TOKENS, "tokenizer": "absent"},
        ("absent: not found (expected a tokenizer folder holding tokenizer.json)",),
    ),
    payload_case("tokenizer-a-file", {**TOKENS, "tokenizer": "texts.txt"}, ("texts.txt: not a folder",)),
    payload_case(
        "tokenizer-without-json", {**TOKENS, "tokenizer": "model_repository"}, ("tokenizer.json: no tokenizer.json",)
    ),
    payload_case(
        "tokenizer-json-garbage",
        TOKENS,
        ("tokenizer.json: not a tokenizer.json the tokenizers library reads",),
        readme="a tokenizer.json that is not one",
        files=TOKENIZER,
    ),
    payload_case(
        "tokenizer-json-binary",
        TOKENS,
        ("tokenizer.json: not UTF-8 text",),
        files={"tokenizer/tokenizer.json": b"\x89PNG\r\n\x1a\n"},
    ),
    payload_case(
        "prompts-default-tokenizer-absent",
        without(PROMPTS, "tokenizer"),
        ("model_repository/m/tokenizer: not found (expected a tokenizer folder holding tokenizer.json)",),
    ),
    payload_case(
        "prompts-texts-absent",
        {**PROMPTS, "texts": "absent.txt"},
        ("absent.txt: not found",),
        files=WORD_TOKENIZER,
    ),
    payload_case(
        "images-processor-without-config",
        without(IMAGES, "images"),
        ("preprocessor/preprocessor_config.json: no preprocessor_config.json (the exporter writes one",),
        readme="an image processor folder without preprocessor_config.json",
        files={"preprocessor/config.json": "{}"},
    ),
    payload_case(
        "images-default-processor-absent",
        {"kind": "images"},
        ("model_repository/m/preprocessor: not found (expected an image processor folder",),
    ),
    payload_case(
        "images-folder-without-images",
        IMAGES,
        ("photos: no .jpg/.jpeg/.png files",),
        files={**PROCESSOR, "photos/notes.txt": "photographs go here\n"},
    ),
    payload_case(
        "images-folder-missing",
        {**IMAGES, "images": "absent"},
        ("absent: not found (expected a folder of images)",),
        files=PROCESSOR,
    ),
    payload_case(
        "images-jpg-not-an-image",
        IMAGES,
        ("photos/cat.jpg: not an image Pillow can read (UnidentifiedImageError)",),
        readme="a `.jpg` that is not an image",
        files={**PROCESSOR, "photos/cat.jpg": "just text", "photos/dog.jpg": b"\xff\xd8\xff\xe0 truncated"},
    ),
    payload_case(
        "images-every-problem-at-once",
        IMAGES,
        ("preprocessor_config.json: not JSON (", "photos/a.png: not an image", "photos/b.jpg: not an image"),
        files={"preprocessor/preprocessor_config.json": "{", "photos/a.png": "a", "photos/b.jpg": "b"},
    ),
    payload_case(
        "files-missing",
        {"kind": "files", "paths": ["a.npz", "b.npz"]},
        ("a.npz: not found", "b.npz: not found"),
        readme="two missing .npz files",
    ),
    payload_case(
        "files-not-npz",
        {"kind": "files", "paths": ["a.npz"]},
        ("a.npz: not a readable .npz file",),
        files={"a.npz": "just text"},
    ),
    payload_case(
        "files-a-npy",
        {"kind": "files", "paths": ["a.npz"]},
        ("a.npz: a single array (.npy)",),
        files={"a.npz": npy()},
    ),
    payload_case(
        "files-zip-bomb",
        {"kind": "files", "paths": ["a.npz"]},
        ("a.npz: 4000000000 bytes uncompressed",),
        readme="an .npz claiming 4 GB",
        files={"a.npz": zip_bomb()},
    ),
    payload_case(
        "files-truncated",
        {"kind": "files", "paths": ["a.npz"]},
        ("a.npz: not a readable .npz file",),
        files={"a.npz": npz(x=np.zeros(100))[:60]},
    ),
    payload_case(
        "files-a-directory", {"kind": "files", "paths": ["model_repository"]}, ("model_repository: a directory",)
    ),
    payload_case(
        "files-pickled-objects",
        {"kind": "files", "paths": ["a.npz"]},
        ("a.npz: not a readable .npz file", "allow_pickle"),
        files={"a.npz": npz(x=np.array([{"a": 1}], dtype=object))},
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_targets_refused(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)
