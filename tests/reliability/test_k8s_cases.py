"""`tritonkit k8s`'s numbers are range-checked where they enter: resources (requests within limits,
compared as quantities: 500m against 1, Mi against Gi, the flavour's own values where the user
keeps them), replica bounds (1 <= min <= max <= 100) and the scale-to-zero capacity (finite, > 0),
and the image digest. Each refusal is one `error:` line naming the flag and its value, exit 2,
nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.reliability.harness import Case, check, write_files

K8S = str(Path(__file__).resolve().parents[2] / "k8s")

if shutil.which("kubectl") is None:
    pytest.skip("kubectl (with kustomize) is not installed; .ci/run installs it", allow_module_level=True)


def k8s(case_id: str, *flags: str, fragments: tuple[str, ...]) -> Case:
    return Case(case_id, ("k8s", "{tmp}/deploy", "--manifests", K8S, *flags), fragments)


# A BLS model whose declared callee is not in the repository: `--model` would load it alone.
CALLER = 'name: "caller"\nbackend: "python"\nparameters { key: "bls_models" value { string_value: "gone" } }\n'
CASES = [
    Case(
        "k8s-model-calling-a-missing-model",
        ("k8s", "{tmp}/deploy", "--manifests", K8S, "--model", "caller", "--model-repository", "repo"),
        ("model 'caller' calls 'gone' (parameters bls_models), which is not in repo",),
        setup=write_files({"repo/caller/config.pbtxt": CALLER}),
        readme="`--model` naming a BLS model whose callee is not in the repository",
    ),
    k8s("cpu-request-above-limit", "--cpu-request", "6", fragments=("--cpu-request 6: above the cpu limit 4",)),
    k8s(
        "millicores-above-cores",
        *("--cpu-request", "1500m", "--cpu-limit", "1"),
        fragments=("--cpu-request 1500m: above the cpu limit 1",),
    ),
    k8s(
        "mebibytes-above-gibibytes",
        *("--memory-request", "9000Mi", "--memory-limit", "8Gi"),
        fragments=("--memory-request 9000Mi: above the memory limit 8Gi",),
    ),
    k8s(
        "limit-below-the-overlays-request",
        *("--memory-limit", "2Gi"),
        fragments=("--memory-limit 2Gi: below the overlay's memory request 4Gi",),
    ),
    k8s(
        "limit-below-the-gpu-overlays-request",
        *("--flavour", "gpu", "--cpu-limit", "3500m"),
        fragments=("--cpu-limit 3500m: below the overlay's cpu request 4",),
    ),
    k8s("zero-limit", "--cpu-limit", "0", fragments=("--cpu-limit '0': expected a quantity above 0",)),
    k8s("not-a-quantity", "--memory-limit", "8GB", fragments=("--memory-limit '8GB': expected a Kubernetes quantity",)),
    k8s("min-replicas-zero", "--min-replicas", "0", fragments=("--min-replicas 0: expected 1 to 100",)),
    k8s("max-replicas-negative", "--max-replicas", "-3", fragments=("--max-replicas -3: expected 1 to 100",)),
    k8s("max-replicas-beyond-bound", "--max-replicas", "1000", fragments=("--max-replicas 1000: expected 1 to 100",)),
    k8s(
        "scale-to-zero-max-replicas-zero",
        *("--scale-to-zero", "--max-replicas", "0"),
        fragments=("--max-replicas 0: expected 1 to 100",),
    ),
    k8s(
        "min-above-max",
        *("--min-replicas", "5", "--max-replicas", "3"),
        fragments=("--max-replicas 3: below the minimum 5",),
    ),
    k8s("min-above-the-hpas-max", "--min-replicas", "12", fragments=("--min-replicas 12: above the maximum 10",)),
    k8s("min-replicas-not-a-number", "--min-replicas", "two", fragments=("--min-replicas", "invalid int value: 'two'")),
    *(
        k8s(
            f"capacity-{value}",
            *("--scale-to-zero", "--capacity", value),
            fragments=(f"--capacity {value}: expected a finite number of requests/s above 0",),
        )
        for value in ("0", "-5", "nan", "inf")
    ),
    k8s(
        "digest-not-hex",
        *("--image-digest", "sha256:" + "g" * 64),
        fragments=("--image-digest 'sha256:ggg", "expected sha256: and 64 lowercase hex digits"),
    ),
    k8s(
        "digest-too-short",
        *("--image-digest", "sha256:abc123"),
        fragments=("--image-digest 'sha256:abc123': expected sha256:",),
    ),
    k8s(
        "digest-with-tag",
        *("--image-digest", "sha256:" + "a" * 64, "--image-tag", "26.07-py3"),
        fragments=("--image-digest with --image-tag",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_k8s_refuses_out_of_range_numbers(case: Case, tmp_path: Path) -> None:
    outcome = check(case, tmp_path)
    assert outcome.stderr.count("\n") == 1, outcome.stderr  # one line
    assert not (tmp_path / "deploy").exists()
