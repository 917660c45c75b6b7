"""`tritonkit check --locust RUN.csv`: the records a Locust run wrote, spoiled. And the Locust
load test itself (`locust -f loadtests/locustfile.py --headless`) given payloads it cannot build:
one `error:` line, exit 2 (1 when no server says the model's config), no traceback, before any
load and with nothing written; those whose fault only the served config shows run against a real
server."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from _pytest.mark import ParameterSet
from PIL import Image

from tests.e2e.test_locust import finish
from tests.reliability.harness import MAX_MESSAGE_CHARS, Case, check, params, snapshot, write_files
from tests.reliability.samples import TARGET, targets_file, targets_setup
from tests.reliability.test_targets_cases import VIT_SETTINGS
from tritonkit import onnx_builders
from tritonkit.specs import ServingKnobs
from tritonkit.triton.model_config import build_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model
from tritonkit.triton.server import LocalServer

HEADER = "start_s,latency_ms,error\n"
GOOD_ROW = "1000.0,5.0,\n"


def run_case(case_id: str, csv: str | bytes, fragments: tuple[str, ...], readme: str = "", target: str = "t") -> Case:
    setup = targets_setup(targets_file(TARGET), **{"run.csv": csv})
    argv = ("check", "targets.yaml", "--locust", "run.csv", "--target", target)
    return Case(f"locust-{case_id}", argv, fragments, setup=setup, readme=readme)


def rows(*lines: str) -> str:
    return HEADER + "".join(line + "\n" for line in lines)


RECORD_CASES = [
    run_case("empty-file", "", ("run.csv: header ''; expected CSV columns start_s,latency_ms,error",)),
    run_case("header-only", HEADER, ("run.csv: no requests recorded",)),
    run_case(
        "wrong-header",
        "a,b\n1,2\n",
        ("run.csv: header 'a,b'; expected CSV columns",),
        readme="a CSV with other columns",
    ),
    run_case(
        "non-utf8", HEADER.encode() + b"1000,5,\xff\n", ("run.csv: not UTF-8 text (byte 0xff at offset 32, line 2",)
    ),
    run_case("a-binary", b"\x00\x01\x02" * 100, ("run.csv",)),
    run_case(
        "negative-latency",
        rows("1000,-5,"),
        ("line 2: latency_ms '-5': expected milliseconds (0 to 8.64e+07)",),
        readme="a negative latency",
    ),
    run_case("nan-latency", rows("1000,nan,"), ("line 2: latency_ms 'nan'",)),
    run_case("inf-start", rows("inf,5,"), ("line 2: start_s 'inf': expected seconds since the epoch",)),
    run_case("huge-start", rows("1e300,5,"), ("line 2: start_s '1e300'",)),
    run_case("a-word", rows("soon,5,"), ("line 2: start_s 'soon'",)),
    run_case("missing-field", rows("1000,5"), ("line 2: 2 fields ['1000', '5']; expected 3",)),
    run_case("extra-field", rows("1000,5,,x"), ("line 2: 4 fields",)),
    run_case(
        "huge-field",
        rows("1000,5," + "e" * 200_000),
        ("run.csv: not a readable CSV file", "field larger than field limit"),
    ),
    run_case("long-error", rows("1000,5," + "e" * 1000), ("line 2: error 'eeee", "at most 200 characters")),
    run_case(
        "every-row-named",
        rows(*(["1000,-1,"] * 25)),
        ("line 2:", "line 21:", "… and 5 more", "run.csv: 25 malformed row(s)"),
        readme="25 bad rows (20 named, then a count)",
    ),
    run_case("too-short", rows(GOOD_ROW.strip()), ("target 't': the run lasted 0.0 s, shorter than its warmup",)),
    run_case(
        "unknown-target",
        rows(GOOD_ROW.strip()),
        ("name the target the run is for (--target): one of t",),
        target="nope",
    ),
    Case(
        "locust-directory",
        ("check", "targets.yaml", "--locust", "."),
        (".: a directory",),
        setup=targets_setup(targets_file(TARGET)),
    ),
]


@pytest.mark.parametrize("case", params(RECORD_CASES))
def test_locust_records_refused(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)


# -- the load test's payloads ------------------------------------------------------------------------

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
# A short headless run: a case the load test failed to refuse would still end in seconds.
RUN = ("--headless", "-u", "1", "-r", "1", "-t", "3s", "--only-summary")
NO_SERVER = "http://127.0.0.1:1"  # nothing listens: a case refused before asking the server passes anyway
# What the default --processor finds for model m (model_repository/m/preprocessor, as exported).
PROCESSOR = {"model_repository/m/preprocessor/preprocessor_config.json": json.dumps(VIT_SETTINGS)}
IMAGE_SIZE = 32  # what the served image model "px" takes, and the size VIT_SETTINGS resizes to


def photograph(size: int = 48) -> bytes:
    """A small PNG of noise (the payload's processor resizes it to the model's size)."""
    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    data = io.BytesIO()
    Image.fromarray(pixels).save(data, "PNG")
    return data.getvalue()


def truncated() -> bytes:
    """A PNG whose header reads and whose pixels do not: found only when it is decoded."""
    whole = photograph(256)
    return whole[: len(whole) // 2]


def locust_case(
    case_id: str,
    options: tuple[str, ...],
    fragments: tuple[str, ...],
    files: dict[str, str | bytes] | None = None,
    *,
    exit_code: int = 2,
    readme: str = "",
    host: str = NO_SERVER,
    model: str = "m",
    served: bool = False,
    locustfile: str = "locustfile.py",
) -> Case | ParameterSet:
    """`locust -f loadtests/<locustfile>` headless on `model` with `options`, in a directory holding
    `files` (default: model m's processor, as the exporter writes it); `served`: against the real
    server ({http} is its URL), for what only the served config shows."""
    argv = ("locust", "-f", locustfile, *RUN, "--host", "{http}" if served else host, "--model", model, *options)
    setup = write_files(PROCESSOR if files is None else files)
    case = Case(f"locust-run-{case_id}", argv, fragments, exit_code=exit_code, setup=setup, readme=readme)
    return pytest.param(case, id=case.id, marks=pytest.mark.integration) if served else case


IMAGES = ("--payload", "images")
LOCUST_CASES = [
    locust_case(
        "images-folder-missing",
        (*IMAGES, "--images", "absent"),
        ("the images payload for model 'm': absent: not found (expected a folder of images)",),
        readme="`--images` naming a folder that does not exist",
    ),
    locust_case(
        "images-folder-without-images",
        (*IMAGES, "--images", "photos"),
        ("photos: no .jpg/.jpeg/.png files",),
        files={**PROCESSOR, "photos/notes.txt": "photographs go here\n"},
    ),
    locust_case(
        "image-unreadable",
        (*IMAGES, "--images", "photos"),
        ("photos/cat.jpg: not an image Pillow can read (UnidentifiedImageError)",),
        files={**PROCESSOR, "photos/cat.jpg": "just text", "photos/dog.png": photograph()},
        readme="a `.jpg` in `--images` that is not an image",
    ),
    locust_case(
        "processor-missing",
        (*IMAGES, "--processor", "nowhere"),
        ("nowhere: not found (expected an image processor folder holding preprocessor_config.json)",),
    ),
    locust_case(
        "default-processor-missing",
        IMAGES,
        ("model_repository/m/preprocessor: not found (expected an image processor folder",),
        files={},
    ),
    locust_case(
        "processor-not-json",
        IMAGES,
        ("model_repository/m/preprocessor/preprocessor_config.json: not JSON (",),
        files={"model_repository/m/preprocessor/preprocessor_config.json": "{"},
    ),
    locust_case(
        "every-problem-at-once",
        (*IMAGES, "--processor", "nowhere", "--images", "photos"),
        ("the images payload for model 'm':\n", "  nowhere: not found", "  photos/a.png: not an image"),
        files={"photos/a.png": "a"},
    ),
    locust_case("batch-size-zero", (*IMAGES, "--batch-size", "0"), ("--batch-size 0: Input should be greater than 0",)),
    locust_case(
        "no-server",
        IMAGES,
        ("Connection refused", f"model 'm': no config from the server at {NO_SERVER}"),
        exit_code=1,
        readme="no Triton at `--host`",
    ),
    locust_case(
        "no-grpc-server",
        (*IMAGES, "--protocol", "grpc", "--grpc-url", NO_SERVER.removeprefix("http://")),
        ("model 'm': no config from the server at 127.0.0.1:1 (", "UNAVAILABLE"),
        exit_code=1,
    ),
    locust_case("no-host", IMAGES, ("--host: give Triton's HTTP URL",), host=""),
    locust_case(
        "prompts-texts-missing",
        ("--grpc-url", NO_SERVER.removeprefix("http://"), "--texts", "absent.txt", "--tokenizer", "nowhere"),
        ("the prompts payload for model 'm_generate':\n", "  absent.txt: not found", "  nowhere: not found"),
        files={},
        locustfile="generation.py",
    ),
    locust_case(
        "images-on-a-model-without-an-image-input",
        IMAGES,
        ("model 'm' takes 'x' float32 [16]; an images payload fills one float input [channels, height, width]",),
        readme="`--payload images` on a model that takes no `pixel_values`",
        served=True,
    ),
    locust_case(
        "image-truncated",
        (*IMAGES, "--images", "photos"),
        ("photos/cut.png: not an image Pillow can read (OSError)",),
        files={
            "model_repository/px/preprocessor/preprocessor_config.json": json.dumps(VIT_SETTINGS),
            "photos/cut.png": truncated(),
        },
        model="px",
        served=True,
    ),
    locust_case(
        "processor-size-not-the-models",
        (*IMAGES, "--images", "photos"),
        (f"model 'px' input 'input' takes [3, {IMAGE_SIZE}, {IMAGE_SIZE}]", "makes pixel values of shape [3, 64, 64]"),
        files={
            "model_repository/px/preprocessor/preprocessor_config.json": json.dumps(
                {**VIT_SETTINGS, "size": {"height": 64, "width": 64}}
            ),
            "photos/a.png": photograph(),
        },
        model="px",
        served=True,
    ),
    locust_case(
        "model-not-served",
        IMAGES,
        ("model 'absent': no config from the server at", "Request for unknown model: 'absent'"),
        files={"model_repository/absent/preprocessor/preprocessor_config.json": json.dumps(VIT_SETTINGS)},
        exit_code=1,
        model="absent",
        served=True,
    ),
]
CASES = RECORD_CASES + LOCUST_CASES


@pytest.fixture(scope="module")
def locust_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A model without an image input (m, the MLP) and one taking an image, but not named pixel_values
    (px: [3, 32, 32] floats): `--payload images` is given where px is the model."""
    root = tmp_path_factory.mktemp("locust-cases")
    knobs = ServingKnobs(max_batch_size=8)
    mlp = onnx_builders.mlp(root / "mlp.onnx")
    write_model(root / "repository", build_config("m", read_signature(mlp), knobs), mlp)
    image = onnx_builders.identity(root / "px.onnx", dims=("batch", 3, IMAGE_SIZE, IMAGE_SIZE))
    write_model(root / "repository", build_config("px", read_signature(image), knobs), image)
    with LocalServer(root / "repository") as running:
        yield running


def check_locust(case: Case, root: Path, http_url: str) -> None:
    """What the catalogue promises of a bad input, for the load test: the exit code, one `error:`
    line (its problems listed under it) after Locust's own start-up log lines, the fragments, no
    traceback, a bounded message, and nothing written or changed where it ran."""
    if case.setup is not None:
        case.setup(root)
    before = snapshot(root)
    argv = [part.replace("{http}", http_url).replace("{tmp}", str(root)) for part in case.argv[1:]]
    argv[argv.index("-f") + 1] = str(LOADTESTS / argv[argv.index("-f") + 1])
    command = [sys.executable, "-m", "locust", *argv]
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    result = finish(process, timeout=60)
    where = f"{case.id}: locust {' '.join(argv)}\nstdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-2000:]}"
    assert result.returncode == case.exit_code, where
    assert "Traceback" not in result.stderr + result.stdout, where
    own = [line for line in result.stderr.splitlines() if not line.startswith("[")]  # Locust's log lines do
    assert own and own[0].startswith("error: "), where
    assert sum(line.startswith("error: ") for line in own) == 1, where
    assert all(line.startswith("  ") for line in own[1:]), where  # the problems listed under it
    message = "\n".join(own)
    assert len(message) <= MAX_MESSAGE_CHARS and len(result.stdout) <= MAX_MESSAGE_CHARS, where
    for fragment in case.fragments:
        assert fragment in message, f"missing {fragment!r}\n{where}"
    assert snapshot(root) == before, f"{case.id}: wrote or changed files"


@pytest.mark.parametrize("case", params(LOCUST_CASES))
def test_the_load_test_refuses_payloads_it_cannot_build(
    case: Case, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    served = "{http}" in case.argv
    url = f"http://{request.getfixturevalue('locust_server').http_url}" if served else ""
    check_locust(case, tmp_path, url)
