"""The `tritonkit` command: parse, make one library call, print, exit.

Exit codes: 0 success, 1 a check failed (validation problems, a served model that failed, a target
that missed its SLO), 2 bad input or an unmet precondition (the message says which), 130
interrupted (Ctrl-C or SIGTERM): the command's cleanup has run, nothing is left half-written.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from tritonkit import arguments as types
from tritonkit.errors import INTERRUPTED_EXIT_CODE, InputError, TritonkitError
from tritonkit.interrupts import caused_by_interrupt, imports_uninterrupted, interrupts_unwind
from tritonkit.triton.container import NGC_IMAGE, TOKENIZERS_IMAGE

if TYPE_CHECKING:  # the commands import what they need when they run: `tritonkit --help` stays fast
    from tritonkit.check import CheckResult

DEFAULT_REPOSITORY = Path("model_repository")
MAX_SWEEP_STEPS = 64  # doubling 64 times passes any level a load could reach
MAX_LENGTH = 65_536  # tokens: specs.TensorLength's bound
MAX_LEVEL = 1e6  # a sweep step's rate or concurrency; the targets' own loads have tighter bounds
MAX_USAGE_CHARS = 300


def cmd_validate(args: argparse.Namespace) -> int:
    from tritonkit.triton.validate import validate_path

    if not args.path.is_dir():
        state = "not a directory" if args.path.exists() else "not found"
        raise InputError(f"{args.path}: {state} (expected a model repository or a model directory)")
    problems = validate_path(args.path)
    for problem in problems:
        print(problem)
    if problems:  # the problems go to stdout, one a line, for grep; the verdict to stderr
        print(f"error: {len(problems)} problem(s) in {args.path}", file=sys.stderr)
        return 1
    print(f"{args.path}: valid")
    return 0


def cmd_add_model(args: argparse.Namespace) -> int:
    from tritonkit.specs import ServingKnobs, load_yaml
    from tritonkit.triton import model_config, profiles
    from tritonkit.triton.onnx_signature import read_signature
    from tritonkit.triton.repository import check_model_name, check_version, write_model

    check_model_name(args.name)  # before any work, --dry-run included
    check_version(args.version)
    knobs = load_yaml(args.knobs, ServingKnobs) if args.knobs else profiles.profile(args.profile)
    signature = read_signature(args.onnx)
    unbatched = bool(knobs.max_batch_size) and not signature.batchable
    config = model_config.build_config(args.name, signature, knobs.without_batching() if unbatched else knobs)
    if unbatched:
        print(f"note: {args.onnx} has a fixed first dimension; writing it without batching", file=sys.stderr)
    if args.dry_run:
        print(model_config.render(config), end="")
        return 0
    target = write_model(args.model_repository, config, args.onnx, version=args.version, force=args.force)
    print(f"wrote {target / str(args.version)} and {target / 'config.pbtxt'}")
    return 0


def cmd_add_text_model(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from tritonkit.inputs import validation_problems
    from tritonkit.specs import TextModelSpec
    from tritonkit.triton.text_model import write_text_model

    if args.buckets is not None and args.padding != "buckets":
        raise InputError(f"--buckets pads to fixed lengths; --padding {args.padding} pads to the longest text of "
                         "each batch instead: give one or the other")  # fmt: skip
    chosen = {"padding": args.padding} | ({"buckets": tuple(args.buckets)} if args.buckets else {})
    try:
        spec = TextModelSpec.model_validate({"variant": "fp32", **chosen})  # the variant: the encoder named
    except ValidationError as exc:  # the flags' own types keep to the spec's bounds: a safety net
        raise InputError("add-text-model:\n" + "\n".join(validation_problems(exc))) from None
    name = args.name if args.name is not None else f"{args.encoder}_text"
    text = write_text_model(args.model_repository, name, args.encoder, spec, args.max_length, force=args.force)
    padding = f"buckets {list(text.buckets)}" if text.buckets else "the longest text of each batch"
    print(f"wrote {text.ensemble} (TEXT strings in) and {text.tokenizer} (padded to {padding}, "
          f"truncated at {text.max_length} tokens) over {args.encoder}")  # fmt: skip
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    if args.container:
        return _serve_container(args)
    from tritonkit.triton.server import LocalServer

    server = LocalServer(
        args.model_repository, http_port=args.http_port, grpc_port=args.grpc_port, metrics_port=args.metrics_port
    )
    with server:
        failed = server.verify_all_ready()
        for state in sorted(server.model_states().values(), key=lambda s: s.name):
            print(f"  {state.name:<32} {state.state}")
        for state in failed:
            print(f"error: model '{state.name}' is {state.state}: {state.reason}", file=sys.stderr)
        print(
            f"serving {args.model_repository} — HTTP {server.http_url}, gRPC {server.grpc_url}, "
            f"metrics {server.metrics_url}; Ctrl-C stops",
            flush=True,
        )
        server.wait()
        raise server.exit_error()


def _serve_container(args: argparse.Namespace) -> int:
    import subprocess

    from tritonkit.triton import container

    if args.image is not None:
        container.check_image(args.image)
    if not args.model_repository.is_dir():
        raise InputError(f"{args.model_repository}: model repository is not a directory")
    # The derived image where a model imports `tokenizers`; an explicit --image wins.
    choice = container.choose_image(args.image, container.models_needing_tokenizers(args.model_repository))
    if choice.note:
        print(choice.note, file=sys.stderr)
    options = container.ContainerOptions(
        model_repository=args.model_repository,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        gpus=args.gpus,
        image=choice.image,
    )
    print(container.render(options))
    if args.print_only:
        return 0
    if not container.docker_engine_available():
        raise InputError(
            "no Docker engine is reachable here (`docker info` fails); run the command above on a "
            "host with Docker (and the NVIDIA container toolkit for --gpus), or pass --print-only"
        )
    return subprocess.run(container.docker_command(options), check=False).returncode


def cmd_demo(args: argparse.Namespace) -> int:
    from tritonkit.demo import SENTENCES, run_demo

    print(f"exporting the embedded default model into {args.model_repository}, then serving and measuring it…")
    result = run_demo(args.model_repository, targets_path=args.targets)
    print("\nsentences:\n" + "\n".join(f"  [{i}] {text}" for i, text in enumerate(SENTENCES)))
    print(f"\n{'served model':<24} {'cos[0,1]':>9} {'cos[0,2]':>9}  max |served - onnxruntime|")
    for inference in result.inferences:
        close, far = inference.similarity
        print(f"{inference.model:<24} {close:>9.3f} {far:>9.3f}  {inference.max_abs_difference:.1e}")
    return _report_check(result.check, args.report_dir, f"tritonkit demo: {args.targets}")


def _report_check(result: CheckResult, report_dir: Path, title: str) -> int:
    """Write the report, print the verdict table; exit code 0 only if every target passed."""
    from tritonkit.check import verdict_table
    from tritonkit.report import write_report

    report = write_report(report_dir, title=title, measurements=result.measurements, verdicts=result.verdicts)
    print("\n" + verdict_table(result))
    print(f"report: {report / 'report.html'} (and report.md, results.json, summary.csv, plots/)")
    return 0 if result.passed else 1


def cmd_export(args: argparse.Namespace) -> int:
    from tritonkit.export.recipe import load_recipe

    recipe = load_recipe(args.recipe)  # before importing torch (seconds): a bad recipe fails at once
    from tritonkit.export.pipeline import export

    outcomes = export(
        recipe, args.model_repository, only=args.variants, force=args.force, allow_failed=args.allow_failed
    )
    print(f"\n{'model':<28} {'MB':>6}  gates")
    for outcome in outcomes:
        record = outcome.record
        figures = ", ".join(f"{g.metric} {g.value:.4g}" for g in record.gates)
        state = "ok" if record.passed else "FAILED"
        written = "" if outcome.written else "  (not written)"
        print(f"{record.model:<28} {record.file_bytes / 1e6:>6.1f}  {state}: {figures}{written}")
    failed = [o.record.model for o in outcomes if not o.record.passed]
    if failed and not args.allow_failed:
        print(f"error: {', '.join(failed)} failed their gates and were not written", file=sys.stderr)
        return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from tritonkit.check import check_records, check_served, with_local_model_files
    from tritonkit.inputs import excerpt
    from tritonkit.measure.external import read_records
    from tritonkit.measure.preflight import check_before_start
    from tritonkit.specs import load_targets

    if args.target is not None and args.locust is None:
        raise InputError(f"--target {excerpt(args.target)} picks the target of a --locust run; give --locust too")
    spec = load_targets(args.targets)
    if args.locust:
        result = check_records(spec, args.target, read_records(args.locust))
        return _report_check(result, args.report_dir, f"tritonkit check: {args.targets}")
    remote = bool(args.grpc_url or args.http_url)
    if not remote:
        spec = with_local_model_files(spec, args.model_repository)
    check_before_start(args.targets, spec.targets, None if remote else args.model_repository)
    result = check_served(spec, args.model_repository, args.grpc_url, args.http_url)
    return _report_check(result, args.report_dir, f"tritonkit check: {args.targets}")


def cmd_sweep(args: argparse.Namespace) -> int:
    from tritonkit.check import with_local_model_files
    from tritonkit.inputs import excerpt
    from tritonkit.measure.preflight import check_before_start, check_levels
    from tritonkit.report import write_report
    from tritonkit.serving import serving
    from tritonkit.specs import load_targets
    from tritonkit.tune.sweep import run_sweep, sweep_table

    spec = load_targets(args.targets)
    by_name = {t.name: t for t in spec.targets}
    if args.target not in by_name:
        raise InputError(f"{args.targets}: no target named {excerpt(args.target)}; there are {', '.join(by_name)}")
    target = by_name[args.target]
    check_levels(target, args.levels, args.max_steps)
    remote = bool(args.grpc_url or args.http_url)
    if not remote:
        alone = spec.model_copy(update={"targets": (target,)})
        (target,) = with_local_model_files(alone, args.model_repository).targets
    check_before_start(args.targets, [target], None if remote else args.model_repository)
    with serving(spec, args.model_repository, args.grpc_url, args.http_url, control=not remote) as served:
        if served.local is not None:
            served.load(target.model)
        sweep = run_sweep(target, served.host, args.levels, args.max_steps)
    report = write_report(args.report_dir, title=f"tritonkit sweep: {target.model}", measurements=(), sweeps=(sweep,))
    print("\n" + sweep_table(sweep))
    print(f"report: {report / 'report.html'}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from tritonkit.files import check_replaceable
    from tritonkit.inputs import attempt
    from tritonkit.specs import load_targets, load_yaml
    from tritonkit.tune.log import TRIAL_LOG
    from tritonkit.tune.report import MARKERS, summary, write_tune_report
    from tritonkit.tune.run import tune_targets
    from tritonkit.tune.space import SpaceSpec

    log = args.report_dir / TRIAL_LOG
    problems: list[str] = []  # every problem at once, not the first
    spec = attempt(lambda: load_targets(args.targets).only(args.target or (), args.targets), problems)
    space = attempt(lambda: load_yaml(args.space, SpaceSpec) if args.space else SpaceSpec(), problems)
    attempt(lambda: check_replaceable(args.report_dir, markers=MARKERS, kind="tune report"), problems)
    attempt(lambda: _check_outside(args.report_dir, args.model_repository), problems)
    if args.resume and not (log.exists() or log.is_symlink()):
        problems.append(f"--resume: no trial log at {log} (run without --resume to start a tune)")
    if problems or spec is None or space is None:
        raise InputError("\n".join(problems))
    outcome = tune_targets(
        spec, args.model_repository, space, log, variants=args.variants, budget_minutes=args.budget_minutes,
        max_trials=args.max_trials, resume=args.resume, grpc_url=args.grpc_url, http_url=args.http_url,
        curves=args.curves,
    )  # fmt: skip
    report = write_tune_report(args.report_dir, f"tritonkit tune: {args.targets}", outcome)
    print("\n" + summary(outcome))
    print(f"report: {report / 'tune.html'} (and tune.md, tune.json, {TRIAL_LOG}, plots/)")
    return 0 if len(outcome.tuned) == len(outcome.tunes) else 1


def _check_outside(report_dir: Path, repository: Path) -> None:
    if report_dir.resolve().is_relative_to(repository.resolve()):
        raise InputError(f"--report-dir {report_dir} is inside the model repository: Triton would take it for a model")


def cmd_plan(args: argparse.Namespace) -> int:
    from tritonkit.inputs import excerpt
    from tritonkit.k8s.plan import capacity_from_results, check_capacity, plan, plan_table, write_plan
    from tritonkit.specs import TrafficSpec, load_yaml

    traffic = load_yaml(args.traffic, TrafficSpec)
    if args.capacity is not None and args.results is not None:
        raise InputError("give --capacity or --results, not both: they are two sources of one figure")
    if args.target is not None and args.results is None:
        raise InputError(f"--target {excerpt(args.target)} names a target of --results; give --results too")
    if args.capacity is not None:
        capacity = check_capacity(args.capacity, "--capacity")
    elif args.results and args.target:
        capacity = capacity_from_results(args.results, args.target)
    else:
        raise InputError("give --capacity, or --results with --target (a check target or a swept model)")
    result = plan(capacity, traffic)
    print(plan_table(result, traffic))
    if args.out:
        write_plan(args.out, result)
        print(f"\nwrote {args.out}")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from tritonkit.inputs import attempt, read_lines
    from tritonkit.measure.trace import busiest_rate_per_s, synthesize, write_trace
    from tritonkit.specs import TrafficSpec, load_yaml

    problems: list[str] = []  # every problem at once, not the first
    traffic = attempt(lambda: load_yaml(args.traffic, TrafficSpec), problems)
    texts = attempt(lambda: read_lines(args.texts), problems) if args.texts else None
    if problems or traffic is None:
        raise InputError("\n".join(problems))
    trace = synthesize(traffic, args.duration_s, args.seed, texts)
    write_trace(args.out, trace)
    print(
        f"wrote {args.out}: {len(trace)} requests over {trace.span_s:.1f} s (a day of {args.traffic.name} "
        f"in {args.duration_s:g} s), {trace.mean_rate_per_s:.1f}/s on average, "
        f"{busiest_rate_per_s(trace, 1.0):.1f}/s in its busiest 10 s"
    )
    return 0


def cmd_k8s(args: argparse.Namespace) -> int:
    import yaml

    from tritonkit.k8s.overlay import OverlaySpec, Resources, triton_image, write_overlay

    spec = OverlaySpec(
        flavour=args.flavour,
        namespace=args.namespace,
        models=tuple(args.model),
        image_tag=args.image_tag,
        image_digest=args.image_digest,
        image=args.image,
        resources=Resources(args.cpu_request, args.memory_request, args.cpu_limit, args.memory_limit),
        min_replicas=args.min_replicas,
        max_replicas=args.max_replicas,
        scale_to_zero=args.scale_to_zero,
        capacity_per_replica=args.capacity,
        models_from=args.models_from,
        models_region=args.models_region,
    )
    rendered = write_overlay(spec, args.manifests, args.out, repository=args.model_repository)
    kinds = sorted({str(doc["kind"]) for doc in yaml.safe_load_all(rendered) if doc})
    if note := triton_image(spec, args.model_repository).note:
        print(note, file=sys.stderr)
    print(f"wrote {args.out / 'kustomization.yaml'}: renders {', '.join(kinds)}")
    print(f"deploy: kubectl apply -k {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tritonkit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check a model repository or one model directory")
    validate.add_argument("path", type=types.path)
    validate.set_defaults(run=cmd_validate)

    add = commands.add_parser("add-model", help="write an ONNX model and its config.pbtxt into a repository")
    add.add_argument("onnx", type=types.path, help="the ONNX file")
    add.add_argument("--name", required=True, help="model name (its directory in the repository)")
    knobs = add.add_mutually_exclusive_group()
    knobs.add_argument("--profile", default="balanced", help="latency, throughput or balanced (default: balanced)")
    knobs.add_argument("--knobs", type=types.path, help="YAML file of serving knobs instead of a profile")
    add.add_argument("--model-repository", type=types.output_dir, default=DEFAULT_REPOSITORY)
    add.add_argument(
        "--version", type=int, default=1, help="the version to write (default: 1); other versions are kept"
    )
    add.add_argument(
        "--force", action="store_true", help="replace that version if it exists, and rewrite the model's config.pbtxt"
    )
    add.add_argument("--dry-run", action="store_true", help="print the config.pbtxt, write nothing")
    add.set_defaults(run=cmd_add_model)

    text = commands.add_parser(
        "add-text-model", help="write <encoder>_text: strings in, a batched tokenizer, the encoder's outputs out"
    )
    text.add_argument("encoder", help="an encoder model of the repository, with the tokenizer/ export wrote")
    text.add_argument("--name", help="the text model's name (default: <encoder>_text)")
    text.add_argument("--padding", choices=("buckets", "longest"), default="buckets",
                      help="pad to fixed length buckets (default), or to the longest text of each batch")  # fmt: skip
    text.add_argument("--buckets", type=types.length_list(MAX_LENGTH, most=32), default=None,  # specs.Buckets
                      help="bucket lengths, e.g. 16,32,64,128 (default: those up to --max-length)")  # fmt: skip
    text.add_argument("--max-length", type=types.bounded_int(1, MAX_LENGTH), default=None,
                      help="texts are truncated at this many tokens (default: 128, or the encoder's "
                      "model_max_length where shorter)")  # fmt: skip
    text.add_argument("--model-repository", type=types.output_dir, default=DEFAULT_REPOSITORY)
    text.add_argument("--force", action="store_true", help="replace the text model and its tokenizer if they exist")
    text.set_defaults(run=cmd_add_text_model)

    serve = commands.add_parser("serve", help="run tritonserver on a model repository (local, or the NGC container)")
    serve.add_argument("--model-repository", type=Path, default=DEFAULT_REPOSITORY)
    serve.add_argument("--http-port", type=types.port, default=8000)
    serve.add_argument("--grpc-port", type=types.port, default=8001)
    serve.add_argument("--metrics-port", type=types.port, default=8002)
    serve.add_argument("--container", action="store_true", help="the NGC container instead of the local server")
    serve.add_argument("--gpus", help="with --container: docker's --gpus value, e.g. all")
    serve.add_argument("--image", help=f"with --container: the image (default: {NGC_IMAGE}, or {TOKENIZERS_IMAGE} "
                       "where a model imports tokenizers: docker/tritonserver builds it)")  # fmt: skip
    serve.add_argument("--print-only", action="store_true", help="with --container: print the command only")
    serve.set_defaults(run=cmd_serve)

    export = commands.add_parser("export", help="export a recipe's model into gated ONNX variants in a repository")
    export.add_argument("recipe", type=types.path, help="export/<model>.yaml")
    export.add_argument(
        "--variants", type=types.variant_list, default=(), help="comma-separated subset, e.g. fp32,int8_dynamic"
    )
    export.add_argument("--model-repository", type=types.output_dir, default=DEFAULT_REPOSITORY)
    export.add_argument("--force", action="store_true", help="replace existing models of the same names")
    export.add_argument("--allow-failed", action="store_true", help="write variants that failed their gates too")
    export.set_defaults(run=cmd_export)

    check = commands.add_parser("check", help="measure every target of a targets file and judge it against its SLO")
    check.add_argument("targets", type=types.path, help="targets/<name>.yaml")
    check.add_argument(
        "--locust", type=types.path, help="judge a Locust run instead: the CSV its --latencies-csv wrote (no new load)"
    )
    check.add_argument("--target", help="with --locust: the target the run is for (default: the only one)")
    _server_arguments(check, "reports/check")
    check.set_defaults(run=cmd_check)

    sweep = commands.add_parser("sweep", help="latency against offered load for one target: knee and max throughput")
    sweep.add_argument("targets", type=types.path, help="targets/<name>.yaml")
    sweep.add_argument("--target", required=True, help="the target (by name) whose model, payload and p99 to sweep")
    sweep.add_argument(
        "--levels",
        type=types.number_list(MAX_LEVEL),
        help="rates (open loop) or concurrencies (closed loop), e.g. 1,2,4,8; "
        "default: doubling from the target's level until p99 is missed",
    )
    sweep.add_argument("--max-steps", type=types.bounded_int(1, MAX_SWEEP_STEPS), default=8, help="default: 8")
    _server_arguments(sweep, "reports/sweep")
    sweep.set_defaults(run=cmd_sweep)

    tune = commands.add_parser("tune", help="find each target's best configuration and the latency/throughput front")
    tune.add_argument("targets", type=types.path, help="targets/<name>.yaml")
    tune.add_argument("--target", action="append", help="tune only this target (repeatable; default: all)")
    tune.add_argument(
        "--variants", type=types.variant_list, default=(), help="e.g. fp32,int8_dynamic (default: all exported)"
    )
    tune.add_argument("--space", type=types.path, help="search space YAML (default: the built-in space)")
    tune.add_argument("--budget-minutes", type=types.bounded_float(0.1, 24 * 60), help="wall time for the whole tune")
    tune.add_argument(
        "--max-trials", type=types.bounded_int(4, 10_000), help="per target (default: 3%% of its space, 10 to 40)"
    )
    tune.add_argument("--resume", action="store_true", help="continue the tune whose trial log is in --report-dir")
    tune.add_argument(
        "--curves", action="store_true", help="also sweep the winner, the minimal config and the profiles (report)"
    )
    _server_arguments(tune, "reports/tune")
    tune.set_defaults(run=cmd_tune)

    plan = commands.add_parser("plan", help="size a deployment from a measured capacity and a traffic profile")
    plan.add_argument("--traffic", type=types.path, required=True, help="traffic profile YAML (see k8s/traffic.yaml)")
    plan.add_argument("--capacity", type=float, help="inferences/s one replica sustains within its SLO")
    plan.add_argument(
        "--results", type=types.path, help="a report's results.json or a tune's tune.json to take the capacity from"
    )
    plan.add_argument("--target", help="with --results: a passing check target, a swept model or a tuned target")
    plan.add_argument("--out", type=types.output_file, help="also write the plan as JSON here")
    plan.set_defaults(run=cmd_plan)

    trace = commands.add_parser("trace", help="synthesise an arrival trace (CSV) from a traffic profile's day")
    trace.add_argument("--traffic", type=types.path, required=True, help="traffic profile YAML (see k8s/traffic.yaml)")
    trace.add_argument("--out", type=types.output_file, required=True, help="the CSV trace to write")
    trace.add_argument(
        "--duration-s", type=types.bounded_float(1, 86_400), default=600.0,
        help="the day compressed into this many seconds, at the profile's rates (default: 600)",
    )  # fmt: skip
    trace.add_argument("--seed", type=types.bounded_int(0, 2**63 - 1), default=0, help="default: 0")
    trace.add_argument("--texts", type=types.path, help="a text file: each request gets one of its lines")
    trace.set_defaults(run=cmd_trace)

    k8s = commands.add_parser("k8s", help="write a kustomize overlay deploying chosen models (kubectl apply -k OUT)")
    k8s.add_argument("out", type=Path, help="the overlay directory to write, e.g. deploy/minilm")
    k8s.add_argument("--flavour", choices=("cpu", "gpu"), default="cpu", help="k8s/overlays/<flavour> (default: cpu)")
    k8s.add_argument("--namespace", default="tritonkit")
    k8s.add_argument("--model", action="append", default=[], help="serve only this model (repeatable; default: all)")
    k8s.add_argument(
        "--model-repository", type=Path, default=DEFAULT_REPOSITORY, help="where --model must exist; picks the image"
    )
    k8s.add_argument("--image-tag", help="the NGC tritonserver tag, e.g. 26.07-py3 (default: the pinned one)")
    k8s.add_argument("--image-digest", help="sha256:<64 hex>: the tritonserver image by digest instead of tag")
    k8s.add_argument("--image", help=f"NAME:TAG or NAME@sha256:…: another image, e.g. {TOKENIZERS_IMAGE} pushed "
                     "to a registry (default: that one where a model imports tokenizers, else NGC's)")  # fmt: skip
    for flag in ("cpu-request", "memory-request", "cpu-limit", "memory-limit"):
        k8s.add_argument(f"--{flag}", help="a Kubernetes quantity, e.g. 2, 500m, 4Gi")
    k8s.add_argument("--min-replicas", type=int, help="the autoscaler's lower bound (1 to 100)")
    k8s.add_argument("--max-replicas", type=int, help="the autoscaler's upper bound (up to 100)")
    k8s.add_argument("--scale-to-zero", action="store_true", help="KEDA instead of the HPA: zero replicas when idle")
    k8s.add_argument("--capacity", type=float, help="with --scale-to-zero: requests/s one replica serves (plan)")
    k8s.add_argument("--models-from", help="s3://BUCKET/PATH or gs://BUCKET/PATH instead of the PVC")
    k8s.add_argument("--models-region", help="with --models-from s3://…: the bucket's region")
    k8s.add_argument("--manifests", type=Path, default=Path("k8s"), help="tritonkit's k8s/ directory (default: k8s)")
    k8s.set_defaults(run=cmd_k8s)

    demo = commands.add_parser("demo", help="export the embedded default model, serve it and query it end to end")
    demo.add_argument("--model-repository", type=types.output_dir, default=DEFAULT_REPOSITORY)
    demo.add_argument(
        "--targets", type=types.path, default=Path("targets/minilm.yaml"), help="the targets file to check"
    )
    demo.add_argument("--report-dir", type=types.output_dir, default=Path("reports/demo"), help="default: reports/demo")
    demo.set_defaults(run=cmd_demo)
    return parser


def _server_arguments(parser: argparse.ArgumentParser, report_dir: str) -> None:
    parser.add_argument(
        "--model-repository", type=types.path, default=DEFAULT_REPOSITORY, help="start the local Triton on it (default)"
    )
    parser.add_argument(
        "--grpc-url", type=types.host_port, help="host:port of a running server's gRPC endpoint, instead of a local one"
    )
    parser.add_argument(
        "--http-url", type=types.host_port, help="host:port of a running server's HTTP endpoint, instead of a local one"
    )
    parser.add_argument("--report-dir", type=types.output_dir, default=Path(report_dir), help=f"default: {report_dir}")


class _Parser(argparse.ArgumentParser):
    """Usage mistakes read like every other bad input: one `error:` line naming the argument, exit 2."""

    def error(self, message: str) -> NoReturn:
        if len(message) > MAX_USAGE_CHARS:  # argparse quotes the offending value whole
            message = message[: MAX_USAGE_CHARS - 1] + "…"
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    with interrupts_unwind(), imports_uninterrupted():
        try:
            args = build_parser().parse_args(argv)
            run: Callable[[argparse.Namespace], int] = args.run
            return run(args)
        except TritonkitError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code
        except BrokenPipeError:  # `tritonkit validate … | head`: the reader left; print nothing more
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except BaseException as exc:
            if not caused_by_interrupt(exc):
                raise
            print("interrupted: stopped", file=sys.stderr)
            return INTERRUPTED_EXIT_CODE


if __name__ == "__main__":
    sys.exit(main())
