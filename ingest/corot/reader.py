"""Read one CoRoT product file into a :class:`ProductRecord`, naming every problem found.

The reader never raises for a bad file: anything wrong becomes a numbered problem
(``ingest/problems.py``) and the caller decides. Headers are scanned with fitsio (several times
faster than astropy for this); only the time and STATUS columns are read from the tables.
Layouts and keywords: docs/corot-files.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import fitsio
import numpy as np

from ingest.corot import names
from ingest.corot.runs import run_by_code
from ingest.fitscards import HeaderError, parse_header
from ingest.problems import Problem
from ingest.records import CollectionInfo, ProductRecord, ReadResult, RunInfo, StarInfo

MISSION = "CoRoT"
COLLECTIONS = {
    "exo": CollectionInfo(
        "corot-exo",
        MISSION,
        "CoRoT exoplanet-channel light curves",
        "Photometric time series of faint stars (R 11-16) from the CoRoT exoplanet channel, "
        "2007-2012: chromatic (CHR), monochromatic (MON) and imagette (IMAG) light curves.",
    ),
    "astero": CollectionInfo(
        "corot-astero",
        MISSION,
        "CoRoT asteroseismology-channel light curves",
        "Photometric time series of bright stars (V < 9.5) from the CoRoT asteroseismology "
        "channel, 2007-2013, sampled every 32 s.",
    ),
}
# The policy groups of migration 0006: the N1 community; for N2, the Co-Investigators.
ACCESS_GROUPS = {"N0": "n1-community", "N1": "n1-community", "N2": "coi", "N3": "coi"}
# N2 data were proprietary for one year after the end of their run (issue 4 makes this a
# per-run setting the operators can change).
PROPRIETARY_PERIOD = timedelta(days=365)
_RUN_CODE = names.RUN_CODE
_RUN_KIND = {"IR": "initial", "SR": "short", "LR": "long"}
_EYE = {"a": "anticenter", "c": "center"}
_NOMINAL_CADENCES = (32, 512)


@dataclass(frozen=True)
class TimeReference:
    """How a layout family counts time: value + offset = MJD."""

    column_jd_zero: float  # the JD that a column value of 0 means
    scale: str
    refpos: str

    def to_mjd(self, values: np.ndarray) -> np.ndarray:
        return values + (self.column_jd_zero - 2400000.5)


@dataclass(frozen=True)
class ReaderConfig:
    """Per-version time references (corot-format.md: the v4 zero point is uncertain)."""

    v4_jd_zero: float = 2400000.0
    v13_jd_zero: float = 2451545.0


@dataclass(frozen=True)
class _Layout:
    name: str
    family: str  # 'v4' | 'v1-3'
    time_hdu: str
    time_column: str
    status_column: str
    refpos: str
    required: dict[str, tuple[str, ...]]


_LAYOUTS = (
    _Layout(
        "v4-exo",
        "v4",
        "BAR",
        "DATEBARTT",
        "STATUS",
        "BARYCENTER",
        {
            "BAR": ("DATETT", "DATEBARTT", "STATUS"),
            "BARFILL": ("DATEBARTT", "TEXP"),
            "SYSTEMATIC": ("DATEBARTT",),
        },
    ),
    _Layout(
        "v4-astero",
        "v4",
        "BAR",
        "DATEBARTT",
        "STATUSBAR",
        "BARYCENTER",
        {
            "RAW": ("DATETT", "RAWFLUX"),
            "BAR": ("DATEBARTT", "FLUXBAR", "STATUSBAR"),
            "BARREG": ("DATEBARREGTT",),
        },
    ),
    _Layout(
        "v1-3-astero",
        "v1-3",
        "HEL",
        "DATEHEL",
        "HELSTATUS",
        "HELIOCENTER",
        {
            "RAW": ("DATEJD", "RAWFLUX"),
            "HEL": ("DATEHEL", "HELFLUX", "HELSTATUS"),
            "HELREG": ("DATEHELREG",),
        },
    ),
    _Layout(
        "v1-3-exo",
        "v1-3",
        "BINTABLE",
        "DATEHEL",
        "STATUS",
        "HELIOCENTER",
        {"BINTABLE": ("DATE", "DATEJD", "DATEHEL", "STATUS")},
    ),
    _Layout(
        "n1-exo",
        "v4",
        "BAR",
        "DATEBARTT",
        "STATUS",
        "BARYCENTER",
        {"BAR": ("DATETT", "DATEBARTT", "STATUS")},
    ),
    _Layout(
        "n1-astero",
        "v4",
        "RAW",
        "DATETT",
        "RAWSTATUS",
        "TOPOCENTER",
        {"RAW": ("DATETT", "RAWFLUX", "RAWSTATUS")},
    ),
)


# The layouts a file name admits: an N2 file cut short after its BAR table must not pass for
# an N1 file, nor an exo file for an astero one.
_ADMITTED = {
    ("N2", "exo"): ("v4-exo", "v1-3-exo"),
    ("N2", "astero"): ("v4-astero", "v1-3-astero"),
    ("N1", "exo"): ("n1-exo",),
    ("N1", "astero"): ("n1-astero",),
}


def _choose_layout(hdus: set[str], level: str, channel: str) -> _Layout | None:
    """The first admitted layout whose HDUs are all present (richer layouts come first)."""
    admitted = _ADMITTED[(level, channel)]
    for layout in _LAYOUTS:
        if layout.name in admitted and set(layout.required) <= hdus:
            return layout
    return None


def _bands(product_type: str, columns: set[str]) -> list[str]:
    found = [
        b
        for b in ("red", "green", "blue", "white")
        if any(c.startswith(b.upper() + "FLUX") for c in columns)
    ]
    if not found and product_type.startswith("A"):
        found = ["white"]  # astero photometry is white light
    return found


class _Header:
    """Typed access to a primary header that records a problem for every odd value."""

    def __init__(self, header: Any, problems: list[Problem]) -> None:
        self._h = header
        self.problems = problems

    def raw(self, *keys: str) -> Any:
        for key in keys:
            if key in self._h:
                return self._h[key]
        return None

    def number(self, *keys: str) -> float | None:
        value = self.raw(*keys)
        if value is None:
            return None
        if isinstance(value, bool):
            self.problems.append(Problem("LC013", f"{keys[0]}={value!r} is a boolean"))
            return None
        if isinstance(value, int | float):
            return float(value) if math.isfinite(value) else None
        text = str(value).strip()
        if text.upper() in {"NAN", "", "NULL", "UNKNOWN"}:
            return None  # the archive's spelling of a missing value
        try:
            number = float(text)
        except ValueError:
            self.problems.append(Problem("LC011", f"{keys[0]}={text!r}"))
            return None
        return number if math.isfinite(number) else None

    def text(self, *keys: str) -> str | None:
        value = self.raw(*keys)
        if value is None:
            return None
        text = str(value).strip()
        return text if text and text.upper() != "NAN" else None


def _corotid(header: _Header) -> int | None:
    value = header.raw("COROTID")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.isdigit():
        header.problems.append(Problem("LC013", f"COROTID={text!r} written as a string"))
        return int(text)
    return None


def _truncated(fits: Any, size: int) -> bool:
    data_end = int(fits[-1].get_offsets()["data_end"])
    return size < data_end


def _sampling(fits: Any, layout: _Layout, times_s: np.ndarray) -> list[int]:
    if "BARFILL" in layout.required:
        texp = fits["BARFILL"].read(columns=["TEXP"])["TEXP"]
        found = sorted({int(v) for v in np.unique(texp) if v > 0})
        if found:
            return found
    steps = np.diff(times_s)
    steps = steps[steps > 0]
    if steps.size == 0:
        return []
    # Snap each step to the nominal cadence it is closest to; a gap is a multiple of one.
    cadences = np.array(_NOMINAL_CADENCES)
    nearest = cadences[np.abs(steps[:, None] - cadences[None, :]).argmin(axis=1)]
    values, counts = np.unique(nearest, return_counts=True)
    return sorted(int(v) for v, n in zip(values, counts, strict=True) if n >= 0.01 * steps.size)


def _run_info(code: str, t_min_mjd: float) -> tuple[RunInfo, bool]:
    known = run_by_code(code)
    match = _RUN_CODE.match(code)
    kind = _RUN_KIND.get(match[1]) if match else None
    eye = _EYE.get(match[2]) if match else None
    if known is None:
        start = datetime(1858, 11, 17, tzinfo=UTC) + timedelta(days=t_min_mjd)
        return RunInfo(MISSION, code, eye, kind, start=start), False
    release = (known.end + PROPRIETARY_PERIOD).date()
    return (
        RunInfo(
            MISSION,
            code,
            known.eye,
            kind,
            known.start,
            known.end,
            known.ra_deg,
            known.dec_deg,
            release_date=release,
        ),
        True,
    )


def version_from_path(path: Path) -> str | None:
    """The version directory a file sits in ('N2-4.4'), if any."""
    for part in reversed(path.parent.parts):
        if names.VERSION_DIR.match(part):
            return part
    return None


def read_product(
    path: Path,
    sha256: str,
    size: int,
    config: ReaderConfig | None = None,
    version: str | None = None,
    series_suffix: str = "",
    data: bytes | None = None,
) -> ReadResult:
    """Read one product file. ``version`` overrides the archive directory (alert products);
    ``data`` is the file's bytes when the caller already holds them."""
    config = config or ReaderConfig()
    problems: list[Problem] = []
    parsed = names.parse_product_name(path.name)
    if parsed is None:
        problems.append(Problem("LC008", f"{path.name!r} is not a CoRoT product file name"))
        return ReadResult(path, None, problems)
    try:
        primary, _ = parse_header(data if data is not None else path.read_bytes())
    except HeaderError as exc:
        problems.append(Problem("LC003", str(exc)))
        return ReadResult(path, None, problems)
    try:
        with fitsio.FITS(str(path)) as fits:
            if _truncated(fits, size):
                problems.append(Problem("LC004", f"{size} bytes on disk"))
                return ReadResult(path, None, problems)
            record = _read_open(
                fits, primary, path, parsed, sha256, size, config, version, problems
            )
            if record is not None:
                record.series += series_suffix
    except OSError as exc:
        # fitsio reports unreadable, truncated and non-FITS input as OSError from CFITSIO.
        problems.append(Problem("LC003", _first_line(exc)))
        return ReadResult(path, None, problems)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        # Content no layout rule foresaw (a column of the wrong shape, a malformed card): the
        # file is rejected with the reason, and the rest of the batch goes on.
        problems.append(Problem("LC020", f"{type(exc).__name__}: {_first_line(exc)}"))
        return ReadResult(path, None, problems)
    return ReadResult(path, record, problems)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def _read_open(
    fits: Any,
    primary: dict[str, object],
    path: Path,
    parsed: names.ProductName,
    sha256: str,
    size: int,
    config: ReaderConfig,
    version: str | None,
    problems: list[Problem],
) -> ProductRecord | None:
    header = _Header(primary, problems)
    hdus = {hdu.get_extname().upper() for hdu in list(fits)[1:]}
    layout = _choose_layout(hdus, parsed.level, parsed.channel)
    if layout is None:
        expected = " or ".join(_ADMITTED[(parsed.level, parsed.channel)])
        problems.append(
            Problem("LC005", f"HDUs {sorted(hdus)} are not the {expected} layout its name implies")
        )
        return None
    for hdu, required in layout.required.items():
        present = {c.upper() for c in fits[hdu].get_colnames()}
        missing = [c for c in required if c not in present]
        if missing:
            problems.append(Problem("LC006", f"{hdu} lacks {', '.join(missing)}"))
    if any(p.code == "LC006" for p in problems):
        return None

    telescope = header.text("TELESCOP")
    if telescope is not None and telescope.upper() != "COROT":
        problems.append(Problem("LC016", f"TELESCOP={telescope!r}"))
    corotid = _corotid(header)
    if corotid is None:
        problems.append(Problem("LC001", "no integer COROTID in the primary header"))
    run_code = header.text("RUN_CODE")
    if run_code is None or not _RUN_CODE.match(run_code):
        problems.append(Problem("LC002", f"RUN_CODE={run_code!r}"))
    if corotid is None or run_code is None or not _RUN_CODE.match(run_code):
        return None
    if corotid != parsed.corotid:
        problems.append(Problem("LC009", f"COROTID {corotid} but the name says {parsed.corotid}"))

    table = fits[layout.time_hdu].read(columns=[layout.time_column, layout.status_column])
    raw_times = np.asarray(table[layout.time_column], dtype=float)
    status = np.asarray(table[layout.status_column])
    valid = np.isfinite(raw_times) & (raw_times > 0)
    if not valid.any():
        problems.append(Problem("LC007", f"{layout.time_hdu}.{layout.time_column} is empty"))
        return None
    zero = config.v4_jd_zero if layout.family == "v4" else config.v13_jd_zero
    ref = TimeReference(zero, "TT", layout.refpos)
    mjd = ref.to_mjd(raw_times[valid])
    if np.any(np.diff(mjd) <= 0):
        problems.append(Problem("LC014", f"{int(np.sum(np.diff(mjd) <= 0))} steps not increasing"))
    t_min, t_max = float(mjd.min()), float(mjd.max())

    ra, dec = header.number("ALPHA", "RA", "RA_DEG"), header.number("DELTA", "DEC", "DEC_DEG")
    if ra is None or dec is None:
        problems.append(Problem("LC012", "no ALPHA/DELTA or RA/DEC keywords"))
        ra = dec = None
    elif not (0.0 <= ra < 360.0 and -90.0 <= dec <= 90.0):
        problems.append(Problem("LC017", f"RA={ra}, Dec={dec}"))
        return None

    file_version = version or version_from_path(path)
    if file_version is None:
        file_version = f"{parsed.level}-{'4' if layout.family == 'v4' else '3'}"
        problems.append(Problem("LC010", f"assumed {file_version}"))
    elif not file_version.startswith("N1-ALERT"):
        major = names.version_rank(file_version)[0]
        if (major >= 4) != (layout.family == "v4"):
            problems.append(Problem("LC021", f"{layout.name} file under {file_version}"))
    run, known_run = _run_info(run_code, t_min)
    if not known_run:
        problems.append(Problem("LC019", f"run {run_code}"))
    star = StarInfo(
        MISSION,
        corotid,
        f"CoRoT {corotid}",
        ra,
        dec,
        mag_b=header.number("MAGNIT_B"),
        mag_v=header.number("MAGNIT_V"),
        mag_r=header.number("MAGNIT_R"),
        mag_i=header.number("MAGNIT_I"),
        spectral_type=header.text("SPECTYPE", "SPEC_TYP", "SPTYPE"),
        lum_class=header.text("LUMCLASS", "LUM_CLAS"),
        teff=header.number("COLTEMP", "TEFF"),
        contamination=header.number("CONTFACT", "CONTAMIN"),
    )
    columns = {c.upper() for c in fits[layout.time_hdu].get_colnames()}
    win = header.number("WIN_ID")
    run_start: datetime = run.start or parsed.start
    archive_dir = _archive_dir(file_version, run_start, run_code)
    return ProductRecord(
        source=path,
        collection=COLLECTIONS[parsed.channel],
        run=run,
        star=star,
        level=parsed.level,
        product_type=parsed.product_type,
        series=parsed.product_type,
        version=file_version,
        version_rank=names.version_rank(file_version),
        layout=layout.name,
        file_name=path.name,
        archive_path=f"{MISSION.lower()}/{archive_dir}/{path.name}",
        t_min=t_min,
        t_max=t_max,
        time_scale=ref.scale,
        time_refpos=ref.refpos,
        n_points=int(raw_times.size),
        n_good=int(np.sum(status[valid] == 0)),
        sampling=_sampling(fits, layout, mjd * 86400.0),
        bands=_bands(parsed.product_type, columns),
        ccd=header.text("HLFCCDID"),
        window_id=int(win) if win is not None else None,
        file_size=size,
        sha256=sha256,
        access_group=ACCESS_GROUPS[parsed.level],
        problems=problems,
    )


def _archive_dir(version: str, run_start: datetime, run_code: str) -> str:
    if version.startswith("N1-ALERT-"):
        return f"N1-ALERT/{run_code}/{version.removeprefix('N1-ALERT-')}"
    start: date = run_start.astimezone(UTC).date()
    return f"{version}/{start:%Y/%m/%d}"
