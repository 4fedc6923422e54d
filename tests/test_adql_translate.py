"""ADQL translation on a small metadata model: resolution (with did-you-mean), result column
descriptions, geometry, IN_UNIT, TOP/OFFSET, uploads. SQL is checked as text here; what it
computes is checked against PostgreSQL in test_adql_semantics."""

from __future__ import annotations

import math
import re

import pytest

from tap_schema.model import Column, Metadata, Schema, Table
from vo_node.adql import AdqlError, Translation, translate


def _col(name: str, datatype: str, unit: str | None = None, **kw: object) -> Column:
    return Column(name, datatype, f"the {name}", unit=unit, **kw)  # type: ignore[arg-type]


STARS = Table(
    "corot",
    "stars",
    "Stars",
    (
        _col("corotid", "long"),
        _col("name", "char", arraysize="*"),
        _col("ra", "double", "deg"),
        _col("dec", "double", "deg"),
        _col("pos", "double", "deg", xtype="point", arraysize="2"),
        _col("mag_r", "float", "mag"),
        _col("pmra", "double", "mas/yr"),
        _col("pmdec", "double", "mas/yr"),
        _col("flags", "int"),
    ),
)
PRODUCTS = Table(
    "corot",
    "products",
    "Light curves",
    (
        _col("product_id", "long"),
        _col("corotid", "long"),
        _col("run_code", "char", arraysize="*"),
        _col("mag_r", "float", "mag"),
        _col("t_min", "double", "d"),
        _col("release_date", "char", arraysize="*", xtype="timestamp"),
    ),
)
OBSCORE = Table(
    "ivoa",
    "obscore",
    "ObsCore",
    (
        _col("obs_id", "char", arraysize="*"),
        _col("s_ra", "double", "deg"),
        _col("s_dec", "double", "deg"),
        _col("s_region", "double", "deg", xtype="circle", arraysize="3"),
    ),
)
TAP_TABLES = Table(
    "tap_schema",
    "tables",
    "Published tables",
    (
        _col("schema_name", "char", arraysize="*"),
        _col("table_name", "char", arraysize="*"),
        _col('"size"', "int"),  # a reserved word, declared as a delimited identifier
    ),
)
METADATA = Metadata(
    (
        Schema("corot", "CoRoT", (STARS, PRODUCTS)),
        Schema("ivoa", "IVOA", (OBSCORE,)),
        Schema("tap_schema", "TAP", (TAP_TABLES,)),
    )
)
UPLOAD = Table(
    "TAP_UPLOAD",
    "mine",
    "An upload",
    (_col("id", "int"), _col("RA", "double", "deg"), _col("Dec", "double", "deg")),
)
UPLOADS = {"mine": ("pg_temp.tap_upload_1", UPLOAD)}


def t(adql: str) -> Translation:
    return translate(adql, METADATA, UPLOADS)


def error(adql: str) -> AdqlError:
    with pytest.raises(AdqlError) as caught:
        t(adql)
    return caught.value


# -- resolution ---------------------------------------------------------------------------


def test_unknown_column_names_table_position_and_closest_name() -> None:
    e = error("SELECT product_id,\n       rmag FROM corot.products")
    assert e.problem == "column 'rmag' not found in corot.products; did you mean 'mag_r'?"
    assert (e.line, e.column) == (2, 8)


def test_unknown_table_suggests_the_published_one() -> None:
    e = error("SELECT * FROM corot.product")
    assert "table 'corot.product' not found; did you mean 'corot.products'?" in str(e)
    assert (e.line, e.column) == (1, 15)


def test_regular_identifiers_fold_case_delimited_ones_do_not() -> None:
    assert t("SELECT RA, Dec FROM COROT.Stars").columns[0].name == "ra"
    assert t('SELECT "ra" FROM "corot"."stars"').columns[0].column is STARS.columns[2]
    e = error('SELECT "RA" FROM corot.stars')
    assert "column 'RA' not found" in str(e) and "did you mean 'ra'?" in str(e)
    assert "not found" in str(error('SELECT ra FROM "COROT".stars'))


def test_columns_declared_with_delimited_names() -> None:
    tr = t('SELECT "size" FROM TAP_SCHEMA.tables WHERE "size" > 1')
    assert (
        tr.sql == 'SELECT t1."size" AS "size" FROM "tap_schema"."tables" AS t1 WHERE t1."size" > 1'
    )
    assert tr.columns[0].name == "size" and tr.columns[0].column is TAP_TABLES.columns[2]
    assert "reserved word" in str(error("SELECT size FROM TAP_SCHEMA.tables"))


