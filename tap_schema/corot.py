"""The CoRoT schema: stars, runs, and one row per light-curve product version."""

from __future__ import annotations

from tap_schema.features import FEATURE_PARAMETERS, FEATURES, FREQUENCIES
from tap_schema.model import Column, ForeignKey, Schema, Table
from tap_schema.times import PRODUCT_TIMES, RUN_TIMES

_MAG = "mag"


def _position(principal: bool = True) -> tuple[Column, ...]:
    """RA/Dec in degrees and the same position as a DALI point (indexed, pgSphere)."""
    return (
        Column(
            "ra",
            "double",
            "Right ascension (ICRS)",
            "pos.eq.ra;meta.main",
            "deg",
            principal=principal,
        ),
        Column(
            "dec",
            "double",
            "Declination (ICRS)",
            "pos.eq.dec;meta.main",
            "deg",
            principal=principal,
        ),
        Column(
            "pos",
            "double",
            "Position as a point, for ADQL geometry (cone searches use its spatial index)",
            "pos.eq;meta.main",
            "deg",
            xtype="point",
            arraysize="2",
            indexed=True,
        ),
    )


STARS = Table(
    "corot",
    "stars",
    "Target stars of CoRoT, by CoRoT ID, with the magnitudes and classification of the "
    "mission's input catalogue as written in the product headers.",
    (
        Column(
            "corotid",
            "long",
            "CoRoT identifier of the star",
            "meta.id;meta.main",
            principal=True,
            indexed=True,
            nullable=False,
        ),
        Column(
            "name",
            "char",
            "Designation, 'CoRoT <id>'",
            "meta.id",
            arraysize="*",
            principal=True,
            nullable=False,
        ),
        *_position(),
        Column("mag_b", "float", "Johnson B magnitude", "phot.mag;em.opt.B", _MAG),
        Column("mag_v", "float", "Johnson V magnitude", "phot.mag;em.opt.V", _MAG, principal=True),
        Column("mag_r", "float", "R magnitude", "phot.mag;em.opt.R", _MAG, principal=True),
        Column("mag_i", "float", "I magnitude", "phot.mag;em.opt.I", _MAG),
        Column("spectral_type", "char", "Spectral type", "src.spType", arraysize="*"),
        Column("lum_class", "char", "Luminosity class", "src.class.luminosity", arraysize="*"),
        Column("teff", "float", "Colour temperature", "phys.temperature.effective", "K"),
        Column(
            "contamination",
            "float",
            "Fraction of the flux in the aperture that comes from other stars",
            "arith.ratio",
        ),
    ),
)

RUNS = Table(
    "corot",
    "runs",
    "Observing runs: one pointing of the satellite. Codes are <IR|SR|LR><a|c><nn>: initial, "
    "short or long run, anticentre or centre eye.",
    (
        Column(
            "run_code",
            "char",
            "Run code, e.g. LRa01",
            "meta.id;obs",
            arraysize="*",
            principal=True,
            indexed=True,
            nullable=False,
        ),
        Column(
            "eye",
            "char",
            "Galactic eye: anticenter or center",
            "meta.code",
            arraysize="*",
            principal=True,
        ),
        Column("kind", "char", "initial, short or long run", "meta.code", arraysize="*"),
        Column(
            "start_time",
            "char",
            "Start of the run (UTC)",
            "time.start",
            arraysize="*",
            xtype="timestamp",
            principal=True,
        ),
        Column(
            "end_time",
            "char",
            "End of the run (UTC)",
            "time.end",
            arraysize="*",
            xtype="timestamp",
            principal=True,
        ),
        Column(
            "t_start",
            "double",
            "Start of the run as MJD (UTC)",
            "time.start",
            "d",
            timesys=RUN_TIMES,
        ),
        Column(
            "t_end", "double", "End of the run as MJD (UTC)", "time.end", "d", timesys=RUN_TIMES
        ),
        Column("ra", "double", "Right ascension of the pointing", "pos.eq.ra;instr.fov", "deg"),
        Column("dec", "double", "Declination of the pointing", "pos.eq.dec;instr.fov", "deg"),
        Column(
            "release_date",
            "char",
            "Date the run's N2 products become public",
            "time.release",
            arraysize="*",
            xtype="timestamp",
        ),
    ),
)

