"""`tritonkit k8s`: bad choices are refused by name before anything is written, a directory that is
not a generated overlay is never replaced, and a generated overlay refuses to render once the
manifests it patches have changed under it."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import pytest

from tests.k8s.test_manifests import K8S, render_dir
from tritonkit import onnx_builders
from tritonkit.cli import main
from tritonkit.errors import InputError
from tritonkit.k8s.overlay import OverlaySpec, Resources, quantity, write_overlay
from tritonkit.specs import ServingKnobs
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (OverlaySpec(namespace="ML_team"), "--namespace 'ML_team': expected a DNS label"),
        (OverlaySpec(image_tag="26.07 py3"), "--image-tag '26.07 py3'"),
        (
            OverlaySpec(resources=Resources(memory_limit="8 GB")),
            "--memory-limit '8 GB': expected a Kubernetes quantity",
        ),
        (OverlaySpec(min_replicas=0), "--min-replicas 0: expected 1 to 100"),
        (OverlaySpec(min_replicas=12), "--min-replicas 12: above the maximum 10"),
        (OverlaySpec(max_replicas=1), "--max-replicas 1: below the minimum 2 (the HPA's minReplicas)"),
        (OverlaySpec(scale_to_zero=True, min_replicas=1), "--min-replicas with --scale-to-zero"),
        (OverlaySpec(capacity_per_replica=40), "--capacity sets the scale-to-zero arrivals trigger"),
        (OverlaySpec(scale_to_zero=True, capacity_per_replica=0), "--capacity 0: expected a finite number"),
        (OverlaySpec(models_from="https://bucket/models"), "--models-from 'https://bucket/models'"),
        (OverlaySpec(models_from="gs://bucket/m", models_region="eu"), "--models-region is the S3 bucket's region"),
    ],
)
def test_bad_choices_are_refused_by_name(spec: OverlaySpec, message: str, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=None) as raised:
        write_overlay(spec, K8S, tmp_path / "out", repository=None)
    assert message in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_chosen_models_must_be_in_the_repository(tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    onnx = onnx_builders.identity(tmp_path / "identity.onnx", dims=("batch", 4))
    write_model(repository, model_config.build_config("identity", read_signature(onnx), ServingKnobs()), onnx)
    with pytest.raises(InputError, match=r"model 'minilm' is not in .*; it has: identity"):
        write_overlay(OverlaySpec(models=("minilm",)), K8S, tmp_path / "out", repository=repository)
    write_overlay(OverlaySpec(models=("identity",)), K8S, tmp_path / "out", repository=repository)
    assert (tmp_path / "out" / "kustomization.yaml").is_file()


def test_only_a_generated_overlay_is_replaced(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "kustomization.yaml").write_text("resources: [app.yaml]\n")
    with pytest.raises(InputError, match="was not written by tritonkit k8s"):
        write_overlay(OverlaySpec(), K8S, theirs, repository=None)
    assert (theirs / "kustomization.yaml").read_text() == "resources: [app.yaml]\n"

    ours = tmp_path / "ours"
    write_overlay(OverlaySpec(max_replicas=4), K8S, ours, repository=None)
    write_overlay(OverlaySpec(max_replicas=6), K8S, ours, repository=None)
    (hpa,) = [o for o in render_dir(ours) if o["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["maxReplicas"] == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours", "theirs"]  # no staging left behind


def test_an_overlay_refuses_to_render_over_changed_manifests(tmp_path: Path) -> None:
    manifests = tmp_path / "k8s"
    shutil.copytree(K8S, manifests)
    out = tmp_path / "deploy"
    write_overlay(OverlaySpec(namespace="ml", scale_to_zero=True), manifests, out, repository=None)
    scaled = manifests / "components" / "scale-to-zero" / "scaledobject.yaml"
    scaled.write_text(scaled.read_text().replace("pod_rate1m{", "pod_rate5m{"))
    with pytest.raises(AssertionError, match="testing value"):
        render_dir(out)


def test_the_command_reports_bad_input_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["k8s", str(tmp_path / "out"), "--manifests", str(K8S), "--max-replicas", "1"])
    assert code == 2
    assert capsys.readouterr().err == "error: --max-replicas 1: below the minimum 2 (the HPA's minReplicas)\n"
    code = main(["k8s", str(tmp_path / "out"), "--manifests", str(K8S), "--max-replicas", "3"])
    assert code == 0
    assert "deploy: kubectl apply -k" in capsys.readouterr().out


def test_an_image_tag_replaces_the_pinned_one(tmp_path: Path) -> None:
    write_overlay(OverlaySpec(image_tag="26.08-py3"), K8S, tmp_path / "out", repository=None)
    (deployment,) = [o for o in render_dir(tmp_path / "out") if o["kind"] == "Deployment"]
    (triton,) = deployment["spec"]["template"]["spec"]["containers"]
    assert triton["image"] == "nvcr.io/nvidia/tritonserver:26.08-py3"


@pytest.mark.parametrize(
    ("value", "bytes_or_cores"),
    [("500m", Fraction(1, 2)), ("1", 1), ("1.5", Fraction(3, 2)), ("4Gi", 4 * 2**30), ("512Mi", 2**29), ("2k", 2000)],
)
def test_quantities_are_compared_by_value(value: str, bytes_or_cores: Fraction) -> None:
    assert quantity(value) == bytes_or_cores


def test_requests_equal_to_limits_in_other_units_are_accepted(tmp_path: Path) -> None:
    chosen = Resources(cpu_request="1000m", memory_request="8192Mi", cpu_limit="1", memory_limit="8Gi")
    write_overlay(
        OverlaySpec(resources=chosen, min_replicas=1, max_replicas=100), K8S, tmp_path / "out", repository=None
    )
    (deployment,) = [o for o in render_dir(tmp_path / "out") if o["kind"] == "Deployment"]
    (triton,) = deployment["spec"]["template"]["spec"]["containers"]
    assert triton["resources"] == {
        "requests": {"cpu": "1000m", "memory": "8192Mi"},
        "limits": {"cpu": "1", "memory": "8Gi"},
    }
