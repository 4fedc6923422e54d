"""DALI timestamps for a whole column at once: the text :func:`values.timestamp_text` gives
each value, written digit pair by digit pair with numpy from each value's date and time
fields, read in one C call per value. Calling ``astimezone`` and ``isoformat`` per value costs
microseconds each, as much as all the other columns of a wide row together.

Only the homogeneous columns a database driver returns are taken: all ``date``, or all
``datetime`` either naive or aware. Anything else (strings, a mix of types or of naive and
aware values, years that UTC pushes out of 1..9999, where Python itself raises) is refused
with None, and the caller formats value by value. Must not import Flask or psycopg.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import cache, partial
from itertools import repeat
from operator import attrgetter, floordiv, is_, itemgetter
from typing import cast
from zoneinfo import ZoneInfo

import numpy as np

_U1 = np.dtype(np.uint8)
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_DAY_US = 86_400_000_000
_ZERO = timedelta(0)
_MICROSECOND = timedelta(microseconds=1)
# "00".."99" and "0000".."9999" in ASCII, read as one 2- or 4-byte integer each: a column of
# digits is then one gather and one store (fancy indexing of (n, 2) rows costs ten times that).
_PAIRS = np.frombuffer(b"".join(b"%02d" % i for i in range(100)), dtype=np.uint16)
_QUADS = np.frombuffer(b"".join(b"%04d" % i for i in range(10_000)), dtype=np.uint32)
_TEMPLATE = np.frombuffer(b"0000-00-00T00:00:00.000000", dtype=_U1)
DATE_WIDTH = 10  # YYYY-MM-DD
DATETIME_WIDTH = 26  # YYYY-MM-DDThh:mm:ss.ffffff
_SECONDS_WIDTH = 19  # without the fraction, as isoformat() writes a whole second
# IANA names of UTC itself (tzdata links to Etc/UTC and Etc/GMT): no offset to look up per
# value. psycopg returns timestamptz in the session's zone, often one of these.
_UTC_KEYS = frozenset(
    {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu",
     "GMT", "Etc/GMT", "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0", "GMT0", "GMT+0", "GMT-0",
     "Etc/Greenwich", "Greenwich"}
)  # fmt: skip
_is_none = partial(is_, None)
_tzinfo = attrgetter("tzinfo")
_first, _second = itemgetter(0), itemgetter(1)


def timestamp_block(values: Sequence[object]) -> tuple[np.ndarray, np.ndarray] | None:
    """The DALI timestamp texts of ``values`` (dates or datetimes, None for null) as rows of
    an ASCII matrix, and each text's length (0 for a null); None if the column is not one
    this handles. Aware datetimes are written in UTC, naive ones as they are."""
    rows = len(values)
    present = [v for v in values if v is not None] if None in values else values
    if not rows or not present:
        return None
    kinds = set(map(type, present))
    block: tuple[np.ndarray, np.ndarray] | None
    if kinds == {date}:
        block = _dates(_filled(values, present))
    elif kinds == {datetime}:
        block = _datetimes(_filled(values, present))
    else:
        return None
    if block is None:
        return None
    matrix, lengths = block
    if len(present) < rows:
        lengths[np.fromiter(map(_is_none, values), dtype=bool, count=rows)] = 0
    return matrix, lengths


def _filled(values: Sequence[object], present: Sequence[object]) -> Sequence[object]:
    # Nulls take the first value's place, so that every value has the same type; their
    # lengths are set to 0 afterwards.
    if len(present) == len(values):
        return values
    stand_in = present[0]
    return [stand_in if v is None else v for v in values]


def _dates(values: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
    rows = len(values)
    ordinals = np.fromiter(map(date.toordinal, values), dtype=np.int64, count=rows)  # type: ignore[arg-type]
    matrix = _blank(rows, DATE_WIDTH)
    _write_date(matrix, ordinals - _EPOCH_DAY)
    return matrix, np.full(rows, DATE_WIDTH, dtype=np.int64)


def _datetimes(values: Sequence[object]) -> tuple[np.ndarray, np.ndarray] | None:
    rows = len(values)
    stamps = cast(Sequence[datetime], values)
    zones = set(map(_tzinfo, stamps))
    if None in zones and len(zones) > 1:
        return None  # naive and aware mixed: value by value, as before
    try:
        shift = None if None in zones else _utc_shift(stamps, zones)
    except _NoOffset:
        return None
    fields = _fields(stamps)
    if fields is None:
        return None
    year, month, day, hours, minutes, seconds, micros = fields
    matrix = _blank(rows, DATETIME_WIDTH)
    if shift is None:  # UTC or naive: the fields are the text
        _put(matrix, 0, _QUADS, year)
        _put(matrix, 5, _PAIRS, month)
        _put(matrix, 8, _PAIRS, day)
    else:
        # Local time to microseconds since 1970, less the offset, and back to fields.
        months = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
        days = months.astype("datetime64[D]").astype(np.int64) + day - 1
        local = (((days * 24 + hours) * 60 + minutes) * 60 + seconds) * 1_000_000 + micros
        days, in_day = np.divmod(local - shift, _DAY_US)
        in_day, micros = np.divmod(in_day, 1_000_000)
        in_day, seconds = np.divmod(in_day, 60)
        hours, minutes = np.divmod(in_day, 60)
        if not _write_date(matrix, days):
            return None  # outside years 1..9999: astimezone() raises, let it
    _put(matrix, 11, _PAIRS, hours)
    _put(matrix, 14, _PAIRS, minutes)
    _put(matrix, 17, _PAIRS, seconds)
    _put(matrix, 20, _QUADS, micros // 100)
    _put(matrix, 24, _PAIRS, micros % 100)
    lengths = np.where(micros != 0, DATETIME_WIDTH, _SECONDS_WIDTH).astype(np.int64)
    return matrix, lengths


def _fields(stamps: Sequence[datetime]) -> list[np.ndarray] | None:
    """Year, month, day, hour, minute, second and microsecond of every datetime, as int64
    arrays; None where the pickled state does not have the layout this reads.

    A datetime's pickled state (``__reduce__``, part of the pickle format every Python
    version must read) holds all seven in ten bytes: one C call per value gets them, where
    attribute reads cost one call per field and per value."""
    if not _STATE_LAYOUT_HOLDS:
        return None
    states = b"".join(map(_first, map(_second, map(datetime.__reduce__, stamps))))
    state = np.frombuffer(states, dtype=_U1).reshape(len(stamps), _STATE_SIZE).astype(np.int64)
    year = state[:, 0] * 256 + state[:, 1]
    micros = (state[:, 7] * 256 + state[:, 8]) * 256 + state[:, 9]
    return [year, state[:, 2], state[:, 3], state[:, 4], state[:, 5], state[:, 6], micros]


def _state_layout_holds() -> bool:
    probe = datetime(2345, 6, 7, 8, 9, 10, 123_456, tzinfo=UTC)
    state = datetime.__reduce__(probe)[1]
    return isinstance(state, tuple) and state[0] == bytes([9, 41, 6, 7, 8, 9, 10, 1, 226, 64])


_STATE_SIZE = 10
_STATE_LAYOUT_HOLDS = _state_layout_holds()


def _utc_shift(stamps: Sequence[datetime], zones: set[tzinfo]) -> np.ndarray | int | None:
    """What to subtract from the aware local times (in microseconds) to get UTC: None for
    nothing, an integer for one offset throughout, an array for one offset per value.
    Raises :class:`_NoOffset` if a value has none (astimezone() would then take it as the
    machine's local time: left to it)."""
    if all(isinstance(zone, timezone) or _is_utc(zone) for zone in zones):
        fixed = {zone.utcoffset(None) or _ZERO for zone in zones}  # UTC ZoneInfo: None
        if len(fixed) == 1:
            (offset,) = fixed
            return None if offset == _ZERO else offset // _MICROSECOND
    offsets = list(map(datetime.utcoffset, stamps))  # per value: zones with summer time
    distinct = set(offsets)
    if None in distinct:
        raise _NoOffset
    if distinct == {_ZERO}:
        return None
    return np.fromiter(map(floordiv, offsets, repeat(_MICROSECOND)), np.int64, len(stamps))


class _NoOffset(Exception):
    """An aware datetime whose tzinfo gives no UTC offset."""


def _is_utc(zone: tzinfo) -> bool:
    if isinstance(zone, timezone):
        return zone.utcoffset(None) == _ZERO
    return isinstance(zone, ZoneInfo) and zone.key in _UTC_KEYS


def _blank(rows: int, width: int) -> np.ndarray:
    """A matrix of ``rows`` copies of the first ``width`` bytes of the template: separators in
    place, digits to be written."""
    matrix = np.empty((rows, width), dtype=_U1)
    matrix[:] = _TEMPLATE[:width]
    return matrix


def _put(matrix: np.ndarray, column: int, table: np.ndarray, numbers: np.ndarray) -> None:
    """Write ``table[numbers]`` (2 or 4 ASCII digits each) into ``matrix`` at ``column``."""
    size = table.dtype.itemsize
    matrix[:, column : column + size].view(table.dtype)[:, 0] = table.take(numbers)


def _write_date(matrix: np.ndarray, days: np.ndarray) -> bool:
    """Write 'YYYY-MM-DD' for ``days`` since 1970-01-01 into the first ten columns; False
    (nothing written) if a year is outside 1..9999."""
    # numpy's calendar: datetime64 days truncated to months and years.
    as_days = days.astype("datetime64[D]")
    as_months = as_days.astype("datetime64[M]")
    as_years = as_months.astype("datetime64[Y]")
    year = as_years.astype(np.int64) + 1970
    if len(year) and (int(year.min()) < 1 or int(year.max()) > 9999):
        return False
    _put(matrix, 0, _QUADS, year)
    _put(matrix, 5, _PAIRS, (as_months - as_years).astype(np.int64) + 1)
    _put(matrix, 8, _PAIRS, (as_days - as_months).astype(np.int64) + 1)
    return True


# Days whose 'YYYY-MM-DD' is looked up rather than computed: where nearly all dates are.
_TABLE_FIRST = date(1900, 1, 1).toordinal() - _EPOCH_DAY
_TABLE_LAST = date(2099, 12, 31).toordinal() - _EPOCH_DAY
_FIRST_DAY = date(1, 1, 1).toordinal() - _EPOCH_DAY  # Python's (and DALI's) calendar
_LAST_DAY = date(9999, 12, 31).toordinal() - _EPOCH_DAY


def epoch_texts(
    days: np.ndarray, in_day_us: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The DALI timestamp texts of ``days`` since 1970-01-01 (and, for datetimes, each
    day's microseconds), as :func:`timestamp_block` gives them: rows of an ASCII matrix
    and each text's length. None if a day is outside years 1..9999 (Python's calendar)."""
    rows = len(days)
    first, last = (int(days.min()), int(days.max())) if rows else (0, 0)
    if first < _FIRST_DAY or last > _LAST_DAY:
        return None
    matrix = _blank(rows, DATE_WIDTH if in_day_us is None else DATETIME_WIDTH)
    if first >= _TABLE_FIRST and last <= _TABLE_LAST:
        matrix[:, :DATE_WIDTH].view(f"V{DATE_WIDTH}")[:, 0] = _day_texts()[days - _TABLE_FIRST]
    else:
        _write_date(matrix, days)
    if in_day_us is None:
        return matrix, np.full(rows, DATE_WIDTH, dtype=np.int64)
    seconds, micros = np.divmod(in_day_us, 1_000_000)
    matrix[:, 11:19].view("V8")[:, 0] = _clock_texts()[seconds]
    hundreds, units = np.divmod(micros, 100)
    _put(matrix, 20, _QUADS, hundreds)
    _put(matrix, 24, _PAIRS, units)
    return matrix, np.where(micros != 0, DATETIME_WIDTH, _SECONDS_WIDTH)


@cache
def _day_texts() -> np.ndarray:
    """'YYYY-MM-DD' of every day from _TABLE_FIRST, items of 10 bytes (700 kB, made once)."""
    days = np.arange(_TABLE_FIRST, _TABLE_LAST + 1)
    matrix = _blank(len(days), DATE_WIDTH)
    _write_date(matrix, days)
    return matrix.view(f"V{DATE_WIDTH}")[:, 0].copy()


@cache
def _clock_texts() -> np.ndarray:
    """'hh:mm:ss' of every second of a day, items of 8 bytes (700 kB, made once)."""
    seconds = np.arange(86_400)
    matrix = np.frombuffer(b"00:00:00" * len(seconds), dtype=_U1).reshape(-1, 8).copy()
    _put(matrix, 0, _PAIRS, seconds // 3600)
    _put(matrix, 3, _PAIRS, seconds // 60 % 60)
    _put(matrix, 6, _PAIRS, seconds % 60)
    return matrix.view("V8")[:, 0].copy()
