"""SODA 1.0 sync cut-outs of a light curve: the points within a TIME interval (MJD), a choice
of photometric columns (COLUMN, this service's own parameter), in FITS, VOTable or CSV.

The file is memory-mapped and a binary search on its time column finds the rows of the
interval (:func:`vo_node.products.lightcurve.row_range`): a one-day cut-out of a 150-day light
curve reads a few pages, not the file. A FITS cut-out keeps the archived table's columns,
units and header keywords, with only the rows (and columns) asked for; VOTable and CSV are
the light-curve documents of :mod:`vo_node.products.documents` over the same points.

Must not import Flask.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from astropy.io import fits

from vo_node.datalink.descriptors import CUTOUT_FORMATS
from vo_node.datalink.ids import parse_id
from vo_node.db.policy import ProductFile
from vo_node.http.params import DaliParams, UsageError, quoted
from vo_node.products import documents
from vo_node.products.fitstable import MappedTable, map_table, table_bytes, times_ordered
from vo_node.products.lightcurve import (
    LAYOUTS,
    LightCurveError,
    TimeRange,
    photometry_names,
    read_lightcurve,
    row_range,
)

# RESPONSEFORMAT spellings -> the MIME type of the cut-out.
_FORMATS = {
    "application/fits": "application/fits",
    "fits": "application/fits",
    "image/fits": "application/fits",
    "application/x-votable+xml": "application/x-votable+xml",
    "votable": "application/x-votable+xml",
    "text/xml": "application/x-votable+xml",
    "text/csv": "text/csv",
    "csv": "text/csv",
}
_SUFFIX = {"application/fits": ".fits", "application/x-votable+xml": ".vot", "text/csv": ".csv"}
_SPACES = re.compile(r"[ \t]+")
_NUMBER = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?)\Z", re.I
)
# FITS keywords that describe a table's structure: written anew for the cut-out's columns.
_STRUCTURE = re.compile(
    r"(XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|TFIELDS|T(TYPE|FORM|UNIT|DISP|NULL|SCAL|ZERO|DIM"
    r"|DMIN|DMAX|LMIN|LMAX|COMM|UCD|UTYP)\d+)\Z"
)


@dataclass(frozen=True)
class CutoutRequest:
    identifier: str
    product_id: int
    window: TimeRange | None
    columns: frozenset[str] | None
    mime: str

    @classmethod
    def parse(cls, params: DaliParams, did_base: str) -> CutoutRequest:
        ids = params.getlist("ID")
        if len(ids) != 1:
            raise UsageError(
                "UsageFault: a cut-out needs exactly one ID"
                + ("" if not ids else f" (got {len(ids)}: ask once per light curve)")
            )
        identifier = ids[0]
        product_id = parse_id(identifier, did_base)
        if product_id is None:
            raise UsageError(
                f"UsageFault: {quoted(identifier)} is not an identifier of this service; "
                f"expected {did_base}?<number> or a product_id"
            )
        times = params.getlist("TIME")
        if len(times) > 1:
            raise UsageError("UsageFault: TIME may be given once (one interval per cut-out)")
        window = _interval(times[0]) if times else None
        columns = [c.strip() for c in params.getlist("COLUMN") if c.strip()]
        format_text = (params.get("RESPONSEFORMAT") or CUTOUT_FORMATS[0]).strip()
        mime = _FORMATS.get(format_text.lower())
        if mime is None:
            raise UsageError(
                f"UsageFault: RESPONSEFORMAT={quoted(format_text)} is not offered; "
                f"use one of {', '.join(CUTOUT_FORMATS)}"
            )
        return cls(identifier, product_id, window, frozenset(columns) or None, mime)

    @property
    def suffix(self) -> str:
        return _SUFFIX[self.mime]


def _interval(text: str) -> TimeRange:
    """A DALI interval: two numbers (MJD) separated by spaces; -Inf as the low end or +Inf as
    the high end leaves that end open. Plain ASCII numbers only: Python's float() would take
    '1_0' and other scripts' digits too."""
    parts = _SPACES.split(text.strip(" \t"))
    if len(parts) != 2:
        raise UsageError(
            f"UsageFault: TIME={quoted(text)} is not an interval: give two MJDs, low high"
        )
    ends: list[float] = []
    for part in parts:
        if not _NUMBER.match(part):
            raise UsageError(f"UsageFault: TIME={quoted(text)}: {quoted(part)} is not a number")
        ends.append(float(part))  # overflows to +-inf, as a DALI interval may say
    low, high = ends
    if low > high:
        raise UsageError(
            f"UsageFault: TIME={quoted(text)}: the low end must not exceed the high end"
        )
    if low == math.inf or high == -math.inf:
        raise NoOverlap(f"NoOverlap: TIME={quoted(text)} lies beyond every light curve")
    return (None if low == -math.inf else low, None if high == math.inf else high)


