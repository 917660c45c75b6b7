"""report.html as a person sees it: opened in headless Chromium, every embedded plot must decode and
the page must paint. Proves the data: URLs and the markup work in a real browser, offline."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from tests.unit.test_report import FAST, SLOW, SWEEP, VERDICTS
from tritonkit.report import write_report

CHROMIUM = shutil.which("chromium") or next((p for p in ("/usr/bin/chromium",) if os.access(p, os.X_OK)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (neither `chromium` on PATH nor /usr/bin)")

# Appended to a copy of the report only (the report itself has no script): once the page has
# loaded, write each image's decode state into the DOM, where --dump-dom shows it.
PROBE = """<script>
window.addEventListener("load", () => {
  const rows = Array.from(document.images, (img) =>
    `${img.complete && img.naturalWidth > 0} ${img.naturalWidth}x${img.naturalHeight}`);
  const pre = document.createElement("pre");
  pre.id = "image-probe";
  pre.textContent = rows.join("\\n");
  document.body.appendChild(pre);
});
</script>
"""
MATPLOTLIB_BLUE = np.array([31, 119, 180]) / 255  # "C0": the first curve of every plot


def chromium(profile: Path, *args: str) -> str:
    """Run headless Chromium in its own process group, killed whole when done or after 60 s."""
    assert CHROMIUM is not None
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group is gone when Chromium cleaned up itself
            os.killpg(process.pid, signal.SIGKILL)  # else its helpers (zygote, renderers) would linger
        process.wait()
    assert process.returncode == 0, stderr[-3000:]
    return stdout


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("browser") / "report"
    return write_report(directory, title="Browser check", measurements=[FAST, SLOW], verdicts=VERDICTS, sweeps=[SWEEP])


def test_every_plot_decodes_in_chromium(report: Path, tmp_path: Path) -> None:
    html = (report / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"))
    dom = chromium(tmp_path / "profile", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="image-probe">(.*?)</pre>', dom, re.DOTALL)
    assert found, dom[-2000:]
    states = found.group(1).splitlines()
    assert len(states) == len(list((report / "plots").glob("*.png"))) == 4
    assert states == ["true 1000x560"] * 4


def test_the_report_paints_its_tables_and_plots(report: Path, tmp_path: Path) -> None:
    screenshot = tmp_path / "page.png"
    chromium(
        tmp_path / "profile", f"--screenshot={screenshot}", "--window-size=1280,4000", (report / "report.html").as_uri()
    )
    pixels = matplotlib.image.imread(io.BytesIO(screenshot.read_bytes()))[:, :, :3]
    assert pixels.shape[:2] == (4000, 1280)
    assert (pixels < 0.9).any(axis=2).mean() > 0.03, "the page is (nearly) blank"
    blue = (np.abs(pixels - MATPLOTLIB_BLUE) < 0.05).all(axis=2).sum()
    assert blue > 500, "no plot curve painted: matplotlib's blue is missing from the screenshot"
