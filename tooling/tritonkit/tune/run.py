"""`tritonkit tune`: every target of a targets file tuned on one server, its winner written and
loaded, the trial log kept for --resume, and the results returned for the report."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pydantic import ValidationError

from tritonkit.errors import InputError
from tritonkit.inputs import attempt, listed
from tritonkit.machine import cpu_description, usable_cores
from tritonkit.measure.payloads import payload_file_problems, with_model_files
from tritonkit.measure.preflight import local_fit_problems
from tritonkit.measure.sweep import SweepResult
from tritonkit.measure.trace import busiest_rate_per_s, read_trace
from tritonkit.serving import Serving, serving
from tritonkit.specs import OpenLoopLoad, TargetSpec, TargetsSpec, TextsPayload, TraceLoad
from tritonkit.triton.repository import check_model_name
from tritonkit.triton.text_model import existing_problems, tokenizer_name
from tritonkit.tune.candidate import Candidate
from tritonkit.tune.curves import sweep_configurations
from tritonkit.tune.driver import Progress, TargetTune, Tuner, warmup_length
from tritonkit.tune.family import Family, family_of
from tritonkit.tune.log import LogHeader, TrialLog, digest
from tritonkit.tune.outputs import RECORD_FILE, TuneRecord, record_for, write_tuned
from tritonkit.tune.space import SpaceSpec, candidates
from tritonkit.tune.text_target import TextTarget, encoder_name


@dataclass(frozen=True)
class TuneOutcome:
    family: Family
    tunes: tuple[TargetTune, ...]
    tuned: dict[str, str]  # target name -> the tuned model written for it
    curves: dict[str, dict[str, SweepResult]]  # target name -> configuration -> latency against load
    log_path: Path
    resumed: int  # trials taken from the log instead of measured


def workload_of(target: TargetSpec, family: Family) -> str:
    """What a target measures, as a digest: targets that only differ by name share their trials."""
    return digest(
        {"family": family.name, **target.model_dump(mode="json", include={"load", "payload", "slo", "outputs"})}
    )


def prepare(
    spec: TargetsSpec, repository: Path, variants: Sequence[str], space: SpaceSpec
) -> tuple[Family, list[TargetSpec]]:
    """The family the targets share and the targets with their tokenizers found, every problem
    reported at once before a server starts. `variants` (the flag) narrows the space's own."""
    if not repository.is_dir():
        state = "not a directory" if repository.exists() else "not found"
        raise InputError(f"--model-repository {repository}: {state} (expected the repository export wrote)")
    problems = [] if os.access(repository, os.W_OK) else [f"{repository}: not writable (the winners go there)"]
    families = {}
    converted = [attempt(partial(at_its_busiest, target), problems) for target in spec.targets]
    for target in spec.targets:
        try:
            families[target.name] = family_of(target.model, repository, tuple(variants) or space.variants)
        except InputError as exc:
            problems.append(f"target '{target.name}': {exc}")
    names = {f.name for f in families.values()}
    if len(names) > 1:
        problems.append(f"the targets span several model families ({', '.join(sorted(names))}): pick one with --target")
    targets: list[TargetSpec] = []
    expanded: dict[bool, str] = {}
    for target in (t for t in converted if t is not None):
        family = families.get(target.name)
        if family:
            payload = with_model_files(target.payload, repository / family.model(family.variants[0]))
            target = target.model_copy(update={"payload": payload})
        targets.append(target)
        problems += _target_problems(target, family, space, repository, expanded)
        problems += payload_file_problems(target.payload)
        if family:  # the variants share their inputs: the first one's config tells (a text model's own)
            fitted = target.model if isinstance(target.payload, TextsPayload) else family.model(family.variants[0])
            problems += local_fit_problems(target.name, target.payload, repository / fitted)
    if problems:
        raise InputError("cannot tune:\n" + listed([f"  {p}" for p in dict.fromkeys(problems)]))
    return next(iter(families.values())), targets


def at_its_busiest(target: TargetSpec) -> TargetSpec:
    """A trace target as tune measures it: an open loop at the rate of the trace's busiest 10 s (Poisson
    arrivals, the payload's own requests), since a configuration that meets the SLO there meets it
    all day and a trial lasts seconds, not a day. Other targets as they are."""
    load = target.load
    if not isinstance(load, TraceLoad):
        return target
    rate = busiest_rate_per_s(read_trace(load.file), load.speed)
    fields = {k: v for k, v in load.model_dump().items() if k in OpenLoopLoad.model_fields and k != "mode"}
    try:
        busiest = OpenLoopLoad(**fields, mode="open", rate_per_s=rate)
    except ValidationError as exc:
        why = exc.errors()[0]["msg"]
        raise InputError(f"target '{target.name}': its trace's busiest 10 s, {rate:g}/s: {why}") from None
    return target.model_copy(update={"load": busiest})


