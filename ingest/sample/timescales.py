"""Time scales of the sample files: UTC <-> TT, MJD, CoRoT JD, barycentric light time.

Times are carried as float seconds on a POSIX-like axis (86400 s a day, no leap seconds): a UTC
instant as its POSIX timestamp, a TT instant as the POSIX timestamp its TT calendar reading would
have. On that axis MJD = seconds / 86400 + 40587 in either scale. Imports only numpy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar

import numpy as np

Seconds = TypeVar("Seconds", float, np.ndarray)

MJD_POSIX_EPOCH = 40587.0  # MJD of 1970-01-01T00:00:00
DAY_S = 86400.0
# TT - UTC = 32.184 s + (TAI - UTC) over the mission: TAI - UTC is 33 s until 2008, 34 s from
# 2009-01-01 and 35 s from 2012-07-01 (corot-format.md).
_LEAP_UTC = np.array(
    [datetime(2009, 1, 1, tzinfo=UTC).timestamp(), datetime(2012, 7, 1, tzinfo=UTC).timestamp()]
)
_TT_MINUS_UTC = np.array([65.184, 66.184, 67.184])
# The same boundaries read on the TT axis (the first TT instant of each new offset).
_LEAP_TT = _LEAP_UTC + _TT_MINUS_UTC[1:]
# Light time for 1 au, in seconds, and the obliquity of the ecliptic (J2000).
_AU_LIGHT_S = 499.004784
_OBLIQUITY = np.radians(23.4393)
# The v1-3 "CoRoT Julian Day" is JD - 2451545.0, i.e. MJD - 51544.5.
COROT_JD_MINUS_MJD = -51544.5
# The v4 DATETT / DATEBARTT columns are JD - 2400000, i.e. MJD + 0.5.
V4_MINUS_MJD = 0.5


def tt_minus_utc(utc_s: float) -> float:
    """TT - UTC in seconds at a UTC POSIX time."""
    return float(_TT_MINUS_UTC[np.searchsorted(_LEAP_UTC, utc_s, side="right")])


def utc_to_tt(utc_s: float) -> float:
    """A UTC POSIX time on the TT axis."""
    return utc_s + tt_minus_utc(utc_s)


def tt_to_utc(tt_s: np.ndarray) -> np.ndarray:
    """TT-axis seconds to UTC POSIX seconds (vectorised)."""
    return tt_s - _TT_MINUS_UTC[np.searchsorted(_LEAP_TT, tt_s, side="right")]


def mjd(seconds: Seconds) -> Seconds:
    """MJD of POSIX-axis seconds (in the scale the seconds are in)."""
    return seconds / DAY_S + MJD_POSIX_EPOCH


def utc_strings(utc_s: np.ndarray) -> np.ndarray:
    """``yyyy-mm-ddThh:mm:ss`` byte strings (the ``DATE`` column), rounded to the second."""
    whole = np.rint(utc_s).astype(np.int64).astype("datetime64[s]")
    return whole.astype("S20")  # numpy renders datetime64[s] as ISO 8601, 19 characters


def stamp(utc_s: float) -> str:
    """``yyyymmddThhmmss`` of a UTC POSIX time, rounded to the nearest second (file names)."""
    return datetime.fromtimestamp(round(utc_s), tz=UTC).strftime("%Y%m%dT%H%M%S")


def utc_datetime(utc_s: float) -> datetime:
    """A tz-aware UTC datetime of a POSIX time."""
    return datetime.fromtimestamp(utc_s, tz=UTC)


def light_time_s(tt_mjd: np.ndarray, ra_deg: float, dec_deg: float) -> np.ndarray:
    """Barycentric minus observed arrival time (s) for a star, from a circular-ish Earth orbit.

    Good to a few seconds, which is all the sample needs: the geometry makes DATEBARTT differ
    from DATETT by up to +-499 s with the yearly pattern of the real files.
    """
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    star_eq = np.array([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
    d = tt_mjd - 51544.5  # days from J2000.0
    g = np.radians(357.528 + 0.9856003 * d)
    sun_lon = np.radians(280.460 + 0.9856474 * d + 1.915 * np.sin(g) + 0.020 * np.sin(2 * g))
    distance = 1.00014 - 0.01671 * np.cos(g)
    # Earth seen from the Sun is opposite to the Sun seen from the Earth.
    ex, ey = -distance * np.cos(sun_lon), -distance * np.sin(sun_lon)
    earth_eq = (ex, ey * np.cos(_OBLIQUITY), ey * np.sin(_OBLIQUITY))
    projection = earth_eq[0] * star_eq[0] + earth_eq[1] * star_eq[1] + earth_eq[2] * star_eq[2]
    return _AU_LIGHT_S * projection
