"""What translated ADQL computes, on the real PostgreSQL + pgSphere test cluster: ADQL's
arithmetic where PostgreSQL differs, and geometry equal to a brute-force computation on
random points (across RA = 0 and around the poles), with the spatial index in use."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np
import pytest
from conftest import Node
from test_adql_translate import _col

from tap_schema import METADATA as PUBLISHED
from tap_schema.model import Metadata, Schema, Table
from vo_node.adql import translate

SCHEMA = "adql_check"  # a schema of its own: corot, ivoa and tap_schema come from migrations
POINTS = Table(
    SCHEMA,
    "points",
    "Random positions",
    (
        _col("id", "int"),
        _col("ra", "double", "deg"),
        _col("dec", "double", "deg"),
        _col("pos", "double", "deg", xtype="point", arraysize="2"),
        _col("flags", "int"),
        _col("mag", "float", "mag"),
        _col("label", "char", arraysize="*"),
    ),
)
ONE = Table(SCHEMA, "one", "One row", (_col("x", "int"), _col("d", "double", "deg")))
LEFT = Table(SCHEMA, "l", "Left", (_col("k", "int"), _col("a", "char", arraysize="*")))
RIGHT = Table(SCHEMA, "r", "Right", (_col("k", "int"), _col("b", "char", arraysize="*")))
METADATA = Metadata((Schema(SCHEMA, "checks", (POINTS, ONE, LEFT, RIGHT)),))

N_POINTS = 20000
RNG_SEED = 20240611


def _random_points(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform on the sphere, plus crowds around RA = 0 and both poles."""
    rng = np.random.default_rng(RNG_SEED)
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    k = n // 8
    ra[:k] = np.mod(rng.normal(0, 1.5, k), 360)  # straddling RA = 0
    dec[:k] = rng.normal(10, 1.5, k)
    ra[k : 2 * k] = rng.uniform(0, 360, k)  # around the north pole
    dec[k : 2 * k] = 90 - np.abs(rng.normal(0, 1.5, k))
    ra[2 * k : 3 * k] = rng.uniform(0, 360, k)  # around the south pole
    dec[2 * k : 3 * k] = -90 + np.abs(rng.normal(0, 1.5, k))
    return ra, dec


@pytest.fixture
def one(node: Node) -> Iterator[Node]:
    """The schema with its one-row table only, for expressions."""
    with node.db.admin() as conn:
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        conn.execute(f"CREATE TABLE {SCHEMA}.one (x int, d double precision)")
        conn.execute(f"INSERT INTO {SCHEMA}.one VALUES (7, 2.5)")
        conn.execute(f"CREATE TABLE {SCHEMA}.l (k int, a text)")
        conn.execute(f"CREATE TABLE {SCHEMA}.r (k int, b text)")
        conn.execute(
            f"INSERT INTO {SCHEMA}.l VALUES (1, 'l1'), (2, 'l2'), (2, 'l2b'), (NULL, 'l0')"
        )
        conn.execute(f"INSERT INTO {SCHEMA}.r VALUES (2, 'r2'), (3, 'r3'), (NULL, 'r0')")
        conn.commit()
    yield node


@pytest.fixture
def db(one: Node) -> Iterator[Node]:
    """Plus N_POINTS random positions with a GiST index."""
    ra, dec = _random_points(N_POINTS)
    node = one
    with node.db.admin() as conn:
        conn.execute(
            f"CREATE TABLE {SCHEMA}.points (id int PRIMARY KEY, ra double precision, "
            "dec double precision, pos spoint, flags int, mag real, label text)"
        )
        rows = [
            (i, float(a), float(d), i % 16, 10 + (i % 7) * 0.5, f"Star {i}")
            for i, (a, d) in enumerate(zip(ra, dec, strict=True))
        ]
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY {SCHEMA}.points (id, ra, dec, flags, mag, label) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        conn.execute(f"UPDATE {SCHEMA}.points SET pos = spoint(radians(ra), radians(dec))")
        conn.execute(f"INSERT INTO {SCHEMA}.points (id, label) VALUES (-1, 'no position')")
        conn.execute(f"CREATE INDEX points_pos ON {SCHEMA}.points USING gist (pos)")
        conn.execute(f"ANALYZE {SCHEMA}.points")
        conn.commit()
    yield node


def run(db: Node, adql: str, metadata: Metadata = METADATA) -> list[tuple[object, ...]]:
    return db.rows(translate(adql, metadata).sql)


