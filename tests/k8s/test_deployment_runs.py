"""The Deployment's tritonserver command line, run for real on the local Triton: Triton accepts
every flag the manifests pass, loads only the chosen models, serves inference, and answers the
restricted admin APIs only to a caller holding the pod's UID. Only what a pod gets from its
surroundings is substituted: the repository path, free loopback ports, the local backend
directory, and $(POD_UID), which Kubernetes would expand.

The local Triton is 2.51 (the PyPI wheel's); the pinned image is a later release (see
tooling/tritonkit/triton/container.py). The flags 2.51 lacks are listed in NOT_IN_LOCAL_TRITON,
each proven unknown to the local binary, and only those are left out of the local run: what they
do (the HTTP input-size limit) is therefore not exercised here. Nor is the image itself: the pod's
UID, the image's file permissions and its native backends are not what runs locally."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from tests.k8s.test_manifests import argument, container, deployment, generated, render
from tritonkit import onnx_builders
from tritonkit.k8s.overlay import OverlaySpec
from tritonkit.specs import ServingKnobs
from tritonkit.triton import model_config
from tritonkit.triton.local_install import find_install, lay_out_backends, server_environment
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model
from tritonkit.triton.server import free_port

pytestmark = pytest.mark.integration

ADMIN = "tritonkit-admin"
# Flags of the Deployment that Triton 2.51 does not know; they arrived in 2.59 (NGC 25.06).
NOT_IN_LOCAL_TRITON = ("--http-max-input-size",)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deployment")
    onnx = onnx_builders.identity(root / "identity.onnx", dims=("batch", 4))
    for name in ("chosen", "other"):
        config = model_config.build_config(name, read_signature(onnx), ServingKnobs(max_batch_size=4))
        write_model(root / "repository", config, onnx)
    return root / "repository"


class Pod:
    def __init__(self, http: int, grpc: int, uid: str) -> None:
        self.http, self.grpc, self.uid = f"127.0.0.1:{http}", f"127.0.0.1:{grpc}", uid
        self.stopped_in_s = float("nan")  # SIGTERM to exit

    def get(self, path: str) -> requests.Response:
        return requests.get(f"http://{self.http}{path}", timeout=10)

    def post(self, path: str, *, admin: bool = False) -> requests.Response:
        headers = {ADMIN: self.uid} if admin else {}
        return requests.post(f"http://{self.http}{path}", json={}, headers=headers, timeout=10)


@contextmanager
def run_as_deployed(objects: list[dict[str, Any]], repository: Path, workdir: Path) -> Iterator[Pod]:
    """Triton with the Deployment's arguments and environment (as the user running the tests)."""
    install = find_install()
    deployed = container(objects)
    lay_out_backends(install, workdir / "backends")
    env = server_environment(install) | {e["name"]: e["value"] for e in deployed["env"] if "value" in e}
    ports = {"http": free_port(), "grpc": free_port(), "metrics": free_port()}
    uid = str(uuid.uuid4())
    substituted = {f"--{name}-port": str(port) for name, port in ports.items()} | {
        "--model-repository": str(repository)
    }
    command = [str(install.binary)]
    for arg in deployed["args"]:
        flag = arg.split("=", 1)[0]
        if flag in NOT_IN_LOCAL_TRITON:
            continue
        command.append(f"{flag}={substituted[flag]}" if flag in substituted else arg.replace("$(POD_UID)", uid))
    command += [
        f"--backend-directory={workdir / 'backends'}",
        f"--cache-directory={install.cache_dir}",
        *(f"--{name}-address=127.0.0.1" for name in ports),
    ]
    with (workdir / "tritonserver.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    pod = Pod(ports["http"], ports["grpc"], uid)
    try:
        deadline = time.monotonic() + 120
        while not ready(pod):
            assert process.poll() is None, (workdir / "tritonserver.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "not ready in 120 s"
            time.sleep(0.25)
        yield pod
    finally:
        process.terminate()  # SIGTERM, as the kubelet sends after preStop
        stopping = time.monotonic()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        pod.stopped_in_s = time.monotonic() - stopping


def ready(pod: Pod) -> bool:
    try:
        return pod.get("/v2/health/ready").status_code == 200
    except requests.ConnectionError:
        return False


def infer(pod: Pod, model: str) -> np.ndarray:
    with httpclient.InferenceServerClient(pod.http) as client:
        (name,) = [i["name"] for i in client.get_model_metadata(model)["inputs"]]
        data = np.arange(8, dtype=np.float32).reshape(2, 4)
        tensor = httpclient.InferInput(name, list(data.shape), "FP32")
        tensor.set_data_from_numpy(data)
        result = client.infer(model, [tensor])
        (output,) = [o["name"] for o in result.get_response()["outputs"]]
        return result.as_numpy(output)


def test_the_generated_overlay_serves_only_the_chosen_model_and_guards_admin_apis(
    repository: Path, tmp_path: Path
) -> None:
    objects = generated(tmp_path / "overlay", OverlaySpec(models=("chosen",)))
    assert argument(objects, "--model-control-mode") == "explicit"
    with run_as_deployed(objects, repository, tmp_path) as pod:
        assert pod.get("/v2/models/chosen/ready").status_code == 200
        assert pod.get("/v2/models/other/ready").status_code != 200
        np.testing.assert_array_equal(infer(pod, "chosen"), np.arange(8, dtype=np.float32).reshape(2, 4))

        # Without the pod's UID: no repository index, no loading, no logging changes.
        for path in ("/v2/repository/index", "/v2/repository/models/other/load", "/v2/logging"):
            refused = pod.post(path)
            assert refused.status_code == 403, (path, refused.status_code, refused.text)
            assert ADMIN in refused.text
        assert pod.get("/v2/models/other/ready").status_code != 200
        index = pod.post("/v2/repository/index", admin=True)
        assert index.status_code == 200 and {m["name"] for m in index.json()} == {"chosen", "other"}

        with grpcclient.InferenceServerClient(pod.grpc) as client:
            with pytest.raises(InferenceServerException, match=ADMIN):
                client.get_model_repository_index()
            # Triton (2.51 and 2.71) reads the gRPC key from metadata prefixed with triton-grpc-protocol-.
            admin = {f"triton-grpc-protocol-{ADMIN}": pod.uid}
            listed = client.get_model_repository_index(headers=admin, as_json=True)
            assert {m["name"] for m in listed["models"]} == {"chosen", "other"}
            assert client.is_model_ready("chosen")  # inference-side APIs stay open
    # Clients' idle keep-alive connections hold Triton's shutdown until --exit-timeout-secs: even
    # then it must exit before the kubelet's SIGKILL (grace period less the preStop sleep).
    grace = deployment(objects)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    pre_stop = int(container(objects)["lifecycle"]["preStop"]["exec"]["command"][1])
    assert pod.stopped_in_s < grace - pre_stop


def test_the_base_deployment_serves_the_whole_repository(repository: Path, tmp_path: Path) -> None:
    objects = render("cpu")
    assert argument(objects, "--model-control-mode") == "none"
    with run_as_deployed(objects, repository, tmp_path) as pod:
        for model in ("chosen", "other"):
            assert pod.get(f"/v2/models/{model}/ready").status_code == 200
        assert pod.post("/v2/repository/models/other/unload").status_code == 403


@pytest.mark.parametrize("flag", NOT_IN_LOCAL_TRITON)
def test_the_flags_left_out_locally_are_in_the_deployment_and_unknown_to_the_local_triton(
    flag: str, tmp_path: Path
) -> None:
    (arg,) = [a for a in container(render("cpu"))["args"] if a.split("=", 1)[0] == flag]
    install = find_install()
    result = subprocess.run(
        [str(install.binary), arg, f"--model-repository={tmp_path}"],
        capture_output=True,
        text=True,
        env=server_environment(install),
        timeout=60,
    )
    assert result.returncode != 0
    assert f"unrecognized option '{arg}'" in result.stderr
