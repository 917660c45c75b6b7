"""The NGC tritonserver container command for a model repository (GPU hosts, native backends).

The image tag matches the server in the nvidia-pytriton wheel (2.51 = NGC 24.10), so a
repository checked locally is served by the same Triton release in the container.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

NGC_IMAGE = "nvcr.io/nvidia/tritonserver:24.10-py3"
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