def value(db: Node, expression: str) -> object:
    return run(db, f"SELECT {expression} FROM {SCHEMA}.one")[0][0]


# -- arithmetic where ADQL and PostgreSQL differ --------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("LOG(EXP(2))", 2.0),  # natural logarithm, not PostgreSQL's base-10 log
        ("LOG10(1000)", 3.0),
        ("7 / 2", 3.5),  # no integer truncation
        ("-7 / 2", -3.5),
        ("x / 2", 3.5),
        ("5 ^ 3", 6),  # exclusive or, not power
        ("x ^ 1", 6),
        ("5 & 3", 1),
        ("5 | 3", 7),
        ("~5", -6),
        ("0x2F", 47),
        ("ROUND(2.5)", 3.0),  # half away from zero (PostgreSQL rounds a double to even)
        ("ROUND(-2.5)", -3.0),
        ("ROUND(d)", 3.0),
        ("ROUND(3.14159, 2)", 3.14),
        ("ROUND(1234.5, -2)", 1200.0),
        ("TRUNCATE(3.789, 2)", 3.78),
        ("TRUNCATE(-3.7)", -3.0),
        ("MOD(7, 3)", 1),
        ("MOD(-7, 3)", -1),
        ("MOD(7.5, 2)", 1.5),
        ("MOD(d, 1)", 0.5),
        ("POWER(2, 10)", 1024.0),
        ("SQRT(16)", 4.0),
        ("CEILING(313.6)", 314.0),
        ("FLOOR(-0.5)", -1.0),
        ("ABS(-3)", 3),
        ("DEGREES(PI())", 180.0),
        ("ATAN2(1, 1)", math.pi / 4),
        ("COT(PI() / 4)", 1.0),
        ("IN_UNIT(d, 'arcsec')", 9000.0),
        ("IN_UNIT(d, 'rad')", math.radians(2.5)),
        ("COALESCE(NULL, x)", 7),
        ("NULLIF(x, 7)", None),
        ("CASE WHEN x > 5 THEN 'big' ELSE 'small' END", "big"),
        ("CAST(3.7 AS INTEGER)", 4),
        ("CAST(x AS DOUBLE PRECISION) / 2", 3.5),
        ("UPPER('abc') || LOWER('DEF')", "ABCdef"),
        ("'it''s a \\ backslash'", "it's a \\ backslash"),
    ],
)
def test_arithmetic_has_adql_meaning(one: Node, expression: str, expected: object) -> None:
    got = value(one, expression)
    if isinstance(expected, float):
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)
    else:
        assert got == expected


def test_rand_string_matching_top_offset(db: Node) -> None:
    assert 0 <= float(value(db, "RAND()")) < 1  # type: ignore[arg-type]
    assert run(db, f"SELECT label FROM {SCHEMA}.points WHERE label ILIKE 'STAR 1_' "
                   "ORDER BY 1") == [(f"Star {i}",) for i in range(10, 20)]  # fmt: skip
    ids = run(db, f"SELECT TOP 3 id FROM {SCHEMA}.points WHERE id >= 0 ORDER BY id OFFSET 5")
    assert ids == [(5,), (6,), (7,)]


@pytest.mark.parametrize(
    "join",
    ["JOIN", "LEFT OUTER JOIN", "RIGHT JOIN", "FULL OUTER JOIN", "NATURAL FULL JOIN",
     "NATURAL LEFT JOIN"],
)  # fmt: skip
def test_using_and_natural_joins_merge_columns_as_sql_does(one: Node, join: str) -> None:
    using = "" if join.startswith("NATURAL") else " USING (k)"
    adql = f"SELECT * FROM {SCHEMA}.l {join} {SCHEMA}.r{using} ORDER BY k, a, b"
    expected = one.rows(f"SELECT * FROM {SCHEMA}.l {join} {SCHEMA}.r{using} ORDER BY k, a, b")
    assert run(one, adql) == expected
    assert [c.name for c in translate(adql, METADATA).columns] == ["k", "a", "b"]


