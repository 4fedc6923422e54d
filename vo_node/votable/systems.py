"""Reference systems a result can declare: TIMESYS (new in VOTable 1.4) and COOSYS, which
FIELDs point at with ``ref``.

Plain frozen values, checked when made so that a bad declaration fails before the first byte
of a response. Must not import Flask or psycopg.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from vo_node.votable.markup import is_ncname

# VOTable 1.4 schema, type coordSystem/@system: the values COOSYS may carry.
COOSYS_SYSTEMS = frozenset(
    {
        "eq_FK4",
        "eq_FK5",
        "ICRS",
        "ecl_FK4",
        "ecl_FK5",
        "galactic",
        "supergalactic",
        "barycentric",
        "geo_app",
    }
)
_EQUINOX = re.compile(r"[JB]?[0-9]+([.][0-9]*)?\Z")
# The two magic strings VOTable 1.4 allows for timeorigin besides a Julian Date.
_ORIGINS = frozenset({"MJD-origin", "JD-origin"})


@dataclass(frozen=True)
class TimeSys:
    """A TIMESYS element: the time scale, reference position and (for numeric times) origin
    of the time columns that refer to it. ``timeorigin`` is a Julian Date (a number) or one of
    'MJD-origin', 'JD-origin'; it must be left out for ISO timestamps (VOTable 1.4, TIMESYS)."""

    id: str
    timescale: str
    refposition: str
    timeorigin: float | str | None = None

    def __post_init__(self) -> None:
        if not is_ncname(self.id):
            raise ValueError(f"TIMESYS ID {self.id!r} is not an XML NCName")
        if not self.timescale or not self.refposition:
            raise ValueError(f"TIMESYS {self.id}: timescale and refposition are required")
        origin = self.timeorigin
        if isinstance(origin, str) and origin not in _ORIGINS:
            try:
                float(origin)
            except ValueError:
                raise ValueError(
                    f"TIMESYS {self.id}: timeorigin {origin!r} is neither a number nor one of "
                    f"{sorted(_ORIGINS)}"
                ) from None

    def attributes(self) -> Iterator[tuple[str, str | None]]:
        """The element's attributes in schema order."""
        origin = self.timeorigin
        yield "ID", self.id
        yield "timeorigin", repr(float(origin)) if isinstance(origin, int | float) else origin
        yield "timescale", self.timescale
        yield "refposition", self.refposition


@dataclass(frozen=True)
class CooSys:
    """A COOSYS element: the celestial frame (and optional equinox/epoch, e.g. 'J2000') of
    the position columns that refer to it."""

    id: str
    system: str = "ICRS"
    equinox: str | None = None
    epoch: str | None = None

    def __post_init__(self) -> None:
        if not is_ncname(self.id):
            raise ValueError(f"COOSYS ID {self.id!r} is not an XML NCName")
        if self.system not in COOSYS_SYSTEMS:
            raise ValueError(
                f"COOSYS {self.id}: system {self.system!r} is not one of {sorted(COOSYS_SYSTEMS)}"
            )
        for label, value in (("equinox", self.equinox), ("epoch", self.epoch)):
            if value is not None and not _EQUINOX.match(value):
                raise ValueError(f"COOSYS {self.id}: {label} {value!r} is not like 'J2000'")

    def attributes(self) -> Iterator[tuple[str, str | None]]:
        """The element's attributes in schema order."""
        yield "ID", self.id
        yield "equinox", self.equinox
        yield "epoch", self.epoch
        yield "system", self.system


def merge_timesys(given: Sequence[TimeSys], carried: Iterable[TimeSys | None]) -> list[TimeSys]:
    """The TIMESYS elements a result declares: those ``given`` to the writer, then those its
    FIELDs carry (``carried``, one per field, None for most), each once and in that order.
    Two different systems under one ID are refused: a FIELD's ref would be ambiguous."""
    systems = list(given)  # duplicates among these are the caller's error, reported later
    by_id = {system.id: system for system in systems}
    for system in carried:
        if system is None:
            continue
        known = by_id.get(system.id)
        if known is None:
            by_id[system.id] = system
            systems.append(system)
        elif known != system:
            raise ValueError(f"two different TIMESYS elements have the ID {system.id!r}")
    return systems
