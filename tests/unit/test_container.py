from __future__ import annotations

from pathlib import Path

import pytest

from tritonkit.errors import InputError
from tritonkit.triton.container import (
    HTTP_MAX_INPUT_SIZE,
    NGC_IMAGE,
    ContainerOptions,
    check_image,
    docker_command,
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
