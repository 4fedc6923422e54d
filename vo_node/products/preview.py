"""A PNG preview of a product's light curve (``/products/<id>/preview.png``), and the disk
cache that keeps each preview once rendered.

What is plotted: the white flux where the file has one (every version 4 layout, versions 1-3
MON/IMAG and astero); for versions 1-3 CHR, which has only the three colour channels, their
sum, labelled ``red+green+blue``. CoRoT's white flux *is* the sum of the colour channels
(version 4 CHR writes it beside them), so the previews of the two CHR generations look alike,
and one curve keeps the scale of a transit readable where three curves at three flux levels
would flatten each one to a thin band. The colours themselves are in the VOTable and CSV.

Good points (STATUS 0, finite time and flux) are small blue dots; flagged points (STATUS not
0, finite time and flux) small grey crosses, with their count in the legend. The flux axis
follows the good points, so the outliers that STATUS flags (SAA crossings, jumps) do not
flatten the curve; the flagged points outside that range are left out of the picture but
counted in the legend. Points without a valid time or flux are not plotted.

A long curve (more than :data:`MAX_POINTS` points, e.g. 400,000 for an astero run at 32 s) is
reduced before it is drawn: per pixel column of the figure, its lowest and highest flux
(:func:`column_envelope`), drawn as a vertical bar between them. That is what plotting every
point would show at this size, at the cost of a few thousand segments instead of 400,000
markers, so a preview renders in well under a second.

Must not import Flask (tests/test_layers.py). matplotlib is imported inside
:func:`render_png`: it costs about half a second, which neither the start-up of the app nor a
cached preview should pay. Only :class:`matplotlib.figure.Figure` and the Agg canvas are used,
never pyplot, whose global figure registry is not safe under the server's threads.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vo_node.db.policy import ProductFile
from vo_node.products.lightcurve import LightCurve

if TYPE_CHECKING:  # only for the annotations: matplotlib is imported when a preview is drawn
    from matplotlib.axes import Axes

# Part of every cache key: change it whenever the picture changes, so that no preview
# rendered by an older renderer is served again.
RENDER_VERSION = "1"
WIDTH_PX, HEIGHT_PX, DPI = 800, 400, 100
# Thumbnails: the search results' pictures, dozens a page, so small and bare (no axes).
THUMB_WIDTH_PX, THUMB_HEIGHT_PX = 240, 80
# Above this many points of one kind, draw the per-column envelope instead of the points.
MAX_POINTS = 20_000
# Envelope columns: the figure's width, so at least one per pixel column of the axes.
COLUMNS = WIDTH_PX
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_GOOD_COLOUR, _FLAGGED_COLOUR = "tab:blue", "0.55"


@dataclass(frozen=True)
class PlotPoints:
    """The points of a preview, before any reduction: time in MJD and flux, good and
    flagged apart; ``label`` names the flux (``white``, ``red+green+blue``; empty for a
    file without a flux)."""

    label: str
    good_time: np.ndarray
    good_flux: np.ndarray
    flagged_time: np.ndarray
    flagged_flux: np.ndarray


@dataclass(frozen=True)
class Envelope:
    """The lowest and highest flux of each non-empty column of a curve, in time order;
    ``time`` is the centre of the column."""

    time: np.ndarray
    low: np.ndarray
    high: np.ndarray


def preview_flux(lc: LightCurve) -> tuple[str, np.ndarray] | None:
    """(label, values) of the flux the preview shows; None for a file without a flux."""
    fluxes = {p.band: p.values for p in lc.photometry if p.kind == "flux"}
    if "white" in fluxes:
        return "white", fluxes["white"].astype(np.float64)
    colours = [band for band in ("red", "green", "blue") if band in fluxes]
    if not colours:
        return None
    # A point missing one colour has no white flux: NaN propagates through the sum.
    total = np.sum([fluxes[band].astype(np.float64) for band in colours], axis=0)
    return "+".join(colours), total


def plotted_points(lc: LightCurve) -> PlotPoints:
    """The good and flagged points of the preview of ``lc`` (see the module docstring)."""
    found = preview_flux(lc)
    if found is None:
        empty = np.empty(0)
        return PlotPoints("", empty, empty, empty, empty)
    label, flux = found
    valid = np.isfinite(lc.time) & np.isfinite(flux)
    good = valid & (lc.status == 0)
    flagged = valid & (lc.status != 0)
    return PlotPoints(label, lc.time[good], flux[good], lc.time[flagged], flux[flagged])


def column_envelope(time: np.ndarray, flux: np.ndarray, columns: int = COLUMNS) -> Envelope:
    """The lowest and highest flux per column, ``columns`` equal columns spanning the time
    range of the points. ``time`` and ``flux`` are finite and of equal length."""
    if time.size == 0:
        return Envelope(time, flux, flux)
    start, span = float(time.min()), float(time.max() - time.min())
    if span > 0:
        index = np.minimum(((time - start) / span * columns).astype(np.intp), columns - 1)
    else:
        index = np.zeros(time.size, dtype=np.intp)
    order = np.argsort(index, kind="stable")
    ordered_index, ordered_flux = index[order], flux[order]
    firsts = np.flatnonzero(np.r_[True, ordered_index[1:] != ordered_index[:-1]])
    low = np.minimum.reduceat(ordered_flux, firsts)
    high = np.maximum.reduceat(ordered_flux, firsts)
    centre = start + (ordered_index[firsts] + 0.5) * (span / columns)
    return Envelope(centre, low, high)


def render_png(lc: LightCurve, product: ProductFile) -> bytes:
    """The preview of ``lc``, the light curve of ``product``: a WIDTH_PX x HEIGHT_PX PNG."""
    # Lazily: see the module docstring.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points = plotted_points(lc)
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(
        f"CoRoT {product.corotid} · run {product.run_code} · "
        f"{product.product_type} {product.version}",
        fontsize="medium",
    )
    refpos = f", {product.time_refpos}" if product.time_refpos else ""
    axes.set_xlabel(f"time (MJD, {product.time_scale}{refpos})")
    axes.set_ylabel(f"{points.label} flux (e⁻ per 32 s)".lstrip())
    # MJD values as they are, not as an offset plus a remainder.
    axes.ticklabel_format(axis="x", useOffset=False, style="plain")

    n_good, n_flagged = points.good_time.size, points.flagged_time.size
    if n_good == 0 and n_flagged == 0:
        axes.text(0.5, 0.5, "no valid points", ha="center", va="center", transform=axes.transAxes)
        axes.set_xticks([])
        axes.set_yticks([])
    else:
        _draw_good(axes, points, f"good ({n_good:,})")
        _draw_flagged(axes, points, f"flagged, STATUS ≠ 0 ({n_flagged:,})")
        if n_good:
            low, high = float(points.good_flux.min()), float(points.good_flux.max())
            pad = 0.05 * (high - low) or 0.01 * abs(high) or 1.0
            axes.set_ylim(low - pad, high + pad)
        # A fixed corner: "best" would test every point against the legend box.
        axes.legend(loc="upper right", fontsize="small", markerscale=2.5, framealpha=0.8)
    buffer = io.BytesIO()
    # No Software stamp: the bytes depend on the curve, not on the matplotlib release.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def render_thumbnail(lc: LightCurve) -> bytes:
    """A THUMB_WIDTH_PX x THUMB_HEIGHT_PX sparkline of ``lc``'s good points: their envelope
    per pixel column, no axes, no text (the search results page says what it is)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points = plotted_points(lc)
    figure = Figure(figsize=(THUMB_WIDTH_PX / DPI, THUMB_HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0.01, 0.04, 0.98, 0.92))
    axes.set_axis_off()
    if points.good_time.size:
        envelope = column_envelope(points.good_time, points.good_flux, THUMB_WIDTH_PX)
        axes.fill_between(envelope.time, envelope.low, envelope.high, color="#1f5fa0", lw=0)
        axes.plot(envelope.time, envelope.low, color="#1f5fa0", lw=0.6)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _draw_good(axes: Axes, points: PlotPoints, label: str) -> None:
    time, flux = points.good_time, points.good_flux
    if time.size > MAX_POINTS:
        envelope = column_envelope(time, flux)
        # Projecting caps: a column of one point (low == high) is still a visible dot.
        axes.vlines(
            envelope.time,
            envelope.low,
            envelope.high,
            colors=_GOOD_COLOUR,
            linewidth=1.0,
            capstyle="projecting",
            label=label,
        )
    else:
        axes.plot(
            time, flux, ".", color=_GOOD_COLOUR, markersize=1.5, linestyle="none", label=label
        )


