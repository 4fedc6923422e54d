"""The plan of a sample archive: the catalogue plus which products each star gets (earlier
versions, N1, alert daily files), so that the number of files is known before writing any.

Imports the sibling modules ``catalogue``, ``lightcurves``, ``spec`` and ``timescales``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from ingest.corot.runs import CorotRun
from ingest.sample.catalogue import (
    Observation,
    Star,
    build_catalogue,
    chosen_runs,
    covered_seconds,
)
from ingest.sample.lightcurves import is_oversampled, run_number, stream, time_grid
from ingest.sample.spec import SampleSpec
from ingest.sample.timescales import DAY_S

# Earlier product versions and how much earlier than the final (N2-4.4) file each one ends.
EARLIER_VERSIONS = (("N2-2.1", 6.0, 12.0), ("N2-3.1", 2.0, 6.0))  # (directory, hours min, max)
FINAL_N2, FINAL_N1, ALERT_ROOT = "N2-4.4", "N1-4.4", "N1-ALERT"
_EARLIER_STREAM, _SECOND_VERSION = 0xEA, 5


@dataclass(frozen=True)
class EarlierVersion:
    """An earlier N2 version of a run: its directory and how far before the final end it ends."""

    directory: str
    cut_s: float


@dataclass(frozen=True)
class AlertDay:
    """One daily alert file of an oversampled star: UTC day and its delivery (ISO week)."""

    day: date
    week: str  # ISO week, '2008W02': the delivery directory under N1-ALERT/<RUN>/


@dataclass(frozen=True)
class SamplePlan:
    """Everything decided before writing: stars, earlier versions, alert days."""

    spec: SampleSpec
    stars: tuple[Star, ...]
    earlier: dict[str, tuple[EarlierVersion, ...]]  # by run code
    alert_days: dict[int, tuple[AlertDay, ...]]  # by star index

    @property
    def alert_run(self) -> CorotRun:
        """The run whose oversampled stars have alert deliveries (the first chosen run)."""
        return chosen_runs(self.spec)[0]

    def earlier_for(self, star: Star, obs: Observation) -> tuple[EarlierVersion, ...]:
        """The earlier versions this star gets in this run: always N2-3.1, N2-2.1 for about half."""
        versions = self.earlier.get(obs.run.code, ())
        if not versions:
            return ()
        both = stream(self.spec.seed, star.index, run_number(obs.run), _SECOND_VERSION).random()
        return versions if both < 0.5 else versions[-1:]

    def gets_n1(self, star: Star, obs: Observation) -> bool:
        """N1 product: the chosen stars get one, for their first run."""
        return star.n1 and obs == star.observations[0]

    def files_of(self, star: Star) -> int:
        """How many FITS files the star's job writes."""
        count = 0
        for obs in star.observations:
            count += 1 + len(self.earlier_for(star, obs)) + int(self.gets_n1(star, obs))
        return count + len(self.alert_days.get(star.index, ()))

    def products_of(self, star: Star) -> int:
        """N2 and N1 product files of the star (alert daily files excluded)."""
        return self.files_of(star) - len(self.alert_days.get(star.index, ()))

    def alert_products_of(self, star: Star) -> int:
        """Light curves ingest builds from the star's alert files: one per delivery."""
        return len({d.week for d in self.alert_days.get(star.index, ())})


def _earlier_runs(spec: SampleSpec) -> dict[str, tuple[EarlierVersion, ...]]:
    runs = chosen_runs(spec)
    count = round(spec.earlier_versions_fraction * len(runs))
    if len(runs) >= 2:
        count = max(count, 1)
    rng = stream(spec.seed, _EARLIER_STREAM)
    picked = sorted(int(i) for i in rng.choice(len(runs), count, replace=False)) if count else []
    out: dict[str, tuple[EarlierVersion, ...]] = {}
    for i in picked:
        span = covered_seconds(runs[i], spec.days)
        versions = []
        for directory, low, high in EARLIER_VERSIONS:
            # Never cut more than a quarter of a (very short) light curve.
            cut = min(float(rng.uniform(low, high)) * 3600.0, 0.25 * span)
            versions.append(EarlierVersion(directory, round(cut)))
        out[runs[i].code] = tuple(versions)
    return out


def alert_rows(seed: int, days: float, star: Star) -> tuple[np.ndarray, np.ndarray]:
    """Grid indices of the star's alert points (32 s, after the switch, not in gaps) and the
    UTC day number (days since 1970-01-01) of each."""
    grid = time_grid(seed, days, star, star.observations[0])
    rows = np.flatnonzero(grid.kept & (grid.texp == 32))
    return rows, np.floor(grid.utc_s()[rows] / DAY_S).astype(np.int64)


def _alert_days(spec: SampleSpec, star: Star) -> tuple[AlertDay, ...]:
    _, day_numbers = alert_rows(spec.seed, spec.days, star)
    out = []
    for number in np.unique(day_numbers):
        day = datetime.fromtimestamp(int(number) * DAY_S, tz=UTC).date()
        iso = day.isocalendar()
        out.append(AlertDay(day, f"{iso.year}W{iso.week:02d}"))
    return tuple(out)


def build_plan(spec: SampleSpec) -> SamplePlan:
    """Draw the catalogue and decide every product (deterministic in the spec)."""
    stars = tuple(build_catalogue(spec))
    alert_days = {
        s.index: _alert_days(spec, s)
        for s in stars
        if s.oversampled and is_oversampled(s, s.observations[0])
    }
    return SamplePlan(spec, stars, _earlier_runs(spec), alert_days)