@pytest.mark.parametrize(
    ("adql", "expected"),
    [
        (f"SELECT k, COUNT(*) AS n FROM {SCHEMA}.l GROUP BY k HAVING COUNT(*) > 1", [(2, 2)]),
        (
            f"SELECT a FROM {SCHEMA}.l WHERE k IN (SELECT k FROM {SCHEMA}.r) ORDER BY a",
            [("l2",), ("l2b",)],
        ),
        (
            f"SELECT a FROM {SCHEMA}.l AS x WHERE NOT EXISTS (SELECT * FROM {SCHEMA}.r AS y "
            "WHERE y.k = x.k) ORDER BY 1",
            [("l0",), ("l1",)],
        ),
        (
            f"SELECT a, (SELECT COUNT(*) FROM {SCHEMA}.r AS y WHERE y.k <= x.k) AS below "
            f"FROM {SCHEMA}.l AS x WHERE k IS NOT NULL ORDER BY a",
            [("l1", 0), ("l2", 1), ("l2b", 1)],
        ),
        (
            f"WITH small AS (SELECT k FROM {SCHEMA}.l WHERE k < 2), big (kk) AS "
            f"(SELECT k FROM {SCHEMA}.r WHERE k > 2) SELECT k FROM small UNION ALL "
            "SELECT kk FROM big ORDER BY 1",
            [(1,), (3,)],
        ),
        (
            f"(SELECT TOP 1 k FROM {SCHEMA}.l WHERE k IS NOT NULL ORDER BY k DESC) UNION "
            f"(SELECT TOP 1 k FROM {SCHEMA}.r ORDER BY k) ORDER BY k",
            [(2,)],
        ),
        # set operations take NULLs as equal
        (
            f"SELECT k FROM {SCHEMA}.l INTERSECT SELECT k FROM {SCHEMA}.r ORDER BY k",
            [(2,), (None,)],
        ),
        (f"SELECT k FROM {SCHEMA}.r EXCEPT SELECT k FROM {SCHEMA}.l ORDER BY k", [(3,)]),
        (
            f"SELECT DISTINCT k FROM {SCHEMA}.l WHERE k BETWEEN 1 AND 2 ORDER BY k DESC",
            [(2,), (1,)],
        ),
        (
            f"SELECT q.a FROM (SELECT a, k FROM {SCHEMA}.l) AS q, {SCHEMA}.r WHERE q.k = r.k "
            "ORDER BY q.a",
            [("l2",), ("l2b",)],
        ),
        (
            f"SELECT l.a, r.b FROM ({SCHEMA}.l JOIN {SCHEMA}.r ON l.k = r.k) "
            f"JOIN {SCHEMA}.one ON one.x > l.k ORDER BY 1",
            [("l2", "r2"), ("l2b", "r2")],
        ),
        (f"SELECT COALESCE(k, -1) AS kk FROM {SCHEMA}.l ORDER BY kk OFFSET 1", [(1,), (2,), (2,)]),
    ],
)
def test_queries_compute_what_sql_says(one: Node, adql: str, expected: list[tuple]) -> None:
    assert run(one, adql) == expected


def test_uploads_are_read_from_the_relation_given(one: Node) -> None:
    declared = Table("TAP_UPLOAD", "mine", "An upload", (_col("K", "int"), _col("A", "char")))
    uploads = {"mine": (f"{SCHEMA}.l", declared)}
    adql = f"SELECT m.a, r.b FROM TAP_UPLOAD.mine AS m JOIN {SCHEMA}.r AS r ON m.k = r.k ORDER BY 1"
    assert one.rows(translate(adql, METADATA, uploads).sql) == [("l2", "r2"), ("l2b", "r2")]


# -- geometry against brute force -----------------------------------------------------------


def _unit(ra: np.ndarray | float, dec: np.ndarray | float) -> np.ndarray:
    a, d = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(d) * np.cos(a), np.cos(d) * np.sin(a), np.sin(d)], axis=-1)


def _distances(ra0: float, dec0: float) -> tuple[np.ndarray, np.ndarray]:
    ra, dec = _random_points(N_POINTS)
    cross = np.linalg.norm(np.cross(_unit(ra, dec), _unit(ra0, dec0)), axis=-1)
    dot = _unit(ra, dec) @ _unit(ra0, dec0)
    return np.arange(N_POINTS), np.degrees(np.arctan2(cross, dot))


CONES = [(0.3, 10.0, 1.5), (359.8, 9.0, 2.0), (123.0, 89.5, 1.0), (200.0, -89.9, 0.7),
         (45.0, -30.0, 5.0), (0.5, 10.2, 0.15)]  # fmt: skip


