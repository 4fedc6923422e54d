"""Reading the light curve of a stored CoRoT product file: its time axis in MJD, its STATUS
flags and its photometry, for the documents of :mod:`vo_node.products.documents`.

``archive.products.layout`` (the ingest reader's name for the file's layout) says which table
holds the light curve and which columns are its time and STATUS; docs/corot-files.md lists
the layouts. Times become MJD exactly as the ingest computes ``t_min``/``t_max``
(``ingest/corot/reader.py``, ``TimeReference.to_mjd`` with its default zero points), so the
first and last valid time equal the product's ``t_min`` and ``t_max``. Every row of the table
is kept (``n_points``): an invalid time (not finite, or not positive) becomes NaN.

Must not import Flask, nor the ``ingest`` package (tests/test_layers.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from vo_node.products.fitstable import map_table, times_ordered

# JD of a column value of 0, per layout family (docs/corot-files.md, "Time columns"): version 4
# columns are JD - 2400000, versions 1-3 the CoRoT Julian Day JD - 2451545. The same numbers
# as the ingest's ReaderConfig defaults; MJD = value + (zero - 2400000.5), computed alike.
_JD_ZERO = {"v4": 2400000.0, "v1-3": 2451545.0}
MJD_JD_ZERO = 2400000.5


@dataclass(frozen=True)
class Layout:
    """Where a layout keeps its light curve: the table, its time and STATUS columns."""

    name: str
    family: str  # 'v4' | 'v1-3'
    hdu: str
    time_column: str
    status_column: str

    @property
    def mjd_offset(self) -> float:
        return _JD_ZERO[self.family] - MJD_JD_ZERO


# The ingest reader's layouts (ingest/corot/reader.py, _LAYOUTS) and the table it takes the
# times of t_min/t_max from.
LAYOUTS: Mapping[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout("v4-exo", "v4", "BAR", "DATEBARTT", "STATUS"),
        Layout("v4-astero", "v4", "BAR", "DATEBARTT", "STATUSBAR"),
        Layout("v1-3-astero", "v1-3", "HEL", "DATEHEL", "HELSTATUS"),
        Layout("v1-3-exo", "v1-3", "BINTABLE", "DATEHEL", "STATUS"),
        Layout("n1-exo", "v4", "BAR", "DATEBARTT", "STATUS"),
        Layout("n1-astero", "v4", "RAW", "DATETT", "RAWSTATUS"),
    )
}

# Photometry columns by name (docs/corot-files.md, "HDU layouts"): (kind, band).
_BANDED = re.compile(r"(RED|GREEN|BLUE|WHITE)(FLUX|FLUXDEV|FLUX_IMAG|CORREC)\Z")
_WHITE = {
    # astero: the white-light flux of each table
    "FLUXBAR": "flux",
    "FLUXDEVBAR": "error",
    "HELFLUX": "flux",
    "HELFLUXDEV": "error",
    "RAWFLUX": "flux",
    "RAWFLUXDEV": "error",
    # v1-3 MON: what the level-2 correction removed
    "CORREC": "correction",
}
_KIND = {"FLUX": "flux", "FLUX_IMAG": "flux", "FLUXDEV": "error", "CORREC": "correction"}
# Primary header keywords the documents carry (docs/corot-files.md, "Primary header"):
# keyword -> (name, unit, ucd, description).
HEADER_PARAMS: Mapping[str, tuple[str, str | None, str, str]] = {
    "EXPTIME": (
        "exptime",
        "s",
        "time.duration;obs.exposure",
        "Nominal sampling of the light curve (FITS EXPTIME); fluxes are per 32 s all the same",
    ),
    "CONTFACT": (
        "contamination",
        None,
        "phot.flux;arith.ratio",
        "Fraction of the flux in the photometric window that comes from neighbouring stars "
        "(FITS CONTFACT)",
    ),
    "HLFCCDID": ("ccd", None, "meta.id;instr.det", "Half-CCD of the window (FITS HLFCCDID)"),
    "WIN_ID": ("window_id", None, "meta.id;instr.det", "Photometric window (FITS WIN_ID)"),
}


class LightCurveError(Exception):
    """The stored file cannot be read as the light curve its layout says it holds."""


@dataclass(frozen=True)
class Photometry:
    """One photometric column of the light curve, in native byte order."""

    name: str  # the document's column name, e.g. 'flux_red', 'flux_white_error'
    source: str  # the FITS column it comes from
    kind: str  # 'flux' | 'error' | 'background' | 'correction'
    band: str | None  # 'red' | 'green' | 'blue' | 'white'; None for the background
    values: np.ndarray  # float32 or float64; NaN is null


@dataclass
class LightCurve:
    layout: Layout
    time: np.ndarray  # float64 MJD, NaN where the file has no valid time
    status: np.ndarray  # int32
    photometry: list[Photometry]
    header: dict[str, int | float | str] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.time.size)


def _classify(name: str) -> tuple[str, str, str | None] | None:
    """(document name, kind, band) of a photometric column; None for the other columns."""
    upper = name.upper()
    match = _BANDED.match(upper)
    if match:
        band, kind = match[1].lower(), _KIND[match[2]]
    elif upper in _WHITE:
        band, kind = "white", _WHITE[upper]
    elif upper == "BG":
        return "background", "background", None
    else:
        return None
    suffix = {"flux": "", "error": "_error", "correction": ""}[kind]
    prefix = "correction" if kind == "correction" else "flux"
    return f"{prefix}_{band}{suffix}", kind, band


def _native(values: Any, dtype: str) -> np.ndarray:
    return np.array(values, dtype=np.dtype(dtype).newbyteorder("="), copy=True)


def _header_params(header: fits.Header) -> dict[str, int | float | str]:
    found: dict[str, int | float | str] = {}
    for key in HEADER_PARAMS:
        value = header.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float) and np.isfinite(value):
            found[key] = value
        elif isinstance(value, str) and value.strip() and value.strip().upper() != "NAN":
            found[key] = value.strip()
    return found


# A time window in MJD: either end may be open (None).
TimeRange = tuple[float | None, float | None]


def _valid(value: float) -> bool:
    return bool(np.isfinite(value) and value > 0)


def _next_valid(times: np.ndarray, index: int, stop: int) -> int:
    """The first index in [index, stop) whose time is valid; ``stop`` if there is none.
    Looks a growing block at a time: invalid times come in short runs, if at all."""
    step = 16
    while index < stop:
        block = np.asarray(times[index : min(index + step, stop)], dtype="f8")
        good = np.flatnonzero(np.isfinite(block) & (block > 0))
        if good.size:
            return index + int(good[0])
        index += block.size
        step *= 4
    return stop


def _boundary(times: np.ndarray, value: float, *, after: bool) -> int:
    """Binary search over the file's time column (rows are in time order; invalid times may
    sit anywhere and are stepped over): the first row whose valid time is >= ``value``, or
    with ``after`` > ``value``. Reads a few dozen values, not the column."""
    low, high = 0, int(times.shape[0])
    while low < high:
        mid = (low + high) // 2
        found = _next_valid(times, mid, high)
        if found == high:
            high = mid  # [mid, high) holds no valid time: the boundary is not inside it
            continue
        t = float(times[found])
        if t < value or (after and t == value):
            low = found + 1
        else:
            high = mid
    return low


def row_range(times: np.ndarray, offset: float, window: TimeRange) -> tuple[int, int]:
    """The rows [start, stop) of a time-ordered column ``times`` (file values; MJD = value +
    ``offset``) that can hold points of the MJD ``window``; a row inside may still have an
    invalid time, so callers mask them out."""
    low, high = window
    n = int(times.shape[0])
    start = 0 if low is None else _boundary(times, low - offset, after=False)
    stop = n if high is None else _boundary(times, high - offset, after=True)
    # One valid point more on each side: the search compares file values, the caller's mask
    # MJDs, and the two roundings may differ on a point at the very edge.
    if start > 0:
        start = _previous_valid(times, start)
    if stop < n:
        stop = _next_valid(times, stop, n) + 1
    return start, min(n, max(start, stop))


def _previous_valid(times: np.ndarray, index: int) -> int:
    """The last index before ``index`` whose time is valid; 0 if there is none."""
    step = 16
    while index > 0:
        begin = max(0, index - step)
        block = np.asarray(times[begin:index], dtype="f8")
        good = np.flatnonzero(np.isfinite(block) & (block > 0))
        if good.size:
            return begin + int(good[-1])
        index = begin
        step *= 4
    return 0


def read_lightcurve(
    path: str | Path,
    layout_name: str,
    *,
    window: TimeRange | None = None,
    columns: frozenset[str] | None = None,
) -> LightCurve:
    """The light curve of the file at ``path``, which has the layout ``layout_name``.
    Raises :class:`LightCurveError` for any file that is not that layout or not readable.

    ``window`` (MJD, ends included) keeps only the points with a valid time inside it; the
    table is memory-mapped (:mod:`vo_node.products.fitstable`) and only the rows of the
    window are read (a binary search on the time column finds them). ``columns`` keeps only
    the photometry of those document names (time and STATUS are always there)."""
    layout = LAYOUTS.get(layout_name)
    if layout is None:
        raise LightCurveError(f"unknown layout {layout_name!r}")
    try:
        mapped = map_table(path, layout.hdu)
        if mapped is not None:
            header = _header_params(mapped.primary)
            return _assemble(layout, header, mapped.rows, window, columns, mapped.ordered)
        # A table the mapper does not handle (scaled columns...): astropy reads it.
        with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
            table = hdul[layout.hdu]
            if not isinstance(table, fits.BinTableHDU):
                raise LightCurveError(f"{layout.hdu} is not a binary table")
            header = _header_params(hdul[0].header)
            data = table.data
            return _assemble(
                layout, header, data, window, columns, lambda name: times_ordered(data[name])
            )
    except LightCurveError:
        raise
    except KeyError as exc:
        raise LightCurveError(f"the file has no table {layout.hdu}") from exc
    except Exception as exc:
        # A stored file is data: whatever a damaged one makes the readers raise (OSError,
        # ValueError, astropy's VerifyError, OverflowError on absurd sizes...) means that
        # it cannot be read, never an internal error of the service.
        text = str(exc).strip().splitlines()
        raise LightCurveError(f"{type(exc).__name__}: {text[0] if text else ''}"[:200]) from exc


def _assemble(
    layout: Layout,
    header: dict[str, int | float | str],
    data: np.ndarray,
    window: TimeRange | None,
    columns: frozenset[str] | None,
    ordered: Callable[[str], bool],
) -> LightCurve:
    """The light curve from the table's records ``data`` (a memmap or astropy's FITS_rec),
    reading only the rows of ``window`` when ``ordered`` says the time column is in time
    order (CoRoT files are; a file that is not is scanned whole, and still cut right)."""
    names = list(data.dtype.names or ())
    upper = {n.upper(): n for n in names}
    for wanted in (layout.time_column, layout.status_column):
        if wanted not in upper:
            raise LightCurveError(f"{layout.hdu} lacks {wanted}")
    start, stop = 0, len(data)
    time_name = upper[layout.time_column]
    if window is not None and (
        times_ordered(data[time_name]) if ordered is None else ordered(time_name)
    ):
        start, stop = row_range(data[time_name], layout.mjd_offset, window)
    rows = data[start:stop]
    raw = _native(rows[upper[layout.time_column]], "f8")
    status = _native(rows[upper[layout.status_column]], "i4")
    photometry: list[Photometry] = []
    for name in names:
        found = _classify(name)
        if found is None or (columns is not None and found[0] not in columns):
            continue
        column = rows[name]
        if column.ndim != 1 or column.dtype.kind not in "fi":
            continue
        dtype = "f8" if column.dtype.itemsize > 4 else "f4"
        values = _native(column, dtype)
        out_name, kind, band = found
        if any(p.name == out_name for p in photometry):
            continue  # a second column of the same meaning: the first one is kept
        if kind == "error" and layout.family == "v1-3":
            # Versions 1-3 write -1 for "no valid error": null here.
            values[values == -1] = np.nan
        photometry.append(Photometry(out_name, name.upper(), kind, band, values))
    valid = np.isfinite(raw) & (raw > 0)
    time = np.full(raw.shape, np.nan)
    time[valid] = raw[valid] + layout.mjd_offset
    if window is not None:
        keep = valid.copy()
        if window[0] is not None:
            keep &= time >= window[0]
        if window[1] is not None:
            keep &= time <= window[1]
        if not keep.all():
            time, status = time[keep], status[keep]
            photometry = [replace(p, values=p.values[keep]) for p in photometry]
    return LightCurve(layout, time, status, photometry, header)


def photometry_names(fits_columns: list[str]) -> list[str]:
    """The document names of the photometry a table with ``fits_columns`` holds, in order
    (the choices a cut-out offers)."""
    found: list[str] = []
    for name in fits_columns:
        classified = _classify(name)
        if classified is not None and classified[0] not in found:
            found.append(classified[0])
    return found