def test_a_table_name_alone_finds_its_schema_and_catalogues_are_not_reachable() -> None:
    assert t("SELECT name FROM stars").tables == {"corot.stars"}
    assert "not found" in str(error("SELECT * FROM pg_authid"))


def test_ambiguous_and_qualified_columns() -> None:
    e = error("SELECT corotid FROM corot.stars JOIN corot.products USING (name)")
    assert "USING column 'name' is not found on the right side" in str(e)
    e = error("SELECT mag_r FROM corot.stars AS s, corot.products AS p")
    assert "ambiguous (in corot.stars AS s, corot.products AS p)" in str(e)
    sql = t("SELECT s.mag_r, corot.products.mag_r FROM corot.stars AS s, corot.products").sql
    assert 't1."mag_r"' in sql and 't2."mag_r"' in sql
    e = error("SELECT x.mag_r FROM corot.stars AS s")
    assert "'x' is not a table or correlation name in FROM" in str(e)
    e = error("SELECT corot.stars.ra FROM corot.stars AS s")
    assert "not a table or correlation name" in str(e)
    # The innermost relation of a name decides, even when an outer one has the column.
    e = error("SELECT name FROM corot.stars AS s WHERE EXISTS "
              "(SELECT 1 FROM corot.products AS s WHERE s.flags > 1)")  # fmt: skip
    assert "column 'flags' not found in corot.products AS s" in str(e)


def test_user_names_never_reach_the_sql() -> None:
    sql = t('SELECT ra AS "x""; DROP TABLE y; --" FROM corot.stars AS "q w"').sql
    assert "DROP" not in sql and "q w" not in sql
    assert re.fullmatch(r'SELECT t1\."ra" AS "col1" FROM "corot"\."stars" AS t1', sql)


# -- result columns -----------------------------------------------------------------------


def test_plain_references_carry_their_declaration() -> None:
    columns = t("SELECT s.name, s.pos, p.release_date FROM stars s JOIN products p "
                "ON s.corotid = p.corotid").columns  # fmt: skip
    assert [c.column for c in columns] == [STARS.columns[1], STARS.columns[4], PRODUCTS.columns[5]]
    assert columns[1].xtype == "point" and columns[2].xtype == "timestamp"


def test_computed_columns_are_described() -> None:
    cols = t("SELECT COUNT(*), ra * 2, 'a' || name, POINT(ra, dec), CIRCLE(pos, 1), "
             "BOX(1, 2, 3, 4), CONTAINS(pos, CIRCLE(1, 2, 3)) AS inside, ra AS r "
             "FROM corot.stars").columns  # fmt: skip
    described = [(c.name, c.expression_type, c.xtype, c.arraysize) for c in cols]
    assert described == [
        ("count", "long", None, None),
        ("col2", "double", None, None),
        ("col3", "char", None, "*"),
        ("point", "double", "point", "2"),
        ("circle", "double", "circle", "3"),
        ("box", "double", "polygon", "*"),
        ("inside", "int", None, None),
        ("r", "double", None, None),
    ]
    assert cols[7].column is STARS.columns[2]


def test_result_names_are_unique() -> None:
    names = [c.name for c in t("SELECT s.mag_r, p.mag_r, s.mag_r FROM stars s, products p").columns]
    assert names == ["mag_r", "mag_r_2", "mag_r_3"]


def test_star_expands_and_geometry_becomes_dali_arrays() -> None:
    tr = t("SELECT * FROM corot.stars")
    assert [c.name for c in tr.columns] == [c.name for c in STARS.columns]
    assert 'ARRAY[DEGREES(LONG(t1."pos")), DEGREES(LAT(t1."pos"))]' in tr.sql
    circle = t("SELECT s_region FROM ivoa.obscore").sql
    assert 'DEGREES(RADIUS(t1."s_region"))' in circle


def test_geometry_inside_a_subquery_stays_pgsphere() -> None:
    sql = t("SELECT COORD1(p) FROM (SELECT POINT(ra, dec) AS p FROM corot.stars) AS q").sql
    assert "ARRAY" not in sql and "DEGREES(LONG(t2" in sql


