"""Result columns as the writers see them: :class:`FieldSpec`, made from a published column
declaration or from a PostgreSQL result type.

A FieldSpec says how values are serialised (VOTable datatype and arraysize) and what they mean
(unit, UCD, utype, xtype, description, a ``ref`` to a COOSYS/TIMESYS). A FieldSpec may carry
its TIMESYS itself, as one made from a declared time column does: the document then writes
that element before the table and the FIELD refers to it. It is checked when made, so a
mistake in metadata fails before the first byte of a response. Must not import Flask or
psycopg (type OIDs are plain integers here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vo_node.errors import NodeError
from vo_node.votable.markup import is_ncname
from vo_node.votable.stcs import KINDS as REGION_KINDS
from vo_node.votable.systems import TimeSys

if TYPE_CHECKING:
    from tap_schema.model import Column

# VOTable 1.4 primitives: the datatypes the writers serialise (no bit or complex types).
TEXT_TYPES = frozenset({"char", "unicodeChar"})
NUMERIC_TYPES = frozenset({"unsignedByte", "short", "int", "long", "float", "double"})
FLOAT_TYPES = frozenset({"float", "double"})
DATATYPES = TEXT_TYPES | NUMERIC_TYPES | {"boolean"}

# Arraysizes the writers handle: a fixed length 'N', or variable '*' / bounded 'N*'.
# Multidimensional sizes ('2x3', '2x*') are not produced by this node.
_ARRAYSIZE = re.compile(r"(?P<n>[0-9]+)?(?P<star>\*)?\Z")

# DALI 1.1, section 3.3: the shape each standard xtype requires. None means variable length.
_XTYPE_SHAPES: dict[str, tuple[frozenset[str], int | None]] = {
    "point": (FLOAT_TYPES, 2),
    "circle": (FLOAT_TYPES, 3),
    "polygon": (FLOAT_TYPES, None),
    "interval": (NUMERIC_TYPES, 2),
}
# Strings: DALI 1.1 moc and shape, and ObsCore 1.1's STC-S regions.
_TEXT_XTYPES = frozenset({"moc", "shape", "adql:REGION"})


class ResultTypeError(NodeError):
    """A result column has a database type that no output format can carry."""


@dataclass(frozen=True)
class FieldSpec:
    """One result column: VOTable FIELD attributes plus its serialisation shape.

    ``arraysize`` is None for a scalar, 'N' for fixed-length, '*' or 'N*' for variable-length
    values. Text columns (char, unicodeChar) always carry an arraysize; a text column declared
    without one is taken as '*' (a bare char FIELD would mean a single character).

    ``timesys``, if given, is the TIMESYS the values are in; ``ref`` is then its ID.
    ``region`` ('point', 'circle', 'polygon') marks a text column whose values arrive as
    DALI arrays of that geometry and are written as STC-S strings (xtype adql:REGION).
    """

    name: str
    datatype: str
    arraysize: str | None = None
    unit: str | None = None
    ucd: str | None = None
    utype: str | None = None
    xtype: str | None = None
    description: str | None = None
    ref: str | None = None
    timesys: TimeSys | None = None
    region: str | None = None
    # The FIELD's XML ID, for PARAMs that refer to it (a DataLink service descriptor's ID).
    id: str | None = None
    # Derived from arraysize: the fixed length, or (variable) the bound, None when unbounded.
    length: int | None = field(init=False, repr=False, compare=False)
    variable: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a FIELD needs a name")
        if self.datatype not in DATATYPES:
            raise ValueError(f"field {self.name}: unsupported VOTable datatype {self.datatype!r}")
        arraysize = self.arraysize
        if arraysize is None and self.datatype in TEXT_TYPES:
            arraysize = "*"
            object.__setattr__(self, "arraysize", arraysize)
        length: int | None = None
        variable = False
        if arraysize is not None:
            match = _ARRAYSIZE.match(arraysize)
            if match is None or arraysize == "" or match.group("n") == "0":
                raise ValueError(f"field {self.name}: unsupported arraysize {arraysize!r}")
            variable = match.group("star") is not None
            length = int(match.group("n")) if match.group("n") else None
        object.__setattr__(self, "length", length)
        object.__setattr__(self, "variable", variable)
        if self.timesys is not None:
            if self.ref not in (None, self.timesys.id):
                raise ValueError(f"field {self.name}: ref {self.ref!r} is not its TIMESYS")
            object.__setattr__(self, "ref", self.timesys.id)
        if self.ref is not None and not is_ncname(self.ref):
            raise ValueError(f"field {self.name}: ref {self.ref!r} is not an XML NCName")
        if self.id is not None and not is_ncname(self.id):
            raise ValueError(f"field {self.name}: ID {self.id!r} is not an XML NCName")
        if self.region is not None and (
            self.region not in REGION_KINDS or self.datatype not in TEXT_TYPES
        ):
            raise ValueError(
                f"field {self.name}: region {self.region!r} needs a text datatype and one of "
                f"{sorted(REGION_KINDS)}"
            )
        self._check_xtype()

    def _check_xtype(self) -> None:
        # DALI 1.1 (3.3.3) declares timestamps as char only; votlint holds to that.
        if self.xtype == "timestamp" and self.datatype != "char":
            raise ValueError(f"field {self.name}: xtype timestamp needs datatype char")
        if self.xtype in _TEXT_XTYPES and self.datatype not in TEXT_TYPES:
            raise ValueError(f"field {self.name}: xtype {self.xtype} needs a char datatype")
        if self.xtype in _XTYPE_SHAPES:
            types, length = _XTYPE_SHAPES[self.xtype]
            shape_ok = (length is None and self.variable) or (
                length is not None and not self.variable and self.length == length
            )
            if self.datatype not in types or not shape_ok:
                wanted = "*" if length is None else str(length)
                raise ValueError(
                    f"field {self.name}: xtype {self.xtype} needs datatype "
                    f"{'/'.join(sorted(types))} with arraysize {wanted} (DALI 1.1)"
                )

    @property
    def is_text(self) -> bool:
        """Whether values are strings (char or unicodeChar)."""
        return self.datatype in TEXT_TYPES

    @property
    def is_array(self) -> bool:
        """Whether values are arrays of numbers or booleans (text columns are not arrays)."""
        return self.arraysize is not None and not self.is_text

    def attributes(self) -> list[tuple[str, str | None]]:
        """The FIELD element's attributes, in the order VOTable documents usually show."""
        return [
            ("ID", self.id),
            ("name", self.name),
            ("datatype", self.datatype),
            ("arraysize", self.arraysize),
            ("unit", self.unit),
            ("ucd", self.ucd),
            ("utype", self.utype),
            ("xtype", self.xtype),
            ("ref", self.ref),
        ]

    @classmethod
    def from_column(cls, column: Column, name: str | None = None) -> FieldSpec:
        """The FIELD of a published column (STYLE 5: one declaration feeds every output);
        ``name`` overrides the column name, e.g. for an ADQL alias. A declared time system
        comes along as the FIELD's TIMESYS."""
        system = column.timesys
        timesys = None
        if system is not None:
            timesys = TimeSys(
                system.id, system.timescale, system.refposition, timeorigin=system.timeorigin
            )
        return cls(
            name=name or column.name,
            datatype=column.datatype,
            arraysize=column.arraysize,
            unit=column.unit,
            ucd=column.ucd,
            utype=column.utype,
            xtype=column.xtype,
            description=column.description,
            timesys=timesys,
            region=column.region,
        )

    @classmethod
    def from_pg_type(
        cls,
        name: str,
        type_oid: int,
        *,
        arraysize: str | None = None,
        unit: str | None = None,
        ucd: str | None = None,
        utype: str | None = None,
        xtype: str | None = None,
        description: str | None = None,
        ref: str | None = None,
    ) -> FieldSpec:
        """The FIELD of a computed result column from its PostgreSQL type OID (psycopg's
        ``cursor.description[i].type_code``). ``arraysize`` and ``xtype`` override the
        defaults, e.g. arraysize='2', xtype='point' for a float8[] holding a position.

        Raises :class:`ResultTypeError` for types no format carries (bytea, json, text[],
        extension types such as pgSphere's, whose OIDs vary by database: translate those
        to float8[] in SQL)."""
        try:
            datatype, default_size, default_xtype = PG_TYPES[type_oid]
        except KeyError:
            raise ResultTypeError(
                f"column {name!r} has a database type (OID {type_oid}) that cannot be "
                "written to a result table",
                "cast it to a number, a string or an array of numbers in the query",
            ) from None
        return cls(
            name=name,
            datatype=datatype,
            arraysize=arraysize or default_size,
            unit=unit,
            ucd=ucd,
            utype=utype,
            xtype=xtype or default_xtype,
            description=description,
            ref=ref,
        )


