"""Bad flags of every command this catalogue covers: usage errors (exit 2, one `error:` line naming
the flag) before any work starts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _pytest.mark import ParameterSet

from tests.reliability.harness import Case, chain, check, params, write_files
from tests.reliability.samples import RECIPE, TARGET, changed, dumped, recipe_setup, targets_file, targets_setup

CHECK = ("check", "targets.yaml")
SWEEP = ("sweep", "targets.yaml", "--target", "t")
OPEN_TARGET = changed(TARGET, "load", {"mode": "open", "rate_per_s": 10, "window_s": 1, "duration_s": 3})
TARGETS = targets_setup(targets_file(TARGET, changed(OPEN_TARGET, "name", "open")))
LONG = "p" * 300
PROJECT = Path(__file__).resolve().parents[2]


def project_recipe(root: Path) -> None:
    """The demo's own recipe and texts, so that only the targets file is wrong."""
    shutil.copytree(PROJECT / "export", root / "export")


def demo(case_id: str, targets: str | bytes, fragments: tuple[str, ...]) -> Case:
    setup = chain(project_recipe, write_files({"bad.yaml": targets}))
    return Case(f"demo-{case_id}", ("demo", "--targets", "bad.yaml"), ("bad.yaml", *fragments), setup=setup)


def usage(case_id: str, argv: tuple[str, ...], fragments: tuple[str, ...], readme: str = "") -> Case:
    return Case(case_id, argv, fragments, setup=TARGETS, readme=readme)