PRODUCTS = Table(
    "corot",
    "products",
    "Light-curve products: one row per file version (N1, N2 and N1 alert light curves of both "
    "channels). 'latest' marks the newest version of each product.",
    (
        Column(
            "product_id",
            "long",
            "Identifier of this product version",
            "meta.id;meta.main",
            principal=True,
            indexed=True,
            nullable=False,
        ),
        Column(
            "corotid",
            "long",
            "CoRoT identifier of the star",
            "meta.id",
            principal=True,
            indexed=True,
            nullable=False,
        ),
        Column(
            "run_code",
            "char",
            "Run code",
            "meta.id;obs",
            arraysize="*",
            principal=True,
            indexed=True,
            nullable=False,
        ),
        Column(
            "channel",
            "char",
            "exo (exoplanet channel) or astero (asteroseismology)",
            "meta.code",
            arraysize="*",
            principal=True,
            nullable=False,
        ),
        Column(
            "proc_level",
            "char",
            "Processing level: N1 or N2 (LEVEL is reserved in ADQL)",
            "meta.code.qual",
            arraysize="*",
            principal=True,
            nullable=False,
        ),
        Column(
            "product_type",
            "char",
            "Product type, e.g. EN2_STAR_CHR, AN2_STAR",
            "meta.code.class",
            arraysize="*",
            principal=True,
            nullable=False,
        ),
        Column(
            "version",
            "char",
            "Product version, e.g. N2-4.4",
            "meta.version",
            arraysize="*",
            principal=True,
            nullable=False,
        ),
        Column(
            "latest",
            "short",
            "1 for the newest version of the product you may see, else 0 (write latest = 1: "
            "ADQL has no boolean conditions)",
            "meta.code",
            nullable=False,
        ),
        *_position(principal=True),
        Column("mag_v", "float", "V magnitude of the star", "phot.mag;em.opt.V", _MAG),
        Column("mag_r", "float", "R magnitude of the star", "phot.mag;em.opt.R", _MAG),
        Column(
            "t_min",
            "double",
            "Time of the first point: MJD in TT, referred to the position in time_refpos",
            "time.start;obs.exposure",
            "d",
            principal=True,
            indexed=True,
            nullable=False,
            timesys=PRODUCT_TIMES,
        ),
        Column(
            "t_max",
            "double",
            "Time of the last point: MJD in TT, referred to the position in time_refpos",
            "time.end;obs.exposure",
            "d",
            principal=True,
            indexed=True,
            nullable=False,
            timesys=PRODUCT_TIMES,
        ),
        Column(
            "time_scale",
            "char",
            "Time scale of the time stamps (TT)",
            "time.scale",
            arraysize="*",
            nullable=False,
        ),
        Column(
            "time_refpos",
            "char",
            "Reference position of the time stamps (BARYCENTER, HELIOCENTER, TOPOCENTER)",
            "meta.code",
            arraysize="*",
            nullable=False,
        ),
        Column(
            "n_points", "int", "Number of points", "meta.number", principal=True, nullable=False
        ),
        Column("n_good", "int", "Number of points with STATUS 0", "meta.number", nullable=False),
        Column("sampling_min", "int", "Shortest sampling interval", "time.interval", "s"),
        Column(
            "sampling_max",
            "int",
            "Longest sampling interval (512 then 32 s when the star was oversampled)",
            "time.interval",
            "s",
        ),
        Column(
            "bands",
            "char",
            "Photometric bands present: red green blue white",
            "instr.bandpass",
            arraysize="*",
            nullable=False,
        ),
        Column(
            "file_name",
            "char",
            "File name in the mission archive",
            "meta.id;meta.file",
            arraysize="*",
            nullable=False,
        ),
        Column(
            "access_url",
            "char",
            "URL of the FITS file",
            "meta.ref.url",
            arraysize="*",
            principal=True,
            nullable=False,
        ),
        Column(
            "file_size",
            "long",
            "Size of the FITS file",
            "phys.size;meta.file",
            "byte",
            nullable=False,
        ),
        Column(
            "sha256",
            "char",
            "SHA-256 checksum of the file",
            "meta.code",
            arraysize="64",
            nullable=False,
        ),
        Column(
            "release_date",
            "char",
            "Date the product is public",
            "time.release",
            arraysize="*",
            xtype="timestamp",
        ),
        Column(
            "ingested_at",
            "char",
            "When the archive received the file",
            "time.creation",
            arraysize="*",
            xtype="timestamp",
            nullable=False,
        ),
        Column(
            "obs_publisher_did",
            "char",
            "Publisher's dataset identifier (as in ivoa.obscore): the ID that the DataLink "
            "and SODA services take",
            "meta.ref.ivoid",
            arraysize="*",
            indexed=True,
            nullable=False,
            datalink=True,
        ),
        Column(
            "ingest_id",
            "long",
            "Ingest batch that registered the file (one per run of the archive's ingest; the "
            "node's Atom feed has an entry per batch)",
            "meta.id",
            indexed=True,
        ),
    ),
    foreign_keys=(
        ForeignKey(
            "products_stars",
            "corot.stars",
            (("corotid", "corotid"),),
            "The star of the light curve",
        ),
        ForeignKey(
            "products_runs", "corot.runs", (("run_code", "run_code"),), "The run of the light curve"
        ),
    ),
)

SCHEMA = Schema(
    "corot",
    "The CoRoT space-photometry mission (2007-2013): light curves of the exoplanet and "
    "asteroseismology channels.",
    (STARS, RUNS, PRODUCTS, FEATURES, FREQUENCIES, FEATURE_PARAMETERS),
)
