"""Running STILTS validators (Debian's stilts package) on documents the tests fetched."""

from __future__ import annotations

import subprocess
from pathlib import Path


def votlint(path: Path, *options: str) -> tuple[int, str]:
    """``stilts votlint`` on the file at ``path``: its exit status and its report. votlint
    prints nothing for a valid document; every remark is a finding."""
    lint = subprocess.run(
        ["stilts", "votlint", *options, f"votable={path}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return lint.returncode, (lint.stdout + lint.stderr).strip()


# STILTS 3.4.7 (Debian) carries a copy of the DataLink core vocabulary from before
# #documentation and #coderived joined it (both are in http://www.ivoa.net/rdf/datalink/core
# now); offline it reports them as unknown. Only these two findings are let through.
STALE_VOCABULARY = ("Unknown predicate 'documentation'", "Unknown predicate 'coderived'")


def datalinklint(path: Path) -> tuple[str, list[str]]:
    """``stilts datalinklint`` on the {links} document at ``path``: its whole report and its
    findings (errors, warnings, failures) but those of :data:`STALE_VOCABULARY`."""
    lint = subprocess.run(
        ["stilts", "datalinklint", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = lint.stdout + lint.stderr
    assert "Datalink table rows checked" in report, report[-2000:]
    findings = [
        line
        for line in report.splitlines()
        if line[:2] in ("E-", "W-", "F-") and not any(s in line for s in STALE_VOCABULARY)
    ]
    return report, findings
