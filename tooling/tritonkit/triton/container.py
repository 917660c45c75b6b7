"""The NGC tritonserver container command for a model repository (GPU hosts, native backends), and
the choice of image: the NGC one, or tritonkit's derived image where a model needs it.

The image is a newer release than the local server: the nvidia-pytriton wheel ships Triton 2.51
(NGC 24.10), which aborts on a request declaring an enormous input shape. NGC 26.07 is Triton
2.71.0, which rejects element counts beyond int64 (since 2.58 / 25.05) and checks every HTTP input
against `--http-max-input-size` before allocating it (since 2.59 / 25.06). The same release, tag
and limit are pinned in k8s/base; a test keeps the two in step.

The derived image (docker/tritonserver/Dockerfile) is that release plus the `tokenizers` library,
which the `<name>_tokenizer` Python model of a `<name>_text` ensemble imports and the NGC image's
Python lacks. A repository needs it when one of its Python-backend models imports `tokenizers`:
found by reading each such model's source with `ast` (any import, at the top or inside a function),
because the import is what fails in the stock image, whoever wrote the model. A model whose
config sets EXECUTION_ENV_PATH brings its own Python packages and needs nothing from the image.
"""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tritonkit.errors import InputError
from tritonkit.inputs import excerpt

if TYPE_CHECKING:
    from tritonclient.grpc.model_config_pb2 import ModelConfig

NGC_IMAGE = "nvcr.io/nvidia/tritonserver:26.07-py3"
# The NGC image plus `tokenizers`: built here from docker/tritonserver, never pulled. `localhost/`
# names no public registry, so a host or cluster without the built image fails to pull it instead
# of fetching whatever someone published as docker.io/tritonkit/tritonserver.
TOKENIZERS_IMAGE = f"localhost/tritonkit/tritonserver:{NGC_IMAGE.rpartition(':')[2]}-tokenizers"
TOKENIZERS_BUILD = f"docker build -t {TOKENIZERS_IMAGE} docker/tritonserver"
TOKENIZERS_MODULE = "tokenizers"
# NGC tags are YY.MM releases; --http-max-input-size arrived in 25.06 (Triton 2.59). The derived
# image's tag starts with its NGC release's, wherever it was pushed.
_NGC_TAG = re.compile(r"(?:nvcr\.io/nvidia/tritonserver|(?:[^@]+/)?tritonkit/tritonserver):(\d{2})\.(\d{2})(-.*)?")
_FIRST_WITH_INPUT_LIMIT = (25, 6)
_STOCK_NAME = NGC_IMAGE.rpartition(":")[0]
# Triton's own default (64 MiB), passed explicitly so that an upgrade cannot silently change it.
HTTP_MAX_INPUT_SIZE = 64 * 1024 * 1024
_CONTAINER_REPOSITORY = "/models"

