"""ADQL 2.1 geometrical functions on pgSphere: constructors, predicates, measures.

Positions are ICRS degrees in ADQL and radians in pgSphere: a POINT is ``spoint``, a CIRCLE
``scircle``, BOX and POLYGON ``spoly``. CONTAINS and INTERSECTS become the indexable
operators ``<@`` and ``&&``; ``DISTANCE(p, q) < r`` becomes ``p <@ scircle(q, r)`` (which
the GiST index on a ``spoint`` column answers) plus the exact distance test, so the result is
the same as the plain comparison. Geometry values leaving the query become DALI arrays in
degrees (DALI 1.1 point, circle, polygon). Must not import Flask or psycopg.
"""

from __future__ import annotations

from sqlglot import exp

from vo_node.adql.datatypes import Value
from vo_node.adql.errors import error_at
from vo_node.adql.templates import call, cast_to, double, number, paren, template

ICRS_NAMES = frozenset({"", "ICRS"})
_DEG = "deg"

_DALI = {
    "point": template(
        "CASE WHEN _1 IS NULL THEN NULL ELSE ARRAY[degrees(long(_1)), degrees(lat(_1))] END"
    ),
    "circle": template(
        "CASE WHEN _1 IS NULL THEN NULL ELSE ARRAY[degrees(long(center(_1))), "
        "degrees(lat(center(_1))), degrees(radius(_1))] END"
    ),
    # pgSphere 1.2 has no accessor for polygon vertices: read them from its text output,
    # '{(lon , lat),(lon , lat),...}' in radians (the default set_sphere_output('RAD')).
    "polygon": template(
        "CASE WHEN _1 IS NULL THEN NULL ELSE ARRAY(SELECT degrees(CAST(v AS DOUBLE PRECISION)) "
        "FROM unnest(regexp_split_to_array(btrim(CAST(_1 AS TEXT), '{}()'), "
        "'\\s*\\)?\\s*,\\s*\\(?\\s*')) WITH ORDINALITY AS u(v, n) ORDER BY n) END"
    ),
}
# A polygon from vertices, in order; rows are put in by _polygon().
_VERTICES = template("(SELECT spoly(p ORDER BY n) FROM (VALUES (1, NULL)) AS v(n, p))")
# The corners of an ADQL BOX: its sides are great circles at right angles to the arms of a
# cross through the centre, i.e. straight lines in the gnomonic projection about the centre.
_BOX = template(
    "(SELECT spoly(spoint(b.a + atan2(c.x, cos(b.d) - c.y * sin(b.d)), "
    "asin((sin(b.d) + c.y * cos(b.d)) / sqrt(1 + c.x * c.x + c.y * c.y))) ORDER BY c.n) "
    "FROM (SELECT radians(_1) AS a, radians(_2) AS d, tan(radians(_3) / 2) AS hx, "
    "tan(radians(_4) / 2) AS hy) AS b CROSS JOIN LATERAL (VALUES (1, -b.hx, -b.hy), "
    "(2, b.hx, -b.hy), (3, b.hx, b.hy), (4, -b.hx, b.hy)) AS c(n, x, y))"
)
# The centroid of a polygon's vertices (the normalised mean of their unit vectors), from
# its DALI array.
_CENTROID = template(
    "(SELECT spoint(atan2(sum(cos(la) * sin(lo)), sum(cos(la) * cos(lo))), "
    "atan2(sum(sin(la)), sqrt(power(sum(cos(la) * cos(lo)), 2) "
    "+ power(sum(cos(la) * sin(lo)), 2)))) FROM (SELECT radians(a[2 * i - 1]) AS lo, "
    "radians(a[2 * i]) AS la FROM (SELECT _1 AS a) AS s, "
    "generate_series(1, array_length(a, 1) / 2) AS i) AS w)"
)
_FROM_TEXT = template("CAST(regexp_split_to_array(btrim(_1), '\\s+') AS DOUBLE PRECISION[])")
_CAST_POINT = template("(SELECT spoint(radians(a[1]), radians(a[2])) FROM (SELECT _1 AS a) AS s)")
_CAST_CIRCLE = template(
    "(SELECT scircle(spoint(radians(a[1]), radians(a[2])), radians(a[3])) "
    "FROM (SELECT _1 AS a) AS s)"
)
_CAST_POLYGON = template(
    "(SELECT spoly(spoint(radians(a[2 * i - 1]), radians(a[2 * i])) ORDER BY i) "
    "FROM (SELECT _1 AS a) AS s, generate_series(1, array_length(a, 1) / 2) AS i)"
)


_ONCE = template("(SELECT _2 FROM (SELECT _1 AS g) AS gs)")


