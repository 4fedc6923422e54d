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
