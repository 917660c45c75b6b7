"""checkov's Kubernetes policies over every rendered overlay (cpu, gpu, serverless, the in-cluster
Locust variants, a `tritonkit k8s` overlay with every option, and one running the derived image):
no check fails, and each check an object skips carries its reason in a `checkov.io/skipN`
annotation and is really needed (with the annotations stripped, exactly the skipped checks fail).
checkov runs offline (--skip-download) from its own environment, which `make checkov` creates: its
pinned dependencies conflict with ours."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s import test_loadtest
from tests.k8s.test_manifests import OVERLAYS, generated, generated_for_tokenizers, render

CHECKOV = Path(__file__).resolve().parents[2] / ".venv" / "checkov" / "bin" / "checkov"

if not CHECKOV.is_file():
    pytest.skip(f"checkov is not installed at {CHECKOV}; `make checkov` installs it", allow_module_level=True)

Finding = tuple[str, str, str]  # (check id, resource, file)


def checkov(directory: Path) -> dict[str, Any]:
    result = subprocess.run(
        [str(CHECKOV), "--skip-download", "--framework", "kubernetes", "-o", "json", "-d", str(directory)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]  # 1: some check failed
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def findings(report: dict[str, Any], kind: str) -> set[Finding]:
    return {(c["check_id"], c["resource"], c["file_path"]) for c in report["results"].get(kind, [])}


def without_skips(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stripped = yaml.safe_load(yaml.safe_dump(objects))
    for obj in stripped:
        annotations = obj["metadata"].get("annotations", {})
        for key in [k for k in annotations if k.startswith("checkov.io/skip")]:
            del annotations[key]
    return list(stripped)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    overlays = {name: render(name) for name in OVERLAYS}
    overlays |= {f"loadtest-{variant}": test_loadtest.render(variant) for variant in ("ui", "job")}
    overlays["generated"] = generated(tmp_path_factory.mktemp("overlay"))
    overlays["generated-tokenizers"] = generated_for_tokenizers(tmp_path_factory.mktemp("overlay"))
    return overlays


def write(directory: Path, overlays: dict[str, list[dict[str, Any]]]) -> Path:
    directory.mkdir()
    for name, objects in overlays.items():
        (directory / f"{name}.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return directory


@pytest.fixture(scope="module")
def report(rendered: dict[str, list[dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return checkov(write(tmp_path_factory.mktemp("checkov") / "rendered", rendered))


def test_every_overlay_passes_checkovs_kubernetes_policies(report: dict[str, Any]) -> None:
    summary = report["summary"]
    assert summary["parsing_errors"] == 0 and summary["passed"] > 0, summary
    assert not findings(report, "failed_checks"), sorted(findings(report, "failed_checks"))
    checked = {Path(c["file_path"]).stem for c in report["results"]["passed_checks"]}
    assert checked == {*OVERLAYS, "loadtest-ui", "loadtest-job", "generated", "generated-tokenizers"}


def test_every_skip_gives_its_reason(report: dict[str, Any]) -> None:
    skipped = report["results"]["skipped_checks"]
    assert skipped
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason.split()) >= 5, (check["check_id"], check["resource"], reason)


def test_every_skip_is_needed(
    report: dict[str, Any], rendered: dict[str, list[dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    stripped = {name: without_skips(objects) for name, objects in rendered.items()}
    bare = checkov(write(tmp_path_factory.mktemp("checkov") / "stripped", stripped))
    assert findings(bare, "failed_checks") == findings(report, "skipped_checks")
