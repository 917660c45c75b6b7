from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import tritonkit.triton
from tritonkit.cli import main
from tritonkit.errors import InputError
from tritonkit.triton.container import (
    HTTP_MAX_INPUT_SIZE,
    NGC_IMAGE,
    TOKENIZERS_IMAGE,
    ContainerOptions,
    ImageChoice,
    check_image,
    choose_image,
    docker_command,
    models_needing_tokenizers,
    parse_image,
    render,
)


def test_cpu_command_mounts_the_repository_read_only(tmp_path: Path) -> None:
    command = docker_command(ContainerOptions(model_repository=tmp_path, http_port=9000))
    assert command[:3] == ["docker", "run", "--rm"]
    assert not any(part.startswith("--gpus") for part in command)
    assert "9000:8000" in command and "8001:8001" in command and "8002:8002" in command
    assert f"{tmp_path.resolve()}:/models:ro" in command
    image = command.index(NGC_IMAGE)
    assert command[image + 1 :] == [
        "tritonserver",
        "--model-repository=/models",
        "--disable-auto-complete-config",
        "--exit-timeout-secs=10",
        "--http-max-input-size=67108864",
    ]
    assert HTTP_MAX_INPUT_SIZE == 64 * 2**20  # Triton's default since 2.59, set explicitly


def test_gpu_command_passes_gpus_before_the_image() -> None:
    command = docker_command(ContainerOptions(model_repository=Path("repo"), gpus="all"))
    assert command.index("--gpus=all") < command.index(NGC_IMAGE)


def test_render_quotes_paths_for_a_shell(tmp_path: Path) -> None:
    spaced = tmp_path / "my models"
    assert f"'{spaced.resolve()}:/models:ro'" in render(ContainerOptions(model_repository=spaced))


@pytest.mark.parametrize("image", [NGC_IMAGE, "nvcr.io/nvidia/tritonserver:25.06-py3", "tritonserver-custom:dev"])
def test_images_with_the_input_limit_flag_or_unknown_ones_are_accepted(image: str) -> None:
    check_image(image)


@pytest.mark.parametrize("image", ["nvcr.io/nvidia/tritonserver:24.10-py3", "nvcr.io/nvidia/tritonserver:25.05-py3"])
def test_ngc_releases_without_the_input_limit_flag_are_refused(image: str) -> None:
    with pytest.raises(InputError, match=f"--image {image}: releases before 25.06"):
        check_image(image)


# The derived image: docker/tritonserver, chosen where a Python model imports `tokenizers`.

PROJECT = Path(__file__).resolve().parents[2]
DOCKERFILE = PROJECT / "docker" / "tritonserver" / "Dockerfile"
TOKENIZER_MODEL = Path(tritonkit.triton.__file__).parent / "tokenizer" / "model.py"  # what <name>_text runs
GENERATOR_MODEL = Path(tritonkit.triton.__file__).parent / "generator" / "model.py"  # numpy only


def python_model(repository: Path, name: str, source: str | Path, *, config: str = "", version: str = "1") -> None:
    (repository / name / version).mkdir(parents=True)
    text = source.read_text() if isinstance(source, Path) else source
    filename = "model.py"
    if "default_model_filename" in config:
        filename = config.split('default_model_filename: "')[1].split('"')[0]
    (repository / name / version / filename).write_text(text)
    (repository / name / "config.pbtxt").write_text(f'name: "{name}"\nbackend: "python"\nmax_batch_size: 8\n{config}')


@pytest.fixture
def text_repository(tmp_path: Path) -> Path:
    """The layout `add-text-model` writes: m_text (ensemble) -> m_text_tokenizer (Python) -> m_fp32 (ONNX),
    beside a generator (Python, numpy only)."""
    repository = tmp_path / "repository"
    python_model(repository, "m_text_tokenizer", TOKENIZER_MODEL, config='default_model_filename: "model.py"\n')
    python_model(repository, "gpt_generator", GENERATOR_MODEL)
    (repository / "m_fp32" / "1").mkdir(parents=True)
    (repository / "m_fp32" / "config.pbtxt").write_text('name: "m_fp32"\nplatform: "onnxruntime_onnx"\n')
    (repository / "m_text").mkdir()
    (repository / "m_text" / "config.pbtxt").write_text(
        'name: "m_text"\nplatform: "ensemble"\nmax_batch_size: 8\nensemble_scheduling {\n'
        '  step { model_name: "m_text_tokenizer" model_version: -1 }\n'
        '  step { model_name: "m_fp32" model_version: -1 }\n}\n'
    )
    return repository


