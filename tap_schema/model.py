"""The declaration types of published metadata: schemas, tables, columns, foreign keys, and
the time systems of numeric time columns.

One declaration per published column is the single source of truth (STYLE 5): the TAP_SCHEMA
tables, VOSI ``/tables``, VOTable FIELDs, the ADQL resolver and the registry's tableset are all
generated from these objects. Plain frozen dataclasses: no I/O, no database, no Flask.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

# VOTable datatypes a column may declare (VOTable 1.4, section 2.1).
DATATYPES = frozenset(
    {"boolean", "unsignedByte", "short", "int", "long", "float", "double", "char", "unicodeChar"}
)
# DALI 1.1 xtypes the node produces, and ObsCore 1.1's adql:REGION (an STC-S string).
REGION_XTYPE = "adql:REGION"
XTYPES = frozenset(
    {"timestamp", "interval", "point", "circle", "polygon", "moc", "shape", REGION_XTYPE}
)
# The pgSphere geometries (spoint, scircle, spoly) a column may hold in the database.
GEOMETRIES = frozenset({"point", "circle", "polygon"})
_NUMBERS = frozenset({"unsignedByte", "short", "int", "long", "float", "double"})
# The IVOA vocabularies TIMESYS attributes take their values from (VOTable 1.4, section 3.5;
# http://www.ivoa.net/rdf/timescale, http://www.ivoa.net/rdf/refposition).
TIMESCALES = frozenset({"TAI", "TT", "UT", "UTC", "GPS", "TCG", "TCB", "TDB", "UNKNOWN"})
REFPOSITIONS = frozenset(
    {"TOPOCENTER", "GEOCENTER", "BARYCENTER", "HELIOCENTER", "EMBARYCENTER", "UNKNOWN"}
)
_NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


@dataclass(frozen=True)
class TimeSystem:
    """The time system of numeric time columns: what a VOTable TIMESYS element says
    (VOTable 1.4, section 3.5). ``timeorigin`` is the Julian Date a value of 0 stands for
    (2400000.5 for MJD). ``id`` becomes the element's ID, which FIELDs ``ref``; one ID names
    one system across all declarations."""

    id: str
    timescale: str
    refposition: str
    timeorigin: float

    def __post_init__(self) -> None:
        if not _NCNAME.match(self.id):
            raise ValueError(f"time system ID {self.id!r} is not an XML NCName")
        if self.timescale not in TIMESCALES:
            raise ValueError(f"time system {self.id}: unknown timescale {self.timescale!r}")
        if self.refposition not in REFPOSITIONS:
            raise ValueError(f"time system {self.id}: unknown refposition {self.refposition!r}")


@dataclass(frozen=True)
class Column:
    """One published column, as TAP_SCHEMA.columns describes it (TAP 1.1, section 4.3)."""

    name: str
    datatype: str
    description: str
    ucd: str | None = None
    unit: str | None = None
    utype: str | None = None
    xtype: str | None = None
    arraysize: str | None = None  # '*', '64', '2', '64*'; None for a scalar
    principal: bool = False
    indexed: bool = False
    std: bool = False  # defined by a standard (ObsCore, TAP_SCHEMA)
    nullable: bool = True
    # Numeric times (MJD...): their time system, written as the FIELD's TIMESYS. ISO
    # timestamps (xtype timestamp) say their calendar themselves and take none.
    timesys: TimeSystem | None = None
    # An adql:REGION column is an STC-S string to clients but a pgSphere geometry in the
    # database: ADQL treats it as this geometry, the writers turn its values into STC-S.
    region: str | None = None
    # Values are dataset identifiers the node's DataLink service resolves: results that
    # carry the column get a DataLink service descriptor referring to it.
    datalink: bool = False

    def __post_init__(self) -> None:
        if self.datatype not in DATATYPES:
            raise ValueError(f"column {self.name}: unknown VOTable datatype {self.datatype!r}")
        if self.xtype is not None and self.xtype not in XTYPES:
            raise ValueError(f"column {self.name}: unknown xtype {self.xtype!r}")
        if not self.description.strip():
            raise ValueError(f"column {self.name}: every column needs a description")
        if self.timesys is not None and (self.datatype not in _NUMBERS or self.arraysize):
            raise ValueError(f"column {self.name}: a time system is for numeric scalar times")
        if (self.xtype == REGION_XTYPE) != (self.region is not None) or (
            self.region is not None and (self.region not in GEOMETRIES or self.datatype != "char")
        ):
            raise ValueError(
                f"column {self.name}: an {REGION_XTYPE} column is a char column that names the "
                f"geometry it holds in the database: region= one of {sorted(GEOMETRIES)}"
            )


def sql_name(name: str) -> str:
    """The database's name of a column declared with a delimited identifier ('"size"')."""
    return name[1:-1] if len(name) > 1 and name[0] == name[-1] == '"' else name


@dataclass(frozen=True)
class ForeignKey:
    """A join the client may rely on: ``columns`` pairs (from, target)."""

    key_id: str
    target_table: str  # qualified: 'corot.stars'
    columns: tuple[tuple[str, str], ...]
    description: str = ""
    utype: str | None = None


@dataclass(frozen=True)
class Table:
    """A published table or view; ``name`` is unqualified, ``qualified`` is schema.name."""

    schema: str
    name: str
    description: str
    columns: tuple[Column, ...]
    table_type: str = "table"  # 'table' | 'view' (TAP_SCHEMA.tables.table_type)
    utype: str | None = None
    foreign_keys: tuple[ForeignKey, ...] = ()

    def __post_init__(self) -> None:
        names = [c.name.lower() for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.qualified}: duplicate column names")

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> Column | None:
        """The column of that name, compared case-insensitively as ADQL does for regular
        identifiers."""
        wanted = name.lower()
        return next((c for c in self.columns if c.name.lower() == wanted), None)


@dataclass(frozen=True)
class Schema:
    name: str
    description: str
    tables: tuple[Table, ...]
    utype: str | None = None


@dataclass(frozen=True)
class Metadata:
    """Everything published, in order: schemas, their tables, their columns."""

    schemas: tuple[Schema, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        # A result may hold columns of several tables: their TIMESYS IDs must not clash.
        systems: dict[str, TimeSystem] = {}
        for table in self.tables():
            for column in table.columns:
                system = column.timesys
                if system is not None and systems.setdefault(system.id, system) != system:
                    raise ValueError(f"two different time systems have the ID {system.id!r}")

    def tables(self) -> Iterator[Table]:
        for schema in self.schemas:
            yield from schema.tables

    def table(self, qualified: str) -> Table | None:
        """Look a table up by 'schema.table', case-insensitively."""
        wanted = qualified.lower()
        return next((t for t in self.tables() if t.qualified.lower() == wanted), None)
