"""The object-storage init container's script, run for real: rclone copies a model repository from
an S3 server (moto's, on loopback) into the directory Triton then serves. Substituted, as a pod's
surroundings would differ: the S3 endpoint and provider (a local S3-compatible server instead of
AWS), the credentials file's path (the Secret's mount) and the emptyDir's mount path."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from tests.k8s.test_manifests import deployment, generated
from tritonkit import onnx_builders
from tritonkit.k8s.overlay import OverlaySpec
from tritonkit.specs import ServingKnobs
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model
from tritonkit.triton.server import LocalServer, free_port

pytestmark = pytest.mark.integration

if shutil.which("rclone") is None or shutil.which("moto_server") is None:
    pytest.skip(
        "needs rclone (Debian's package; .ci/run installs it) and moto_server (dev extra)", allow_module_level=True
    )

boto3 = pytest.importorskip("boto3")
KEYS = {"AWS_ACCESS_KEY_ID": "tritonkit", "AWS_SECRET_ACCESS_KEY": "tritonkit-secret"}


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        server = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(endpoint, timeout=1)
                break
            except requests.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def upload(endpoint: str, bucket: str, prefix: str, repository: Path) -> None:
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="eu-west-1", **{k.lower(): v for k, v in KEYS.items()}
    )
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for path in repository.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(repository).as_posix()}")


def fetch_script(tmp_path: Path, url: str) -> tuple[str, dict[str, str]]:
    """The rendered init container's script and environment (the ConfigMap's values filled in)."""
    objects = generated(tmp_path / "overlay", OverlaySpec(models_from=url, models_region="eu-west-1"))
    (fetch,) = deployment(objects)["spec"]["template"]["spec"]["initContainers"]
    (source,) = [o for o in objects if o["kind"] == "ConfigMap"]
    env = {}
    for variable in fetch["env"]:
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            env[variable["name"]] = source["data"][variable["valueFrom"]["configMapKeyRef"]["key"]]
    return fetch["args"][0], env


def run_script(
    script: str, env: dict[str, str], endpoint: str, models: Path, home: Path
) -> subprocess.CompletedProcess[str]:
    # The Secret's key `credentials`, at the path the manifest gives rclone; no keys in the environment.
    credentials = home / "credentials"
    credentials.write_text("[default]\n" + "".join(f"{k.lower()} = {v}\n" for k, v in KEYS.items()))
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == "/etc/triton-model-source/credentials"
    local = {
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "RCLONE_S3_ENDPOINT": endpoint,
        # moto is an S3-compatible server, not AWS: rclone's AWS provider would insist on
        # virtual-host addressing (bucket.127.0.0.1, which does not resolve).
        "RCLONE_S3_PROVIDER": "Other",
        "RCLONE_S3_FORCE_PATH_STYLE": "true",
        "RCLONE_RETRIES": "1",  # fail fast in the failure test
        "RCLONE_LOW_LEVEL_RETRIES": "1",
        "HOME": str(home),
        "RCLONE_CONFIG": str(home / "rclone.conf"),
    }
    env = env | local
    return subprocess.run(
        ["sh", "-c", script.replace("/models", str(models))],
        env=env | {"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_init_container_fetches_a_repository_triton_serves(s3: str, tmp_path: Path) -> None:
    source = tmp_path / "source"
    onnx = onnx_builders.identity(tmp_path / "identity.onnx", dims=("batch", 4))
    write_model(
        source, model_config.build_config("identity", read_signature(onnx), ServingKnobs(max_batch_size=4)), onnx
    )
    upload(s3, "acme-models", "minilm/v1", source)

    script, env = fetch_script(tmp_path, "s3://acme-models/minilm/v1")
    assert env["MODEL_REPOSITORY_URL"] == "s3://acme-models/minilm/v1" and env["RCLONE_S3_REGION"] == "eu-west-1"
    models, home = tmp_path / "models", tmp_path / "home"
    models.mkdir()
    home.mkdir()
    result = run_script(script, env, s3, models, home)
    assert result.returncode == 0, result.stderr
    fetched = sorted(p.relative_to(models).as_posix() for p in models.rglob("*") if p.is_file())
    assert fetched == sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())

    with LocalServer(models) as server:
        server.verify("identity")
        (name,) = [i.name for i in server.served_config("identity").input]
        request = {"inputs": [{"name": name, "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
        response = requests.post(f"http://{server.http_url}/v2/models/identity/infer", json=request, timeout=10)
        assert response.status_code == 200, response.text
        np.testing.assert_array_equal(response.json()["outputs"][0]["data"], [1, 2, 3, 4])


def test_an_empty_prefix_fails_the_pod_instead_of_starting_triton_without_models(s3: str, tmp_path: Path) -> None:
    script, env = fetch_script(tmp_path, "s3://acme-models/nothing-here")
    models, home = tmp_path / "models", tmp_path / "home"
    models.mkdir()
    home.mkdir()
    result = run_script(script, env, s3, models, home)
    assert result.returncode != 0
    assert "s3://acme-models/nothing-here" in result.stderr