def dali(value: Value) -> exp.Expr:
    """A geometry as the DALI array of doubles in degrees a VOTable carries."""
    convert = _DALI[str(value.datatype)]
    if isinstance(value.sql, exp.Column):
        return convert(value.sql)
    # A computed geometry is evaluated once, not once per array element.
    return _ONCE(value.sql, convert(exp.column("g")))


def function(name: str, node: exp.Anonymous, args: list[Value]) -> Value:
    """Translate the geometry function or healpix UDF ``name`` applied to ``args``."""
    if name in {"POINT", "CIRCLE", "BOX", "POLYGON"}:
        args = _without_coordsys(node, args)
    if name == "POINT":
        return Value(_spoint(node, args[0], args[1]), "point")
    if name == "CIRCLE":
        centre = _centre(node, args[:-1])
        radius = call("radians", _number(node, args[-1]))
        return Value(call("scircle", centre, radius), "circle")
    if name == "BOX":
        centre = _centre(node, args[:-2])
        lon, lat = call("degrees", call("long", centre)), call("degrees", call("lat", centre))
        width, height = (_number(node, a) for a in args[-2:])
        return Value(_BOX(lon, lat, width, height), "polygon")
    if name == "POLYGON":
        return Value(_polygon(node, args), "polygon")
    if name == "CENTROID":
        shape = _geometry(node, args[0], ("point", "circle", "polygon"))
        if shape.datatype == "point":
            return Value(shape.sql, "point")
        if shape.datatype == "circle":
            return Value(call("center", shape.sql), "point")
        return Value(_CENTROID(dali(shape)), "point")
    if name == "AREA":
        shape = _geometry(node, args[0], ("point", "circle", "polygon"))
        if shape.datatype == "point":
            return Value(double(exp.Literal.number(0)), "double", "deg**2")
        square_degrees = call("degrees", call("degrees", call("area", shape.sql)))
        return Value(square_degrees, "double", "deg**2")
    if name in {"COORD1", "COORD2"}:
        point = _geometry(node, args[0], ("point",))
        axis = "long" if name == "COORD1" else "lat"
        return Value(call("degrees", call(axis, point.sql)), "double", _DEG)
    if name == "COORDSYS":
        _geometry(node, args[0], ("point", "circle", "polygon"))
        return Value(exp.Literal.string("ICRS"), "char")
    if name == "DISTANCE":
        p, q = _distance_points(node, args)
        return Value(call("degrees", paren(_binary("<->", p, q))), "double", _DEG)
    if name in {"CONTAINS", "INTERSECTS"}:
        test = predicate(name, node, args[0], args[1])
        return Value(cast_to(paren(test), exp.DType.INT), "int")
    if name == "IVO_HEALPIX_INDEX":
        order = cast_to(_number(node, args[0]), exp.DType.INT)
        position = _centre(node, args[1:])
        return Value(call("healpix_nest", order, position), "long")
    if name == "IVO_HEALPIX_CENTER":
        order = cast_to(_number(node, args[0]), exp.DType.INT)
        index = cast_to(_number(node, args[1]), exp.DType.BIGINT)
        return Value(call("centre_of_healpix_nest", order, index), "point")
    raise error_at(node, f"{name} is not a geometry function")


def predicate(name: str, node: exp.Expr, a: Value, b: Value) -> exp.Expr:
    """CONTAINS(a, b) or INTERSECTS(a, b) as a boolean pgSphere test."""
    kinds = ("point", "circle", "polygon")
    a, b = _geometry(node, a, kinds), _geometry(node, b, kinds)
    if name == "INTERSECTS":
        # ADQL 2.1, INTERSECTS: a point argument makes it CONTAINS(point, other).
        if a.datatype == "point":
            return predicate("CONTAINS", node, a, b)
        if b.datatype == "point":
            return predicate("CONTAINS", node, b, a)
        return _binary("&&", a, b)
    if b.datatype == "point":
        # A point contains only itself (pgSphere has no <@ with a point on the right).
        if a.datatype == "point":
            return _binary("=", a, b)
        return _binary("<@", a, Value(call("scircle", b.sql), "circle"))
    return _binary("<@", a, b)


def distance_condition(
    node: exp.Expr, args: list[Value], comparison: type[exp.Expr], radius: Value
) -> exp.Expr:
    """``DISTANCE(p, q) < r`` (or ``<=``) in the form the spatial index answers.

    ``p <@ scircle(q, r)`` selects with the GiST index (inclusive, with pgSphere's tolerance,
    so a superset); the exact distance comparison that follows keeps the result identical
    to the plain one. pgSphere circles cannot exceed 90 degrees, so other radii (and
    radii that are not constants) keep the plain comparison.
    """
    p, q = _distance_points(node, args)
    exact = comparison(
        this=call("degrees", paren(_binary("<->", p, q))), expression=paren(radius.sql)
    )
    if radius.constant is None or not 0 <= radius.constant <= 90:
        return exact
    if q.column is not None and p.column is None:
        p, q = q, p  # the indexed column goes on the left of <@
    cone = Value(call("scircle", q.sql, call("radians", number(radius.constant))), "circle")
    return paren(exp.And(this=_binary("<@", p, cone), expression=exact))


