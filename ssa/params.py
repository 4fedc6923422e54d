"""SSA 1.1 queryData parameters (SSA 1.1 section 8.4), read once into an :class:`SsaQuery`.

Each parameter is declared once in :data:`PARAMETERS` (name, datatype, unit, description): the
``FORMAT=METADATA`` response lists them, and :meth:`SsaQuery.parse` reads them. Values that a
client can correct are refused with a :class:`UsageError` (an error document, HTTP 400).
Must not import Flask (DaliParams comes already folded from the HTTP edge) or psycopg.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from ssa.fields import BAND_MAX_M, BAND_MIN_M, FITS_MIME
from vo_node.http.params import DaliParams, UsageError
from vo_node.settings import Settings

MJD_EPOCH = datetime(1858, 11, 17, tzinfo=UTC)
DEFAULT_SIZE = 1 / 60  # degrees (a diameter): SSA 1.1 8.4.1 asks for a default "nearby"
MAX_SIZE = 360.0  # a diameter: a cone of radius 180 degrees covers the sky
CHANNELS = ("exo", "astero")
# Formats the service offers each dataset in (SSA 1.1 section 8.4.1.4), one result row per
# dataset and format: the archived FITS file (the native format), the light-curve VOTable,
# CSV, and the PNG plot (a "graphic"). FORMAT names them by MIME type or by SSA's keywords.
# Without FORMAT only the FITS files are listed: one row per light curve, as clients show
# results (FORMAT=all lists every format). COMPLIANT asks for Spectrum-DM serialisations,
# which the archive does not hold: no rows.
VOTABLE_MIME = "application/x-votable+xml"
CSV_MIME = "text/csv"
PNG_MIME = "image/png"
DATASET_FORMATS = (FITS_MIME, VOTABLE_MIME, CSV_MIME, PNG_MIME)
_FORMAT_NAMES: dict[str, tuple[str, ...]] = {
    "all": DATASET_FORMATS,
    "native": (FITS_MIME,),
    "fits": (FITS_MIME,),
    "application/fits": (FITS_MIME,),
    "image/fits": (FITS_MIME,),
    "votable": (VOTABLE_MIME,),
    "application/x-votable+xml": (VOTABLE_MIME,),
    "xml": (VOTABLE_MIME,),
    "text/xml": (VOTABLE_MIME,),
    "csv": (CSV_MIME,),
    "text/csv": (CSV_MIME,),
    "ascii": (CSV_MIME,),
    "text/plain": (CSV_MIME,),
    "graphic": (PNG_MIME,),
    "image/png": (PNG_MIME,),
    "compliant": (),
    "image/jpeg": (),
}
_TARGET = re.compile(r"\s*(?:corot[\s_-]*)?(\d{1,12})\s*\Z", re.IGNORECASE)
_ISO = re.compile(r"\s*\d{4}-\d\d")


@dataclass(frozen=True)
class SsaParameter:
    """A declared input parameter: its FORMAT=METADATA PARAM (SSA 1.1 section 8.5)."""

    name: str
    datatype: str
    description: str
    unit: str | None = None
    ucd: str | None = None


PARAMETERS: tuple[SsaParameter, ...] = (
    SsaParameter("REQUEST", "char", "queryData"),
    SsaParameter("POS", "char", "ra,dec[;ICRS] of the search centre", "deg", "pos.eq"),
    SsaParameter("SIZE", "double", "Diameter of the search cone", "deg", "phys.angSize;instr.fov"),
    SsaParameter("TIME", "char", "Interval a/b (MJD in TT, or ISO 8601 dates in UTC) that "
                 "the light curve must overlap; either end may be left open", "d"),
    SsaParameter("BAND", "char", "Wavelength interval a/b the data must overlap (CoRoT covers "
                 f"{BAND_MIN_M:g}/{BAND_MAX_M:g})", "m", "em.wl"),
    SsaParameter("FORMAT", "char", "all, native or fits (application/fits, the default), "
                 "votable, csv, graphic (image/png), compliant, or metadata for this "
                 "description"),
    SsaParameter("MAXREC", "int", "Most records to return"),
    SsaParameter("TOP", "int", "Return only this many records, nearest POS first"),
    SsaParameter("TARGETNAME", "char", "CoRoT designation ('CoRoT 102890318') or CoRoT ID"),
    SsaParameter("COLLECTION", "char", "exo or astero (corot-exo, corot-astero)"),
    SsaParameter("PUBDID", "char", "Publisher dataset identifiers, comma-separated"),
    SsaParameter("MTIME", "char", "Interval of the time the archive received the file (ISO 8601)"),
    SsaParameter("RUNID", "char", "CoRoT run code, e.g. LRa01"),
)  # fmt: skip

Interval = tuple[float | None, float | None]


@dataclass(frozen=True)
class SsaQuery:
    """A queryData request after parameter checks. ``possible`` is False when a constraint
    can match nothing here whatever the data (a band CoRoT does not see, a format it does not
    offer, a foreign PUBDID): the response is then the empty table."""

    maxrec: int
    metadata: bool = False
    possible: bool = True
    pos: tuple[float, float] | None = None
    size: float | None = None
    time: Interval | None = None
    corotids: tuple[int, ...] = ()
    channels: tuple[str, ...] = ()
    product_ids: tuple[int, ...] = ()
    mtime: tuple[datetime | None, datetime | None] | None = None
    run_code: str | None = None
    top: int | None = None
    echoed: tuple[tuple[str, str], ...] = ()
    formats: tuple[str, ...] = (FITS_MIME,)  # MIME types of the rows, in DATASET_FORMATS order

    @classmethod
    def parse(cls, params: DaliParams, settings: Settings) -> SsaQuery:
        request = params.get("REQUEST")
        if request is None:
            raise UsageError("REQUEST is required: REQUEST=queryData")
        if request.lower() != "querydata":
            raise UsageError(f"REQUEST={request} is not supported; this service answers queryData")
        echoed = tuple(
            (p.name, value) for p in PARAMETERS if (value := params.get(p.name)) is not None
        )
        formats = _formats(params.get("FORMAT"))
        if "metadata" in formats:
            return cls(maxrec=0, metadata=True, echoed=echoed)
        offered = (
            {mime for name in formats for mime in _FORMAT_NAMES[name]} if formats else {FITS_MIME}
        )
        possible = bool(offered)
        pos = _pos(params.get("POS"))
        size = _size(params.get("SIZE"))
        if size is not None and pos is None:
            raise UsageError("SIZE needs POS: it is the diameter of a cone around POS")
        if pos is not None and size is None:
            size = DEFAULT_SIZE
        band = params.get("BAND")
        if band is not None and band.strip():
            possible = possible and _band_overlaps(band)
        maxrec = params.integer("MAXREC", settings.maxrec_default) or 0
        top = params.integer("TOP", None, minimum=1)
        product_ids, foreign = _pubdids(params.get("PUBDID"), settings)
        return cls(
            maxrec=min(maxrec, settings.maxrec_hard),
            possible=possible and not foreign,
            pos=pos,
            size=size,
            time=_time(params.get("TIME")),
            corotids=_targets(params.get("TARGETNAME")),
            channels=_channels(params.get("COLLECTION")),
            product_ids=product_ids,
            mtime=_mtime(params.get("MTIME")),
            run_code=(params.get("RUNID") or "").strip() or None,
            top=top,
            formats=tuple(m for m in DATASET_FORMATS if m in offered) or (FITS_MIME,),
            echoed=echoed,
        )


def _float(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{name}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise UsageError(f"{name}: {text!r} is not a finite number")
    return value


def _formats(text: str | None) -> set[str]:
    if text is None or not text.strip():
        return set()
    wanted = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = wanted - set(_FORMAT_NAMES) - {"metadata"}
    if unknown:
        raise UsageError(
            f"FORMAT={text} is not understood",
            hint="use all, native, fits, votable, csv, graphic, a MIME type or metadata",
        )
    return wanted


def _pos(text: str | None) -> tuple[float, float] | None:
    """POS=ra,dec[;frame] in ICRS degrees (SSA 1.1 section 8.4.1.1)."""
    if text is None or not text.strip():
        return None
    coords, _, frame = text.partition(";")
    if frame.strip() and frame.strip().upper() != "ICRS":
        raise UsageError(f"POS frame {frame.strip()!r} is not supported; give ICRS positions")
    parts = coords.split(",")
    if len(parts) != 2:
        raise UsageError(f"POS={text} must be ra,dec in degrees", hint="e.g. POS=102.5,-1.3")
    ra, dec = (_float("POS", part) for part in parts)
    if not 0 <= ra <= 360 or not -90 <= dec <= 90:
        raise UsageError(f"POS={text}: ra must be in [0, 360] and dec in [-90, 90] degrees")
    return ra, dec


def _size(text: str | None) -> float | None:
    """SIZE, a diameter in degrees (SSA 1.1 section 8.4.1.2)."""
    if text is None or not text.strip():
        return None
    size = _float("SIZE", text)
    if not 0 < size <= MAX_SIZE:
        raise UsageError(f"SIZE={text} must be a diameter above 0 and at most {MAX_SIZE:g} deg")
    return size


def _split(name: str, text: str) -> tuple[str, str]:
    """An interval 'a/b'; a single value 'a' is the degenerate interval a/a."""
    if text.count("/") > 1:
        raise UsageError(f"{name}={text} is not an interval a/b")
    low, sep, high = text.partition("/")
    return (low.strip(), high.strip()) if sep else (low.strip(), low.strip())


def _ordered(name: str, text: str, low: float | None, high: float | None) -> Interval:
    if low is not None and high is not None and low > high:
        raise UsageError(f"{name}={text}: the interval ends before it starts")
    return low, high


def _band_overlaps(text: str) -> bool:
    """BAND (SSA 1.1 section 8.4.1.3): wavelengths in metres; whether it meets CoRoT's band.
    A band name (SSA's 'optical', ...) is matched by name."""
    if text.strip().lower() in {"optical", "opt"}:
        return True
    if not any(ch.isdigit() for ch in text):
        return False  # another named band (x-ray, radio...): nothing here
    low_text, high_text = _split("BAND", text)
    low = _float("BAND", low_text) if low_text else None
    high = _float("BAND", high_text) if high_text else None
    low, high = _ordered("BAND", text, low, high)
    return (low is None or low <= BAND_MAX_M) and (high is None or high >= BAND_MIN_M)


def _instant(name: str, text: str, end: bool) -> datetime:
    """An ISO 8601 date or date-time (UTC when no zone is given); a bare date that ends an
    interval means the end of that day."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{name}: {text!r} is neither an MJD nor an ISO 8601 date") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end and len(text) == 10:
        moment = moment.replace(hour=23, minute=59, second=59, microsecond=999999)
    return moment


def _mjd(name: str, text: str, end: bool) -> float:
    if _ISO.match(text):
        return (_instant(name, text, end) - MJD_EPOCH).total_seconds() / 86400
    return _float(name, text)


def _time(text: str | None) -> Interval | None:
    """TIME (SSA 1.1 section 8.4.1.5): an interval the light curve must overlap. MJD numbers
    (TT, as the products' times) or ISO dates (UTC: CoRoT's TT-UTC of ~65 s is ignored)."""
    if text is None or not text.strip():
        return None
    low_text, high_text = _split("TIME", text)
    low = _mjd("TIME", low_text, end=False) if low_text else None
    high = _mjd("TIME", high_text, end=True) if high_text else None
    return _ordered("TIME", text, low, high)


def _mtime(text: str | None) -> tuple[datetime | None, datetime | None] | None:
    """MTIME (SSA 1.1 section 8.4.2.8): when the archive received the file, ISO 8601."""
    if text is None or not text.strip():
        return None
    low_text, high_text = _split("MTIME", text)
    low = _instant("MTIME", low_text, end=False) if low_text else None
    high = _instant("MTIME", high_text, end=True) if high_text else None
    if low is not None and high is not None and low > high:
        raise UsageError(f"MTIME={text}: the interval ends before it starts")
    return low, high


def _targets(text: str | None) -> tuple[int, ...]:
    if text is None or not text.strip():
        return ()
    ids = []
    for name in text.split(","):
        match = _TARGET.match(name)
        if match is None:
            raise UsageError(
                f"TARGETNAME={name.strip()!r}: this service knows CoRoT designations only",
                hint="give 'CoRoT <id>' or the CoRoT ID; resolve other names to a POS",
            )
        ids.append(int(match.group(1)))
    return tuple(ids)


def _channels(text: str | None) -> tuple[str, ...]:
    if text is None or not text.strip():
        return ()
    found = []
    for name in text.split(","):
        channel = name.strip().lower().removeprefix("corot-").removeprefix("corot/")
        # An unknown collection is not an error: it holds nothing here.
        found.append(channel if channel in CHANNELS else "")
    return tuple(found)


def _pubdids(text: str | None, settings: Settings) -> tuple[tuple[int, ...], bool]:
    """PUBDID (SSA 1.1 section 8.4.2.6): ``ivo://<authority>/corot?<product_id>``, several
    comma-separated. Returns the product ids, and whether every one was foreign."""
    if text is None or not text.strip():
        return (), False
    base = settings.published_config()["did_base"] + "?"
    ids = []
    for did in text.split(","):
        did = did.strip()
        # IVOIDs compare case-insensitively in their authority part; the local part is ours.
        if did[: len(base)].lower() == base.lower() and did[len(base) :].isdigit():
            ids.append(int(did[len(base) :]))
    return tuple(ids), not ids