# -- ADQL meaning where PostgreSQL differs --------------------------------------------------


def test_math_functions_keep_adql_meaning() -> None:
    sql = t("SELECT LOG(ra), LOG10(ra), 1/2, flags/2, ra/2, flags ^ 3, ~flags, "
            "ROUND(ra, 2), TRUNCATE(ra), MOD(ra, 3), MOD(flags, 3), POWER(flags, 2), "
            "RAND(), PI() FROM corot.stars").sql  # fmt: skip
    for expected in (
        'LN(t1."ra")', 'LOG(t1."ra")', "(CAST(1 AS DOUBLE PRECISION) / 2)",
        '(CAST(t1."flags" AS DOUBLE PRECISION) / 2)', '(t1."ra" / 2)', '(t1."flags" # 3)',
        '(~t1."flags")', 'CAST(ROUND(CAST(t1."ra" AS DECIMAL), 2) AS DOUBLE PRECISION)',
        'CAST(TRUNC(CAST(t1."ra" AS DECIMAL)) AS DOUBLE PRECISION)',
        'MOD(t1."flags", 3)', "RANDOM()", "PI()",
    ):  # fmt: skip
        assert expected in sql, expected
    assert 'CAST(MOD(CAST(t1."ra" AS DECIMAL), CAST(3 AS DECIMAL)) AS DOUBLE' in sql


def test_bitwise_operators_need_integers() -> None:
    assert "integers" in str(error("SELECT ra & 1 FROM corot.stars"))


def test_top_offset_and_order_by_names_and_positions() -> None:
    tr = t("SELECT TOP 5 name, mag_r AS m FROM corot.stars ORDER BY m DESC, 1 OFFSET 10")
    assert tr.top == 5
    assert tr.sql.endswith('ORDER BY "m" DESC, 1 LIMIT 5 OFFSET 10')
    assert t("SELECT name FROM corot.stars").top is None
    assert t("SELECT TOP 0 name FROM corot.stars").top == 0
    assert "no result column 3" in str(error("SELECT name FROM stars ORDER BY 3"))


def test_set_operations_and_common_table_expressions() -> None:
    tr = t("WITH bright AS (SELECT corotid, mag_r FROM corot.stars WHERE mag_r < 12) "
           "SELECT corotid, mag_r FROM bright UNION ALL "
           "SELECT corotid, mag_r FROM corot.products ORDER BY mag_r OFFSET 1")  # fmt: skip
    assert tr.sql.startswith("WITH cte1 AS (SELECT")
    assert "UNION ALL" in tr.sql and tr.sql.endswith('ORDER BY "mag_r" OFFSET 1')
    assert tr.tables == {"corot.stars", "corot.products"}
    assert "have 1 and 2 columns" in str(
        error("SELECT ra FROM stars UNION SELECT ra, dec FROM stars")
    )


def test_natural_and_using_joins_merge_columns() -> None:
    tr = t("SELECT * FROM corot.stars NATURAL JOIN corot.products")
    assert 'ON t1."corotid" = t2."corotid" AND t1."mag_r" = t2."mag_r"' in tr.sql
    names = [c.name for c in tr.columns]
    assert names[:2] == ["corotid", "mag_r"] and names.count("corotid") == 1
    full = t("SELECT corotid FROM corot.stars FULL OUTER JOIN corot.products USING (corotid)")
    assert 'COALESCE(t1."corotid", t2."corotid")' in full.sql


def test_subqueries_see_outer_columns() -> None:
    sql = t("SELECT name FROM corot.stars AS s WHERE EXISTS "
            "(SELECT * FROM corot.products AS p WHERE p.corotid = s.corotid)").sql  # fmt: skip
    assert 't2."corotid" = t1."corotid"' in sql


# -- geometry -----------------------------------------------------------------------------


def test_contains_becomes_the_indexable_operator() -> None:
    sql = t("SELECT name FROM stars WHERE 1 = CONTAINS(pos, CIRCLE('ICRS', 10, 20, 0.5))").sql
    assert 'WHERE (t1."pos" <@ SCIRCLE(SPOINT(RADIANS(10), RADIANS(20)), RADIANS(' in sql
    sql = t("SELECT name FROM stars WHERE CONTAINS(POINT('', ra, dec), CIRCLE(1, 2, 3)) = 0").sql
    assert "WHERE NOT (SPOINT(" in sql
    sql = t("SELECT obs_id FROM ivoa.obscore WHERE INTERSECTS(s_region, CIRCLE(1, 2, 3)) = 1").sql
    assert 't1."s_region" && SCIRCLE(' in sql


