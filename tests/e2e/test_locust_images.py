"""Locust against a real image classifier on a real server: a tiny random ViT exported by tritonkit
(pixel_values in, logits out, its image processor in model_repository/<model>/preprocessor/),
driven by `locust -f loadtests/locustfile.py` with nothing image-specific on the command line. The
photographs (scikit-image's, or a folder) go through the model's own processor, batched as asked;
exact latencies are recorded and judged like the text users', `tritonkit check --locust` agreeing;
and a payload a worker or the web UI cannot build ends or stops the run with its `error:` line."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from subprocess import PIPE

import pytest
import yaml
from PIL import Image

from tests.e2e.test_cli import REPO, run
from tests.e2e.test_locust import _wait_for, finish, stop_group
from tests.export.tiny_vision import IMAGE_SIZE, vit_classifier
from tritonkit.export.pipeline import export
from tritonkit.export.recipe import load_recipe
from tritonkit.images import read_rgb, sample_photographs
from tritonkit.triton import model_config
from tritonkit.triton.server import LocalServer, free_port

pytestmark = pytest.mark.integration

LOCUST = [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / "locustfile.py")]
MODEL, VARIANT = "vit", "fp32"
SERVED = f"{MODEL}_{VARIANT}"
TIMING = {"warmup_s": 0.5, "window_s": 1.0, "duration_s": 3.0, "stable_windows": 2}


def exported_vit(root: Path) -> Path:
    """The tiny ViT exported (fp32) into <root>/model_repository, as `tritonkit export` writes it:
    the model as vit_fp32 and its image processor in vit_fp32/preprocessor/."""
    source = vit_classifier(root / "vit")
    recipe = root / "vit.yaml"
    recipe.write_text(f"name: {MODEL}\nsource: {{path: {source}}}\ntask: image-classification\nvariants: [{VARIANT}]\n")
    (outcome,) = export(load_recipe(recipe), root / "model_repository", progress=lambda _: None)
    assert outcome.record.passed
    config = model_config.read_config(root / "model_repository" / SERVED / "config.pbtxt")
    assert [(i.name, list(i.dims)) for i in config.input] == [("pixel_values", [3, IMAGE_SIZE, IMAGE_SIZE])]
    return root / "model_repository"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, Path]]:
    """The exported ViT, served; Locust runs in <root>, where the locustfile's default processor
    (model_repository/<model>/preprocessor) is the exporter's."""
    root = tmp_path_factory.mktemp("locust-images")
    with LocalServer(exported_vit(root)) as running:
        yield running, root


def server_options(server: LocalServer) -> list[str]:
    urls = ["--host", f"http://{server.http_url}", "--grpc-url", server.grpc_url]
    return [*urls, "--model", MODEL, "--variant", VARIANT]


def targets_file(path: Path, p99_ms: float, batch_size: int = 1) -> Path:
    target = {
        "name": "vit-locust",
        "model": SERVED,
        "load": {**TIMING, "mode": "closed", "concurrency": 2},
        "payload": {"kind": "images", "batch_size": batch_size},
        "slo": {"p99_ms": p99_ms, "max_error_rate": 0.0},
    }
    path.write_text(yaml.safe_dump({"targets": [target]}))
    return path


def inferences(server: LocalServer) -> tuple[int, int]:
    """The served model's (successful requests, inferences) so far, as Triton counts them."""
    (stats,) = server.client.get_inference_statistics(SERVED).model_stats
    return stats.inference_stats.success.count, stats.inference_count


