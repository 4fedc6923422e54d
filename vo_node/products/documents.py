"""The light-curve documents of a product: a VOTable 1.4 and a CSV file, streamed.

The VOTable follows the IVOA conventions for time series in VOTable: one table whose first
column, ``time``, is in MJD (double, unit d, UCD time.epoch) and refers to a TIMESYS
(timeorigin 2400000.5, the product's time scale and reference position); the fluxes carry
UCDs per band and VOUnits; STATUS is kept (meta.code.qual; 0 is a good point); PARAMs name
the product (product id, CoRoT ID, run, version, ...) and carry the photometric parameters of
the primary header. The rows are one BINARY2 stream, encoded a block at a time with numpy.
The CSV file has the same columns under a header line.

Must not import Flask (tests/test_layers.py).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from vo_node.db.policy import ProductFile
from vo_node.products.lightcurve import HEADER_PARAMS, LightCurve, Photometry
from vo_node.votable.document import document_start
from vo_node.votable.fields import FieldSpec
from vo_node.votable.markup import element, start_tag
from vo_node.votable.systems import TimeSys

VOTABLE_MIME = "application/x-votable+xml"
CSV_MIME = "text/csv"
TIMESYS_ID = "time_frame"
MJD_ORIGIN = 2400000.5  # the JD of MJD 0: TIMESYS timeorigin of the time column
# Fluxes are electrons per 32 s, also for 512 s points (docs/corot-files.md): (1/32) e-/s.
# VOUnit knows no electron; a quoted unit is the VOUnit 1.0 form of a unit it does not know.
FLUX_UNIT = "0.03125'electron'/s"
# Rows per BINARY2 block: a multiple of 3, so the base64 of every block but the last needs no
# padding and the blocks concatenate into one valid stream.
_BLOCK_ROWS = 3 * 2048
_CSV_BLOCK_ROWS = 4096
_BAND_UCD = {"red": ";em.opt.R", "green": ";em.opt.V", "blue": ";em.opt.B", "white": ""}
_KIND_TEXT = {
    "flux": "flux",
    "error": "flux error (1 sigma)",
    "correction": "flux removed by the level 2 correction of systematics",
}


@dataclass(frozen=True)
class Column:
    spec: FieldSpec
    values: np.ndarray
    binary: str  # big-endian numpy type of the BINARY2 cell


def _photometry_field(p: Photometry) -> FieldSpec:
    datatype = "double" if p.values.dtype.itemsize == 8 else "float"
    if p.kind == "background":
        ucd, text = "phot.flux;instr.background", "sky background in the photometric window"
    else:
        assert p.band is not None
        band = _BAND_UCD[p.band]
        ucd = {
            "flux": f"phot.flux{band}",
            "error": f"stat.error;phot.flux{band}",
            "correction": f"phot.flux;arith.diff{band}",
        }[p.kind]
        text = f"{p.band} {_KIND_TEXT[p.kind]}"
    description = f"{text[0].upper()}{text[1:]}, electrons per 32 s (FITS column {p.source})"
    return FieldSpec(p.name, datatype, unit=FLUX_UNIT, ucd=ucd, description=description)


def columns(lc: LightCurve, product: ProductFile) -> list[Column]:
    """The document's columns: time, the photometry in file order, STATUS."""
    timesys = TimeSys(TIMESYS_ID, product.time_scale, product.time_refpos, timeorigin=MJD_ORIGIN)
    time = FieldSpec(
        "time",
        "double",
        unit="d",
        ucd="time.epoch",
        timesys=timesys,
        description=(
            f"Time of the point, MJD ({product.time_scale}, {product.time_refpos}; FITS "
            f"column {lc.layout.time_column} of table {lc.layout.hdu})"
        ),
    )
    status = FieldSpec(
        "status",
        "int",
        ucd="meta.code.qual",
        description=(
            f"Quality flags (FITS column {lc.layout.status_column}): 0 is a good point; "
            "bits: 1 out of range, 4 South Atlantic Anomaly, 8 hot pixel or jump, 16 filled"
        ),
    )
    found = [Column(time, lc.time, ">f8")]
    for p in lc.photometry:
        spec = _photometry_field(p)
        found.append(Column(spec, p.values, ">f8" if spec.datatype == "double" else ">f4"))
    found.append(Column(status, lc.status, ">i4"))
    return found


