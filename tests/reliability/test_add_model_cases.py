"""add-model's bad inputs: names, versions, ONNX files Triton cannot serve, external data, and what is
already in the repository. Each is refused with exit 2 before anything is written, and what was
there (a model, a directory that is not one) is left exactly as it was."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from tests.reliability.harness import Case, Setup, chain, check, params, write_files
from tests.reliability.onnx_file import with_onnx
from tritonkit import onnx_builders
from tritonkit.specs import ServingKnobs, VersionPolicyKnobs
from tritonkit.triton import model_config, profiles
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model

ADD = ("add-model", "model.onnx", "--model-repository", "repo")
BALANCED = profiles.profile("balanced")
ALL_VERSIONS = ServingKnobs(max_batch_size=4, version_policy=VersionPolicyKnobs(policy="all"))
ALL_VERSIONS_YAML = "max_batch_size: 4\nversion_policy: {policy: all}\n"


def _graph(name: str, inputs: Sequence[onnx.ValueInfoProto], outputs: Sequence[onnx.ValueInfoProto]) -> Setup:
    """An Identity graph with these declarations, saved unchecked: the checker refuses some of them."""

    def setup(root: Path) -> None:
        graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", list(inputs), list(outputs))
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
        (root / name).write_bytes(model.SerializeToString())

    return setup


def _tensor(name: str, shape: Sequence[int | str] | None, elem_type: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem_type, shape)


def _external(location: str | None = None, *, truncate: bool = False) -> Setup:
    """model.onnx with its weights in weights.bin; `location` rewrites where the graph says they are."""

    def setup(root: Path) -> None:
        mlp = onnx.load(str(onnx_builders.mlp(root / "src" / "mlp.onnx")))
        onnx.save_model(mlp, str(root / "model.onnx"), save_as_external_data=True, location="weights.bin")
        if truncate:
            os.truncate(root / "weights.bin", 10)
        if location is not None:
            model = onnx.load(str(root / "model.onnx"), load_external_data=False)
            for tensor in model.graph.initializer:
                for entry in tensor.external_data:
                    if entry.key == "location":
                        entry.value = location.replace("{tmp}", str(root))
            (root / "model.onnx").write_bytes(model.SerializeToString())

    return setup


def _symlink(link: str, points_to: str) -> Setup:
    def setup(root: Path) -> None:
        (root / link).parent.mkdir(parents=True, exist_ok=True)
        (root / link).symlink_to(root / points_to)

    return setup


def _model(version: int = 1, knobs: ServingKnobs = BALANCED, repository: str = "repo") -> Setup:
    """repo/mlp as add-model writes it (from model.onnx, balanced profile unless `knobs`)."""

    def setup(root: Path) -> None:
        onnx_file = root / "model.onnx"
        config = model_config.build_config("mlp", read_signature(onnx_file), knobs)
        write_model(root / repository, config, onnx_file, version=version)

    return setup


def _narrow(root: Path) -> None:
    onnx_builders.mlp(root / "narrow.onnx", features=8)


def _fifo(root: Path) -> None:
    os.mkfifo(root / "model.onnx")


ONNX = with_onnx(chain())  # model.onnx, a valid graph
NAME = "use letters, digits, '_', '-' and '.'"
EXTERNAL = "external data that cannot be copied along"
NOT_A_MODEL = "exists and is not a model directory (no config.pbtxt); refusing to replace it"

CASES = [
    # Names Triton cannot serve, or that would leave the repository.
    Case("name-space", (*ADD, "--name", "my model"), ("'my model' is not allowed", NAME), setup=ONNX),
    Case(
        "name-semicolon",
        (*ADD, "--name", "m;rm"),
        ("'m;rm' is not allowed",),
        setup=ONNX,
        readme="a model name Triton cannot serve (space, `;`, `..`, over 255 bytes)",
    ),
    Case("name-dotdot", (*ADD, "--name", ".."), ("'..' is not allowed",), setup=ONNX),
    Case("name-dotdot-inside", (*ADD, "--name", "a..b"), ("without '..'",), setup=ONNX),
    Case("name-slash", (*ADD, "--name", "../escape"), ("'../escape' is not allowed",), setup=ONNX),
    Case("name-hidden", (*ADD, "--name", ".hidden"), ("'.hidden' is not allowed",), setup=ONNX),
    Case("name-dash-first", (*ADD, "--name=-m"), ("'-m' is not allowed",), setup=ONNX),
    Case("name-empty", (*ADD, "--name="), ("'' is not allowed",), setup=ONNX),
    Case("name-256-bytes", (*ADD, "--name", "m" * 256), ("at most 255 bytes",), setup=ONNX),
    Case("name-not-ascii", (*ADD, "--name", "modèle"), ("'modèle' is not allowed",), setup=ONNX),
    Case(
        "name-dry-run",
        (*ADD, "--name", "a b", "--dry-run"),
        ("'a b' is not allowed",),
        setup=ONNX,
    ),
    # Versions Triton cannot read.
    Case("version-0", (*ADD, "--name", "m", "--version", "0"), ("version 0 is outside 1..",), setup=ONNX),
    Case("version-negative", (*ADD, "--name", "m", "--version=-3"), ("version -3",), setup=ONNX),
    Case(
        "version-over-int64",
        (*ADD, "--name", "m", "--version", str(2**63)),
        ("outside 1..9223372036854775807",),
        setup=ONNX,
        readme="`--version` outside 1..2**63-1",
    ),
    Case("version-not-integer", (*ADD, "--name", "m", "--version", "1.5"), ("--version", "invalid int value")),
    # ONNX files Triton cannot serve.
    Case(
        "onnx-empty",
        (*ADD, "--name", "m"),
        ("model.onnx: the file is empty (0 bytes)",),
        setup=write_files({"model.onnx": b""}),
        readme="a 0-byte ONNX file",
    ),
    Case(
        "onnx-garbage",
        (*ADD, "--name", "m"),
        ("not a readable ONNX model",),
        setup=write_files({"model.onnx": b"\x00x"}),
    ),
    Case("onnx-directory", (*ADD, "--name", "m"), ("not a regular file",), setup=write_files({"model.onnx/x": ""})),
    Case("onnx-fifo", (*ADD, "--name", "m"), ("not a regular file",), setup=_fifo),
    Case("onnx-missing", (*ADD, "--name", "m"), ("model.onnx: no such ONNX file",)),
    Case(
        "onnx-scalar-input",
        (*ADD, "--name", "m"),
        ("input 'x' is a scalar (rank 0)",),
        setup=_graph("model.onnx", [_tensor("x", [])], [_tensor("y", [])]),
        readme="an ONNX graph with a scalar or shape-less input or output",
    ),
    Case(
        "onnx-scalar-output",
        (*ADD, "--name", "m", "--profile", "latency"),
        ("output 'y' is a scalar",),
        setup=_graph("model.onnx", [_tensor("x", ["batch", 2])], [_tensor("y", [])]),
    ),
    Case(
        "onnx-shapeless",
        (*ADD, "--name", "m"),
        ("input 'x' has no shape in the graph",),
        setup=_graph("model.onnx", [_tensor("x", None)], [_tensor("y", ["batch", 2])]),
    ),
    Case(
        "onnx-no-outputs",
        (*ADD, "--name", "m"),
        ("the graph has no outputs",),
        setup=_graph("model.onnx", [_tensor("x", ["batch", 2])], []),
    ),
    Case(
        "onnx-complex-type",
        (*ADD, "--name", "m"),
        ("COMPLEX64, which Triton cannot serve",),
        setup=_graph("model.onnx", [_tensor("x", [2], TensorProto.COMPLEX64)], [_tensor("y", [2])]),
    ),
    # External data: copied along only from inside the ONNX file's directory, whole.
    Case(
        "external-missing",
        (*ADD, "--name", "m"),
        (EXTERNAL, "'gone.bin': no such file"),
        setup=_external("gone.bin"),
        readme="an ONNX file whose external data is missing, truncated or outside its directory",
    ),
    Case("external-dotdot", (*ADD, "--name", "m"), (EXTERNAL, "without '..'"), setup=_external("../weights.bin")),
    Case("external-absolute", (*ADD, "--name", "m"), ("'{tmp}/weights.bin'",), setup=_external("{tmp}/weights.bin")),
    Case(
        "external-symlink-outside",
        ("add-model", "model/model.onnx", "--name", "m", "--model-repository", "repo"),
        (EXTERNAL, "outside {tmp}/model: copy the file there"),
        setup=chain(
            _external(), _symlink("model/weights.bin", "weights.bin"), _symlink("model/model.onnx", "model.onnx")
        ),
    ),
    Case(
        "external-truncated", (*ADD, "--name", "m"), ("10 bytes, but its tensors need",), setup=_external(truncate=True)
    ),
    # What is already in the repository is not add-model's to destroy.
    Case(
        "force-onto-a-non-model-directory",
        (*ADD, "--name", "data", "--force"),
        (f"repo/data {NOT_A_MODEL}",),
        setup=with_onnx(write_files({"repo/data/precious.txt": "mine"})),
        readme="`--force` onto a directory that is not a model (no config.pbtxt)",
    ),
    Case(
        "onto-a-non-model-directory",
        (*ADD, "--name", "data"),
        (NOT_A_MODEL,),
        setup=with_onnx(write_files({"repo/data/precious.txt": "mine"})),
    ),
    Case(
        "onto-a-file",
        (*ADD, "--name", "data", "--force"),
        (NOT_A_MODEL,),
        setup=with_onnx(write_files({"repo/data": "mine"})),
    ),
    Case(
        "model-is-a-symlink",
        (*ADD, "--name", "mlp", "--version", "2", "--force"),
        ("repo/mlp is a symbolic link",),
        setup=with_onnx(chain(_model(repository="elsewhere"), _symlink("repo/mlp", "elsewhere/mlp"))),
    ),
    Case(
        "model-links-outside-the-repository",
        (*ADD, "--name", "mlp", "--version", "2"),
        ("repo/mlp/notes.txt is a symbolic link to", "outside the repository"),
        setup=with_onnx(
            chain(_model(), write_files({"secret.txt": "x"}), _symlink("repo/mlp/notes.txt", "secret.txt"))
        ),
        readme="onto a model with a symlink out of the repository",
    ),
    Case(
        "repository-is-a-file",
        (*ADD, "--name", "m"),
        ("repo exists and is not a directory",),
        setup=with_onnx(write_files({"repo": "not a directory"})),
    ),
    Case(
        "onnx-path-name-too-long",
        ("add-model", "x" * 300 + ".onnx", "--name", "m", "--model-repository", "repo"),
        ("has a name longer than",),
    ),
    Case("repository-path-with-nul", (*ADD, "--name", "m", "--model-repository", "re\0po"), ("contains a NUL",)),
    # Versions of an existing model: one config.pbtxt serves them all.
    Case(
        "version-exists",
        (*ADD, "--name", "mlp"),
        ("repo/mlp/1 already exists; pass --force",),
        setup=with_onnx(_model()),
    ),
    Case(
        "version-with-another-config",
        (*ADD, "--name", "mlp", "--version", "2", "--profile", "latency"),
        ("repo/mlp/config.pbtxt serves every version", "+max_batch_size: 8", "pass --force"),
        setup=with_onnx(_model()),
        readme="`--version N` whose config differs from the model's config.pbtxt (without --force)",
    ),
    Case(
        "version-that-does-not-fit",
        ("add-model", "narrow.onnx", "--model-repository", "repo", "--name", "mlp", "--version", "2"),
        ("serves every version", "-  dims: 16", "+  dims: 8"),
        setup=with_onnx(chain(_model(), _narrow)),
    ),
    Case(
        "force-config-that-a-kept-version-does-not-fit",
        (
            "add-model",
            "narrow.onnx",
            "--model-repository",
            "repo",
            "--name",
            "mlp",
            "--version",
            "2",
            "--force",
            "--knobs",
            "k.yaml",
        ),
        ("refusing to write repo/mlp version 2", "repo/mlp/config.pbtxt", "expected 16"),
        setup=with_onnx(chain(_model(knobs=ALL_VERSIONS), _narrow, write_files({"k.yaml": ALL_VERSIONS_YAML}))),
    ),
    Case(
        "policy-skips-an-older-version",
        (*ADD, "--name", "mlp", "--version", "1"),
        ("version_policy serves versions [2] of [1, 2], not version 1",),
        setup=with_onnx(_model(version=2)),
        readme="`--version N` that the model's version policy would not serve",
    ),
    Case(
        "policy-lists-other-versions",
        (*ADD, "--name", "m", "--version", "2", "--knobs", "k.yaml"),
        ("version_policy", "not version 2"),
        setup=with_onnx(write_files({"k.yaml": "version_policy: {policy: specific, versions: [1]}\n"})),
    ),
    Case(
        "threads-absurd",
        (*ADD, "--name", "m", "--knobs", "k.yaml"),
        ("k.yaml", "intra_op_thread_count"),
        setup=with_onnx(write_files({"k.yaml": "onnxruntime: {intra_op_thread_count: 100000}\n"})),
    ),
    Case(
        "batch-size-over-int32",
        (*ADD, "--name", "m", "--knobs", "k.yaml"),
        ("k.yaml", "max_batch_size"),
        setup=with_onnx(write_files({"k.yaml": "max_batch_size: 3000000000\n"})),
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_add_model_refuses(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)