@pytest.mark.parametrize(("ra0", "dec0", "radius"), CONES)
def test_cone_searches_equal_brute_force(db: Node, ra0: float, dec0: float, radius: float) -> None:
    ids, dist = _distances(ra0, dec0)
    margin = 1e-8  # points this close to the edge may fall either way in floating point
    clear = np.abs(dist - radius) > margin
    inside = set(ids[(dist < radius) & clear].tolist())
    table = f"{SCHEMA}.points"
    forms = [
        f"DISTANCE(pos, POINT({ra0}, {dec0})) < {radius}",
        f"{radius} > DISTANCE(POINT('ICRS', {ra0}, {dec0}), pos)",
        f"DISTANCE(ra, dec, {ra0}, {dec0}) <= {radius}",
        f"1 = CONTAINS(pos, CIRCLE('ICRS', {ra0}, {dec0}, {radius}))",
        f"CONTAINS(POINT(ra, dec), CIRCLE(POINT({ra0}, {dec0}), {radius})) = 1",
        f"INTERSECTS(CIRCLE({ra0}, {dec0}, {radius}), pos) = 1",
    ]
    assert inside, "a cone without points proves nothing"
    for where in forms:
        got = {r[0] for r in run(db, f"SELECT id FROM {table} WHERE {where}")}
        ambiguous = set(ids[~clear].tolist())
        assert got - ambiguous == inside, where
    outside = {
        r[0]
        for r in run(
            db, f"SELECT id FROM {table} WHERE 0 = CONTAINS(pos, CIRCLE({ra0}, {dec0}, {radius}))"
        )
    }
    assert outside.isdisjoint(inside) and len(outside) + len(inside) >= N_POINTS - (~clear).sum()
    rows = run(db, f"SELECT id, DISTANCE(pos, POINT({ra0}, {dec0})) FROM {table} WHERE id >= 0")
    got_dist = np.array([d for _, d in sorted(rows)])
    assert np.allclose(got_dist, dist, atol=1e-9)


def test_polygon_and_box_contain_what_spherical_geometry_says(db: Node) -> None:
    ra, dec = _random_points(N_POINTS)
    points = _unit(ra, dec)
    # A convex polygon across RA = 0, vertices counter-clockwise seen from outside.
    vertices = [(358.0, 8.0), (3.0, 8.0), (2.0, 12.5), (359.0, 13.0)]
    corners = _unit(*np.array(vertices).T)
    inside = np.ones(N_POINTS, bool)
    for i in range(len(corners)):
        edge = np.cross(corners[i], corners[(i + 1) % len(corners)])
        inside &= points @ edge > 1e-12
    flat = ", ".join(f"{a}, {d}" for a, d in vertices)
    got = {r[0] for r in run(db, f"SELECT id FROM {SCHEMA}.points WHERE "
                                 f"1 = CONTAINS(pos, POLYGON('ICRS', {flat}))")}  # fmt: skip
    assert got == set(np.flatnonzero(inside).tolist()) and got
    # BOX: sides are great circles, i.e. straight in the gnomonic projection about the centre.
    a0, d0, width, height = 1.0, 10.0, 3.0, 2.0
    centre = _unit(a0, d0)
    east = np.array([-math.sin(math.radians(a0)), math.cos(math.radians(a0)), 0.0])
    north = np.cross(centre, east)
    depth = points @ centre
    xi, eta = (points @ east) / depth, (points @ north) / depth
    in_box = (depth > 0) & (np.abs(xi) <= math.tan(math.radians(width / 2)) - 1e-12)
    in_box &= np.abs(eta) <= math.tan(math.radians(height / 2)) - 1e-12
    got = {
        r[0]
        for r in run(
            db,
            f"SELECT id FROM {SCHEMA}.points WHERE "
            f"CONTAINS(pos, BOX({a0}, {d0}, {width}, {height})) = 1",
        )
    }
    assert got == set(np.flatnonzero(in_box).tolist()) and got


