"""`tritonkit k8s`: bad choices are refused by name before anything is written, a directory that is
not a generated overlay is never replaced, and a generated overlay refuses to render once the
manifests it patches have changed under it."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import pytest

from tests.k8s.test_manifests import K8S, render_dir, tokenizer_repository
from tritonkit import onnx_builders
from tritonkit.cli import main
from tritonkit.errors import InputError
from tritonkit.k8s.overlay import DIGEST_SKIP, OverlaySpec, Resources, quantity, triton_image, write_overlay
from tritonkit.specs import ServingKnobs
from tritonkit.triton import model_config
from tritonkit.triton.container import NGC_IMAGE, TOKENIZERS_IMAGE
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model

DIGEST = "sha256:" + "ab" * 32


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
        (OverlaySpec(image="Registry/Triton:1"), "--image 'Registry/Triton:1': expected an image reference"),
        (OverlaySpec(image="registry.example.com/triton"), "--image registry.example.com/triton: expected a pinned"),
        (OverlaySpec(image="r.io/t:1", image_tag="26.07-py3"), "--image-tag with --image: r.io/t:1 names its own tag"),
        (OverlaySpec(image=f"r.io/t@{DIGEST}", image_digest=DIGEST), "--image-digest with --image r.io/t@sha256:"),
        (OverlaySpec(image="nvcr.io/nvidia/tritonserver:24.10-py3"), "releases before 25.06 (Triton 2.59)"),
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


def image(directory: Path) -> str:
    (deployment,) = [o for o in render_dir(directory) if o["kind"] == "Deployment"]
    (triton,) = deployment["spec"]["template"]["spec"]["containers"]
    return str(triton["image"])


def test_a_model_importing_tokenizers_gets_the_derived_image(tmp_path: Path) -> None:
    repository = tokenizer_repository(tmp_path)
    write_overlay(OverlaySpec(), K8S, tmp_path / "out", repository=repository)
    assert image(tmp_path / "out") == TOKENIZERS_IMAGE
    note = triton_image(OverlaySpec(), repository).note
    assert note is not None and "\n" not in note
    assert note.startswith("note: minilm_text_tokenizer imports tokenizers, which the NGC image lacks: the overlay")
    assert f"docker build -t {TOKENIZERS_IMAGE} docker/tritonserver" in note


def test_chosen_models_without_one_importing_tokenizers_keep_the_ngc_image(tmp_path: Path) -> None:
    repository = tokenizer_repository(tmp_path)
    onnx = onnx_builders.identity(tmp_path / "identity.onnx", dims=("batch", 4))
    write_model(repository, model_config.build_config("identity", read_signature(onnx), ServingKnobs()), onnx)
    write_overlay(OverlaySpec(models=("identity",)), K8S, tmp_path / "out", repository=repository)
    assert image(tmp_path / "out") == NGC_IMAGE
    assert triton_image(OverlaySpec(models=("identity",)), repository).note is None
    write_overlay(OverlaySpec(models=("minilm_text_tokenizer",)), K8S, tmp_path / "out", repository=repository)
    assert image(tmp_path / "out") == TOKENIZERS_IMAGE


def test_an_explicit_image_wins(tmp_path: Path) -> None:
    repository = tokenizer_repository(tmp_path)
    pushed = "registry.example.com/ml/tritonserver:26.07-py3-tokenizers"
    write_overlay(OverlaySpec(image=pushed), K8S, tmp_path / "out", repository=repository)
    assert image(tmp_path / "out") == pushed
    assert triton_image(OverlaySpec(image=pushed), repository).note is None
    # The stock image, by tag: what the user asked for, with a note that the tokenizer will not load there.
    write_overlay(OverlaySpec(image_tag="26.08-py3"), K8S, tmp_path / "out", repository=repository)
    assert image(tmp_path / "out") == "nvcr.io/nvidia/tritonserver:26.08-py3"
    note = triton_image(OverlaySpec(image_tag="26.08-py3"), repository).note
    assert note is not None and "which nvcr.io/nvidia/tritonserver:26.08-py3 lacks: it will not load" in note


def test_an_image_pinned_by_digest_needs_no_digest_skip(tmp_path: Path) -> None:
    write_overlay(OverlaySpec(image=f"registry.example.com/ml/triton@{DIGEST}"), K8S, tmp_path / "a", repository=None)
    assert image(tmp_path / "a") == f"registry.example.com/ml/triton@{DIGEST}"
    write_overlay(OverlaySpec(image="r.io/ml/triton:v1", image_digest=DIGEST), K8S, tmp_path / "b", repository=None)
    assert image(tmp_path / "b") == f"r.io/ml/triton:v1@{DIGEST}"
    for out in ("a", "b"):
        (deployment,) = [o for o in render_dir(tmp_path / out) if o["kind"] == "Deployment"]
        assert DIGEST_SKIP not in deployment["metadata"]["annotations"]


def test_the_command_notes_the_derived_image_on_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repository = tokenizer_repository(tmp_path)
    argv = ["k8s", str(tmp_path / "out"), "--manifests", str(K8S), "--model-repository", str(repository)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("note: minilm_text_tokenizer imports tokenizers")
    assert "deploy: kubectl apply -k" in captured.out
    assert image(tmp_path / "out") == TOKENIZERS_IMAGE
    assert main([*argv, "--image", "registry.example.com/ml/triton:v1"]) == 0
    assert capsys.readouterr().err == ""
    assert image(tmp_path / "out") == "registry.example.com/ml/triton:v1"
