"""The optional ADQL 2.1 features this translator implements, as TAPRegExt declares them.

TAPRegExt 1.0 lists a language's optional features as ``languageFeatures``
groups identified by a type URI, each feature by its ``form``; ADQL 2.1 (optional components, and
appendix B) names the groups and forms. Exactly what works is listed: REGION is not (there is
no general STC-S region type in pgSphere). Plain data: imports only the function table.
"""

from __future__ import annotations

from dataclasses import dataclass

from vo_node.adql.functions import UDF_SIGNATURES

_TAPREGEXT = "ivo://ivoa.net/std/TAPRegExt"
GEOMETRY = f"{_TAPREGEXT}#features-adqlgeo"
STRING = f"{_TAPREGEXT}#features-adql-string"
SETS = f"{_TAPREGEXT}#features-adql-sets"
COMMON_TABLE = f"{_TAPREGEXT}#features-adql-common-table"
TYPE = f"{_TAPREGEXT}#features-adql-type"
UNIT = f"{_TAPREGEXT}#features-adql-unit"
BITWISE = f"{_TAPREGEXT}#features-adql-bitwise"
OFFSET = f"{_TAPREGEXT}#features-adql-offset"
CONDITIONAL = f"{_TAPREGEXT}#features-adql-conditional"
UDF = f"{_TAPREGEXT}#features-udf"


@dataclass(frozen=True)
class LanguageFeature:
    """One ``feature`` of a TAPRegExt ``languageFeatures`` group."""

    type: str
    form: str
    description: str = ""


def _group(type_uri: str, *forms: tuple[str, str]) -> tuple[LanguageFeature, ...]:
    return tuple(LanguageFeature(type_uri, form, text) for form, text in forms)


FEATURES: tuple[LanguageFeature, ...] = (
    *_group(
        GEOMETRY,
        ("POINT", "A position, ICRS degrees; the coordinate system argument may be 'ICRS' or ''."),
        ("CIRCLE", "A cone: centre (point or two numbers) and radius, degrees."),
        ("BOX", "A box with great-circle sides, as ADQL defines it (a polygon)."),
        ("POLYGON", "A polygon from three or more vertices (points or coordinate pairs)."),
        ("CENTROID", "Centre of a circle; normalised mean vertex of a polygon."),
        ("AREA", "Area in square degrees."),
        ("COORD1", "First coordinate (RA) of a point, degrees."),
        ("COORD2", "Second coordinate (Dec) of a point, degrees."),
        ("COORDSYS", "Always 'ICRS'."),
        (
            "DISTANCE",
            "Great-circle distance in degrees, of two points or of four numbers; "
            "DISTANCE(...) < r uses the spatial index.",
        ),
        ("CONTAINS", "1 if the first geometry lies in the second; = 1 uses the spatial index."),
        ("INTERSECTS", "1 if the geometries overlap; = 1 uses the spatial index."),
    ),
    *_group(
        STRING,
        ("LOWER", "Lower case."),
        ("UPPER", "Upper case."),
        ("ILIKE", "Case-insensitive LIKE."),
    ),
    *_group(
        SETS,
        ("UNION", "UNION [ALL]."),
        ("EXCEPT", "EXCEPT [ALL]."),
        ("INTERSECT", "INTERSECT [ALL]."),
    ),
    *_group(COMMON_TABLE, ("WITH", "Common table expressions (not recursive).")),
    *_group(
        TYPE,
        (
            "CAST",
            "CAST to SMALLINT, INTEGER, BIGINT, REAL, DOUBLE PRECISION, CHAR(n), "
            "VARCHAR(n), TIMESTAMP, and from DALI strings to POINT, CIRCLE, POLYGON.",
        ),
    ),
    *_group(UNIT, ("IN_UNIT", "Conversion to a VOUnit, from the declared unit of columns.")),
    *_group(
        BITWISE,
        ("BIT_AND", "x & y on integers."),
        ("BIT_OR", "x | y on integers."),
        ("BIT_XOR", "x ^ y on integers (exclusive or)."),
        ("BIT_NOT", "~x on integers."),
    ),
    *_group(OFFSET, ("OFFSET", "Skip rows; applied before TOP.")),
    *_group(
        CONDITIONAL,
        ("COALESCE", "The first argument that is not NULL."),
        ("NULLIF", "NULL if the two arguments are equal, else the first."),
        ("CASE", "The SQL-92 CASE expression, simple and searched."),
    ),
    *(LanguageFeature(UDF, signature, text) for signature, text in UDF_SIGNATURES.values()),
)