def test_geometry_values_and_measures(db: Node) -> None:
    row = run(db, f"SELECT POINT(370, 20), CIRCLE(10, 20, 1), POLYGON(1, 2, 3, 2, 2, 4), "
                  f"COORD1(POINT(10, 20)), COORD2(POINT(10, 20)), AREA(CIRCLE(0, 0, 1)), "
                  f"AREA(POINT(1, 2)), CENTROID(CIRCLE(10, 20, 1)), "
                  f"INTERSECTS(CIRCLE(0, 0, 1), CIRCLE(1.5, 0, 1)), "
                  f"INTERSECTS(CIRCLE(0, 0, 1), CIRCLE(3, 0, 1)), "
                  f"CONTAINS(POINT(0, 90), CIRCLE(0, 89, 2)), COORDSYS(POINT(1, 2)), "
                  f"CENTROID(POLYGON(10, -1, 11, 0, 10, 1, 9, 0)), "
                  f"IVO_HEALPIX_INDEX(0, 45, 45) "
                  f"FROM {SCHEMA}.one")[0]  # fmt: skip
    assert row[0] == pytest.approx([10, 20])
    assert row[1] == pytest.approx([10, 20, 1])
    assert row[2] == pytest.approx([1, 2, 3, 2, 2, 4])
    assert row[3:5] == pytest.approx((10, 20))
    assert row[5] == pytest.approx(
        2 * math.pi * (1 - math.cos(math.radians(1))) * (180 / math.pi) ** 2
    )
    assert row[6] == 0
    assert row[7] == pytest.approx([10, 20])
    assert row[8:11] == (1, 0, 1)
    assert row[11] == "ICRS"
    assert row[12] == pytest.approx([10, 0], abs=1e-9)
    assert row[13] == 0  # order-0 nested tile containing (45, 45)
    nulls = run(db, f"SELECT pos, COORD1(pos), POINT(ra, dec) FROM {SCHEMA}.points WHERE id = -1")
    assert nulls == [(None, None, None)]
    pos = run(db, f"SELECT pos, ra, dec FROM {SCHEMA}.points WHERE id = 3")[0]
    assert pos[0] == pytest.approx([pos[1], pos[2]])


CROSSMATCH = (
    f"SELECT a.id, b.id FROM {SCHEMA}.points AS a JOIN {SCHEMA}.points AS b "
    "ON DISTANCE(a.pos, b.pos) < 0.05 WHERE a.id < 300 AND a.id <> b.id"
)


def _plan(db: Node, adql: str) -> str:
    with db.db.admin() as conn:
        sql = translate(adql, METADATA).sql
        return json.dumps(conn.execute(f"EXPLAIN (FORMAT JSON) {sql}").fetchone())


def test_distance_below_a_radius_is_answered_by_the_spatial_index(db: Node) -> None:
    cone = _plan(db, f"SELECT id FROM {SCHEMA}.points WHERE DISTANCE(pos, POINT(10, 20)) < 0.1")
    assert "points_pos" in cone and "Seq Scan" not in cone, cone
    # A crossmatch scans one side and probes the index of the other for each row.
    crossmatch = _plan(db, CROSSMATCH)
    assert '"Index Name": "points_pos"' in crossmatch and "Nested Loop" in crossmatch, crossmatch


def test_crossmatch_equals_brute_force(db: Node) -> None:
    ra, dec = _random_points(N_POINTS)
    vectors = _unit(ra, dec)
    expected = set()
    for i in range(300):
        near = np.degrees(np.arccos(np.clip(vectors @ vectors[i], -1, 1))) < 0.05
        expected |= {(i, int(j)) for j in np.flatnonzero(near) if j != i}
    assert expected and {tuple(r) for r in run(db, CROSSMATCH)} == expected


def test_geometry_casts_from_dali_strings(one: Node) -> None:
    row = run(one, f"SELECT CAST('12.3 45.6' AS POINT), CAST('1 2 0.5' AS CIRCLE), "
                   f"CAST(' 1 2  3 2 2 4 ' AS POLYGON) FROM {SCHEMA}.one")[0]  # fmt: skip
    assert row[0] == pytest.approx([12.3, 45.6])
    assert row[1] == pytest.approx([1, 2, 0.5])
    assert row[2] == pytest.approx([1, 2, 3, 2, 2, 4])


# -- the published metadata on the migrated database ------------------------------------------


@pytest.mark.parametrize(
    "adql",
    [
        "SELECT TOP 5 * FROM corot.stars",
        "SELECT * FROM corot.products WHERE 1 = CONTAINS(pos, CIRCLE(10, 10, 1))",
        "SELECT s.name, p.run_code FROM corot.stars AS s JOIN corot.products AS p "
        "USING (corotid) WHERE DISTANCE(s.pos, POINT(100, -1)) < 0.5",
        "SELECT * FROM corot.runs ORDER BY t_start",
        "SELECT * FROM ivoa.obscore WHERE INTERSECTS(s_region, CIRCLE('', 10, 10, 1)) = 1",
        "SELECT COUNT(*) FROM TAP_SCHEMA.columns",
        "SELECT table_name, description FROM TAP_SCHEMA.tables ORDER BY table_name",
    ],
)
def test_published_tables_translate_to_valid_sql(node: Node, adql: str) -> None:
    run(node, adql, PUBLISHED)
