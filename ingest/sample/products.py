"""The files of one star: its N2-4.4 products, earlier N2 versions, N1 product and N1 alert
daily files, named and placed as docs/corot-files.md says.

One call of :func:`write_star` is the unit of work a generator process runs. Imports the sibling
modules ``catalogue``, ``fitsfiles``, ``lightcurves``, ``plan`` and ``timescales``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from ingest.sample.catalogue import Observation, Star
from ingest.sample.fitsfiles import (
    OPTIONAL_KEYWORDS,
    Oddities,
    TableData,
    exo_bar,
    n1_status,
    primary_cards,
    v4_astero_tables,
    v4_exo_tables,
    v13_astero_tables,
    v13_exo_tables,
    write_fits,
)
from ingest.sample.lightcurves import LightCurve, run_number, simulate, stream
from ingest.sample.plan import ALERT_ROOT, FINAL_N1, FINAL_N2, SamplePlan, alert_rows
from ingest.sample.timescales import stamp

# Shares of files with each header oddity (the 'NAN' magnitudes are drawn per star).
COROTID_STRING_SHARE = 0.03
OMIT_OPTIONAL_SHARE = 0.02
NO_POSITION_SHARE = 0.01
_ODDITY_STREAM, _ALERT_STREAM = 6, 7
_EPOCH = date(1970, 1, 1)  # day numbers count from here


@dataclass(frozen=True)
class WrittenFile:
    """A file the generator wrote: its kind (name prefix), path below out_dir and size."""

    kind: str  # 'EN2_STAR_CHR', 'AN1_STAR', 'EN1_ALERT'...
    path: str  # relative, '/'-separated
    size: int


class _StarWriter:
    """Writes the files of one star, drawing each file's oddities in turn."""

    def __init__(self, plan: SamplePlan, star: Star) -> None:
        self.plan, self.star = plan, star
        self.out = plan.spec.out_dir
        self.written: list[WrittenFile] = []

    def _oddities(self, obs: Observation) -> Oddities:
        ordinal = len(self.written)
        rng = stream(
            self.plan.spec.seed, self.star.index, run_number(obs.run), _ODDITY_STREAM, ordinal
        )
        draws = rng.random(3)
        omitted: tuple[str, ...] = ()
        if draws[1] < OMIT_OPTIONAL_SHARE:
            size = int(rng.integers(1, len(OPTIONAL_KEYWORDS) + 1))
            chosen = rng.choice(len(OPTIONAL_KEYWORDS), size, replace=False)
            omitted = tuple(OPTIONAL_KEYWORDS[i] for i in sorted(chosen))
        return Oddities(
            bool(draws[0] < COROTID_STRING_SHARE), omitted, bool(draws[2] < NO_POSITION_SHARE)
        )

    def _prefix(self, level: str) -> str:
        if self.star.channel == "astero":
            return f"A{level}_STAR"
        return f"E{level}_STAR_{self.star.mode}"

    def _product(
        self,
        directory: str,
        level: str,
        obs: Observation,
        lc: LightCurve,
        rows: np.ndarray,
        family: str,
        tables: list[tuple[str, TableData]],
    ) -> None:
        kind = self._prefix(level)
        name = (
            f"{kind}_{self.star.corotid:010d}_{stamp(lc.utc_s[rows[0]])}"
            f"_{stamp(lc.utc_s[rows[-1]])}.fits"
        )
        start = obs.run.start
        relative = f"{directory}/{start:%Y/%m/%d}/{name}"
        cards = primary_cards(
            self.star, obs, name, family, self.star.cadence_s, self._oddities(obs)
        )
        size = write_fits(self.out / relative, cards, tables)
        self.written.append(WrittenFile(kind, relative, size))

    def write_observation(self, obs: Observation) -> None:
        spec = self.plan.spec
        lc = simulate(spec.seed, spec.days, self.star, obs)
        rows = lc.rows
        astero = self.star.channel == "astero"
        mode = self.star.mode
        final = v4_astero_tables(lc) if astero else v4_exo_tables(lc, mode)
        self._product(FINAL_N2, "N2", obs, lc, rows, "v4", final)
        for version in self.plan.earlier_for(self.star, obs):
            cut = rows[lc.grid.tt_s[rows] <= lc.grid.tt_s[rows[-1]] - version.cut_s]
            tables = v13_astero_tables(lc, cut) if astero else v13_exo_tables(lc, cut, mode)
            self._product(version.directory, "N2", obs, lc, cut, "v1-3", tables)
        if self.plan.gets_n1(self.star, obs):
            tables = (
                v4_astero_tables(lc, n1=True)
                if astero
                else [("BAR", exo_bar(lc, rows, mode, n1_status(lc)))]
            )
            self._product(FINAL_N1, "N1", obs, lc, rows, "v4", tables)
        if self.star.index in self.plan.alert_days and obs == self.star.observations[0]:
            self._alerts(obs, lc)

    def _alerts(self, obs: Observation, lc: LightCurve) -> None:
        spec, star = self.plan.spec, self.star
        rows, day_numbers = alert_rows(spec.seed, spec.days, star)
        status = n1_status(lc)
        rng = stream(spec.seed, star.index, run_number(obs.run), _ALERT_STREAM)
        previous: tuple[str, np.ndarray] | None = None
        for alert in self.plan.alert_days[star.index]:
            number = (alert.day - _EPOCH).days
            day_rows = rows[day_numbers == number]
            body = day_rows
            if previous is not None and previous[0] == alert.week:
                # A delivery's consecutive daily files overlap: the next file repeats the last
                # 1-3 points of the day before (identical rows, which ingest must drop).
                repeat = int(rng.integers(1, 4))
                body = np.concatenate([previous[1][-repeat:], day_rows])
            previous = (alert.week, day_rows)
            name = f"EN1_ALERT_{star.mode}_{star.corotid:010d}_{alert.day:%Y%m%d}.fits"
            relative = f"{ALERT_ROOT}/{obs.run.code}/{alert.week}/{name}"
            extra = (
                ("ALERTDAY", f"{alert.day:%Y-%m-%d}", "UTC date of the points"),
                ("DELIVERY", f"{obs.run.code}_{alert.week}", "weekly alert delivery"),
            )
            # Alert points are all 32 s: that is the nominal sampling of these files.
            cards = primary_cards(star, obs, name, "v4", 32, self._oddities(obs), extra)
            size = write_fits(
                self.out / relative, cards, [("BAR", exo_bar(lc, body, star.mode, status))]
            )
            self.written.append(WrittenFile("EN1_ALERT", relative, size))


def write_star(plan: SamplePlan, star: Star) -> list[WrittenFile]:
    """Simulate and write every file of one star; return them in writing order."""
    writer = _StarWriter(plan, star)
    for obs in star.observations:
        writer.write_observation(obs)
    return writer.written
