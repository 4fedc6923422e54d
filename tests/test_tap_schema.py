"""The published declarations and the database agree, and TAP_SCHEMA is generated from them."""

from __future__ import annotations

import io
from pathlib import Path

import psycopg
import pytest
import requests
from astropy.io.votable import parse
from conftest import Node
from lxml import etree
from xsd import assert_valid

from tap_schema import METADATA
from tap_schema.model import Column, Metadata, Schema, Table, TimeSystem, sql_name
from tap_schema.rows import tap_schema_rows
from vo_node.adql import translate

# PostgreSQL types each VOTable datatype may be stored as ('char' with xtype timestamp is a
# timestamp or date in the database; a 'point' is a pgSphere spoint, a 'circle' an scircle,
# and so is an adql:REGION column declared with region='circle').
_COMPATIBLE = {
    "boolean": {"bool"},
    "short": {"int2", "int4"},
    "int": {"int4"},
    "long": {"int8", "int4"},
    "float": {"float4"},
    "double": {"float8", "numeric"},
    "char": {"text", "varchar", "bpchar", "timestamptz", "timestamp", "date"},
}
_GEOMETRY = {"point": "spoint", "circle": "scircle", "polygon": "spoly"}


def _db_columns(conn: psycopg.Connection, qualified: str) -> list[tuple[str, str]]:
    schema, table = qualified.split(".")
    return [
        (str(r[0]), str(r[1]))
        for r in conn.execute(
            "SELECT a.attname, t.typname FROM pg_attribute a"
            " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_type t ON t.oid = a.atttypid"
            " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped"
            " ORDER BY a.attnum",
            (schema, table),
        )
    ]


def test_declarations_match_the_database(node: Node) -> None:
    problems = []
    with node.db.admin() as conn:
        for table in METADATA.tables():
            actual = _db_columns(conn, table.qualified)
            if not actual:
                problems.append(f"{table.qualified}: declared but not in the database")
                continue
            declared = [sql_name(c.name) for c in table.columns]
            if [name for name, _ in actual] != declared:
                missing = set(declared) - {n for n, _ in actual}
                extra = {n for n, _ in actual} - set(declared)
                problems.append(
                    f"{table.qualified}: declared-only {sorted(missing)}, "
                    f"undeclared {sorted(extra)} (or another order)"
                )
                continue
            for column, (_, pg_type) in zip(table.columns, actual, strict=True):
                geometry = column.region or column.xtype
                allowed = (
                    {_GEOMETRY[geometry]} if geometry in _GEOMETRY else _COMPATIBLE[column.datatype]
                )
                if pg_type not in allowed:
                    problems.append(
                        f"{table.qualified}.{column.name}: {column.datatype} declared, "
                        f"{pg_type} in the database"
                    )
    assert not problems, "\n".join(problems)


def test_every_published_relation_is_declared(node: Node) -> None:
    with node.db.admin() as conn:
        relations = {
            f"{r[0]}.{r[1]}"
            for r in conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
                " WHERE table_schema IN ('corot', 'ivoa', 'tap_schema')"
            )
        }
    assert relations == {t.qualified for t in METADATA.tables()}


def test_tap_schema_rows_come_from_the_declarations(node: Node) -> None:
    expected = tap_schema_rows(METADATA)
    with psycopg.connect(node.db.query_conninfo()) as conn:  # as user queries will see it
        counts = {
            table: conn.execute(f"SELECT count(*) FROM tap_schema.{table}").fetchone()[0]  # type: ignore[index]
            for table in ("schemas", "tables", "columns", "keys", "key_columns")
        }
        ucd = conn.execute(
            "SELECT ucd, unit FROM tap_schema.columns"
            " WHERE table_name = 'corot.products' AND column_name = 't_min'"
        ).fetchone()
    assert counts == {
        "schemas": len(expected.schemas),
        "tables": len(expected.tables),
        "columns": len(expected.columns),
        "keys": len(expected.keys),
        "key_columns": len(expected.key_columns),
    }
    assert ucd == ("time.start;obs.exposure", "d")


def test_every_column_is_described(node: Node) -> None:
    for table in METADATA.tables():
        assert table.description.strip(), table.qualified
        for column in table.columns:
            if table.schema != "tap_schema":
                assert column.ucd, f"{table.qualified}.{column.name} has no UCD"


def test_published_views_serve_ingested_data(node: Node, sample_dir: Path) -> None:
    node.cli("ingest", str(sample_dir), check=True)
    with psycopg.connect(node.db.query_conninfo()) as conn:
        products = conn.execute("SELECT count(*) FROM corot.products").fetchone()
        obscore = conn.execute(
            "SELECT count(*), min(dataproduct_type), min(dataproduct_subtype),"
            " min(obs_publisher_did) FROM ivoa.obscore"
        ).fetchone()
        latest = conn.execute("SELECT count(*) FROM corot.products WHERE latest = 1").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM archive.node_config")
    total = node.public_scalar("SELECT count(*) FROM archive.products")  # under the policy
    assert products == (total,)
    assert obscore is not None and obscore[:3] == (total, "timeseries", "lightcurve")
    assert str(obscore[3]).startswith("ivo://")
    assert latest == (node.public_scalar("SELECT count(*) FROM archive.products_latest"),)


# UCDs of instants: a numeric column with one of these is a time and needs its time system.
_INSTANTS = ("time.start", "time.end", "time.epoch")


def test_numeric_times_declare_their_time_system() -> None:
    for table in METADATA.tables():
        for column in table.columns:
            first_ucd = (column.ucd or "").split(";")[0]
            if first_ucd in _INSTANTS and column.xtype != "timestamp":
                assert column.timesys is not None, f"{table.qualified}.{column.name}"
                assert column.timesys.timeorigin == 2400000.5, "all published times are MJD"


