"""Dependency audit of the environment running this script: every installed distribution is looked
up in the package index's JSON API, whose answers carry the known vulnerabilities (OSV) of a
release. Run with the environment's own Python; prints findings and always exits 0 (a report).

What it can audit depends on what the index answers: the per-release endpoint audits any version
(what pip-audit uses); where only the per-project endpoint answers, its vulnerabilities are those
of the latest release, so only distributions installed at their latest release are audited, and
the others are listed as not audited."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import distributions

from pip._internal.models.index import PyPI  # the index pip itself uses: no address written here


@dataclass(frozen=True)
class Result:
    name: str
    version: str
    how: str  # "release", "latest", or why it was not audited
    vulnerabilities: list[dict[str, object]] = field(default_factory=list)


def fetch(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            answer: dict[str, object] = json.load(response)
            return answer
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def audit(name: str, installed: str) -> Result:
    version = installed.split("+")[0]  # a local build (torch's +cpu) is audited as its release
    try:
        release = fetch(f"{PyPI.pypi_url}/{name}/{version}/json")
        if release is not None:
            return Result(name, version, "release", list(release["vulnerabilities"]))  # type: ignore[call-overload]
        project = fetch(f"{PyPI.pypi_url}/{name}/json")
    except (urllib.error.URLError, TimeoutError) as error:
        return Result(name, version, f"index unreachable ({error})")
    if project is None:
        return Result(name, version, "not on the index")
    latest = str(project["info"]["version"])  # type: ignore[index]
    if latest != version:
        return Result(name, version, f"latest is {latest}; only the latest release's vulnerabilities are served")
    return Result(name, version, "latest", list(project["vulnerabilities"]))  # type: ignore[call-overload]


def main() -> None:
    try:
        fetch(f"{PyPI.pypi_url}/pip/json")
    except (urllib.error.URLError, TimeoutError) as error:  # not one lookup per distribution
        print(f"dependency audit: the package index is unreachable ({error}); nothing audited")
        return
    installed = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version for d in distributions()}
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = sorted(pool.map(lambda item: audit(*item), installed.items()), key=lambda r: r.name)
    audited = [r for r in results if r.how in ("release", "latest")]
    vulnerable = [r for r in audited if r.vulnerabilities]
    for r in vulnerable:
        for v in r.vulnerabilities:
            aliases = ", ".join(map(str, v.get("aliases") or []))  # type: ignore[call-overload]
            fixed = ", ".join(map(str, v.get("fixed_in") or [])) or "no fix released"  # type: ignore[call-overload]
            print(f"VULNERABLE {r.name} {r.version}: {v.get('id')} ({aliases}) fixed in {fixed}")
    for r in results:
        if r not in audited:
            print(f"not audited: {r.name} {r.version}: {r.how}")
    per_release = sum(r.how == "release" for r in audited)
    print(
        f"dependency audit: {len(results)} distributions, {len(audited)} audited "
        f"({per_release} by release, {len(audited) - per_release} at their latest release), "
        f"{len(vulnerable)} with known vulnerabilities, {len(results) - len(audited)} not audited"
    )


if __name__ == "__main__":
    main()
