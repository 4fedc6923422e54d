"""The columns of an SSA 1.1 queryData response, declared as data (STYLE 4, 5).

Each :class:`SsaField` pairs a VOTable FIELD (name, datatype, unit, UCD and the ``ssa:`` utype
of SSA 1.1, section 4.2 and its table of query response metadata) with the SQL expression over
``corot.products`` that fills it. The FIELDs of a result, of ``FORMAT=METADATA`` and the
SELECT list are all derived from :data:`FIELDS`; columns that TAP publishes too take their
metadata from the ``tap_schema`` declaration.

Values fixed for the whole collection (data model, frames, publisher...) are columns holding
a constant rather than PARAMs: clients (pyvo's ``SSARecord``) look utypes up among the
FIELDs. Must not import Flask or psycopg.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tap_schema.corot import PRODUCTS
from vo_node.votable import CooSys, FieldSpec

# CoRoT's CCDs see 370-1000 nm (the white band; the chromatic bands split it).
BAND_MIN_M = 3.7e-7
BAND_MAX_M = 1.0e-6
DATA_MODEL = "Spectrum-1.0"  # SSA 1.1 section 4.2: the data model of the query response
DATASET_TYPE = "timeseries"
FITS_MIME = "application/fits"
ICRS = CooSys("icrs", "ICRS")
PUBDID_ID = "ssa_pubdid"  # XML ID of the FIELD holding each row's dataset identifier


@dataclass(frozen=True)
class SsaField:
    """One result column: ``sql`` is a SELECT-list expression over ``corot.products`` and
    ``fmt`` (the format of the row: ``mime``, the URL ``suffix``) in which ``{did_base}``,
    ``{base_url}`` and ``{publisher}`` stand for the node's constants (filled in as
    literals)."""

    spec: FieldSpec
    sql: str


def _published(
    column_name: str,
    *,
    name: str | None = None,
    utype: str | None = None,
    ucd: str | None = None,
    description: str | None = None,
) -> FieldSpec:
    """The FIELD of a published column of corot.products, renamed and with SSA's utype set
    (and the UCD or description SSA wants, where given)."""
    column = PRODUCTS.column(column_name)
    if column is None:
        raise LookupError(f"corot.products has no column {column_name}")
    spec = FieldSpec.from_column(column, name=name)
    return dataclasses.replace(
        spec,
        utype=utype or spec.utype,
        ucd=ucd or spec.ucd,
        description=description or spec.description,
    )


def _text(name: str, utype: str, ucd: str | None, description: str) -> FieldSpec:
    return FieldSpec(name, "char", "*", ucd=ucd, utype=utype, description=description)


def _wavelength(name: str, utype: str, ucd: str, description: str) -> FieldSpec:
    return FieldSpec(name, "double", unit="m", ucd=ucd, utype=utype, description=description)


# The products' MJD (TT) time system, as TAP declares it: the light curve's middle uses it too.
_MJD = _published("t_min").timesys

FIELDS: tuple[SsaField, ...] = (
    SsaField(
        _published(
            "access_url",
            name="ssa_acref",
            utype="ssa:Access.Reference",
            ucd="meta.ref.url;meta.dataset",
        ),
        "{base_url} || '/products/' || product_id || fmt.suffix",
    ),
    SsaField(
        _text("ssa_format", "ssa:Access.Format", "meta.code.mime", "MIME type of the dataset"),
        "fmt.mime",
    ),
    SsaField(
        _published("file_size", name="ssa_size", utype="ssa:Access.Size"),
        f"CASE WHEN fmt.mime = '{FITS_MIME}' THEN file_size END",  # others are made on request
    ),
    SsaField(
        _text(
            "ssa_dstitle",
            "ssa:DataID.Title",
            "meta.title;meta.dataset",
            "Title of the dataset: star, run, channel, level and version",
        ),
        "'CoRoT ' || corotid || ' ' || run_code || ' ' || channel || ' ' || proc_level"
        " || ' ' || version",
    ),
    SsaField(
        _text(
            "ssa_collection",
            "ssa:DataID.Collection",
            "meta.id",
            "Collection: corot-exo or corot-astero (the mission's two channels)",
        ),
        "'corot-' || channel",
    ),
    SsaField(_published("version", name="ssa_cversion", utype="ssa:DataID.Version"), "version"),
    SsaField(
        _text("ssa_instrument", "ssa:DataID.Instrument", "meta.id;instr", "Instrument"), "'CoRoT'"
    ),
    SsaField(
        _text("ssa_bandpass", "ssa:DataID.Bandpass", "instr.bandpass", "Bandpass"), "'Optical'"
    ),
    SsaField(
        _text("ssa_datasource", "ssa:DataID.DataSource", None, "How the data came about"),
        "'survey'",
    ),
    SsaField(
        _text("ssa_creationtype", "ssa:DataID.CreationType", None, "Process that made the dataset"),
        "'archival'",
    ),
    SsaField(
        dataclasses.replace(
            _text(
                "ssa_pubdid",
                "ssa:Curation.PublisherDID",
                "meta.ref.ivoid",
                "Publisher's dataset identifier (as ObsCore's obs_publisher_did)",
            ),
            id=PUBDID_ID,  # the DataLink descriptor's ID parameter refers to it
        ),
        "{did_base} || '?' || product_id",
    ),
    SsaField(
        _text(
            "ssa_publisher", "ssa:Curation.Publisher", "meta.curation", "Publisher of the datasets"
        ),
        "{publisher}",
    ),
    SsaField(
        _text("ssa_model", "ssa:Dataset.DataModel", None, "Data model and version"),
        f"'{DATA_MODEL}'",
    ),
    SsaField(
        _text("ssa_dstype", "ssa:Dataset.Type", "meta.code.class", "Type of dataset"),
        f"'{DATASET_TYPE}'",
    ),
    SsaField(
        _published(
            "n_points",
            name="ssa_length",
            utype="ssa:Dataset.Length",
            description="Number of points in the light curve",
        ),
        "n_points",
    ),
    SsaField(
        _text("ssa_targname", "ssa:Target.Name", "meta.id;src", "Name of the target star"),
        "'CoRoT ' || corotid",
    ),
    SsaField(
        FieldSpec(
            "ssa_targetpos",
            "double",
            "2",
            unit="deg",
            ucd="pos.eq;src",
            utype="ssa:Target.Pos",
            ref=ICRS.id,
            description="Position of the target",
        ),
        "ARRAY[ra, dec]",
    ),
    SsaField(
        _text(
            "ssa_csysname", "ssa:CoordSys.SpaceFrame.Name", None, "Celestial frame of the positions"
        ),
        "'ICRS'",
    ),
    SsaField(
        FieldSpec(
            "ssa_location",
            "double",
            "2",
            unit="deg",
            ucd="pos.eq",
            utype="ssa:Char.SpatialAxis.Coverage.Location.Value",
            ref=ICRS.id,
            description="Centre of the aperture",
        ),
        "ARRAY[ra, dec]",
    ),
    SsaField(
        FieldSpec(
            "ssa_aperture",
            "double",
            unit="deg",
            ucd="phys.angSize;instr.fov",
            utype="ssa:Char.SpatialAxis.Coverage.Bounds.Extent",
            description="Angular size of the aperture (not recorded: null)",
        ),
        "NULL::float8",
    ),
    SsaField(
        FieldSpec(
            "ssa_dateobs",
            "double",
            unit="d",
            ucd="time.epoch",
            utype="ssa:Char.TimeAxis.Coverage.Location.Value",
            timesys=_MJD,
            description="Middle of the light curve, MJD (TT)",
        ),
        "(t_min + t_max) / 2",
    ),
    SsaField(
        FieldSpec(
            "ssa_timeext",
            "double",
            unit="s",
            ucd="time.duration",
            utype="ssa:Char.TimeAxis.Coverage.Bounds.Extent",
            description="Time from the first to the last point",
        ),
        "(t_max - t_min) * 86400",
    ),
    SsaField(
        _published("t_min", name="ssa_tmin", utype="ssa:Char.TimeAxis.Coverage.Bounds.Start"),
        "t_min",
    ),
    SsaField(
        _published("t_max", name="ssa_tmax", utype="ssa:Char.TimeAxis.Coverage.Bounds.Stop"),
        "t_max",
    ),
    SsaField(
        _wavelength(
            "ssa_specmid",
            "ssa:Char.SpectralAxis.Coverage.Location.Value",
            "em.wl;instr.bandpass",
            "Middle of the band",
        ),
        f"{(BAND_MIN_M + BAND_MAX_M) / 2:.6g}::float8",
    ),
    SsaField(
        _wavelength(
            "ssa_specext",
            "ssa:Char.SpectralAxis.Coverage.Bounds.Extent",
            "em.wl;instr.bandwidth",
            "Width of the band",
        ),
        f"{BAND_MAX_M - BAND_MIN_M:.6g}::float8",
    ),
    SsaField(
        _wavelength(
            "ssa_specstart",
            "ssa:Char.SpectralAxis.Coverage.Bounds.Start",
            "em.wl;stat.min",
            "Shortest wavelength",
        ),
        f"{BAND_MIN_M:.6g}::float8",
    ),
    SsaField(
        _wavelength(
            "ssa_specend",
            "ssa:Char.SpectralAxis.Coverage.Bounds.Stop",
            "em.wl;stat.max",
            "Longest wavelength",
        ),
        f"{BAND_MAX_M:.6g}::float8",
    ),
    SsaField(
        _text("ssa_spectralucd", "ssa:Char.SpectralAxis.Ucd", None, "UCD of the spectral axis"),
        "'em.wl'",
    ),
    SsaField(
        _text("ssa_spectralunit", "ssa:Char.SpectralAxis.Unit", None, "Unit of the spectral axis"),
        "'m'",
    ),
    SsaField(
        _text("ssa_fluxucd", "ssa:Char.FluxAxis.Ucd", None, "UCD of the flux axis"),
        "'phot.flux;em.opt'",
    ),
    SsaField(
        _text(
            "ssa_fluxcalib",
            "ssa:Char.FluxAxis.Calibration",
            None,
            "Flux calibration (electrons per 32 s exposure)",
        ),
        "'UNCALIBRATED'",
    ),
    SsaField(_published("product_id"), "product_id"),
    SsaField(_published("corotid"), "corotid"),
    SsaField(_published("run_code"), "run_code"),
    SsaField(_published("channel"), "channel"),
    SsaField(_published("proc_level"), "proc_level"),
    SsaField(_published("product_type"), "product_type"),
    SsaField(_published("latest"), "latest"),
    SsaField(_published("time_refpos"), "time_refpos"),
)

SPECS: tuple[FieldSpec, ...] = tuple(f.spec for f in FIELDS)