def _target_problems(
    target: TargetSpec, family: Family | None, space: SpaceSpec, repository: Path, expanded: dict[bool, str]
) -> list[str]:
    """What stops `target` from being tuned; `expanded` remembers each loop mode's expansion of the
    space (what it found wrong, or ''), which does not depend on the target otherwise."""
    problems = []
    try:
        texts = isinstance(target.payload, TextsPayload)
        warmup_length(TextTarget.of(target, repository).tokens_target(target, repository) if texts else target)
        if family is not None:
            name = family.tuned(target.name)
            encoder = encoder_name(name) if texts else name
            check_model_name(encoder)
            if (repository / encoder).exists() and not (repository / encoder / RECORD_FILE).is_file():
                raise InputError(
                    f"{repository / encoder} exists and tune did not write it: rename the target or move it"
                )
            if texts:
                problems += [f"target '{target.name}': {p}" for p in existing_problems(repository, name, force=True)]
            open_loop = target.load.mode == "open"
            if open_loop not in expanded:
                try:
                    candidates(space, family.variants, usable_cores(), open_loop=open_loop)
                    expanded[open_loop] = ""
                except InputError as exc:
                    expanded[open_loop] = str(exc)
            if expanded[open_loop]:
                raise InputError(expanded[open_loop])
    except InputError as exc:
        problems.append(f"target '{target.name}': {exc}")
    return problems


def _write_winner(
    served: Serving, tuner: Tuner, target: TargetSpec, name: str, winner: Candidate, record: TuneRecord
) -> None:
    """`name`: the winner's config over its variant's ONNX file, or for a texts target a text model
    over that (its encoder encoder_name(name)); loaded, so that it serves exactly what was written."""
    text = tuner.text_target(target)
    variant = tuner.family.model(winner.variant)
    encoder = name if text is None else encoder_name(name)
    write_tuned(served.repository, encoder, variant, tuner.config(winner, target), record)
    if text is not None:
        text.write_winner(served.repository, name, winner.variant, winner.buckets)
        served.load(encoder)
        served.load(tokenizer_name(name))
    served.load(name)


def tune_targets(
    spec: TargetsSpec, repository: Path, space: SpaceSpec, log_path: Path, *, variants: Sequence[str] = (),
    budget_minutes: float | None = None, max_trials: int | None = None, resume: bool = False,
    grpc_url: str | None = None, http_url: str | None = None, curves: bool = False, progress: Progress = print,
) -> TuneOutcome:  # fmt: skip
    if http_url and not grpc_url:
        raise InputError("tuning on a running server needs its --grpc-url (models are reloaded over gRPC)")
    family, targets = prepare(spec, repository, variants, space)
    workloads = {t.name: workload_of(t, family) for t in targets}
    header = LogHeader(family=family.name, variants=family.variants, space=space.digest(), targets=workloads,
                       cores=usable_cores(), machine=cpu_description()[0])  # fmt: skip
    log = TrialLog(log_path, header, resume=resume)
    progress(f"family {family.name}: tuning the variants {', '.join(family.variants)} on {usable_cores()} cores")
    started = time.monotonic()
    tunes, tuned, swept = [], {}, {}
    with serving(spec, repository, grpc_url, http_url) as served:
        tuner = Tuner(served, family, space, log, None, progress)
        for index, target in enumerate(targets, 1):
            # Each target gets its share of the budget: a slow one cannot starve the others.
            if budget_minutes is not None:
                tuner.deadline = started + 60 * budget_minutes * index / len(targets)
            result = tuner.tune(target, workloads[target.name], max_trials)
            tunes.append(result)
            best = result.result.best
            if best is None:
                progress(f"{target.name}: {result.result.note}; nothing written")
                continue
            name = family.tuned(target.name)
            measured = [t for t in result.result.trials if t.figures is not None]
            record = record_for(
                name, target.name, result.objective.describe(), target.slo, family.model(best.candidate.variant), best,
                len(measured), result.candidates, space.digest(), log_path,
            )  # fmt: skip
            _write_winner(served, tuner, target, name, best.candidate, record)
            tuned[target.name] = name
            progress(f"{target.name}: wrote {repository / name} ({best.candidate.describe()}; {result.result.note})")
            if curves:
                swept[target.name] = sweep_configurations(tuner, target, name, best.candidate, progress)
        if served.local is None:  # a running server gets its variants (and text models) back as written
            for variant in family.variants:
                # As an override: Triton 2.51 keeps the last override on a plain reload of
                # unchanged files.
                served.load(family.model(variant), tuner.base(variant))
            for target in targets:
                if (text := tuner.text_target(target)) is not None:
                    text.restore(served)
    return TuneOutcome(family, tuple(tunes), tuned, swept, log_path, log.resumed)
