"""``truth.csv``: what the generator injected, one row per star (not read by ingest).

Columns, in order: corotid (10 digits, zero-padded), channel (exo|astero), ra, dec (deg), mag_v,
mag_r (as in the headers: empty where they read 'NAN'), class (constant|transit|eclipsing|
pulsator|rotation), period_d, depth (fraction), t0_mjd (barycentric TT MJD of mid-transit, primary
eclipse or phase zero), frequencies_cd and amplitudes_mmag (';'-separated, strongest first),
runs (';'-separated run codes), oversampled (0/1), switch_mjd (TT MJD of the first 32 s grid
point), then mag_b, mag_i, lc_type (CHR|MON|IMAG|AN2), spectype, lumclass, n1 (0/1).
Imports the sibling modules ``catalogue``, ``plan`` and ``timescales``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ingest.sample.catalogue import Star
from ingest.sample.plan import SamplePlan
from ingest.sample.timescales import mjd, utc_to_tt

COLUMNS = (
    "corotid",
    "channel",
    "ra",
    "dec",
    "mag_v",
    "mag_r",
    "class",
    "period_d",
    "depth",
    "t0_mjd",
    "frequencies_cd",
    "amplitudes_mmag",
    "runs",
    "oversampled",
    "switch_mjd",
    "mag_b",
    "mag_i",
    "lc_type",
    "spectype",
    "lumclass",
    "n1",
)


def _num(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def truth_row(star: Star) -> list[str]:
    """The truth.csv row of one star."""
    signal = star.signal
    switch = None
    if star.switch_offset_s is not None:
        start = star.observations[0].run.start.timestamp()
        switch = mjd(utc_to_tt(start) + star.switch_offset_s)
    return [
        f"{star.corotid:010d}",
        star.channel,
        _num(star.ra_deg, 6),
        _num(star.dec_deg, 6),
        _num(star.header_mag("V"), 3),
        _num(star.header_mag("R"), 3),
        signal.kind,
        _num(signal.period_d, 6),
        _num(signal.depth, 6),
        _num(signal.t0_mjd, 6) if signal.kind != "constant" else "",
        ";".join(f"{f:.5f}" for f in signal.frequencies_cd),
        ";".join(f"{a:.3f}" for a in signal.amplitudes_mmag),
        ";".join(obs.run.code for obs in star.observations),
        "1" if star.oversampled else "0",
        _num(switch, 8),
        _num(star.header_mag("B"), 3),
        _num(star.header_mag("I"), 3),
        "AN2" if star.channel == "astero" else star.mode,
        star.spectype,
        star.lumclass,
        "1" if star.n1 else "0",
    ]


def write_truth(plan: SamplePlan, path: Path) -> Path:
    """Write truth.csv for every star of the plan; return its path."""
    with path.open("w", newline="", encoding="ascii") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for star in plan.stars:
            writer.writerow(truth_row(star))
    return path
