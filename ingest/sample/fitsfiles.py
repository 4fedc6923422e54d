"""Writing the FITS layouts of docs/corot-files.md: primary headers (with their oddities) and
the tables of version 4 exo/astero N2, version 1-3 N2, N1 and N1 alert daily files.

Written with fitsio (about four times faster than astropy.io.fits here, and like astropy it adds
no creation date or checksum, so the bytes depend on the data only). Imports the sibling modules
``catalogue``, ``lightcurves`` and ``timescales``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fitsio
import numpy as np

from ingest.sample.catalogue import Observation, Star
from ingest.sample.lightcurves import (
    STATUS_FILLED,
    STATUS_HOT_PIXEL,
    STATUS_OUT_OF_RANGE,
    LightCurve,
)
from ingest.sample.timescales import COROT_JD_MINUS_MJD, DAY_S, V4_MINUS_MJD, utc_strings

OPTIONAL_KEYWORDS = ("MAGNIT_I", "SPECTYPE", "LUMCLASS", "COLTEMP", "CONTFACT")
_TIME, _FLUX, _INT = "f8", "f4", "i4"
Column = tuple[str, str, np.ndarray]


@dataclass(frozen=True)
class Oddities:
    """The contract's header oddities one file carries (the 'NAN' magnitudes are per star)."""

    corotid_as_string: bool = False
    omitted: tuple[str, ...] = ()  # optional keywords left out
    no_position: bool = False


def primary_cards(
    star: Star,
    obs: Observation,
    filename: str,
    family: str,
    exptime: int,
    odd: Oddities,
    extra: tuple[tuple[str, Any, str], ...] = (),
) -> list[dict[str, Any]]:
    """Primary header cards; ``family`` 'v4' writes ALPHA/DELTA, 'v1-3' writes RA/DEC."""
    corotid: int | str = f"{star.corotid:010d}" if odd.corotid_as_string else star.corotid
    cards: list[tuple[str, Any, str]] = [
        ("TELESCOP", "COROT", "mission"),
        ("FILENAME", filename, ""),  # a comment would push the name into CONTINUE cards
        ("COROTID", corotid, "CoRoT identifier of the star"),
        ("RUN_CODE", obs.run.code, "observing run"),
        ("HLFCCDID", obs.ccd, "half CCD"),
        ("WIN_ID", obs.win_id, "photometric window on the half CCD"),
    ]
    for band in ("B", "V", "R", "I"):
        value = star.header_mag(band)
        # The archive writes a missing magnitude as the string 'NAN'.
        cards.append((f"MAGNIT_{band}", "NAN" if value is None else value, f"{band} magnitude"))
    cards += [
        ("SPECTYPE", star.spectype, "spectral type"),
        ("LUMCLASS", star.lumclass, "luminosity class"),
        ("COLTEMP", star.coltemp, "[K] colour temperature"),
        ("CONTFACT", star.contfact, "contamination factor (0-1)"),
        ("EXPTIME", exptime, "[s] nominal sampling"),
    ]
    if not odd.no_position:
        ra_key, dec_key = ("ALPHA", "DELTA") if family == "v4" else ("RA", "DEC")
        cards += [
            (ra_key, star.ra_deg, "[deg] right ascension (ICRS)"),
            (dec_key, star.dec_deg, "[deg] declination (ICRS)"),
        ]
    cards += list(extra)
    return [{"name": k, "value": v, "comment": c} for k, v, c in cards if k not in odd.omitted]


@dataclass(frozen=True)
class TableData:
    """The columns of one binary table, each a contiguous array of its FITS type."""

    names: list[str]
    arrays: list[np.ndarray]


def _table(columns: list[Column]) -> TableData:
    # Contiguous columns: fitsio writes them about a third faster than a record array.
    return TableData(
        [name for name, _, _ in columns],
        [np.ascontiguousarray(values, dtype=kind) for _, kind, values in columns],
    )