class NoOverlap(UsageError):
    """The interval misses the light curve: SODA answers that with an error, not with an
    empty cut-out."""


@lru_cache(maxsize=8192)
def _file_photometry(path: str, layout_name: str, sha256: str) -> tuple[str, ...]:
    # Keyed by the checksum too: a path is one file's forever, but being explicit is cheap.
    del sha256
    layout = LAYOUTS[layout_name]
    table = map_table(path, layout.hdu)
    if table is not None:
        return tuple(photometry_names(table.names))
    with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
        hdu = hdul[layout.hdu]
        if not isinstance(hdu, fits.BinTableHDU):
            raise LightCurveError(f"{layout.hdu} is not a binary table")
        return tuple(photometry_names(list(hdu.columns.names)))


def file_photometry(path: str | Path, layout: str, sha256: str) -> tuple[str, ...]:
    """The photometric columns (document names) of a stored file with ``layout``: the COLUMN
    choices of its cut-outs. Only the headers are read, once per file and process."""
    if layout not in LAYOUTS:
        raise LightCurveError(f"unknown layout {layout!r}")
    try:
        return _file_photometry(str(path), layout, sha256)
    except LightCurveError:
        raise
    except Exception as exc:  # whatever a damaged file makes the reader raise: unreadable
        raise LightCurveError(f"{type(exc).__name__}: {exc}"[:200]) from exc


def check_request(request: CutoutRequest, product: ProductFile, offered: tuple[str, ...]) -> None:
    """Refuse what cannot be cut from this product (before any byte is written)."""
    if request.columns is not None:
        unknown = sorted(request.columns - set(offered))
        if unknown:
            raise UsageError(
                f"UsageFault: COLUMN {quoted(', '.join(unknown))} is not a column of this light "
                f"curve; it has {', '.join(offered)}"
            )
    if request.window is not None:
        low, high = request.window
        # t_min/t_max are the first and last valid times of the file (the ingest's).
        if (low is not None and low > product.t_max) or (high is not None and high < product.t_min):
            raise NoOverlap(
                f"NoOverlap: TIME {_show(low)} {_show(high)} misses the light curve, which "
                f"runs from MJD {product.t_min!r} to {product.t_max!r}"
            )


def _show(value: float | None) -> str:
    return "-Inf" if value is None else repr(value)


def cutout(path: str | Path, product: ProductFile, request: CutoutRequest) -> Iterator[bytes]:
    """The cut-out document in pieces. Reading happens before the first piece is returned
    (a bad file raises LightCurveError here, not in the middle of a response)."""
    if request.mime == "application/fits":
        return iter([fits_cutout(path, product, request)])
    lightcurve = read_lightcurve(
        path, product.layout, window=request.window, columns=request.columns
    )
    if request.mime == "text/csv":
        return documents.csv(lightcurve, product)
    return documents.votable(lightcurve, product)


def fits_cutout(path: str | Path, product: ProductFile, request: CutoutRequest) -> bytes:
    """A FITS file: the archived primary HDU, and the light-curve table with the rows of the
    window and the asked-for columns (all when none were named), its header kept."""
    layout = LAYOUTS[product.layout]
    try:
        table = map_table(path, layout.hdu)
        if table is None:  # a table the mapper does not handle: astropy writes it
            return _fits_cutout_astropy(path, product, request)
        upper = {n.upper(): n for n in table.names}
        time_name = upper.get(layout.time_column)
        if time_name is None or layout.status_column not in upper:
            raise LightCurveError(f"{layout.hdu} lacks its time or STATUS column")
        start, stop = 0, len(table.rows)
        if request.window is not None and table.ordered(time_name):
            start, stop = row_range(table.rows[time_name], layout.mjd_offset, request.window)
        rows = table.rows[start:stop]
        keep = _rows_in(rows[time_name], layout.mjd_offset, request.window)
        chosen = _fits_columns(table.names, request.columns)
        kept = [name for name in table.names if name in chosen]
        return table_bytes(table, rows[keep], kept, _history(product, request, keep, table))
    except LightCurveError:
        raise
    except KeyError as exc:
        raise LightCurveError(f"the file has no table {layout.hdu}") from exc
    except Exception as exc:  # whatever a damaged file makes the reader raise: unreadable
        raise LightCurveError(f"{type(exc).__name__}: {exc}"[:200]) from exc


