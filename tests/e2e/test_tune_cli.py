"""`tritonkit tune` as users run it: interrupted mid-tune (Ctrl-C), then resumed with --resume,
which takes the logged trials from the log and measures only the rest; the report, tune.json
(with --curves: latency against load of the winner, the minimal config and the profiles) and the
tuned model at the end."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.commands import TRITONKIT, Command
from tests.integration.test_tune import SPACE, TARGETS, tiny_family
from tritonkit.triton.validate import validate_path
from tritonkit.tune.log import TRIAL_LOG, read_trials
from tritonkit.tune.results import TuneResults

pytestmark = pytest.mark.integration
MAX_TRIALS = "6"


def test_an_interrupted_tune_resumes_where_it_stopped(tmp_path: Path) -> None:
    repository = tiny_family(tmp_path)
    (tmp_path / "targets.yaml").write_text(yaml.safe_dump(TARGETS.model_dump(mode="json")))
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(SPACE.model_dump(mode="json")))
    report = tmp_path / "report"
    args = ("tune", tmp_path / "targets.yaml", "--space", tmp_path / "space.yaml", "--max-trials", MAX_TRIALS,
            "--model-repository", repository, "--report-dir", report)  # fmt: skip

    tune = Command(tmp_path, *args)
    tune.wait_for(f"] 3/{MAX_TRIALS} ")
    tune.interrupt()  # exit 130, no server, stub or shared memory left
    _, _, logged = read_trials(report / TRIAL_LOG)
    assert len(logged) >= 3
    assert not (repository / "tiny_tuned_pipeline").exists()  # nothing written for an unfinished tune

    resumed = subprocess.run(
        [*TRITONKIT, *map(str, args), "--resume", "--curves"], capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    from_log = [line for line in resumed.stdout.splitlines() if "[from the log]" in line]
    assert len(from_log) == len(logged)  # none measured again
    results = TuneResults.model_validate_json((report / "tune.json").read_text())
    (target,) = results.targets
    assert target.tuned_model == "tiny_tuned_pipeline" and target.winner is not None
    assert len(target.trials) <= int(MAX_TRIALS)
    assert validate_path(repository / "tiny_tuned_pipeline") == []
    assert (report / "tune.md").read_text().count("| screen |") >= 3
    assert (report / "tune.html").read_text().count("<tr><td>screen</td>") >= 3
    assert (report / "plots" / "pareto_pipeline.png").is_file()
    # --curves: the winner, the minimal config and the three profiles, each at 4 levels
    assert set(target.curves) == {"tuned", "minimal", "latency profile", "throughput profile", "balanced profile"}
    assert all(len(points) == 4 and all(p.p99_ms for p in points) for points in target.curves.values())
    assert (report / "plots" / "load_pipeline.png").is_file()
    assert "tiny_tuned_pipeline" in resumed.stdout
