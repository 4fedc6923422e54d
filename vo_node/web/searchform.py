"""The web search's form: its fields read and checked, and the ADQL query that does the search.

The search runs that very ADQL through the TAP machinery (translator, policy, query runner),
and the page shows it: what a user finds on the page, the same query finds from TOPCAT or a
notebook. Values enter the ADQL only as checked numbers or as quoted string literals.

The pulsation criteria (issue 8) read the published features: a frequency range, a least
amplitude and S/N, matched by any frequency found by prewhitening (an EXISTS on
corot.frequencies) or by the dominant one only (corot.features); the variability class. The
features are LEFT OUTER JOINed, so that every result shows (and sorts by) its dominant
frequency, amplitude and class, blank when it has none.
Must not import Flask or psycopg.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from astropy.time import Time

from vo_node.features.model import CLASSES

# Columns of the result table (corot.products p joined with corot.stars s and, outer,
# corot.features f), in order.
COLUMNS = (
    "p.product_id",
    "p.corotid",
    "p.run_code",
    "p.channel",
    "p.proc_level",
    "p.product_type",
    "p.version",
    "p.latest",
    "p.ra",
    "p.dec",
    "p.mag_v",
    "p.mag_r",
    "s.spectral_type",
    "p.t_min",
    "p.t_max",
    "p.n_points",
    "p.file_size",
    "p.release_date",
    "f.var_class",
    "f.dominant_frequency",
    "f.dominant_amplitude",
)
# What a result can be sorted by: the name in the form -> the ADQL expression.
SORTS = {
    "product_id": "p.product_id",
    "corotid": "p.corotid",
    "run": "p.run_code",
    "channel": "p.channel",
    "level": "p.proc_level",
    "type": "p.product_type",
    "version": "p.version",
    "ra": "p.ra",
    "dec": "p.dec",
    "mag_v": "p.mag_v",
    "mag_r": "p.mag_r",
    "t_min": "p.t_min",
    "n_points": "p.n_points",
    "size": "p.file_size",
    "frequency": "f.dominant_frequency",
    "amplitude": "f.dominant_amplitude",
    "class": "f.var_class",
    "distance": "",  # from the searched position: see Search._order
}
# Sort keys that a light curve without features has no value for: sorted descending, those
# go last all the same (PostgreSQL puts NULLs first in a descending order; ADQL has no
# NULLS LAST), hence a COALESCE to a value below every real one.
_NULLABLE_SORTS = {
    "f.dominant_frequency": "-1",
    "f.dominant_amplitude": "-1",
    "f.var_class": "''",
}
# Which frequencies the frequency, amplitude and S/N criteria apply to.
FREQUENCY_MATCHES = ("any", "dominant")
MAX_FREQUENCY = 10_000.0  # c/d: beyond any CoRoT sampling (32 s is 1350 c/d at Nyquist)
PAGE_SIZES = (25, 50, 100, 200)
MAX_RADIUS_ARCMIN = 600.0  # ten degrees: a CoRoT field and its surroundings
_CHANNELS = ("exo", "astero")
_LEVELS = ("N1", "N2", "N3")
_WORD = re.compile(r"[A-Za-z0-9_.\-]{1,40}")  # run codes, product types, versions
_CORO_ID = re.compile(r"[0-9*?]{1,12}")
_SPECTRAL = re.compile(r"[A-Za-z0-9*?.+:/ ]{1,12}")
_DEGREES = re.compile(r"\s*([+-]?\d+(?:\.\d*)?)\s*[,\s]\s*([+-]?\d+(?:\.\d*)?)\s*")


class FormError(ValueError):
    """What is wrong with the form: one message per field."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = dict(problems)


@dataclass(frozen=True)
class Position:
    ra: float
    dec: float
    radius_deg: float