def test_the_tokenizer_model_needs_the_derived_image(text_repository: Path) -> None:
    assert models_needing_tokenizers(text_repository) == ["m_text_tokenizer"]
    # Chosen models: the tokenizer too, where it is an ensemble's step.
    assert models_needing_tokenizers(text_repository, ["m_text"]) == ["m_text_tokenizer"]
    assert models_needing_tokenizers(text_repository, ["m_fp32", "gpt_generator"]) == []
    assert models_needing_tokenizers(text_repository / "absent") == []


@pytest.mark.parametrize(
    ("source", "needs"),
    [
        ("import tokenizers\n", True),
        ("import numpy as np, tokenizers.models\n", True),
        ("from tokenizers.pre_tokenizers import Whitespace\n", True),
        ("def initialize(self):\n    from tokenizers import Tokenizer\n", True),  # imported when Triton loads it
        ("from . import tokenizers\nfrom .tokenizers import x\n", False),  # the model's own module
        ("import tokenizers_extra\n# import tokenizers\nname = 'import tokenizers'\n", False),
        ("from tokenizers import Tokenizer\nmatch x:\n  case [*_, ] if (y := 1) = 2\n", True),  # broken: its lines
        ("import numpy as np\n", False),
    ],
)
def test_imports_are_read_from_the_source(source: str, needs: bool, tmp_path: Path) -> None:
    python_model(tmp_path, "m", source)
    assert models_needing_tokenizers(tmp_path) == (["m"] if needs else [])


def test_models_that_bring_their_own_packages_or_are_not_python_are_left_out(tmp_path: Path) -> None:
    env = 'parameters { key: "EXECUTION_ENV_PATH" value { string_value: "$$TRITON_MODEL_DIRECTORY/env.tar.gz" } }\n'
    python_model(tmp_path, "packed", TOKENIZER_MODEL, config=env)
    python_model(tmp_path, "renamed", TOKENIZER_MODEL, config='default_model_filename: "tokenize.py"\n', version="3")
    python_model(tmp_path, "unversioned", TOKENIZER_MODEL, version="latest")  # Triton loads no such folder
    python_model(tmp_path, "broken", TOKENIZER_MODEL, config="max_batch_size: oops\n")  # validate's to report
    (tmp_path / "onnx" / "1").mkdir(parents=True)
    (tmp_path / "onnx" / "1" / "model.py").write_text("import tokenizers\n")
    (tmp_path / "onnx" / "config.pbtxt").write_text('name: "onnx"\nplatform: "onnxruntime_onnx"\n')
    assert models_needing_tokenizers(tmp_path) == ["renamed"]


def test_the_derived_image_is_chosen_where_a_model_needs_it_and_named_in_a_note() -> None:
    assert choose_image(None, []) == ImageChoice(NGC_IMAGE, None)
    chosen = choose_image(None, ["m_text_tokenizer"])
    assert chosen.image == TOKENIZERS_IMAGE
    assert chosen.note is not None and "\n" not in chosen.note
    assert chosen.note.startswith("note: m_text_tokenizer imports tokenizers, which the NGC image lacks")
    assert f"docker build -t {TOKENIZERS_IMAGE} docker/tritonserver" in chosen.note
    many = choose_image(None, ["a", "b", "c", "d", "e"]).note
    assert many is not None and many.startswith("note: a, b, c and 2 more import tokenizers")


def test_an_explicit_image_wins_with_a_note_where_it_lacks_tokenizers() -> None:
    assert choose_image("registry.example.com/triton:custom", ["m_text_tokenizer"]) == ImageChoice(
        "registry.example.com/triton:custom", None
    )
    assert choose_image(NGC_IMAGE, []) == ImageChoice(NGC_IMAGE, None)
    stock = choose_image(NGC_IMAGE, ["m_text_tokenizer"])
    assert stock.image == NGC_IMAGE
    assert stock.note is not None and f"which {NGC_IMAGE} lacks: it will not load" in stock.note


