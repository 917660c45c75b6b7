from __future__ import annotations

from pathlib import Path

from tritonkit.triton.container import NGC_IMAGE, ContainerOptions, docker_command, render


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
    ]


def test_gpu_command_passes_gpus_before_the_image() -> None:
    command = docker_command(ContainerOptions(model_repository=Path("repo"), gpus="all"))
    assert command.index("--gpus=all") < command.index(NGC_IMAGE)


def test_render_quotes_paths_for_a_shell(tmp_path: Path) -> None:
    spaced = tmp_path / "my models"
    assert f"'{spaced.resolve()}:/models:ro'" in render(ContainerOptions(model_repository=spaced))
