"""The Triton image a command runs: `serve --container --image` and `k8s --image`. An image is a
reference (NAME[:TAG][@sha256:DIGEST], lowercase path), of a release that has the flags tritonkit
passes; in an overlay it is pinned by tag or digest and named once. `serve --container` reads the
repository to choose the image, so it must be a directory. Each refusal is one `error:` line
naming the flag and its value, exit 2, nothing written: no note about the derived image before it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _pytest.mark import ParameterSet

from tests.reliability.harness import Case, check, params, write_files

K8S = str(Path(__file__).resolve().parents[2] / "k8s")
DIGEST = "sha256:" + "ab" * 32
# A repository whose model imports `tokenizers` (as a `<name>_text` model's tokenizer does): with it,
# a command that succeeded would print its note on the derived image.
TOKENIZER_REPOSITORY = write_files(
    {
        "repo/m_text_tokenizer/config.pbtxt": 'name: "m_text_tokenizer"\nbackend: "python"\nmax_batch_size: 8\n',
        "repo/m_text_tokenizer/1/model.py": "from tokenizers import Tokenizer\n",
        "a_file.txt": "not a repository\n",
    }
)
NO_KUBECTL = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) is not installed")


def serve(case_id: str, *flags: str, fragments: tuple[str, ...], readme: str = "") -> Case:
    argv = ("serve", "--container", "--print-only", "--model-repository", "repo", *flags)
    return Case(f"serve-{case_id}", argv, fragments, setup=TOKENIZER_REPOSITORY, readme=readme)


def k8s(case_id: str, *flags: str, fragments: tuple[str, ...], readme: str = "") -> ParameterSet:
    argv = ("k8s", "{tmp}/deploy", "--manifests", K8S, "--model-repository", "repo", *flags)
    case = Case(f"k8s-{case_id}", argv, fragments, setup=TOKENIZER_REPOSITORY, readme=readme)
    return pytest.param(case, id=case.id, marks=NO_KUBECTL)  # kustomize renders the flavour's defaults first


CASES: list[Case | ParameterSet] = [
    serve(
        "image-not-a-reference",
        *("--image", "Triton Server"),
        fragments=("--image 'Triton Server': expected an image reference NAME[:TAG][@sha256:DIGEST]",),
        readme="`--image` that is no image reference (a space, an uppercase path)",
    ),
    serve("image-empty", "--image", "", fragments=("--image '': expected an image reference",)),
    serve("image-uppercase-path", "--image", "Tritonkit/Server:1", fragments=("expected an image reference",)),
    serve("image-short-digest", "--image", "triton@sha256:abc", fragments=("--image 'triton@sha256:abc': expected",)),
    serve(
        "image-huge", "--image", "x" * 100_000, fragments=("--image 'xxx", "...xxx", "': expected an image reference")
    ),
    serve(
        "image-old-derived-release",
        *("--image", "localhost/tritonkit/tritonserver:24.10-py3-tokenizers"),
        fragments=("releases before 25.06 (Triton 2.59) lack --http-max-input-size",),
        readme="a derived image of an NGC release before 25.06",
    ),
    Case(
        "serve-container-repository-missing",
        ("serve", "--container", "--print-only", "--model-repository", "nowhere"),
        ("nowhere: model repository is not a directory",),
        readme="`serve --container` on a repository that does not exist (the image is chosen from it)",
    ),
    serve(
        "container-repository-a-file",
        *("--model-repository", "a_file.txt"),
        fragments=("a_file.txt: model repository is not a directory",),
    ),
    k8s(
        "image-not-a-reference",
        *("--image", "Registry/Triton:1"),
        fragments=("--image 'Registry/Triton:1': expected an image reference",),
    ),
    k8s(
        "image-unpinned",
        *("--image", "registry.example.com/tritonkit/tritonserver"),
        fragments=("--image registry.example.com/tritonkit/tritonserver: expected a pinned image, NAME:TAG or NAME@",),
        readme="`--image` without a tag or a digest",
    ),
    k8s(
        "image-with-image-tag",
        *("--image", "r.io/triton:1", "--image-tag", "26.07-py3"),
        fragments=("--image-tag with --image: r.io/triton:1 names its own tag",),
    ),
    k8s(
        "image-with-two-digests",
        *("--image", f"r.io/triton@{DIGEST}", "--image-digest", DIGEST),
        fragments=("--image-digest with --image r.io/triton@sha256:", "two digests"),
    ),
    k8s(
        "image-old-release",
        *("--image", "nvcr.io/nvidia/tritonserver:24.10-py3"),
        fragments=("--image nvcr.io/nvidia/tritonserver:24.10-py3: releases before 25.06",),
    ),
    k8s("image-huge", "--image", "r" * 100_000, fragments=("--image 'rrr", "...rrr", "': expected an image reference")),
]


@pytest.mark.parametrize("case", params(CASES))
def test_bad_images_are_refused(case: Case, tmp_path: Path) -> None:
    outcome = check(case, tmp_path)
    assert outcome.stderr.count("\n") == 1, outcome.stderr  # one line, and no note before it
    assert outcome.stdout == ""  # no command printed
    assert not (tmp_path / "deploy").exists()
