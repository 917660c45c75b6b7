"""What a tune leaves behind: each target's winner as `<name>_tuned_<target>` in the repository
(validated by the writer, then loaded to prove it loads) with its provenance in tune_record.json,
and tune.json, the typed results a report and later commands read back."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tritonkit import __version__
from tritonkit.machine import cpu_description, now
from tritonkit.measure.payloads import MODEL_ASSET_FOLDERS
from tritonkit.specs import SloSpec
from tritonkit.triton.model_config import ModelConfig
from tritonkit.triton.repository import write_model
from tritonkit.tune.candidate import Candidate
from tritonkit.tune.trials import Trial, TrialFigures

RECORD_FILE = "tune_record.json"


class TuneRecord(BaseModel):
    """Where a tuned configuration comes from: beside its config.pbtxt."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    model: str
    target: str
    objective: str
    slo: SloSpec
    variant_model: str  # the exported model whose ONNX file it serves
    candidate: Candidate
    figures: TrialFigures  # its confirmed measurement
    trials: int  # measured for the target, confirmations included
    candidates: int  # in the target's space
    space: str  # the space's digest
    log: str  # the trial log
    tritonkit: str = __version__
    machine: str
    created_at: str


def write_tuned(repository: Path, name: str, source_model: str, tuned: ModelConfig, record: TuneRecord) -> Path:
    """Write `name` serving the ONNX file of `source_model` (and its tokenizer or image processor)
    with the tuned config; returns its directory. The writer validates the staged model before it
    replaces one."""
    config = ModelConfig()
    config.CopyFrom(tuned)
    config.name = name
    source = repository / source_model
    onnx = _served_file(source)
    extras = {
        f"{folder}/{f.name}": f
        for folder in MODEL_ASSET_FOLDERS
        for f in sorted((source / folder).glob("*"))
        if f.is_file()
    }
    with tempfile.TemporaryDirectory(prefix="tritonkit-tune-") as scratch:
        record_path = Path(scratch) / RECORD_FILE
        record_path.write_text(record.model_dump_json(indent=2) + "\n")
        return write_model(repository, config, onnx, extra_files=extras | {RECORD_FILE: record_path}, force=True)


def _served_file(model_directory: Path) -> Path:
    """The newest version's model.onnx (the one a `latest` policy serves)."""
    versions = sorted(
        (int(p.parent.name), p) for p in model_directory.glob("[1-9]*/model.onnx") if p.parent.name.isdigit()
    )
    return versions[-1][1]


def record_for(
    name: str, target: str, objective: str, slo: SloSpec, variant_model: str, winner: Trial, trials: int,
    candidates: int, space: str, log: Path,
) -> TuneRecord:  # fmt: skip
    assert winner.figures is not None
    return TuneRecord(
        model=name, target=target, objective=objective, slo=slo, variant_model=variant_model,
        candidate=winner.candidate, figures=winner.figures, trials=trials, candidates=candidates, space=space,
        log=str(log), machine=cpu_description()[0], created_at=now(),
    )  # fmt: skip