def test_distance_below_a_radius_uses_the_index_form() -> None:
    for where in ("DISTANCE(pos, POINT(10, 20)) < 1./60", "1./60 > DISTANCE(POINT(10, 20), pos)"):
        sql = t(f"SELECT name FROM stars WHERE {where}").sql
        assert f't1."pos" <@ SCIRCLE(SPOINT(RADIANS(10), RADIANS(20)), RADIANS({1 / 60!r}))' in sql
        assert re.search(r'DEGREES\(\((t1."pos" <-> SPOINT|SPOINT\(.*\) <-> t1."pos")', sql)
    four = t("SELECT name FROM stars WHERE DISTANCE(ra, dec, 10, 20) <= 0.5").sql
    assert "<@ SCIRCLE(" in four and "<= (CAST(0.5 AS DOUBLE PRECISION))" in four
    for where in ("DISTANCE(pos, POINT(1, 2)) > 1", "DISTANCE(pos, POINT(1, 2)) < 100",
                  "DISTANCE(pos, POINT(1, 2)) < ra"):  # fmt: skip
        assert "<@" not in t(f"SELECT name FROM stars WHERE {where}").sql


def test_only_icrs_positions() -> None:
    e = error("SELECT name FROM stars WHERE 1 = CONTAINS(pos, CIRCLE('GALACTIC', 1, 2, 3))")
    assert "coordinate system 'GALACTIC' is not supported" in str(e)
    assert (e.line, e.column) == (1, 55)
    t("SELECT POINT('icrs', ra, dec), POINT('', ra, dec), POINT(NULL, ra, dec) FROM stars")


def test_geometry_type_errors() -> None:
    assert "POINT needed, found CIRCLE" in str(error("SELECT COORD1(s_region) FROM ivoa.obscore"))
    assert "not both" in str(error("SELECT POLYGON(pos, 1, 2, 3, 4, 5) FROM stars"))
    assert "cannot compare" in str(error("SELECT name FROM stars WHERE pos = 1"))


# -- IN_UNIT ------------------------------------------------------------------------------


def test_in_unit_converts_with_the_declared_unit() -> None:
    tr = t("SELECT IN_UNIT(ra, 'rad') AS r, IN_UNIT(SQRT(POWER(pmra, 2) + POWER(pmdec, 2)), "
           "'deg/yr') AS pm, IN_UNIT(t_min, 'h') FROM stars, products")  # fmt: skip
    factors = [float(f) for f in re.findall(r"AS DOUBLE PRECISION\) \* ([0-9.e-]+)\)", tr.sql)]
    assert factors[0] == pytest.approx(math.pi / 180)
    assert factors[1] == pytest.approx(1 / 3.6e6)
    assert factors[2] == pytest.approx(24)
    assert [c.unit for c in tr.columns] == ["rad", "deg/yr", "h"]


def test_in_unit_refuses_what_it_cannot_convert() -> None:
    assert "'deg' cannot be converted to 'm'" in str(error("SELECT IN_UNIT(ra, 'm') FROM stars"))
    assert "not a unit" in str(error("SELECT IN_UNIT(ra, 'furlongs_x') FROM stars"))
    assert "unit is known" in str(error("SELECT IN_UNIT(flags, 'm') FROM stars"))


# -- uploads ------------------------------------------------------------------------------


def test_uploads_join_published_tables() -> None:
    tr = t("SELECT u.id, TAP_UPLOAD.mine.RA, s.name FROM TAP_UPLOAD.mine AS u "
           "JOIN corot.stars AS s ON 1 = CONTAINS(POINT(u.ra, u.dec), CIRCLE(s.pos, 0.01)) "
           "JOIN TAP_UPLOAD.mine ON mine.id = u.id")  # fmt: skip
    assert 'FROM "pg_temp"."tap_upload_1" AS t1' in tr.sql
    assert tr.tables == {"corot.stars"}
    assert [c.column for c in tr.columns] == [UPLOAD.columns[0], UPLOAD.columns[1],
                                              STARS.columns[1]]  # fmt: skip
    assert "no upload named 'other'" in str(error("SELECT * FROM TAP_UPLOAD.other"))