def test_the_derived_image_is_never_pulled(tmp_path: Path) -> None:
    derived = docker_command(ContainerOptions(model_repository=tmp_path, image=TOKENIZERS_IMAGE, gpus="all"))
    assert derived.index("--pull=never") < derived.index(TOKENIZERS_IMAGE)
    assert derived[derived.index(TOKENIZERS_IMAGE) + 1] == "tritonserver"
    assert "--pull=never" not in docker_command(ContainerOptions(model_repository=tmp_path))  # NGC's: pulled
    ngc_tag = NGC_IMAGE.split(":")[1]
    assert f"localhost/tritonkit/tritonserver:{ngc_tag}-tokenizers" == TOKENIZERS_IMAGE


def test_serve_prints_the_derived_image_command_and_the_note(
    text_repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--container", "--print-only", "--model-repository", str(text_repository)]) == 0
    out, err = capsys.readouterr()
    assert out == render(ContainerOptions(model_repository=text_repository, image=TOKENIZERS_IMAGE)) + "\n"
    assert err.count("\n") == 1 and err.startswith("note: m_text_tokenizer imports tokenizers")
    argv = ["serve", "--container", "--print-only", "--model-repository", str(text_repository), "--image", NGC_IMAGE]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert f" {NGC_IMAGE} tritonserver " in out and "it will not load" in err
    assert main(["serve", "--container", "--print-only", "--model-repository", str(text_repository.parent)]) == 0
    out, err = capsys.readouterr()
    assert f" {NGC_IMAGE} tritonserver " in out and err == ""  # no model of its own: the NGC image


@pytest.mark.parametrize(
    "image",
    [
        NGC_IMAGE,
        TOKENIZERS_IMAGE,
        "localhost:5000/tritonkit/tritonserver:26.07-py3-tokenizers",
        "registry.example.com/ml/triton@sha256:" + "0" * 64,
        "tritonserver",
    ],
)
def test_image_references_are_parsed(image: str) -> None:
    reference = parse_image(image)
    assert image.startswith(reference.name)


@pytest.mark.parametrize(
    "image", ["", "Tritonkit/Server:1", "triton server", "triton:", "triton:tag@sha256:abc", "-x", "a" * 600]
)
def test_what_is_no_image_reference_is_refused(image: str) -> None:
    with pytest.raises(InputError, match="expected an image reference NAME"):
        check_image(image)


def test_a_derived_image_of_an_old_release_is_refused() -> None:
    with pytest.raises(InputError, match=r"releases before 25\.06"):
        check_image("registry.example.com/tritonkit/tritonserver:24.10-py3-tokenizers")


def test_the_dockerfile_builds_the_pinned_release_with_the_tokenizers_we_run() -> None:
    text = DOCKERFILE.read_text()
    logical = text.replace("\\\n", " ")  # continuation lines joined
    instructions = [line for line in logical.splitlines() if line.strip() and not line.startswith("#")]
    assert instructions[:2] == [f"ARG BASE_IMAGE={NGC_IMAGE}", "FROM ${BASE_IMAGE}"]
    (run,) = [line for line in instructions if line.startswith("RUN ")]
    assert len(instructions) == 3, instructions  # nothing else: no other package, no USER, no ENTRYPOINT
    installed = run.split("pip install ", 1)[1].split(" &&")[0].split()
    assert installed == ["--no-cache-dir", "--no-deps", f"tokenizers=={metadata.version('tokenizers')}"]
    assert f"#   docker build -t {TOKENIZERS_IMAGE} docker/tritonserver\n" in text


def test_the_pinned_tokenizers_loads_a_tokenizer_without_its_dependencies(tmp_path: Path) -> None:
    """The image installs tokenizers alone (--no-deps): Tokenizer.from_file must not need huggingface_hub."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    tokenizer = Tokenizer(WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    probe = (
        "import sys\nsys.modules['huggingface_hub'] = None  # importing it would fail\n"
        "from tokenizers import Tokenizer\n"
        f"print(Tokenizer.from_file({str(tmp_path / 'tokenizer.json')!r}).encode_batch(['hello world'])[0].ids)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[1, 2]"
