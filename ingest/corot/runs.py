"""The catalogue of CoRoT exoplanet-field runs, as data.

Used by the CoRoT reader (run dates, eye and pointing of a ``RUN_CODE``) and by the sample-data
generator (which fields exist, when, where). Imports nothing from the rest of the project.

Sources: /work/shared/corot-format.md. Eleven runs have documented UTC dates; the dates of the
other fifteen, every time of day and every pointing are invented (marked below) so that the 26 runs
tile 2007-02-03 .. 2012-11-02 in chronological order without overlapping. Pointings lie inside
their eye (a 10-degree circle on the equator at alpha 102.5 deg for the anticentre, 282.5 deg for
the centre); a few re-use nearly the same pointing, as real re-observations did, so that the same
stars (same CoRoT ID) are seen in several runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

EYE_CENTRES: dict[str, tuple[float, float]] = {
    "anticenter": (102.5, 0.0),  # alpha ~ 06h50, delta ~ 0
    "center": (282.5, 0.0),  # alpha ~ 18h50, delta ~ 0
}
# One exoplanet pointing covers 1.4 deg x 2.8 deg (corot-format.md).
FIELD_WIDTH_DEG = 1.4
FIELD_HEIGHT_DEG = 2.8


@dataclass(frozen=True)
class CorotRun:
    """One CoRoT observing run (an exoplanet field): code, eye, UTC span and pointing."""

    code: str  # 'LRa01'
    eye: str  # 'anticenter' | 'center'
    start: datetime  # UTC, tz-aware
    end: datetime  # UTC, tz-aware
    ra_deg: float  # pointing centre, ICRS degrees
    dec_deg: float

    @property
    def kind(self) -> str:
        """'initial', 'short' or 'long' from the code prefix (IR, SR, LR)."""
        return {"IR": "initial", "SR": "short", "LR": "long"}[self.code[:2]]

    @property
    def duration_days(self) -> float:
        """Length of the run in days."""
        return (self.end - self.start).total_seconds() / 86400.0


def _utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def _run(code: str, start: str, end: str, ra: float, dec: float) -> CorotRun:
    eye = "anticenter" if code[2] == "a" else "center"
    return CorotRun(code, eye, _utc(start), _utc(end), ra, dec)


# Dates of the runs without "invented" are documented (CoRoT Legacy Book); their times of day are
# invented, except LRa01's, which follow the example file name of docs/corot-files.md.
RUNS: tuple[CorotRun, ...] = (
    _run("IRa01", "2007-02-03T09:12:40", "2007-04-02T11:40:03", 102.60, -1.70),
    _run("SRc01", "2007-04-13T14:21:07", "2007-05-09T08:03:55", 280.95, 1.05),
    _run("LRc01", "2007-05-16T06:47:31", "2007-10-05T17:26:18", 280.65, 0.55),
    _run("LRa01", "2007-10-23T12:05:12", "2008-03-03T07:44:21", 101.95, -0.70),
    _run("SRa01", "2008-03-05T10:31:44", "2008-03-31T22:10:09", 102.65, -1.65),  # invented
    _run("LRc02", "2008-04-15T07:58:26", "2008-09-07T13:15:50", 279.60, 6.40),
    _run("SRc02", "2008-09-11T16:02:13", "2008-10-05T04:37:48", 282.70, -1.90),  # invented
    _run("SRa02", "2008-10-10T11:19:35", "2008-11-11T09:52:27", 107.40, -4.00),  # invented
    _run("LRa02", "2008-11-16T08:44:02", "2009-03-10T18:21:36", 100.70, -5.40),  # invented
    _run("LRc03", "2009-04-03T05:26:59", "2009-07-02T20:13:41", 278.60, -7.50),
    _run("LRc04", "2009-07-07T12:38:20", "2009-09-28T06:55:14", 278.70, -7.40),  # invented
    _run("LRa03", "2009-10-03T15:09:47", "2010-03-01T10:27:33", 93.90, 3.60),
    _run("SRa03", "2010-03-05T09:48:11", "2010-03-29T15:30:52", 93.95, 3.55),
    _run("LRc05", "2010-04-08T13:17:25", "2010-07-05T07:49:06", 279.50, 4.80),
    _run("LRc06", "2010-07-09T10:02:58", "2010-09-27T19:36:30", 286.80, -1.80),  # invented
    _run("LRa04", "2010-10-01T06:25:19", "2010-12-20T14:58:44", 97.00, 4.70),  # invented
    _run("LRa05", "2010-12-23T17:11:36", "2011-03-05T08:40:22", 98.60, -1.20),  # invented
    _run("SRc03", "2011-03-09T12:56:03", "2011-04-02T05:14:47", 279.62, 6.38),  # invented
    _run("LRc07", "2011-04-06T08:33:29", "2011-07-04T21:07:15", 283.10, 1.80),  # invented
    _run("LRc08", "2011-07-08T11:45:50", "2011-09-30T09:22:08", 287.40, 3.20),
    _run("SRa04", "2011-10-05T14:07:26", "2011-11-02T06:48:39", 95.50, 1.50),  # invented
    _run("SRa05", "2011-11-07T09:36:12", "2011-12-06T17:19:54", 96.30, 2.60),  # invented
    _run("LRa06", "2012-01-12T10:54:38", "2012-03-29T12:31:05", 101.95, -0.65),
    _run("LRc09", "2012-04-03T07:20:17", "2012-07-02T15:43:28", 282.30, -4.60),  # invented
    _run("LRc10", "2012-07-06T13:28:45", "2012-09-28T08:06:51", 285.10, 5.20),  # invented
    _run("LRa07", "2012-10-03T10:41:22", "2012-11-02T16:25:37", 104.50, -2.60),  # invented
)

_BY_CODE: dict[str, CorotRun] = {run.code.upper(): run for run in RUNS}


def run_by_code(code: str) -> CorotRun | None:
    """The run with this code ('LRa01'; case-insensitive), or None if it is not catalogued."""
    return _BY_CODE.get(code.strip().upper())