@dataclass(frozen=True)
class Search:
    """A checked search. ``target`` is what the user typed in the position field when it was
    not coordinates: a star's name or CoRoT ID, resolved by the caller (:meth:`at`)."""

    position: Position | None = None
    target: str = ""
    radius_arcmin: float = 5.0
    run: str = ""
    channel: str = ""
    level: str = ""
    product_type: str = ""
    corotid: str = ""
    version: str = ""
    latest: bool = False
    mag_v: tuple[float | None, float | None] = (None, None)
    mag_r: tuple[float | None, float | None] = (None, None)
    spectral_type: str = ""
    time: tuple[float | None, float | None] = (None, None)  # MJD
    frequency: tuple[float | None, float | None] = (None, None)  # c/d
    min_amplitude: float | None = None  # mmag
    min_snr: float | None = None
    var_class: str = ""
    frequency_match: str = "any"  # one of FREQUENCY_MATCHES
    sort: str = "product_id"
    descending: bool = False
    page: int = 1
    per_page: int = 50
    echoed: dict[str, str] = field(default_factory=dict)  # the form's values, to show again

    @property
    def empty(self) -> bool:
        """The form was not submitted: the page shows it alone. (A form submitted with no
        criterion lists everything the caller may see, page by page.)"""
        return not self.echoed

    def at(self, ra: float, dec: float) -> Search:
        """The search around a resolved target."""
        from dataclasses import replace

        return replace(self, position=Position(ra, dec, self.radius_arcmin / 60.0))

    # -- ADQL ------------------------------------------------------------------------------

    def where(self) -> list[str]:
        conditions = []
        if self.position is not None:
            p = self.position
            conditions.append(
                f"1 = CONTAINS(p.pos, CIRCLE('ICRS', {p.ra!r}, {p.dec!r}, {p.radius_deg!r}))"
            )
        for column, value in (
            ("p.run_code", self.run),
            ("p.channel", self.channel),
            ("p.proc_level", self.level),
            ("p.product_type", self.product_type),
            ("p.version", self.version),
        ):
            if value:
                conditions.append(f"{column} = {_literal(value)}")
        if self.latest:
            conditions.append("p.latest = 1")
        if self.corotid:
            if any(c in self.corotid for c in "*?"):
                conditions.append(f"s.name LIKE {_literal('CoRoT ' + _like(self.corotid))}")
            else:
                conditions.append(f"p.corotid = {int(self.corotid)}")
        if self.spectral_type:
            pattern = _like(self.spectral_type)
            if not pattern.endswith("%"):
                pattern += "%"  # a class names its subclasses: 'G' is G0 to G9
            conditions.append(f"s.spectral_type LIKE {_literal(pattern)}")
        for column, (low, high) in (("p.mag_v", self.mag_v), ("p.mag_r", self.mag_r)):
            if low is not None:
                conditions.append(f"{column} >= {low!r}")
            if high is not None:
                conditions.append(f"{column} <= {high!r}")
        low, high = self.time
        if low is not None:
            conditions.append(f"p.t_max >= {low!r}")
        if high is not None:
            conditions.append(f"p.t_min <= {high!r}")
        conditions.extend(self._pulsation())
        return conditions

    def _pulsation(self) -> list[str]:
        """The pulsation criteria. On any frequency, one frequency of the light curve must
        meet the range, the amplitude and the S/N together (not one each)."""
        if self.frequency_match == "dominant":
            column = {
                "frequency": "f.dominant_frequency",
                "amplitude": "f.dominant_amplitude",
                "snr": "f.dominant_snr",
            }
        else:
            column = {"frequency": "q.frequency", "amplitude": "q.amplitude", "snr": "q.snr"}
        terms = []
        low, high = self.frequency
        if low is not None and high is not None:
            terms.append(f"{column['frequency']} BETWEEN {low!r} AND {high!r}")
        elif low is not None:
            terms.append(f"{column['frequency']} >= {low!r}")
        elif high is not None:
            terms.append(f"{column['frequency']} <= {high!r}")
        if self.min_amplitude is not None:
            terms.append(f"{column['amplitude']} >= {self.min_amplitude!r}")
        if self.min_snr is not None:
            terms.append(f"{column['snr']} >= {self.min_snr!r}")
        conditions = []
        if terms and self.frequency_match == "dominant":
            conditions.extend(terms)
        elif terms:
            conditions.append(
                "EXISTS (SELECT 1 FROM corot.frequencies AS q"
                "\n    WHERE q.product_id = p.product_id AND q.kind = 'signal'\n      AND "
                + "\n      AND ".join(terms)
                + ")"
            )
        if self.var_class:
            conditions.append(f"f.var_class = {_literal(self.var_class)}")
        return conditions

    def _filters_features(self) -> bool:
        """Whether a condition reads corot.features (the class, or the dominant frequency)."""
        dominant = self.frequency_match == "dominant" and (
            self.frequency != (None, None)
            or self.min_amplitude is not None
            or self.min_snr is not None
        )
        return bool(self.var_class) or dominant

    def _from_where(self, features: bool = True) -> str:
        """FROM and WHERE; the features joined when ``features`` or a condition needs them
        (a count needs them only then: the join keeps one row per product)."""
        text = "FROM corot.products AS p JOIN corot.stars AS s ON s.corotid = p.corotid"
        conditions = self.where()
        if features or self._filters_features():
            text += "\nLEFT OUTER JOIN corot.features AS f ON f.product_id = p.product_id"
        if conditions:
            text += "\nWHERE " + "\n  AND ".join(conditions)
        return text

    def _distance(self) -> str:
        """Arcminutes from the searched position (only with a position)."""
        assert self.position is not None
        p = self.position
        return f"DISTANCE(p.pos, POINT('ICRS', {p.ra!r}, {p.dec!r})) * 60"

    def _select_list(self) -> str:
        columns = list(COLUMNS)
        if self.position is not None:
            columns.append(f"{self._distance()} AS dist_arcmin")
        return ", ".join(columns)

    def _order(self) -> str:
        if self.sort == "distance":
            key = self._distance() if self.position is not None else SORTS["product_id"]
        else:
            key = SORTS[self.sort]
            if self.descending and key in _NULLABLE_SORTS:
                key = f"COALESCE({key}, {_NULLABLE_SORTS[key]})"
        direction = " DESC" if self.descending else ""
        # product_id breaks ties: pages neither repeat nor skip a row.
        tail = "" if key == "p.product_id" else ", p.product_id"
        return f"ORDER BY {key}{direction}{tail}"

    def adql(self) -> str:
        """The whole search as one ADQL query (what the page offers to copy)."""
        return f"SELECT {self._select_list()}\n{self._from_where()}\n{self._order()}"

    def page_adql(self) -> str:
        """This page of the search (one row more than the page: is there a next one?)."""
        offset = (self.page - 1) * self.per_page
        return (
            f"SELECT TOP {self.per_page + 1} {self._select_list()}\n{self._from_where()}\n"
            f"{self._order()}" + (f"\nOFFSET {offset}" if offset else "")
        )

    def count_adql(self) -> str:
        return f"SELECT COUNT(*) AS n {self._from_where(features=False)}"

    def ids_adql(self, limit: int) -> str:
        """The product ids of the whole search (for downloading all results)."""
        features = SORTS.get(self.sort, "").startswith("f.")
        return (
            f"SELECT TOP {limit} p.product_id {self._from_where(features=features)}\n"
            f"{self._order()}"
        )


