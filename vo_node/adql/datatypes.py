"""Typed SQL values: what each translated ADQL expression is, as far as it can be known.

Translation needs types where ADQL and PostgreSQL differ (integer division, ROUND of a
double, which pgSphere operator a geometry needs) and the TAP layer needs them to describe
computed result columns. A type is a VOTable datatype ('short', 'int', 'long', 'float',
'double', 'char', 'boolean'), 'timestamp', a geometry kind ('point', 'circle', 'polygon'),
or ``None`` when unknown. Must not import Flask or psycopg.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from tap_schema.model import Column

INTEGERS = ("short", "int", "long")
NUMBERS = (*INTEGERS, "float", "double")
STRINGS = ("char", "unicodeChar")
GEOMETRY_KINDS = ("point", "circle", "polygon")
_ARRAYSIZES = {"point": "2", "circle": "3", "polygon": "*"}
_INT_RANGE = 2**31


@dataclass
class Value:
    """A translated expression: its SQL, type, unit, and the column it plainly refers to."""

    sql: exp.Expr
    datatype: str | None = None
    unit: str | None = None
    column: Column | None = None
    name: str | None = None  # the output name ADQL would give it, if it has a natural one
    constant: float | None = field(default=None, repr=False)  # value of numeric constants

    @property
    def is_geometry(self) -> bool:
        """A POINT, CIRCLE or POLYGON."""
        return self.datatype in GEOMETRY_KINDS

    @property
    def is_integer(self) -> bool:
        """SMALLINT, INTEGER or BIGINT."""
        return self.datatype in INTEGERS

    @property
    def is_number(self) -> bool:
        """Any numeric type."""
        return self.datatype in NUMBERS


def column_type(column: Column) -> str:
    """The type of a declared column: its geometry kind or xtype where that decides."""
    if column.region is not None:
        # Published as an STC-S string (adql:REGION), held as a pgSphere geometry: ADQL
        # works on the geometry; the writers turn the result's DALI array into STC-S.
        return column.region
    if column.xtype in GEOMETRY_KINDS or column.xtype == "timestamp":
        return column.xtype
    return column.datatype


def literal_type(literal: exp.Literal) -> str:
    """The type of a numeric or string literal."""
    if literal.is_string:
        return "char"
    text = literal.this
    if literal.is_int:
        return "int" if abs(int(text)) < _INT_RANGE else "long"
    return "double"


def wider(left: str | None, right: str | None) -> str | None:
    """The type of arithmetic on two numbers (SQL's promotion, double for mixed floats)."""
    if left in NUMBERS and right in NUMBERS:
        return NUMBERS[max(NUMBERS.index(left), NUMBERS.index(right))]
    return left if right is None and left in NUMBERS else right if left is None else None


def common(types: list[str | None]) -> str | None:
    """One type for the branches of CASE or COALESCE: the widest number, else the first
    known type."""
    known = [t for t in types if t is not None]
    if known and all(t in NUMBERS for t in known):
        result: str | None = known[0]
        for t in known[1:]:
            result = wider(result, t)
        return result
    return known[0] if known else None


def votable(datatype: str | None) -> tuple[str | None, str | None, str | None]:
    """(VOTable datatype, xtype, arraysize) for a result column of this type."""
    if datatype in GEOMETRY_KINDS:
        return "double", datatype, _ARRAYSIZES[datatype]
    if datatype == "timestamp":
        return "char", "timestamp", "*"
    if datatype in STRINGS:
        return datatype, None, "*"
    if datatype in NUMBERS or datatype == "boolean":
        return datatype, None, None
    return None, None, None