def _history(
    product: ProductFile, request: CutoutRequest, keep: np.ndarray, table: MappedTable
) -> str:
    return (
        f"SODA cut-out of product {product.product_id}: TIME {_window_text(request.window)} "
        f"(MJD), {int(np.count_nonzero(keep))} of {len(table.rows)} rows"
    )


def _fits_cutout_astropy(path: str | Path, product: ProductFile, request: CutoutRequest) -> bytes:
    """:func:`fits_cutout` through astropy, for tables the mapper does not handle."""
    layout = LAYOUTS[product.layout]
    with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
        primary = fits.PrimaryHDU(header=hdul[0].header.copy())
        table = hdul[layout.hdu]
        if not isinstance(table, fits.BinTableHDU):
            raise LightCurveError(f"{layout.hdu} is not a binary table")
        data = table.data
        upper = {n.upper(): n for n in data.columns.names}
        time_name = upper.get(layout.time_column)
        if time_name is None or layout.status_column not in upper:
            raise LightCurveError(f"{layout.hdu} lacks its time or STATUS column")
        start, stop = 0, len(data)
        if request.window is not None and times_ordered(data.field(time_name)):
            start, stop = row_range(data.field(time_name), layout.mjd_offset, request.window)
        rows = data[start:stop]
        keep = _rows_in(rows.field(time_name), layout.mjd_offset, request.window)
        chosen = _fits_columns(list(data.columns.names), request.columns)
        columns = [
            fits.Column(
                name=c.name,
                format=c.format,
                unit=c.unit,
                disp=c.disp,
                null=c.null,
                bscale=c.bscale,
                bzero=c.bzero,
                dim=c.dim,
                array=np.asarray(rows.field(c.name))[keep],
            )
            for c in data.columns
            if c.name in chosen
        ]
        header = fits.Header(
            [card for card in table.header.cards if not _STRUCTURE.match(card.keyword)]
        )
        for keyword in ("CHECKSUM", "DATASUM"):
            header.remove(keyword, ignore_missing=True, remove_all=True)
        hdu = fits.BinTableHDU.from_columns(columns, header=header, name=table.name)
        hdu.header.add_history(
            f"SODA cut-out of product {product.product_id}: TIME "
            f"{_window_text(request.window)} (MJD), {int(np.count_nonzero(keep))} of "
            f"{len(data)} rows"
        )
        out = io.BytesIO()
        fits.HDUList([primary, hdu]).writeto(out, output_verify="silentfix")
        return out.getvalue()


def _window_text(window: TimeRange | None) -> str:
    if window is None:
        return "all"
    return f"{_show(window[0])} {'+Inf' if window[1] is None else repr(window[1])}"


def _rows_in(raw: np.ndarray, offset: float, window: TimeRange | None) -> np.ndarray:
    """Which rows to keep: all without a window; else those with a valid time inside it (in
    MJD, computed as the documents compute it)."""
    values = np.asarray(raw, dtype="f8")
    if window is None:
        return np.ones(values.shape, dtype=bool)
    keep = np.isfinite(values) & (values > 0)
    mjd = np.where(keep, values + offset, np.nan)
    if window[0] is not None:
        keep &= mjd >= window[0]
    if window[1] is not None:
        keep &= mjd <= window[1]
    return keep


def _fits_columns(names: list[str], wanted: frozenset[str] | None) -> set[str]:
    """The table's columns a FITS cut-out keeps: all, or the time columns, STATUS and the
    photometry asked for (by document name)."""
    if wanted is None:
        return set(names)
    kept = set()
    for name in names:
        document_names = photometry_names([name])
        if not document_names or document_names[0] in wanted:
            kept.add(name)  # not photometry (times, STATUS, ...) or a wanted column
    return kept
