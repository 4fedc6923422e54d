"""The functions ADQL queries may call here: name, arity, feature group and result type.

One table serves the allowlist (is the call known, with how many arguments), type inference
(what a call returns) and the feature declaration (which optional groups are offered). The
SQL each call becomes is the business of ``translate`` and ``geometry``. Plain data and
lookups, and the argument shapes the grammar fixes. Must not import Flask or psycopg.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from sqlglot import exp

from vo_node.adql.errors import error_at

# What a call returns, as a VOTable datatype, an ADQL geometry kind, or a rule:
#   'first'  the type of the first argument (ABS, aggregates' MIN/MAX)
#   'common' the common type of all arguments (COALESCE)
POINT, CIRCLE, POLYGON = "point", "circle", "polygon"
GEOMETRIES = frozenset({POINT, CIRCLE, POLYGON})


@dataclass(frozen=True)
class FunctionSpec:
    """One ADQL function: how it may be called and what it returns."""

    name: str
    min_args: int
    max_args: int | None  # None: any number
    group: str  # math, trig, geometry, string, conditional, unit, udf
    returns: str | None

    def arity(self) -> str:
        """The allowed argument counts, in words, for error messages."""
        if self.max_args is None:
            return f"at least {self.min_args}"
        if self.min_args == self.max_args:
            return str(self.min_args)
        return f"{self.min_args} to {self.max_args}"


def _specs(*rows: tuple[str, int, int | None, str, str | None]) -> dict[str, FunctionSpec]:
    return {row[0]: FunctionSpec(*row) for row in rows}


# ADQL 2.1: mathematical and trigonometrical functions, geometry, string, conditional and
# unit functions; the UDFs are from the IVOA catalogue of user-defined functions.
FUNCTIONS: dict[str, FunctionSpec] = _specs(
    ("ABS", 1, 1, "math", "first"),
    ("CEILING", 1, 1, "math", "double"),
    ("DEGREES", 1, 1, "math", "double"),
    ("EXP", 1, 1, "math", "double"),
    ("FLOOR", 1, 1, "math", "double"),
    ("LOG", 1, 1, "math", "double"),
    ("LOG10", 1, 1, "math", "double"),
    ("MOD", 2, 2, "math", "double"),
    ("PI", 0, 0, "math", "double"),
    ("POWER", 2, 2, "math", "double"),
    ("RADIANS", 1, 1, "math", "double"),
    ("RAND", 0, 1, "math", "double"),
    ("ROUND", 1, 2, "math", "double"),
    ("SQRT", 1, 1, "math", "double"),
    ("TRUNCATE", 1, 2, "math", "double"),
    ("ACOS", 1, 1, "trig", "double"),
    ("ASIN", 1, 1, "trig", "double"),
    ("ATAN", 1, 1, "trig", "double"),
    ("ATAN2", 2, 2, "trig", "double"),
    ("COS", 1, 1, "trig", "double"),
    ("COT", 1, 1, "trig", "double"),
    ("SIN", 1, 1, "trig", "double"),
    ("TAN", 1, 1, "trig", "double"),
    ("AREA", 1, 1, "geometry", "double"),
    ("BOX", 3, 5, "geometry", POLYGON),
    ("CENTROID", 1, 1, "geometry", POINT),
    ("CIRCLE", 2, 4, "geometry", CIRCLE),
    ("CONTAINS", 2, 2, "geometry", "int"),
    ("COORD1", 1, 1, "geometry", "double"),
    ("COORD2", 1, 1, "geometry", "double"),
    ("COORDSYS", 1, 1, "geometry", "char"),
    ("DISTANCE", 2, 4, "geometry", "double"),
    ("INTERSECTS", 2, 2, "geometry", "int"),
    ("POINT", 2, 3, "geometry", POINT),
    ("POLYGON", 3, None, "geometry", POLYGON),
    ("LOWER", 1, 1, "string", "char"),
    ("UPPER", 1, 1, "string", "char"),
    ("COALESCE", 1, None, "conditional", "common"),
    ("NULLIF", 2, 2, "conditional", "first"),
    ("IN_UNIT", 2, 2, "unit", "double"),
    ("IVO_HEALPIX_INDEX", 2, 3, "udf", "long"),
    ("IVO_HEALPIX_CENTER", 2, 2, "udf", POINT),
)

_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Neg)

AGGREGATES = frozenset({"COUNT", "SUM", "AVG", "MIN", "MAX"})

# Functions of the ADQL grammar this service does not offer, with the reason.
UNSUPPORTED = {
    "REGION": "REGION (STC-S strings) is not supported by this service; use POINT, CIRCLE, "
    "BOX or POLYGON",
}

# User-defined functions, as TAPRegExt declares them (signature, description).
UDF_SIGNATURES = {
    "IVO_HEALPIX_INDEX": (
        "ivo_healpix_index(hpxOrder INTEGER, ra DOUBLE PRECISION, dec DOUBLE PRECISION) -> BIGINT",
        "Index of the HEALPix tile (nested scheme, order hpxOrder) containing the ICRS "
        "position ra, dec in degrees; also ivo_healpix_index(hpxOrder, point).",
    ),
    "IVO_HEALPIX_CENTER": (
        "ivo_healpix_center(hpxOrder INTEGER, hpxIndex BIGINT) -> POINT",
        "The centre of the HEALPix tile hpxIndex (nested scheme) of order hpxOrder.",
    ),
}


def _is_coordsys(arg: exp.Expr) -> bool:
    return isinstance(arg, exp.Null) or (isinstance(arg, exp.Literal) and arg.is_string)


def _is_number(arg: exp.Expr) -> bool:
    inner = arg.this if isinstance(arg, exp.Neg) else arg
    return isinstance(inner, exp.Literal | exp.HexString) and not inner.is_string


def check_arguments(node: exp.Anonymous, name: str, args: list[exp.Expr]) -> None:
    """Raise :class:`AdqlError` unless the arguments have the shape the ADQL grammar gives
    them beyond their number (a literal unit string, a coordinate system first, ...)."""
    geometry_args = args[1:] if args and _is_coordsys(args[0]) else args
    if name == "POINT" and len(geometry_args) != 2:
        raise error_at(node, "POINT takes [coordsys,] longitude, latitude")
    # CIRCLE and BOX take a centre as one point or as two numbers.
    one_point = bool(geometry_args) and not _is_number(geometry_args[0])
    if name == "CIRCLE" and not (
        len(geometry_args) == 3 or (len(geometry_args) == 2 and one_point)
    ):
        raise error_at(node, "CIRCLE takes [coordsys,] a centre (point or two numbers), radius")
    if name == "BOX" and not (len(geometry_args) == 4 or (len(geometry_args) == 3 and one_point)):
        raise error_at(node, "BOX takes [coordsys,] a centre, width, height")
    if name == "POLYGON":
        numeric = any(_is_number(a) or isinstance(a, _ARITHMETIC) for a in geometry_args)
        if numeric and (len(geometry_args) % 2 or len(geometry_args) < 6):
            raise error_at(node, "POLYGON takes at least three vertices, as coordinate pairs")
    if name == "DISTANCE" and len(args) == 3:
        raise error_at(node, "DISTANCE takes two points or four numbers")
    if name == "IN_UNIT" and not (isinstance(args[1], exp.Literal) and args[1].is_string):
        raise error_at(args[1], "the second argument of IN_UNIT must be a string literal")
    if name in {"ROUND", "TRUNCATE"} and len(args) == 2:
        places = args[1].this if isinstance(args[1], exp.Neg) else args[1]
        if not (isinstance(places, exp.Literal) and places.is_int):
            raise error_at(args[1], f"the places of {name} must be an integer literal")
    if name == "RAND" and args and not _is_number(args[0]):
        raise error_at(args[0], "the seed of RAND must be a number")


def lookup(name: str) -> FunctionSpec | None:
    """The spec of the function called ``name`` (case-insensitive), if offered."""
    return FUNCTIONS.get(name.upper())


def suggestion(name: str) -> str | None:
    """The known function name closest to ``name``, for a did-you-mean."""
    known = [*FUNCTIONS, *AGGREGATES]
    close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.6)
    return close[0] if close else None