def parse(args: Mapping[str, Sequence[str]]) -> Search:
    """Read the form; raise :class:`FormError` with every problem found."""
    problems: dict[str, str] = {}
    echoed = {k: v[0].strip() for k, v in args.items() if v and k in _FIELDS}
    for name, value in list(echoed.items()):
        # (PostgreSQL text cannot hold NUL, and no field has a use for control characters)
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            problems[name] = "holds control characters"
            echoed[name] = ""

    def text(name: str) -> str:
        return echoed.get(name, "")

    def number(name: str, low: float = -math.inf, high: float = math.inf) -> float | None:
        raw = text(name)
        if not raw:
            return None
        try:
            value = float(raw)
        except ValueError:
            problems[name] = "not a number"
            return None
        if not (math.isfinite(value) and low <= value <= high):
            problems[name] = f"must be between {low:g} and {high:g}"
            return None
        return value

    def at_least_zero(name: str, what: str, high: float = math.inf) -> float | None:
        """A number from 0 (frequencies, amplitudes, S/N), or a problem naming ``what``."""
        value = number(name, 0.0, high)
        if name in problems and problems[name] != "not a number":
            upper = f" to {high:g}" if math.isfinite(high) else " or more"
            problems[name] = f"{what}: must be 0{upper}"
        return value

    def word(name: str, pattern: re.Pattern[str], choices: Sequence[str] = ()) -> str:
        raw = text(name)
        if raw and (not pattern.fullmatch(raw) or (choices and raw not in choices)):
            problems[name] = "not a valid value" + (
                f" (one of {', '.join(choices)})" if choices else ""
            )
            return ""
        return raw

    radius = number("radius", 0.0, MAX_RADIUS_ARCMIN)
    position, target = None, ""
    raw_pos = text("pos")
    if raw_pos:
        position, target = _position(raw_pos, (radius or 5.0) / 60.0, problems)
    time_low = _time(text("time_from"), "time_from", problems)
    time_high = _time(text("time_to"), "time_to", problems)
    sort = text("sort") or "product_id"
    if sort not in SORTS:
        problems["sort"] = f"one of {', '.join(SORTS)}"
        sort = "product_id"
    per_page = int(number("per_page", 1, max(PAGE_SIZES)) or 50)
    page = number("page", 1, 1_000_000)
    corotid = word("corotid", _CORO_ID)
    frequency = (
        at_least_zero("freq_min", "a frequency in c/d", MAX_FREQUENCY),
        at_least_zero("freq_max", "a frequency in c/d", MAX_FREQUENCY),
    )
    low_f, high_f = frequency
    if low_f is not None and high_f is not None and low_f > high_f:
        problems["freq_max"] = "must not be below the lowest frequency (freq_min)"
    match = text("freq_match") or "any"
    if match not in FREQUENCY_MATCHES:
        problems["freq_match"] = f"one of {', '.join(FREQUENCY_MATCHES)}"
        match = "any"
    search = Search(
        position=position,
        target=target,
        radius_arcmin=radius if radius is not None else 5.0,
        run=word("run", _WORD),
        channel=word("channel", _WORD, _CHANNELS),
        level=word("level", _WORD, _LEVELS),
        product_type=word("product_type", _WORD),
        corotid=corotid,
        version=word("version", _WORD),
        latest=text("latest") in ("1", "on", "true", "yes"),
        mag_v=(number("mag_v_min", -5, 30), number("mag_v_max", -5, 30)),
        mag_r=(number("mag_r_min", -5, 30), number("mag_r_max", -5, 30)),
        spectral_type=word("spectral_type", _SPECTRAL),
        time=(time_low, time_high),
        frequency=frequency,
        min_amplitude=at_least_zero("amp_min", "an amplitude in mmag"),
        min_snr=at_least_zero("snr_min", "a signal-to-noise ratio"),
        var_class=word("var_class", _WORD, CLASSES),
        frequency_match=match,
        sort=sort,
        descending=text("order") == "desc",
        page=int(page or 1),
        per_page=per_page,
        echoed=echoed,
    )
    if problems:
        raise FormError(problems)
    return search