def _draw_flagged(axes: Axes, points: PlotPoints, label: str) -> None:
    time, flux = points.flagged_time, points.flagged_flux
    if time.size > MAX_POINTS:
        # A cross at the lowest and the highest flagged point of each column.
        envelope = column_envelope(time, flux)
        time = np.concatenate([envelope.time, envelope.time])
        flux = np.concatenate([envelope.low, envelope.high])
    axes.plot(
        time,
        flux,
        "x",
        color=_FLAGGED_COLOUR,
        markersize=2.5,
        markeredgewidth=0.6,
        linestyle="none",
        label=label,
        zorder=3,  # above the good points, which may cover a column from bottom to top
    )


class PreviewCache:
    """Rendered previews on disk, ``root/<sha[:2]>/<sha256>-<product id>-<RENDER_VERSION>.png``.

    Keyed by the product file's sha256 and the product id: the picture shows the product's
    own details (CoRoT ID, run, type, version), and two products may hold identical files;
    a product id names another file after a re-ingest (and in every test database), the
    checksum tells them apart. A file is written to a temporary name in its final directory
    and renamed into place, so a reader sees a whole PNG or none, whatever concurrent
    requests or a crash do; two requests that miss together both render, and the second
    rename replaces identical bytes.
    """

    def __init__(self, root: Path, kind: str = "preview") -> None:
        self.root = root
        self.suffix = "" if kind == "preview" else f"-{kind}"

    def key(self, product: ProductFile) -> str:
        """The cache key of the preview of ``product`` (also its ETag)."""
        sha = product.sha256.lower()
        if not _SHA256.match(sha):
            # It becomes a file name: anything else is a bug, not a path to follow.
            raise ValueError(f"product {product.product_id}: sha256 {sha!r} is not a digest")
        return f"{sha}-{int(product.product_id)}-{RENDER_VERSION}{self.suffix}"

    def path(self, product: ProductFile) -> Path:
        key = self.key(product)
        return self.root / key[:2] / f"{key}.png"

    def get(self, product: ProductFile, make: Callable[[], tuple[bytes, bool]]) -> bytes:
        """The preview of ``product``: the cached PNG, else ``make()``'s, kept in the cache when
        ``make`` says so (it was drawn from a copy known to be good). An exception of
        ``make`` propagates and caches nothing."""
        path = self.path(product)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass  # not rendered yet, or the cache was emptied: render
        data, keep = make()
        if keep:
            self._store(path, data)
        return data

    @staticmethod
    def _store(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                # Durable before the rename: after a crash the name holds all of it or nothing.
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
