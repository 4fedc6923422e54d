"""ADQL syntax: the IVOA validation queries (lyonetia) classified as they say, and every kind
of non-ADQL input refused by the parser or the allowlist with a position."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from vo_node.adql import FEATURES, AdqlError, check_syntax, translate
from vo_node.adql.allowlist import ALLOWED_NODES
from vo_node.adql.features import GEOMETRY

SHARED = Path(__file__).parents[1].parent / "shared"
LYONETIA = SHARED / "adql-lyonetia" / "ivoa"

# The mandatory syntax (0_ to 6_), each optional feature group declared in FEATURES (O1
# geometry, O2 UDFs, O3 string, O4 WITH, O5 sets, O6 CAST, O7 conditional, O8 IN_UNIT, O9
# OFFSET) and the ObsCore examples from ESO (X1), which use only standard ADQL.
FILES = (
    "0_whitespace", "1_select", "2_from", "3_where", "4_math_functions", "5_aggregation",
    "6_order_by", "O1_geometrical_functions", "O2_user_defined_functions",
    "O3_string_functions_and_operators", "O4_common_table_expression", "O5_set_operators",
    "O6_type_operations", "O7_conditional_functions", "O8_unit_operations", "O9_cardinality",
    "X1_obscore_eso",
)  # fmt: skip

_REGION = "REGION (STC-S strings) is not offered: pgSphere has no general region type"
_ESO_UDF = "uses an ESO user-defined function (ESO_INTERSECTION, eso_dateadd_sec) we lack"
EXCEPTIONS = {
    "efd97984-4cfe-11e6-b1bc-3d3af74034fa": _REGION,
    "fd09fb58-4d01-11e6-8c9d-819288b39233": _REGION,
    "1655f288-4d02-11e6-8c9d-819288b39233": _REGION,
    "27fd6dd6-4d02-11e6-8c9d-819288b39233": _REGION,
    "7928f365-6631-4415-be7d-29865f14c083": _ESO_UDF,
    "7f30606b-509a-491f-8b5a-5d712f37670c": _ESO_UDF,
    "4b8bd9f4-611c-4d2e-8227-2525dee664d2": _ESO_UDF,
    "1084e068-8f31-4007-9d89-115dec609452": _ESO_UDF,
    "6794498f-1603-4a12-b0dd-e48be1acab4b": _ESO_UDF,
}


def _cases() -> list[object]:
    if not LYONETIA.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{LYONETIA} is absent"))]
    cases: list[object] = []
    for name in FILES:
        root = ET.parse(LYONETIA / f"{name}.xml").getroot()
        for index, query in enumerate(root.iter("query")):
            uuid = query.get("uuid", "")
            for adql in query.findall("adql"):
                valid = adql.get("valid") == "true"
                case = (uuid, valid, adql.text or "")
                cases.append(pytest.param(case, id=f"{name}:{index}:{uuid[:8]}"))
    return cases


@pytest.mark.parametrize("case", _cases())
def test_lyonetia_query_is_classified_as_the_ivoa_says(case: tuple[str, bool, str]) -> None:
    uuid, valid, text = case
    if uuid in EXCEPTIONS:
        # A deliberate exception: valid ADQL that this service refuses, with a clear error.
        assert valid
        with pytest.raises(AdqlError):
            check_syntax(text)
        return
    if valid:
        check_syntax(text)
    else:
        with pytest.raises(AdqlError):
            check_syntax(text)


def test_every_declared_feature_group_is_covered_by_a_lyonetia_file() -> None:
    groups = {f.type.rsplit("#", 1)[1] for f in FEATURES}
    assert groups == {
        "features-adqlgeo", "features-adql-string", "features-adql-sets",
        "features-adql-common-table", "features-adql-type", "features-adql-unit",
        "features-adql-bitwise", "features-adql-offset", "features-adql-conditional",
        "features-udf",
    }  # fmt: skip
    assert "REGION" not in {f.form for f in FEATURES if f.type == GEOMETRY}


REJECTED = [
    # (query, fragment of the message, line, column)
    ("SELECT ra FROM t LIMIT 10", "write SELECT TOP", 1, 18),
    ("SELECT ra::text FROM t", "'::' casts are not ADQL", 1, 10),
    ("SELECT ra FROM t\n  FOR UPDATE", "FOR UPDATE", 2, 3),
    ("SELECT ra FROM t, LATERAL (SELECT 1 FROM u) AS q", "LATERAL", 1, 19),
    ("SELECT ra INTO x FROM t", "INTO", 1, 11),
    ("SELECT count(*) OVER () FROM t", "window function", 1, 8),
    ("SELECT pg_sleep(10) FROM t", "unknown function 'pg_sleep'", 1, 8),
    ("SELECT set_config('vo_node.user', 'x', true) FROM t", "unknown function", 1, 8),
    ("SELECT current_user FROM t", "reserved word", 1, 8),
    ("SELECT * FROM pg_catalog.pg_authid", "'pg_catalog' is not published", 1, 15),
    ("SELECT * FROM information_schema.tables", "not published", 1, 15),
    ("SELECT 1 FROM t; DROP TABLE t", "';' is not ADQL", 1, 16),
    ("SELECT ra FROM t /* ; DROP TABLE t */", "'/*' comments", 1, 18),
    ("SELECT $$x$$ FROM t", "not a regular identifier", 1, 8),
    ("SELECT ra FROM t WHERE name = $q$x$q$", "not a regular identifier", 1, 31),
    ("SELECT distance FROM stars", "'distance' is a reserved word", 1, 8),
    ("SELECT _weird FROM stars", "not a regular identifier", 1, 8),
    ("SELECT ra FROM t WHERE ra % 2 = 0", "'%' is not an ADQL operator", 1, 27),
    ("SELECT x FROM t ORDER BY x NULLS FIRST", "NULLS FIRST", 1, 28),
    ("SELECT x FROM t WHERE x IN (1, 2,)", "comma", 1, 33),
    ("SELECT TOP -1 x FROM t", "syntax error", 1, 12),
    ("SELECT x FROM t OFFSET 1.5", "OFFSET takes an unsigned integer", 1, 24),
    ("SELECT CAST(x AS TEXT) FROM t", "CAST to", 1, 8),
    ("SELECT x FROM t WHERE CONTAINS(POINT(1, 2), CIRCLE(1, 2, 3))", "= 1", 1, 23),
    ("SELECT x FROM t WHERE x", "not a condition", 1, 23),
    ("SELECT x FROM (SELECT x FROM t)", "correlation name", 1, 16),
    ("SELECT x FROM t\n  WHERE ABS(x, 2) > 1", "ABS() takes 1 arguments", 2, 9),
    ("SELECT x FROM t JOIN u", None, None, None),  # accepted: a cross join, as in DaCHS
    ("SELECT x FROM t INNER JOIN u", "needs ON or USING", 1, 28),
    ("SELECT x FROM t WHERE x = 'unterminated", "unterminated string", 1, None),
    ("SELECT a.b.c.d.e FROM t", "more than four parts", 1, 8),
    ("SELECT x FROM (WITH q AS (SELECT 1 FROM t) SELECT * FROM q) AS s", "WITH", 1, 16),
    ("WITH RECURSIVE q AS (SELECT 1 FROM t) SELECT * FROM q", "recursive", None, None),
    ("SELECT x FROM t WHERE x IS TRUE", "IS must be followed by NULL", 1, 28),
    ("SELECT x FROM t GROUP BY ROLLUP(x)", "unknown function 'ROLLUP'", 1, 26),
    ("SELECT sum(*) FROM t", "SUM(*)", 1, 8),
    ("SELECT x FROM t WHERE x = 1\x00", "NUL", None, None),
]


@pytest.mark.parametrize(("query", "message", "line", "column"), REJECTED)
def test_non_adql_is_refused_with_its_position(
    query: str, message: str | None, line: int | None, column: int | None
) -> None:
    if message is None:
        check_syntax(query)
        return
    with pytest.raises(AdqlError) as caught:
        check_syntax(query)
    error = caught.value
    assert message.lower() in str(error).lower()
    if line is not None:
        assert error.line == line
    if column is not None:
        assert error.column == column


def test_syntax_errors_name_line_column_and_what_was_found() -> None:
    with pytest.raises(AdqlError) as caught:
        check_syntax("SELECT ra\nFROM t\nWHERE ra >")
    assert caught.value.line == 3
    assert "syntax error" in str(caught.value)


def test_comments_never_reach_the_sql() -> None:
    from test_adql_translate import METADATA

    sql = translate("SELECT ra -- */ DROP TABLE x; /*\nFROM corot.stars", METADATA).sql
    assert "DROP" not in sql and "--" not in sql and "/*" not in sql


def test_strings_are_regenerated_escaped() -> None:
    from test_adql_translate import METADATA

    sql = translate("SELECT ra FROM corot.stars WHERE name = 'x''; DROP TABLE y; --'", METADATA).sql
    assert "'x''; DROP TABLE y; --'" in sql


def test_allowlist_is_small_and_explicit() -> None:
    names = {n.__name__ for n in ALLOWED_NODES}
    assert not names & {"Command", "Window", "Lateral", "Into", "Lock", "Dot", "Values"}