# An image reference as docker and Kubernetes read it: [REGISTRY[:PORT]/]PATH[:TAG][@sha256:DIGEST],
# the path lowercase (distribution's reference grammar, digests limited to sha256).
_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
# A registry as docker tells one from a path: localhost, a dotted host, or a host with a port.
_REGISTRY = rf"(?:(?:localhost|{_LABEL}(?:\.{_LABEL})+|\[[0-9a-fA-F:]+\])(?::[0-9]+)?|{_LABEL}:[0-9]+)"
IMAGE_REFERENCE = re.compile(
    rf"(?P<name>(?:{_REGISTRY}/)?{_PART}(?:/{_PART})*)"
    r"(?::(?P<tag>\w[\w.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)
_MAX_REFERENCE_CHARS = 512  # a name is at most 255; checked before the pattern runs
_EXAMPLE = "NAME[:TAG][@sha256:DIGEST], lowercase, e.g. nvcr.io/nvidia/tritonserver:26.07-py3"
_MAX_SOURCE_BYTES = 1 << 20  # a model.py; beyond this only its import lines are looked for
_MAX_CONFIG_BYTES = 1 << 20
_IMPORT_LINE = re.compile(rf"^\s*(?:import|from)\s+{TOKENIZERS_MODULE}\b", re.MULTILINE)
_LISTED_MODELS = 3


@dataclass(frozen=True)
class ContainerOptions:
    model_repository: Path
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    gpus: str | None = None  # e.g. "all" or "device=0"; None runs on CPU
    image: str = NGC_IMAGE
    shm_size: str = "1g"  # the Python backend and pinned buffers use /dev/shm


@dataclass(frozen=True)
class ImageReference:
    name: str
    tag: str | None
    digest: str | None


@dataclass(frozen=True)
class ImageChoice:
    image: str
    note: str | None  # one line for stderr: why this image, or what will fail with it


def parse_image(image: str) -> ImageReference:
    """--image `image` split into name, tag and digest, or InputError where it is no reference."""
    found = IMAGE_REFERENCE.fullmatch(image) if len(image) <= _MAX_REFERENCE_CHARS else None
    if found is None or len(found["name"]) > 255:
        raise InputError(f"--image {excerpt(image)}: expected an image reference {_EXAMPLE}")
    return ImageReference(found["name"], found["tag"], found["digest"])


def check_image(image: str) -> None:
    """Refuse what is no image reference, and an NGC tritonserver release (or one derived from it)
    that lacks a flag the command passes (it would not start). Other images are the user's to vouch for."""
    parse_image(image)
    found = _NGC_TAG.fullmatch(image)
    if found and (int(found[1]), int(found[2])) < _FIRST_WITH_INPUT_LIMIT:
        raise InputError(
            f"--image {image}: releases before 25.06 (Triton 2.59) lack --http-max-input-size, which this command "
            f"sets so that oversized inputs are refused; use {NGC_IMAGE} or later"
        )


def is_stock(image: str) -> bool:
    """An NGC tritonserver image: one without `tokenizers`."""
    return parse_image(image).name == _STOCK_NAME


def models_needing_tokenizers(repository: Path, models: Iterable[str] | None = None) -> list[str]:
    """The Python-backend models of `repository` that import `tokenizers`, sorted: among all of
    them, or among `models` and the models their ensembles run (Triton loads those with them)."""
    if not repository.is_dir():
        return []
    configs = {p.parent.name: _config(p) for p in repository.glob("*/config.pbtxt")}
    served = set(configs) if models is None else _with_steps(set(models), configs)
    return sorted(name for name in served if _imports_tokenizers(repository / name, configs.get(name)))


def choose_image(explicit: str | None, needing: Sequence[str]) -> ImageChoice:
    """The image to run: `explicit` if given (with a note where it is a stock image that the
    `needing` models cannot load in), else the derived image where models need it, else NGC's."""
    if explicit is not None:
        if needing and is_stock(explicit):
            return ImageChoice(explicit, f"note: {named(needing)} {TOKENIZERS_MODULE}, which {explicit} lacks: it will "
                               f"not load; {TOKENIZERS_IMAGE} has it (build it: {TOKENIZERS_BUILD})")  # fmt: skip
        return ImageChoice(explicit, None)
    if needing:
        return ImageChoice(TOKENIZERS_IMAGE, f"note: {named(needing)} {TOKENIZERS_MODULE}, which the NGC image "
                           f"lacks: running {TOKENIZERS_IMAGE} (build it once: {TOKENIZERS_BUILD})")  # fmt: skip
    return ImageChoice(NGC_IMAGE, None)


def named(models: Sequence[str]) -> str:
    """`a imports` or `a, b, c and 3 more import`: the subject of a note."""
    shown = ", ".join(models[:_LISTED_MODELS])
    more = f" and {len(models) - _LISTED_MODELS} more" if len(models) > _LISTED_MODELS else ""
    return f"{shown}{more} {'imports' if len(models) == 1 else 'import'}"


def _config(path: Path) -> ModelConfig | None:
    """The model's config, or None where Triton could not read it either (validate says why)."""
    from tritonkit.triton.model_config import parse  # protobuf: only when a repository is read

    try:
        if path.stat().st_size > _MAX_CONFIG_BYTES:
            return None
        return parse(path.read_text(encoding="utf-8"), path)
    except (OSError, UnicodeDecodeError, InputError):
        return None


def _with_steps(models: set[str], configs: dict[str, ModelConfig | None]) -> set[str]:
    found, pending = set(), list(models)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        config = configs.get(name)
        if config is not None:
            pending += [step.model_name for step in config.ensemble_scheduling.step]
    return found


def _imports_tokenizers(directory: Path, config: ModelConfig | None) -> bool:
    if config is None or config.backend != "python" or "EXECUTION_ENV_PATH" in config.parameters:
        return False
    filename = config.default_model_filename or "model.py"
    try:
        versions = [p for p in directory.iterdir() if p.name.isdigit() and p.is_dir()]
    except OSError:
        return False
    return any(_source_imports(version / filename) for version in versions)


def _source_imports(path: Path) -> bool:
    """Whether the Python file `path` imports `tokenizers` (or a submodule of it) anywhere."""
    try:
        with path.open("rb") as file:
            data = file.read(_MAX_SOURCE_BYTES + 1)
    except OSError:  # no such file, a directory: no model there to load
        return False
    text = data.decode("utf-8", errors="replace")
    try:
        tree = ast.parse(text) if len(data) <= _MAX_SOURCE_BYTES else None
    except (SyntaxError, ValueError):  # newer syntax than ours, or a broken file: its import lines
        tree = None
    if tree is None:
        return _IMPORT_LINE.search(text) is not None
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(_is_module(alias.name) for alias in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.level == 0 and _is_module(node.module or ""):
            return True
    return False


def _is_module(name: str) -> bool:
    return name.partition(".")[0] == TOKENIZERS_MODULE


def docker_command(options: ContainerOptions) -> list[str]:
    command = ["docker", "run", "--rm", "--init", f"--shm-size={options.shm_size}"]
    if options.image.startswith("localhost/"):
        command.append("--pull=never")  # built here: a missing image says so instead of trying a registry
    if options.gpus:
        command.append(f"--gpus={options.gpus}")
    command += [
        "-p", f"{options.http_port}:8000",
        "-p", f"{options.grpc_port}:8001",
        "-p", f"{options.metrics_port}:8002",
        "-v", f"{options.model_repository.resolve()}:{_CONTAINER_REPOSITORY}:ro",
        options.image,
        "tritonserver",
        f"--model-repository={_CONTAINER_REPOSITORY}",
        # Same guarantees as the local server: the config that runs is the one we wrote.
        "--disable-auto-complete-config",
        "--exit-timeout-secs=10",
        # An HTTP input larger than this is refused before Triton allocates it (gRPC has no
        # such flag: its messages are capped at 2 GiB by Triton's fixed gRPC message size).
        f"--http-max-input-size={HTTP_MAX_INPUT_SIZE}",
    ]  # fmt: skip
    return command


def render(options: ContainerOptions) -> str:
    return shlex.join(docker_command(options))


def docker_engine_available() -> bool:
    """`docker` on PATH is often only a client; ask the engine itself."""
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    return probe.returncode == 0