def cast(node: exp.Expr, value: Value, kind: str) -> Value:
    """CAST of a DALI string ('12.3 45.6', ...) to POINT, CIRCLE or POLYGON."""
    if value.datatype not in (None, "char", "unicodeChar"):
        raise error_at(node, f"only strings can be cast to {kind.upper()}")
    numbers = _FROM_TEXT(value.sql)
    builder = {"point": _CAST_POINT, "circle": _CAST_CIRCLE, "polygon": _CAST_POLYGON}[kind]
    return Value(builder(numbers), kind)


def _binary(operator: str, a: Value, b: Value) -> exp.Expr:
    """A pgSphere operator, built from its PostgreSQL text so sqlglot prints it verbatim."""
    return _OPERATORS[operator](a.sql, b.sql)


_OPERATORS = {op: template(f"_1 {op} _2") for op in ("<@", "&&", "<->", "=")}


def _without_coordsys(node: exp.Anonymous, args: list[Value]) -> list[Value]:
    """The arguments after the deprecated coordinate system (ADQL 2.1, "Coordsys"), which
    must be ICRS (or empty) since that is the only frame of this archive's positions."""
    first = node.expressions[0]
    if not (isinstance(first, exp.Null) or args[0].datatype in ("char", "unicodeChar")):
        return args
    if isinstance(first, exp.Literal) and first.is_string:
        frame = first.this.strip()
        if frame.upper() not in ICRS_NAMES:
            raise error_at(
                first,
                f"coordinate system '{frame}' is not supported: positions here are ICRS "
                "(write 'ICRS' or '')",
            )
    elif not isinstance(first, exp.Null):
        raise error_at(first, "the coordinate system must be a string literal")
    return args[1:]


def _number(node: exp.Expr, value: Value) -> exp.Expr:
    if value.is_geometry or value.datatype in ("char", "unicodeChar", "timestamp", "boolean"):
        raise error_at(node, f"a number is needed here, not a {value.datatype}")
    return value.sql


def _spoint(node: exp.Expr, lon: Value, lat: Value) -> exp.Expr:
    return call("spoint", call("radians", _number(node, lon)), call("radians", _number(node, lat)))


def _centre(node: exp.Expr, args: list[Value]) -> exp.Expr:
    """A position given as one point or as two numbers (degrees)."""
    if len(args) == 1:
        return _geometry(node, args[0], ("point",)).sql
    if len(args) == 2:
        return _spoint(node, args[0], args[1])
    raise error_at(node, "a position is a point or two numbers")


def _geometry(node: exp.Expr, value: Value, kinds: tuple[str, ...]) -> Value:
    """``value``, if it is one of the geometry ``kinds`` (or NULL)."""
    if value.datatype in kinds or isinstance(value.sql, exp.Null):
        return value
    wanted = " or ".join(k.upper() for k in kinds)
    found = value.datatype.upper() if value.datatype else "a value of unknown type"
    raise error_at(node, f"{wanted} needed, found {found}")


def _distance_points(node: exp.Expr, args: list[Value]) -> tuple[Value, Value]:
    if len(args) == 4:
        first = Value(_spoint(node, args[0], args[1]), "point")
        return first, Value(_spoint(node, args[2], args[3]), "point")
    return _geometry(node, args[0], ("point",)), _geometry(node, args[1], ("point",))


def _polygon(node: exp.Anonymous, args: list[Value]) -> exp.Expr:
    """POLYGON from three or more points, or from six or more numbers (pairs)."""
    if all(a.datatype == "point" for a in args):
        if len(args) < 3:
            raise error_at(node, "POLYGON needs at least three vertices")
        points = [a.sql for a in args]
    else:
        if any(a.is_geometry for a in args):
            raise error_at(node, "POLYGON takes either points or numbers, not both")
        if len(args) % 2 or len(args) < 6:
            raise error_at(node, "POLYGON needs at least three vertices as coordinate pairs")
        points = [_spoint(node, args[i], args[i + 1]) for i in range(0, len(args), 2)]
    built = _VERTICES()
    rows = [exp.Tuple(expressions=[exp.Literal.number(i + 1), p]) for i, p in enumerate(points)]
    values = built.find(exp.Values)
    if values is None:  # the template above always has one
        raise error_at(node, "internal error: polygon template")
    values.set("expressions", rows)
    return built
