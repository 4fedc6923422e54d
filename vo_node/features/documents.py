"""The amplitude spectrum of a light curve as documents: a VOTable 1.4 (frequency,
amplitude; PARAMs saying what it was made from) and a PNG plot with the frequencies found by
prewhitening marked and listed. Must not import Flask or psycopg.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from vo_node.db.policy import ProductFile
from vo_node.features.published import PublishedFeatures
from vo_node.products import preview
from vo_node.products.documents import param
from vo_node.votable.document import document_start
from vo_node.votable.markup import element, start_tag

# Part of the plot's cache key: change it whenever the picture changes.
PLOT_VERSION = "1"
WIDTH_PX, HEIGHT_PX, DPI = 900, 420, 100
# The plot shows the spectrum up to this many times the highest frequency found (and at
# least MIN_SHOWN c/d): the grid reaches the pseudo-Nyquist frequency (hundreds of c/d for
# CoRoT), where peaks at a few c/d would be squeezed into the first pixels. The VOTable has
# the whole grid.
SHOWN_FACTOR, MIN_SHOWN = 1.5, 50.0
# Above this many grid points, the plot draws the per-pixel-column envelope (the peaks stay).
MAX_PLOTTED = 20_000
# Rows per BINARY2 block: a multiple of 3, so every block but the last base64-encodes
# without padding and the blocks concatenate into one stream.
_BLOCK_ROWS = 3 * 4096
_ROW = np.dtype([("nulls", "u1"), ("frequency", ">f8"), ("amplitude", ">f8")])


@dataclass(frozen=True)
class Spectrum:
    """An amplitude spectrum: the grid (c/d), the semi-amplitudes (mmag), the frequency
    resolution 1/T and the grid step (c/d)."""

    frequency: np.ndarray
    amplitude: np.ndarray
    resolution: float
    step: float


# -- the VOTable ------------------------------------------------------------------------------


def _field(name: str, unit: str, ucd: str, description: str) -> str:
    attrs = [("name", name), ("datatype", "double"), ("unit", unit), ("ucd", ucd)]
    return f"{start_tag('FIELD', attrs)}{element('DESCRIPTION', (), description)}</FIELD>"


def votable(
    spectrum: Spectrum, product: ProductFile, features: PublishedFeatures
) -> Iterator[bytes]:
    """The VOTable document of ``spectrum``, the amplitude spectrum of ``product``: one
    table (frequency, amplitude) in one BINARY2 stream, PARAMs for what it was made from."""
    n = int(spectrum.frequency.size)
    name = f"CoRoT {product.corotid}, run {product.run_code}, {product.product_type} " + (
        f"{product.version} (product {product.product_id})"
    )
    head = [
        document_start(),
        start_tag("RESOURCE", [("type", "results")]),
        element("INFO", [("name", "QUERY_STATUS"), ("value", "OK")]),
        start_tag("TABLE", [("name", "amplitude_spectrum"), ("nrows", str(n))]),
        element(
            "DESCRIPTION",
            (),
            f"Lomb-Scargle amplitude spectrum of {name}: semi-amplitudes of the good points "
            "(STATUS = 0) in magnitudes, detrended, on a regular frequency grid; the "
            "spectrum the pulsation features (corot.features, corot.frequencies) were found "
            "in, before prewhitening.",
        ),
        param("product_id", product.product_id, "meta.id;meta.dataset", "Product id"),
        param(
            "obs_publisher_did",
            features.obs_publisher_did,
            "meta.ref.ivoid",
            "Dataset identifier of the light curve",
        ),
        param("corotid", product.corotid, "meta.id;meta.main", "CoRoT ID of the star"),
        param(
            "params_id",
            features.params_id,
            "meta.id",
            "The parameter set of the computation (corot.feature_parameters)",
        ),
        param(
            "algorithm_version",
            features.algorithm_version,
            "meta.version",
            "Version of the feature computation",
        ),
        param("software", features.software, "meta.version", "Software, with versions"),
        param(
            "parameters", features.parameters, "meta.code", "Parameters of the computation (JSON)"
        ),
        param(
            "frequency_resolution",
            spectrum.resolution,
            "spect.resolution;em.freq",
            "Frequency resolution 1/T, T the time between the first and last point used",
            "d-1",
        ),
        param(
            "frequency_step",
            spectrum.step,
            "spect.binSize;em.freq",
            "Step of the frequency grid",
            "d-1",
        ),
        param("n_used", features.n_used, "meta.number", "Good points used"),
        _field("frequency", "d-1", "em.freq", "Frequency"),
        _field(
            "amplitude",
            "mmag",
            "src.var.amplitude",
            "Semi-amplitude of a sinusoid at this frequency",
        ),
        '<DATA><BINARY2><STREAM encoding="base64">',
    ]
    yield ("\n".join(head) + "\n").encode()
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n)
        block = np.zeros(stop - start, dtype=_ROW)  # no null flags: every value is finite
        block["frequency"] = spectrum.frequency[start:stop]
        block["amplitude"] = spectrum.amplitude[start:stop]
        yield base64.encodebytes(block.tobytes())
    yield b"</STREAM></BINARY2></DATA>\n</TABLE>\n</RESOURCE>\n</VOTABLE>\n"


# -- the plot ---------------------------------------------------------------------------------


def peak_labels(features: PublishedFeatures) -> list[str]:
    """One line per frequency found: what the plot lists, and what its PNG text says."""
    lines = []
    for f in features.frequencies:
        harmonic = f", harmonic of f{f.harmonic_of}" if f.harmonic_of else ""
        kind = "" if f.kind == "signal" else f" ({f.kind})"
        lines.append(
            f"f{f.rank} = {f.frequency:.4f} c/d, {f.amplitude:.3f} mmag, S/N {f.snr:.1f}"
            f"{harmonic}{kind}"
        )
    return lines


def render_png(spectrum: Spectrum, product: ProductFile, features: PublishedFeatures) -> bytes:
    """The plot of ``spectrum`` with the frequencies of ``features`` marked and listed: a
    WIDTH_PX x HEIGHT_PX PNG whose Description text lists the frequencies too."""
    # Lazily, and never pyplot (see vo_node/products/preview.py).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    top = float(spectrum.frequency[-1])
    highest = max((f.frequency for f in features.frequencies), default=0.0)
    shown = min(top, max(MIN_SHOWN, SHOWN_FACTOR * highest))
    title = (
        f"CoRoT {product.corotid} · run {product.run_code} · "
        f"{product.product_type} {product.version} · amplitude spectrum"
    )
    if shown < top:
        title += f" (to {shown:.0f} of {top:.0f} c/d)"
    axes.set_title(title, fontsize="medium")
    axes.set_xlabel("frequency (c/d)")
    axes.set_ylabel("semi-amplitude (mmag)")
    keep = spectrum.frequency <= shown
    frequency, amplitude = spectrum.frequency[keep], spectrum.amplitude[keep]
    if frequency.size > MAX_PLOTTED:
        envelope = preview.column_envelope(frequency, amplitude, WIDTH_PX)
        axes.vlines(envelope.time, 0.0, envelope.high, colors="tab:blue", linewidth=0.8)
    else:
        axes.plot(frequency, amplitude, color="tab:blue", linewidth=0.7)
    axes.set_xlim(0.0, shown)
    marked = max((f.amplitude for f in features.frequencies), default=0.0)
    axes.set_ylim(0.0, 1.15 * max(float(amplitude.max(initial=0.0)), marked, 1e-6))
    for f in features.frequencies:
        axes.plot([f.frequency], [f.amplitude], "v", color="tab:red", markersize=6)
        axes.annotate(
            f"f{f.rank}",
            (f.frequency, f.amplitude),
            textcoords="offset points",
            xytext=(0, 7),
            ha="center",
            fontsize="small",
            color="tab:red",
        )
    lines = peak_labels(features)
    if lines:
        axes.text(
            0.99,
            0.97,
            "\n".join(lines),
            transform=axes.transAxes,
            ha="right",
            va="top",
            fontsize="x-small",
            family="monospace",
            multialignment="left",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.8"},
        )
    else:
        axes.text(
            0.99,
            0.97,
            "no frequency above the S/N threshold",
            transform=axes.transAxes,
            ha="right",
            va="top",
            fontsize="small",
        )
    metadata: dict[str, Any] = {
        "Software": None,  # the bytes depend on the data, not on the matplotlib release
        "Title": title,
        "Description": "; ".join(lines) or "no frequency above the S/N threshold",
    }
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata=metadata)
    return buffer.getvalue()