def param(
    name: str,
    value: str | int | float,
    ucd: str,
    description: str,
    unit: str | None = None,
) -> str:
    if isinstance(value, str):
        datatype, arraysize, text = "char", "*", str(value)
    elif isinstance(value, int):
        datatype, arraysize, text = "long", None, str(value)
    else:
        datatype, arraysize, text = "double", None, repr(float(value))
    attrs = [
        ("name", name),
        ("datatype", datatype),
        ("arraysize", arraysize),
        ("unit", unit),
        ("ucd", ucd),
        ("value", text),
    ]
    return f"{start_tag('PARAM', attrs)}{element('DESCRIPTION', (), description)}</PARAM>"


def _params(lc: LightCurve, product: ProductFile) -> list[str]:
    params = [
        param("product_id", product.product_id, "meta.id;meta.dataset", "Product id"),
        param("corotid", product.corotid, "meta.id;meta.main", "CoRoT ID of the star"),
        param("object", f"CoRoT {product.corotid}", "meta.id", "Name of the star"),
        param("run_code", product.run_code, "meta.id;obs", "CoRoT observing run"),
        param("version", product.version, "meta.version", "Product version (archive)"),
        param("level", product.level, "meta.code", "Processing level"),
        param("product_type", product.product_type, "meta.code", "Product type"),
        param("file_name", product.file_name, "meta.id;meta.file", "Stored FITS file"),
    ]
    for key, value in lc.header.items():
        name, unit, ucd, description = HEADER_PARAMS[key]
        params.append(param(name, value, ucd, description, unit))
    return params


def votable(lc: LightCurve, product: ProductFile) -> Iterator[bytes]:
    """The VOTable document of ``lc`` (the light curve of ``product``), in pieces."""
    cols = columns(lc, product)
    time_field = cols[0].spec
    assert time_field.timesys is not None
    head = [
        document_start(),
        start_tag("RESOURCE", [("type", "results")]),
        element("INFO", [("name", "QUERY_STATUS"), ("value", "OK")]),
        element("TIMESYS", time_field.timesys.attributes()),
        start_tag("TABLE", [("name", "lightcurve"), ("nrows", str(len(lc)))]),
        element(
            "DESCRIPTION",
            (),
            f"Light curve of CoRoT {product.corotid}, run {product.run_code}, "
            f"{product.product_type} {product.version} (product {product.product_id})",
        ),
        *_params(lc, product),
        *(
            f"{start_tag('FIELD', c.spec.attributes())}"
            f"{element('DESCRIPTION', (), c.spec.description or '')}</FIELD>"
            for c in cols
        ),
        '<DATA><BINARY2><STREAM encoding="base64">',
    ]
    yield ("\n".join(head) + "\n").encode()
    yield from _binary2(cols, len(lc))
    yield b"</STREAM></BINARY2></DATA>\n</TABLE>\n</RESOURCE>\n</VOTABLE>\n"


def _binary2(cols: Sequence[Column], n: int) -> Iterator[bytes]:
    """BINARY2 rows: per row the null flags (one bit per column, NaN floats are null),
    then the big-endian cells; base64 lines of 76 characters."""
    flag_bytes = (len(cols) + 7) // 8
    dtype = np.dtype(
        [("nulls", "u1", (flag_bytes,))] + [(f"c{i}", c.binary) for i, c in enumerate(cols)]
    )
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n)
        block = np.zeros(stop - start, dtype=dtype)
        for i, c in enumerate(cols):
            values = c.values[start:stop]
            block[f"c{i}"] = values
            if values.dtype.kind == "f":
                block["nulls"][np.isnan(values), i // 8] |= np.uint8(0x80 >> (i % 8))
        encoded = base64.encodebytes(block.tobytes())
        yield encoded


def csv(lc: LightCurve, product: ProductFile) -> Iterator[bytes]:
    """The same columns as CSV (RFC 4180, CRLF line ends): a header line of column names,
    then one line per point; an empty cell is a null."""
    cols = columns(lc, product)
    yield (",".join(c.spec.name for c in cols) + "\r\n").encode()
    n = len(lc)
    for start in range(0, n, _CSV_BLOCK_ROWS):
        stop = min(start + _CSV_BLOCK_ROWS, n)
        texts = []
        for c in cols:
            values = c.values[start:stop]
            # numpy writes the shortest text that reads back as the same value.
            text = values.astype(str)
            if values.dtype.kind == "f":
                text[np.isnan(values)] = ""
            texts.append(text.tolist())
        yield "".join(",".join(row) + "\r\n" for row in zip(*texts, strict=True)).encode()