def write_fits(path: Path, cards: list[dict[str, Any]], tables: list[tuple[str, TableData]]) -> int:
    """Write a header-only primary HDU and named binary tables; return the file size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with fitsio.FITS(str(path), "rw", clobber=True) as fits:
        fits.write(None, header=cards)
        for extname, table in tables:
            fits.write(table.arrays, names=table.names, extname=extname)
    return path.stat().st_size


def _v4_times(lc: LightCurve, rows: np.ndarray) -> list[Column]:
    return [
        ("DATE", "S20", utc_strings(lc.utc_s[rows])),
        ("DATETT", _TIME, lc.tt_mjd[rows] + V4_MINUS_MJD),
        ("DATEBARTT", _TIME, lc.bar_mjd[rows] + V4_MINUS_MJD),
    ]


def exo_bar(lc: LightCurve, rows: np.ndarray, mode: str, status: np.ndarray) -> TableData:
    """The v4 exo ``BAR`` table (also the N1 and alert table) for CHR, MON or IMAG."""
    cols = [*_v4_times(lc, rows), ("STATUS", _INT, status[rows])]
    if mode == "CHR":
        for band in ("RED", "GREEN", "BLUE"):
            flux, dev = lc.bands[band]
            cols += [(f"{band}FLUX", _FLUX, flux[rows]), (f"{band}FLUXDEV", _FLUX, dev[rows])]
        cols.append(("WHITEFLUX", _FLUX, lc.white[rows]))
    elif mode == "IMAG":
        for band in ("RED", "GREEN", "BLUE"):
            cols.append((f"{band}FLUX_IMAG", _FLUX, lc.bands[band][0][rows]))
        cols.append(("WHITEFLUX_IMAG", _FLUX, lc.white[rows]))
    else:
        cols += [("WHITEFLUX", _FLUX, lc.white[rows]), ("WHITEFLUXDEV", _FLUX, lc.white_dev[rows])]
    cols.append(("BG", _FLUX, lc.bg[rows]))
    return _table(cols)


def v4_exo_tables(lc: LightCurve, mode: str) -> list[tuple[str, TableData]]:
    """BAR + BARFILL + SYSTEMATIC of a version 4 exo N2 file."""
    rows = lc.rows
    filled, fill_status = lc.filled_white()
    barfill = _table(
        [
            ("DATETT", _TIME, lc.tt_mjd + V4_MINUS_MJD),
            ("DATEBARTT", _TIME, lc.bar_mjd + V4_MINUS_MJD),
            ("WHITEFLUXFIL", _FLUX, filled),
            ("STATUSFIL", _INT, fill_status),
            ("TEXP", _INT, lc.grid.texp),
        ]
    )
    systematic = _table(
        [
            ("DATEBARTT", _TIME, lc.bar_mjd[rows] + V4_MINUS_MJD),
            ("WHITEFLUXSYS", _FLUX, lc.white[rows] / lc.systematics[rows]),
            ("STATUSSYS", _INT, lc.status[rows]),
        ]
    )
    return [
        ("BAR", exo_bar(lc, rows, mode, lc.status)),
        ("BARFILL", barfill),
        ("SYSTEMATIC", systematic),
    ]


def n1_status(lc: LightCurve) -> np.ndarray:
    """N1 flags: hot pixels and jumps are only detected at level N2."""
    return lc.status & ~np.int32(STATUS_HOT_PIXEL)


def _regular(lc: LightCurve, times: np.ndarray, rows: np.ndarray, last: int) -> list[np.ndarray]:
    # A regular 32 s grid on the given (barycentric/heliocentric) time axis: fluxes
    # interpolated from the good points, flagged as filled where no good point is near.
    grid = times[0] + np.arange(last + 1) * (32.0 / DAY_S)
    good_rows = rows[lc.status[rows] == 0]
    corrected = lc.white / lc.systematics
    flux = np.interp(grid, times[good_rows], corrected[good_rows])
    dev = np.interp(grid, times[good_rows], lc.white_dev[good_rows])
    nearest = np.clip(np.rint(np.interp(grid, times, np.arange(times.size))).astype(int), 0, last)
    good = np.zeros(times.size, dtype=bool)
    good[good_rows] = True
    status = np.where(good[nearest], 0, STATUS_FILLED).astype(np.int32)
    return [grid, flux, dev, status]


def v4_astero_tables(lc: LightCurve, n1: bool = False) -> list[tuple[str, TableData]]:
    """RAW + BAR + BARREG of a version 4 AN2 file, or RAW only for AN1."""
    rows = lc.rows
    status = n1_status(lc) if n1 else lc.status
    raw = _table(
        [
            ("DATETT", _TIME, lc.tt_mjd[rows] + V4_MINUS_MJD),
            ("RAWFLUX", _FLUX, lc.white[rows]),
            ("RAWFLUXDEV", _FLUX, lc.white_dev[rows]),
            ("RAWSTATUS", _INT, status[rows]),
            ("BG", _FLUX, lc.bg[rows]),
        ]
    )
    if n1:
        return [("RAW", raw)]
    bar = _table(
        [
            ("DATEBARTT", _TIME, lc.bar_mjd[rows] + V4_MINUS_MJD),
            ("FLUXBAR", _FLUX, lc.white[rows] / lc.systematics[rows]),
            ("FLUXDEVBAR", _FLUX, lc.white_dev[rows]),
            ("STATUSBAR", _INT, lc.status[rows]),
        ]
    )
    reg = _regular(lc, lc.bar_mjd + V4_MINUS_MJD, rows, lc.tt_mjd.size - 1)
    barreg = _table(
        [
            (name, kind, values)
            for (name, kind), values in zip(
                (
                    ("DATEBARREGTT", _TIME),
                    ("FLUXBARREG", _FLUX),
                    ("FLUXDEVBARREG", _FLUX),
                    ("STATUSBARREG", _INT),
                ),
                reg,
                strict=True,
            )
        ]
    )
    return [("RAW", raw), ("BAR", bar), ("BARREG", barreg)]


def _v13_dev(lc: LightCurve, dev: np.ndarray, rows: np.ndarray) -> np.ndarray:
    # Versions 1-3 write -1 where the error is not valid (out-of-range readings).
    return np.where(lc.status[rows] & STATUS_OUT_OF_RANGE, -1.0, dev[rows])


def v13_exo_tables(lc: LightCurve, rows: np.ndarray, mode: str) -> list[tuple[str, TableData]]:
    """The single ``BINTABLE`` of a version 1-3 exo file (IMAG uses the MON layout)."""
    cols: list[Column] = [
        ("DATE", "S20", utc_strings(lc.utc_s[rows])),
        ("DATEJD", _TIME, lc.tt_mjd[rows] + COROT_JD_MINUS_MJD),
        ("DATEHEL", _TIME, lc.bar_mjd[rows] + COROT_JD_MINUS_MJD),
        ("STATUS", _INT, lc.status[rows]),
    ]
    # N1 minus N2: what the level-2 correction of instrumental systematics removed.
    removed = 1.0 - 1.0 / lc.systematics[rows]
    if mode == "CHR":
        for band in ("RED", "GREEN", "BLUE"):
            flux, dev = lc.bands[band]
            cols += [
                (f"{band}FLUX", _FLUX, flux[rows]),
                (f"{band}FLUXDEV", _FLUX, _v13_dev(lc, dev, rows)),
            ]
        cols.append(("BG", _FLUX, lc.bg[rows]))
        cols += [
            (f"{band}CORREC", _FLUX, lc.bands[band][0][rows] * removed)
            for band in ("RED", "GREEN", "BLUE")
        ]
    else:
        cols += [
            ("WHITEFLUX", _FLUX, lc.white[rows]),
            ("WHITEFLUXDEV", _FLUX, _v13_dev(lc, lc.white_dev, rows)),
            ("BG", _FLUX, lc.bg[rows]),
            ("CORREC", _FLUX, lc.white[rows] * removed),
        ]
    return [("BINTABLE", _table(cols))]


def v13_astero_tables(lc: LightCurve, rows: np.ndarray) -> list[tuple[str, TableData]]:
    """RAW + HEL + HELREG of a version 1-3 AN2 file."""
    hel = lc.bar_mjd + COROT_JD_MINUS_MJD
    raw = _table(
        [
            ("DATEJD", _TIME, lc.tt_mjd[rows] + COROT_JD_MINUS_MJD),
            ("RAWFLUX", _FLUX, lc.white[rows]),
            ("RAWFLUXDEV", _FLUX, _v13_dev(lc, lc.white_dev, rows)),
            ("RAWSTATUS", _INT, lc.status[rows]),
            ("BG", _FLUX, lc.bg[rows]),
        ]
    )
    helio = _table(
        [
            ("DATEHEL", _TIME, hel[rows]),
            ("HELFLUX", _FLUX, lc.white[rows] / lc.systematics[rows]),
            ("HELFLUXDEV", _FLUX, _v13_dev(lc, lc.white_dev, rows)),
            ("HELSTATUS", _INT, lc.status[rows]),
        ]
    )
    reg = _regular(lc, hel, rows, int(rows[-1]))
    helreg = _table(
        [
            (name, kind, values)
            for (name, kind), values in zip(
                (
                    ("DATEHELREG", _TIME),
                    ("HELREGFLUX", _FLUX),
                    ("HELREGFLUXDEV", _FLUX),
                    ("HELREGSTATUS", _INT),
                ),
                reg,
                strict=True,
            )
        ]
    )
    return [("RAW", raw), ("HEL", helio), ("HELREG", helreg)]