MJD_TT = TimeSystem("mjd_tt", "TT", "BARYCENTER", 2400000.5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"datatype": "char", "arraysize": "*", "timesys": MJD_TT},  # ISO times need none
        {"datatype": "double", "arraysize": "*", "timesys": MJD_TT},
        {"datatype": "char", "arraysize": "*", "xtype": "adql:REGION"},  # which geometry?
        {"datatype": "double", "arraysize": "3", "xtype": "circle", "region": "circle"},
        {"datatype": "char", "arraysize": "*", "xtype": "adql:REGION", "region": "box"},
    ],
)
def test_declarations_refuse_inconsistent_time_and_region_columns(
    kwargs: dict[str, object],
) -> None:
    with pytest.raises(ValueError):
        Column("c", description="a column", **kwargs)  # type: ignore[arg-type]


def test_time_systems_use_the_ivoa_vocabularies_and_unique_ids() -> None:
    with pytest.raises(ValueError):
        TimeSystem("t", "TT", "EARTH", 2400000.5)
    with pytest.raises(ValueError):
        TimeSystem("t", "GMT", "TOPOCENTER", 2400000.5)
    other = TimeSystem("mjd_tt", "UTC", "TOPOCENTER", 2400000.5)
    tables = (
        Table("s", "a", "A", (Column("t", "double", "time", timesys=MJD_TT),)),
        Table("s", "b", "B", (Column("t", "double", "time", timesys=other),)),
    )
    with pytest.raises(ValueError, match="mjd_tt"):
        Metadata((Schema("s", "S", tables),))


def _tap(base: str, query: str, fmt: str = "votable") -> bytes:
    response = requests.get(
        base + "/tap/sync",
        params={"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": fmt},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.content


@pytest.mark.parametrize("fmt", ["votable", "votable/td"])
def test_tap_results_carry_timesys_and_stcs_regions(served: tuple[Node, str], fmt: str) -> None:
    """What TAP_SCHEMA and VOSI declare is what a result holds: the time columns refer to a
    TIMESYS before the table, s_region is an STC-S string (and ADQL geometry still works on
    it), computed times have no time system."""
    _, base = served
    query = (
        "SELECT TOP 3 o.t_min, o.t_max - o.t_min AS span, o.s_region, r.t_start "
        "FROM ivoa.obscore AS o JOIN corot.runs AS r ON r.run_code = o.proposal_id "
        "WHERE INTERSECTS(o.s_region, CIRCLE(102.95, -2.06, 2)) = 1"
    )
    data = _tap(base, query, fmt)
    assert_valid(data, "VOTable.xsd")
    vot = parse(io.BytesIO(data), verify="exception")
    systems = {s.ID: s for s in vot.resources[0].time_systems}
    table = vot.get_first_table()
    assert len(table.array) == 3
    refs = {f.name: f.ref for f in table.fields}
    assert refs == {"t_min": "mjd_tt", "span": None, "s_region": None, "t_start": "mjd_utc"}
    assert (systems["mjd_tt"].timescale, float(systems["mjd_tt"].timeorigin)) == (
        "TT",
        2400000.5,
    )
    assert systems["mjd_utc"].timescale == "UTC"
    region = table.get_field_by_id_or_name("s_region")
    assert (region.datatype, region.arraysize, region.xtype, region.unit) == (
        "char",
        "*",
        "adql:REGION",
        None,
    )
    for text in table.array["s_region"]:
        shape, frame, *numbers = str(text).split()
        assert (shape, frame, len(numbers)) == ("Circle", "ICRS", 3)
        assert abs(float(numbers[0]) - 102.95) < 3 and float(numbers[2]) == 0.0015

    declared = _tap(
        base,
        "SELECT datatype, arraysize, xtype, unit FROM TAP_SCHEMA.columns "
        "WHERE table_name = 'ivoa.obscore' AND column_name = 's_region'",
    )
    row = parse(io.BytesIO(declared), verify="exception").get_first_table().array[0]
    assert [str(v) for v in row][:3] == ["char", "*", "adql:REGION"] and not str(row[3])
    vosi = etree.fromstring(requests.get(base + "/tap/tables/ivoa.obscore", timeout=10).content)
    vosi_type = vosi.xpath("column[name='s_region']/dataType")[0]
    assert (vosi_type.text, vosi_type.get("extendedType")) == ("char", "adql:REGION")


@pytest.mark.parametrize(
    ("adql", "index"),
    [
        # s_region is declared indexed: the ObsCore region search must be answered so.
        (
            "SELECT obs_id FROM ivoa.obscore"
            " WHERE INTERSECTS(s_region, CIRCLE('ICRS', 102.5, -0.5, 0.2)) = 1",
            "stars_aperture_idx",
        ),
        (
            "SELECT obs_id FROM ivoa.obscore"
            " WHERE CONTAINS(POINT('ICRS', s_ra, s_dec), CIRCLE('ICRS', 102.5, -0.5, 0.2)) = 1",
            "stars_radec_idx",
        ),
        (
            "SELECT corotid FROM corot.products"
            " WHERE DISTANCE(POINT(ra, dec), POINT(102.5, -0.5)) < 0.2",
            "stars_radec_idx",
        ),
    ],
)
def test_obscore_position_searches_use_a_spatial_index(node: Node, adql: str, index: str) -> None:
    """The ADQL a portal sends on ObsCore reaches the stars table as expressions of its
    columns (through the views); an index on those expressions answers it. Sequential scans
    are priced out so that the plan shows whether the index can be used at all (the sample
    tables are too small for the planner to prefer it)."""
    sql = translate(adql, METADATA).sql
    with node.db.admin() as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN {sql}").fetchall())
    assert index in plan, plan