CASES: list[Case | ParameterSet] = [
    usage(
        "serve-port-70000",
        ("serve", "--http-port", "70000"),
        ("argument --http-port: expected a port number 1-65535, got 70000",),
        readme="`--http-port 70000`",
    ),
    usage(
        "serve-port-65536", ("serve", "--grpc-port", "65536"), ("argument --grpc-port: expected a port number 1-65535",)
    ),
    usage(
        "serve-port-negative",
        ("serve", "--http-port", "-5"),
        ("argument --http-port: expected a port number 1-65535, got -5",),
        readme="`--http-port -5`",
    ),
    usage(
        "serve-port-zero",
        ("serve", "--metrics-port", "0"),
        ("argument --metrics-port: expected a port number 1-65535, got 0",),
    ),
    usage(
        "serve-port-a-word",
        ("serve", "--http-port", "http"),
        ("argument --http-port: expected a port number 1-65535, got 'http'",),
    ),
    usage("serve-port-fraction", ("serve", "--http-port", "80.5"), ("argument --http-port: expected a port number",)),
    Case(
        "serve-equal-ports",
        ("serve", "--http-port", "18731", "--grpc-port", "18731", "--model-repository", "repo"),
        ("--http-port", "--grpc-port"),
        setup=write_files({"repo/.keep": ""}),
    ),
    usage(
        "check-url-with-scheme",
        (*CHECK, "--grpc-url", "http://127.0.0.1:8001"),
        ("argument --grpc-url: expected HOST:PORT (e.g. 127.0.0.1:8001, no scheme)",),
        readme="`--grpc-url http://127.0.0.1:8001`",
    ),
    usage("check-url-without-port", (*CHECK, "--http-url", "localhost"), ("argument --http-url: expected HOST:PORT",)),
    usage(
        "check-url-port-zero",
        (*CHECK, "--grpc-url", "localhost:0"),
        ("argument --grpc-url: expected a port number 1-65535, got 0",),
    ),
    usage(
        "check-url-port-huge",
        (*CHECK, "--grpc-url", "localhost:99999"),
        ("argument --grpc-url: expected a port number 1-65535, got 99999",),
    ),
    usage("check-url-no-host", (*CHECK, "--grpc-url", ":8001"), ("argument --grpc-url: expected HOST:PORT",)),
    usage(
        "check-report-dir-a-file",
        (*CHECK, "--report-dir", "texts.txt"),
        ("argument --report-dir: texts.txt exists and is not a directory",),
        readme="`--report-dir` naming a file",
    ),
    usage("check-targets-name-too-long", ("check", LONG), ("has a name longer than 255 bytes",)),
    usage("check-unknown-flag", (*CHECK, "--grcp-url", "x"), ("unrecognized arguments: --grcp-url x",)),
    usage("check-huge-flag-value", (*CHECK, "--grpc-url", "h" * 100_000), ("argument --grpc-url: expected HOST:PORT",)),
    usage("check-locust-unknown-target", (*CHECK, "--locust", "run.csv", "--target", "nope"), ("run.csv: not found",)),
    usage(
        "check-target-without-locust", (*CHECK, "--target", "t"), ("--target 't' picks the target of a --locust run",)
    ),
    usage(
        "sweep-unknown-target",
        ("sweep", "targets.yaml", "--target", "nope"),
        ("targets.yaml: no target named 'nope'; there are t, open",),
    ),
    usage("sweep-target-missing", ("sweep", "targets.yaml"), ("the following arguments are required: --target",)),
    usage("sweep-levels-a-word", (*SWEEP, "--levels", "1,two"), ("argument --levels: expected a number, got 'two'",)),
    usage("sweep-levels-zero", (*SWEEP, "--levels", "0,1"), ("argument --levels: expected a number above 0",)),
    usage("sweep-levels-negative", (*SWEEP, "--levels", "-1"), ("argument --levels: expected a number above 0",)),
    usage(
        "sweep-levels-nan",
        (*SWEEP, "--levels", "1,nan"),
        ("argument --levels: expected a number above 0 and at most 1e+06, got 'nan'",),
        readme="`--levels 1,nan`",
    ),
    usage("sweep-levels-inf", (*SWEEP, "--levels", "inf"), ("argument --levels: expected a number above 0",)),
    usage("sweep-levels-empty", (*SWEEP, "--levels", ","), ("argument --levels: expected comma-separated numbers",)),
    usage(
        "sweep-levels-beyond-concurrency",
        (*SWEEP, "--levels", "1,20000"),
        ("--levels: a step at concurrency 20000: Input should be less than or equal to 10000",),
    ),
    usage(
        "sweep-levels-beyond-rate",
        ("sweep", "targets.yaml", "--target", "open", "--levels", "5e5,2e6"),
        ("argument --levels: expected a number above 0 and at most 1e+06, got '2e6'",),
    ),
    usage(
        "sweep-doubling-beyond-bounds",
        (*SWEEP, "--max-steps", "20"),
        ("--max-steps 20 (doubling from 2): a step at concurrency 16384: Input should be less than or equal to 10000",),
        readme="`--max-steps 20` doubling past the bounds",
    ),
    usage(
        "sweep-max-steps-zero",
        (*SWEEP, "--max-steps", "0"),
        ("argument --max-steps: expected a whole number 1-64, got 0",),
    ),
    usage(
        "sweep-max-steps-huge",
        (*SWEEP, "--max-steps", str(2**63)),
        ("argument --max-steps: expected a whole number 1-64",),
    ),
    usage(
        "sweep-max-steps-a-word",
        (*SWEEP, "--max-steps", "many"),
        ("argument --max-steps: expected a whole number 1-64, got 'many'",),
    ),
    usage(
        "sweep-model-not-in-repository",
        (*SWEEP, "--model-repository", "elsewhere"),
        ("model repository elsewhere: not found",),
    ),
    usage(
        "validate-missing",
        ("validate", "nowhere"),
        ("nowhere: not found (expected a model repository or a model directory)",),
        readme="`validate` of a path that does not exist",
    ),
    usage("validate-a-file", ("validate", "texts.txt"), ("texts.txt: not a directory (expected a model repository",)),
    usage("locust-dev-zero", (*CHECK, "--locust", "/dev/zero"), ("/dev/zero: not a regular file",)),
    usage("validate-name-too-long", ("validate", LONG), ("has a name longer than 255 bytes",)),
    Case(
        "export-unknown-variant",
        ("export", "recipe.yaml", "--variants", "fp32,int4"),
        ("argument --variants: unknown variant(s) ['int4']; expected some of fp32",),
        setup=recipe_setup(dumped(RECIPE)),
        readme="`--variants fp32,int4`",
    ),
    Case(
        "export-no-variant",
        ("export", "recipe.yaml", "--variants", ","),
        ("argument --variants: expected comma-separated variants, got ','",),
        setup=recipe_setup(dumped(RECIPE)),
    ),
    Case(
        "export-variant-twice",
        ("export", "recipe.yaml", "--variants", "fp32,fp32"),
        ("argument --variants: variant(s) named twice: fp32",),
        setup=recipe_setup(dumped(RECIPE)),
    ),
    Case(
        "export-repository-a-file",
        ("export", "recipe.yaml", "--model-repository", "recipe.yaml"),
        ("argument --model-repository: recipe.yaml exists and is not a directory",),
        setup=recipe_setup(dumped(RECIPE)),
    ),
    Case("export-recipe-missing", ("export", "absent.yaml"), ("absent.yaml: not found",)),
    usage(
        "demo-report-dir-a-file",
        ("demo", "--report-dir", "texts.txt"),
        ("argument --report-dir: texts.txt exists and is not a directory",),
    ),
    usage(
        "demo-repository-a-file",
        ("demo", "--model-repository", "texts.txt"),
        ("argument --model-repository: texts.txt exists and is not a directory",),
    ),
    usage("demo-targets-missing", ("demo", "--targets", "absent.yaml"), ("not found (run from the project root)",)),
    demo("targets-non-utf8", b"targets: \xff\n", ("not UTF-8 text",)),
    demo("targets-typo", targets_file(TARGET, dollars_per_hr=1), ("dollars_per_hr: Extra inputs are not permitted",)),
    usage(
        "serve-repository-missing",
        ("serve", "--model-repository", "nowhere"),
        ("nowhere: model repository is not a directory",),
    ),
    usage(
        "check-server-unreachable",
        (*CHECK, "--grpc-url", "127.0.0.1:1"),
        ("target 't': cannot read model 'm' from the server",),
    ),
    usage(
        "check-protocol-without-its-url",
        (*CHECK, "--http-url", "127.0.0.1:1"),
        ("target 't' uses grpc: give the server's --grpc-url",),
    ),
    usage("no-command", (), ("the following arguments are required: command",)),
    usage("unknown-command", ("deploy",), ("argument command: invalid choice: 'deploy'",)),
    usage("huge-unknown-command", ("x" * 100_000,), ("argument command: invalid choice", "…")),
]


@pytest.mark.parametrize("case", params(CASES))
def test_bad_flags(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)