_FIELDS = {
    "pos",
    "radius",
    "run",
    "channel",
    "level",
    "product_type",
    "corotid",
    "version",
    "latest",
    "mag_v_min",
    "mag_v_max",
    "mag_r_min",
    "mag_r_max",
    "spectral_type",
    "time_from",
    "time_to",
    "freq_min",
    "freq_max",
    "amp_min",
    "snr_min",
    "var_class",
    "freq_match",
    "sort",
    "order",
    "page",
    "per_page",
}


def _position(raw: str, radius_deg: float, problems: dict[str, str]) -> tuple[Position | None, str]:
    """Decimal degrees ('102.5 -0.5'), sexagesimal ('06:50:00 -00:30:00'), or else a name
    for the caller to resolve."""
    match = _DEGREES.fullmatch(raw)
    if match:
        ra, dec = float(match.group(1)), float(match.group(2))
        if not (0 <= ra < 360 and -90 <= dec <= 90):
            problems["pos"] = "RA must be within 0-360 and Dec within -90-90 degrees"
            return None, ""
        return Position(ra, dec, radius_deg), ""
    if ":" in raw or re.search(r"\d+h\d+m", raw):
        try:
            import astropy.units as u
            from astropy.coordinates import SkyCoord

            coord = SkyCoord(raw, unit=(u.hourangle, u.deg), frame="icrs")
        except Exception:
            problems["pos"] = (
                "not coordinates this page reads ('102.5 -0.5' or '06:50:00 -00:30:00')"
            )
            return None, ""
        return Position(float(coord.ra.deg), float(coord.dec.deg), radius_deg), ""
    if len(raw) > 60:
        problems["pos"] = "too long for a name"
        return None, ""
    return None, raw


def _time(raw: str, name: str, problems: dict[str, str]) -> float | None:
    """An MJD, or an ISO date or date-time (UTC)."""
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            value = float(Time(raw, format="isot" if "T" in raw else "iso", scale="utc").mjd)
        except ValueError:
            problems[name] = "an MJD (54400.5) or a date (2008-03-01)"
            return None
    if not (0 < value < 100000):
        problems[name] = "an MJD between 0 and 100000"
        return None
    return value


def _literal(text: str) -> str:
    """An ADQL string literal (a quote inside is doubled)."""
    return "'" + text.replace("'", "''") + "'"


def _like(pattern: str) -> str:
    """User wildcards (* and ?) as LIKE's (% and _); LIKE's own characters taken literally
    cannot occur: the patterns admitted hold neither % nor _."""
    return pattern.replace("*", "%").replace("?", "_")
