"""The grammar of CoRoT product file names and archive directories (docs/corot-files.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

# EN2_STAR_CHR_0102890318_20071023T120512_20080303T074421.fits, AN2_STAR_..., EN1_STAR_MON_...,
# and the concatenated alert products EN1_ALERT_MON_<id>_<start>_<end>.fits.
_PRODUCT = re.compile(
    r"^(?P<channel>[EA])(?P<level>N[12])_(?P<kind>STAR|ALERT)(?:_(?P<mode>CHR|MON|IMAG))?"
    r"_(?P<corotid>\d{1,10})_(?P<start>\d{8}T\d{6})_(?P<end>\d{8}T\d{6})\.fits$",
    re.IGNORECASE,
)
# Daily alert files: EN1_ALERT_MON_0102890318_20080105.fits
_ALERT_DAY = re.compile(
    r"^EN1_ALERT_(?P<mode>CHR|MON)_(?P<corotid>\d{1,10})_(?P<day>\d{8})\.fits$", re.IGNORECASE
)
# Version directories: N2-4.4, N1-4.4, N2-3.1
VERSION_DIR = re.compile(r"^(?P<level>N[0-3])-(?P<major>\d+)\.(?P<minor>\d+)$")
# Run codes: LRa01, SRc02, IRa01
RUN_CODE = re.compile(r"^(IR|SR|LR)([ac])(\d{2})$")
# Alert delivery directories: N1-ALERT/<RUN>/<yyyy>W<ww>
DELIVERY_WEEK = re.compile(r"^(?P<year>\d{4})W(?P<week>\d{2})$")


@dataclass(frozen=True)
class ProductName:
    """What a product file name says."""

    channel: str  # 'exo' | 'astero'
    level: str  # 'N1' | 'N2'
    product_type: str  # 'EN2_STAR_CHR', 'AN2_STAR', 'EN1_ALERT_MON'
    mode: str | None  # 'CHR' | 'MON' | 'IMAG' | None (astero)
    corotid: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class AlertDayName:
    mode: str
    corotid: int
    day: str  # yyyymmdd


def _stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


def format_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


def parse_product_name(name: str) -> ProductName | None:
    match = _PRODUCT.match(name)
    if not match:
        return None
    channel = "exo" if match["channel"].upper() == "E" else "astero"
    mode = match["mode"].upper() if match["mode"] else None
    if (channel == "exo") != (mode is not None):
        return None  # exo names carry a mode, astero names do not
    ptype = f"{match['channel']}{match['level']}_{match['kind']}".upper()
    if mode:
        ptype += f"_{mode}"
    try:
        start, end = _stamp(match["start"]), _stamp(match["end"])
    except ValueError:
        return None
    return ProductName(
        channel, match["level"].upper(), ptype, mode, int(match["corotid"]), start, end
    )


def parse_alert_day_name(name: str) -> AlertDayName | None:
    match = _ALERT_DAY.match(name)
    if not match:
        return None
    return AlertDayName(match["mode"].upper(), int(match["corotid"]), match["day"])


def product_file_name(ptype: str, corotid: int, start: datetime, end: datetime) -> str:
    return f"{ptype}_{corotid:010d}_{format_stamp(start)}_{format_stamp(end)}.fits"


def version_rank(version: str) -> list[int]:
    """Numeric ordering key of a version label: 'N2-4.4' -> [4, 4]; unknown -> [0]."""
    numbers = [int(n) for n in re.findall(r"\d+", version.split("-", 1)[-1])]
    return numbers or [0]
