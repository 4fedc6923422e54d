"""The declaration types of published metadata: schemas, tables, columns, foreign keys.

One declaration per published column is the single source of truth (STYLE 5): the TAP_SCHEMA
tables, VOSI ``/tables``, VOTable FIELDs, the ADQL resolver and the registry's tableset are all
generated from these objects. Plain frozen dataclasses: no I/O, no database, no Flask.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

# VOTable datatypes a column may declare (VOTable 1.4, section 2.1).
DATATYPES = frozenset(
    {"boolean", "unsignedByte", "short", "int", "long", "float", "double", "char", "unicodeChar"}
)
# DALI 1.1 xtypes the node produces.
XTYPES = frozenset({"timestamp", "interval", "point", "circle", "polygon", "moc", "shape"})


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

    def __post_init__(self) -> None:
        if self.datatype not in DATATYPES:
            raise ValueError(f"column {self.name}: unknown VOTable datatype {self.datatype!r}")
        if self.xtype is not None and self.xtype not in XTYPES:
            raise ValueError(f"column {self.name}: unknown xtype {self.xtype!r}")
        if not self.description.strip():
            raise ValueError(f"column {self.name}: every column needs a description")


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

    def tables(self) -> Iterator[Table]:
        for schema in self.schemas:
            yield from schema.tables

    def table(self, qualified: str) -> Table | None:
        """Look a table up by 'schema.table', case-insensitively."""
        wanted = qualified.lower()
        return next((t for t in self.tables() if t.qualified.lower() == wanted), None)
