"""The published declarations and the database agree, and TAP_SCHEMA is generated from them."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from conftest import Node

from tap_schema import METADATA
from tap_schema.model import sql_name
from tap_schema.rows import tap_schema_rows

# PostgreSQL types each VOTable datatype may be stored as ('char' with xtype timestamp is a
# timestamp or date in the database; a 'point' is a pgSphere spoint, a 'circle' an scircle).
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
                allowed = (
                    {_GEOMETRY[column.xtype]}
                    if column.xtype in _GEOMETRY
                    else _COMPATIBLE[column.datatype]
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
    total = node.scalar("SELECT count(*) FROM archive.products")
    assert products == (total,)
    assert obscore is not None and obscore[:3] == (total, "timeseries", "lightcurve")
    assert str(obscore[3]).startswith("ivo://")
    assert latest == (node.scalar("SELECT count(*) FROM archive.products_latest"),)