def locust(root: Path, *arguments: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen([*LOCUST, *arguments], cwd=root, stdout=PIPE, stderr=PIPE, text=True)
    return finish(process, timeout)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_photographs_are_sent_recorded_and_judged(
    served: tuple[LocalServer, Path], tmp_path: Path, protocol: str
) -> None:
    server, root = served
    records = tmp_path / "run.csv"
    passing = targets_file(tmp_path / "ok.yaml", p99_ms=5000)
    before = inferences(server)
    result = locust(
        root, "--headless", "-u", "2", "-r", "2", "-t", "4s", *server_options(server), "--protocol", protocol,
        "--targets", str(passing), "--target", "vit-locust", "--latencies-csv", str(records),
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "1 of 1 targets met their SLO" in output and "error:" not in output
    rows = list(csv.DictReader(records.open()))
    assert len(rows) > 10 and all(row["error"] == "" for row in rows)
    assert any(float(row["latency_ms"]) % 1 for row in rows)  # exact latencies, not Locust's whole ms
    # Every recorded request reached the classifier as one image (a user stopped mid-request may
    # have sent one more, unrecorded).
    requests, images = (after - then for after, then in zip(inferences(server), before, strict=True))
    assert requests == images and len(rows) <= requests <= len(rows) + 2

    report = tmp_path / "report"
    checked = run("check", passing, "--locust", records, "--report-dir", report)
    assert checked.returncode == 0 and "1 of 1 targets met their SLO" in checked.stdout, checked.stdout
    impossible = targets_file(tmp_path / "impossible.yaml", p99_ms=0.001)
    failed = run("check", impossible, "--locust", records, "--report-dir", report)
    assert failed.returncode == 1 and "✗ p99" in failed.stdout, failed.stdout


def test_a_folder_of_photographs_in_batches_and_a_missed_slo(served: tuple[LocalServer, Path], tmp_path: Path) -> None:
    """--images and --batch-size: each request carries four of the folder's photographs (views of
    them, through the processor), and an impossible SLO makes Locust exit 1."""
    server, root = served
    photos = tmp_path / "photos"
    photos.mkdir()
    for index, source in enumerate(sample_photographs()[:2]):
        Image.fromarray(read_rgb(source)).save(photos / f"{index}.jpg")
    records = tmp_path / "run.csv"
    impossible = targets_file(tmp_path / "impossible.yaml", p99_ms=0.001, batch_size=4)
    before = inferences(server)
    result = locust(
        root, "--headless", "-u", "2", "-r", "2", "-t", "3s", *server_options(server), "--protocol", "grpc",
        "--payload", "images", "--images", str(photos), "--batch-size", "4",
        "--targets", str(impossible), "--target", "vit-locust", "--latencies-csv", str(records),
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "✗ p99" in output and "0 of 1 targets met their SLO" in output
    rows = list(csv.DictReader(records.open()))
    requests, images = (after - then for after, then in zip(inferences(server), before, strict=True))
    assert rows and all(row["error"] == "" for row in rows)
    assert images == 4 * requests and len(rows) <= requests <= len(rows) + 2


def test_a_workers_refusal_ends_the_masters_run(served: tuple[LocalServer, Path], tmp_path: Path) -> None:
    """Workers build the payloads from the master's options: one that cannot tells the master, which
    prints the `error:` line and exits 2 (in the cluster, the Job fails saying why)."""
    server, root = served
    port = free_port()
    master = subprocess.Popen(
        [*LOCUST, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
         "--expect-workers", "1", "--expect-workers-max-wait", "60", "--headless", "-u", "2", "-r", "2", "-t", "30s",
         *server_options(server), "--images", "absent", "--latencies-csv", str(tmp_path / "run.csv")],
        cwd=root, stdout=PIPE, stderr=PIPE, text=True,
    )  # fmt: skip
    worker = subprocess.Popen(
        [*LOCUST, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port), "--host", "http://unused"],
        cwd=root, stdout=PIPE, stderr=PIPE, text=True,
    )  # fmt: skip
    try:
        result = finish(master, timeout=60)
        worker_result = finish(worker, timeout=30)
    finally:
        for process in (master, worker):
            if process.poll() is None:
                process.kill()
                process.wait()
    message = f"the images payload for model '{SERVED}': absent: not found (expected a folder of images)"
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"\nerror: {message}\n" in f"\n{result.stderr}", result.stderr[-3000:]
    assert "Traceback" not in result.stderr + worker_result.stderr, worker_result.stderr[-3000:]
    assert f"error: {message}" in worker_result.stderr  # the worker's own log says it too
    assert not (tmp_path / "run.csv").exists()  # a refused run is not recorded as a run


def test_the_web_ui_stops_a_run_it_cannot_build_and_starts_a_corrected_one(
    served: tuple[LocalServer, Path], tmp_path: Path
) -> None:
    """A bad form value stops the run and shows the `error:` line in the UI's log; the same UI then
    runs once the value is corrected."""
    server, root = served
    port = free_port()
    ui = subprocess.Popen(
        [*LOCUST, "--web-host", "127.0.0.1", "--web-port", str(port), *server_options(server)],
        cwd=root, stdout=subprocess.DEVNULL, stderr=PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/", timeout_s=60)
        _swarm(base, server, images="absent")
        assert _state_within(base, "stopped", timeout_s=30)
        logs = json.loads(urllib.request.urlopen(f"{base}/logs", timeout=10).read())["master"]
        assert any("error: the images payload for model 'vit_fp32': absent: not found" in line for line in logs), logs

        _swarm(base, server, images="")  # scikit-image's photographs
        deadline, requests = time.monotonic() + 30, 0
        while time.monotonic() < deadline and requests <= 10:
            stats = json.loads(urllib.request.urlopen(f"{base}/stats/requests", timeout=10).read())
            requests = sum(int(s["num_requests"]) for s in stats["stats"] if s["name"] == SERVED)
            time.sleep(0.5)
        assert requests > 10 and not any(s["num_failures"] for s in stats["stats"]), stats
        urllib.request.urlopen(f"{base}/stop", data=b"", timeout=10).close()
    finally:
        stop_group(ui)


def _swarm(base: str, server: LocalServer, images: str) -> None:
    """Start a run from the UI's form (the tritonkit options are its fields)."""
    fields = {"user_count": 2, "spawn_rate": 2, "host": f"http://{server.http_url}", "images": images}
    with urllib.request.urlopen(f"{base}/swarm", data=urllib.parse.urlencode(fields).encode(), timeout=30) as response:
        assert json.loads(response.read())["success"]


def _state_within(base: str, state: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stats = json.loads(urllib.request.urlopen(f"{base}/stats/requests", timeout=10).read())
        if stats["state"] == state:
            return True
        time.sleep(0.3)
    return False


@pytest.fixture(scope="module")
def served_clip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, Path]]:
    """A tiny random CLIP exported (fp32): clip_fp32 scores photographs against its labels through
    its two towers, its image processor in clip_fp32/preprocessor/."""
    from tests.export.conftest import ALL_TEXTS, TEXTS
    from tests.export.tiny_clip import LABELS, clip_model

    root = tmp_path_factory.mktemp("locust-clip")
    fields = {"name": "clip", "source": {"path": str(clip_model(root / "clip", ALL_TEXTS))},
              "task": "zero-shot-image-classification", "max_sequence_length": 32, "labels": list(LABELS),
              "evaluation_texts": str(TEXTS / "evaluation.txt"), "variants": ["fp32"]}  # fmt: skip
    (root / "clip.yaml").write_text(yaml.safe_dump(fields))
    (outcome,) = export(load_recipe(root / "clip.yaml"), root / "model_repository", progress=lambda _: None)
    assert outcome.record.passed
    with LocalServer(root / "model_repository") as running:
        yield running, root


def test_a_zero_shot_model_gets_photographs_too(served_clip: tuple[LocalServer, Path], tmp_path: Path) -> None:
    """The model composed from CLIP's towers takes pixel_values like any image model: Locust's
    automatic payload sends it photographs, and every request is scored."""
    server, root = served_clip
    records = tmp_path / "run.csv"
    result = locust(
        root, "--headless", "-u", "2", "-r", "2", "-t", "3s", "--host", f"http://{server.http_url}",
        "--grpc-url", server.grpc_url, "--model", "clip", "--variant", "fp32", "--protocol", "grpc",
        "--latencies-csv", str(records),
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    rows = list(csv.DictReader(records.open()))
    assert len(rows) > 5 and all(row["error"] == "" for row in rows)
    (stats,) = server.client.get_inference_statistics("clip_fp32_image_tower").model_stats
    assert stats.inference_count >= len(rows)  # each photograph went through the image tower
