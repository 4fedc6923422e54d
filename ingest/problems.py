"""Numbered problems a file can have, each with a stable code an operator can grep and count.

A problem is an *error* (the file is not ingested and goes to quarantine) or a *warning* (the
file is ingested and the code is recorded on the product); ``--strict`` makes warnings errors.
The table below is the documentation: ``vo-node ingest --problems`` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class ProblemKind:
    code: str
    severity: Severity
    title: str


_E, _W = Severity.ERROR, Severity.WARNING

KINDS: dict[str, ProblemKind] = {
    k.code: k
    for k in (
        ProblemKind("LC001", _E, "missing COROTID"),
        ProblemKind("LC002", _E, "missing or malformed RUN_CODE"),
        ProblemKind("LC003", _E, "not a readable FITS file"),
        ProblemKind("LC004", _E, "truncated file: shorter than its headers declare"),
        ProblemKind("LC005", _E, "missing HDU required by the layout"),
        ProblemKind("LC006", _E, "missing column required by the layout"),
        ProblemKind("LC007", _E, "no valid time stamps"),
        ProblemKind("LC008", _E, "file name does not follow the archive's grammar"),
        ProblemKind("LC009", _E, "header disagrees with the file name"),
        ProblemKind("LC010", _W, "product version not found in the path; inferred from the layout"),
        ProblemKind("LC011", _W, "keyword value is not a number"),
        ProblemKind("LC012", _W, "no position in the header"),
        ProblemKind("LC013", _W, "keyword has an unexpected type"),
        ProblemKind("LC014", _W, "time stamps not increasing"),
        ProblemKind("LC015", _E, "same archive path already holds different content"),
        ProblemKind("LC016", _W, "TELESCOP is not COROT"),
        ProblemKind("LC017", _E, "position out of range"),
        ProblemKind("LC018", _E, "alert daily files of one star disagree (run or mode)"),
        ProblemKind("LC019", _W, "run not in the run catalogue"),
        ProblemKind("LC020", _E, "content the reader cannot interpret"),
        ProblemKind("LC021", _W, "layout does not match the version directory"),
        ProblemKind("LC022", _E, "alert daily file outside a delivery directory <RUN>/<yyyy>W<ww>"),
    )
}


@dataclass(frozen=True)
class Problem:
    """One problem found in one file."""

    code: str
    message: str

    @property
    def kind(self) -> ProblemKind:
        return KINDS[self.code]

    def severity(self, strict: bool) -> Severity:
        return Severity.ERROR if strict else self.kind.severity

    def __str__(self) -> str:
        return f"{self.code} {self.kind.title}: {self.message}"


def is_rejected(problems: list[Problem], strict: bool) -> bool:
    return any(p.severity(strict) is Severity.ERROR for p in problems)
