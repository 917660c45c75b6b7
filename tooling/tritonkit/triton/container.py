"""The NGC tritonserver container command for a model repository (GPU hosts, native backends).

The image is a newer release than the local server: the nvidia-pytriton wheel ships Triton 2.51
(NGC 24.10), which aborts on a request declaring an enormous input shape. NGC 26.07 is Triton
2.71.0, which rejects element counts beyond int64 (since 2.58 / 25.05) and checks every HTTP input
against `--http-max-input-size` before allocating it (since 2.59 / 25.06). The same release, tag
and limit are pinned in k8s/base; a test keeps the two in step.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tritonkit.errors import InputError

NGC_IMAGE = "nvcr.io/nvidia/tritonserver:26.07-py3"
# NGC tags are YY.MM releases; --http-max-input-size arrived in 25.06 (Triton 2.59).
_NGC_TAG = re.compile(r"nvcr\.io/nvidia/tritonserver:(\d{2})\.(\d{2})(-.*)?")
_FIRST_WITH_INPUT_LIMIT = (25, 6)
# Triton's own default (64 MiB), passed explicitly so that an upgrade cannot silently change it.
HTTP_MAX_INPUT_SIZE = 64 * 1024 * 1024
_CONTAINER_REPOSITORY = "/models"


@dataclass(frozen=True)
class ContainerOptions:
    model_repository: Path
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    gpus: str | None = None  # e.g. "all" or "device=0"; None runs on CPU
    image: str = NGC_IMAGE
    shm_size: str = "1g"  # the Python backend and pinned buffers use /dev/shm


def check_image(image: str) -> None:
    """Refuse an NGC tritonserver release that lacks a flag the command passes (it would not start).
    Other images are the user's to vouch for."""
    found = _NGC_TAG.fullmatch(image)
    if found and (int(found[1]), int(found[2])) < _FIRST_WITH_INPUT_LIMIT:
        raise InputError(
            f"--image {image}: releases before 25.06 (Triton 2.59) lack --http-max-input-size, which this command "
            f"sets so that oversized inputs are refused; use {NGC_IMAGE} or later"
        )


def docker_command(options: ContainerOptions) -> list[str]:
    command = ["docker", "run", "--rm", "--init", f"--shm-size={options.shm_size}"]
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