# PostgreSQL type OID (pg_type.oid, fixed for built-in types) -> (datatype, arraysize, xtype).
PG_TYPES: dict[int, tuple[str, str | None, str | None]] = {
    16: ("boolean", None, None),  # bool
    18: ("char", "1", None),  # "char": one byte
    19: ("char", "*", None),  # name
    20: ("long", None, None),  # int8
    21: ("short", None, None),  # int2
    23: ("int", None, None),  # int4
    25: ("char", "*", None),  # text
    26: ("long", None, None),  # oid
    700: ("float", None, None),  # float4
    701: ("double", None, None),  # float8
    1042: ("char", "*", None),  # bpchar
    1043: ("char", "*", None),  # varchar
    1082: ("char", "*", "timestamp"),  # date: DALI timestamps may be dates alone
    1083: ("char", "*", None),  # time
    1114: ("char", "*", "timestamp"),  # timestamp
    1184: ("char", "*", "timestamp"),  # timestamptz, written in UTC
    1700: ("double", None, None),  # numeric
    2950: ("char", "36", None),  # uuid
    1000: ("boolean", "*", None),  # bool[]
    1005: ("short", "*", None),  # int2[]
    1007: ("int", "*", None),  # int4[]
    1016: ("long", "*", None),  # int8[]
    1021: ("float", "*", None),  # float4[]
    1022: ("double", "*", None),  # float8[]
    1231: ("double", "*", None),  # numeric[]
}
