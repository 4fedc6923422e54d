"""Writes what the published views need from outside the database: the TAP_SCHEMA rows
generated from tap_schema/ declarations, and the node's public base URL and identifiers.

Run by ``vo-node init`` and ``vo-node migrate`` after the migrations, in one transaction, so
that TAP_SCHEMA never describes a half-updated schema.
"""

from __future__ import annotations

import psycopg

from tap_schema.model import Metadata
from tap_schema.rows import tap_schema_rows

_INSERTS = {
    "schemas": "INSERT INTO tap_schema.schemas VALUES (%s, %s, %s, %s)",
    "tables": "INSERT INTO tap_schema.tables VALUES (%s, %s, %s, %s, %s, %s)",
    "columns": "INSERT INTO tap_schema.columns VALUES"
    " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
    "keys": "INSERT INTO tap_schema.keys VALUES (%s, %s, %s, %s, %s)",
    "key_columns": "INSERT INTO tap_schema.key_columns VALUES (%s, %s, %s)",
}


def publish(conn: psycopg.Connection, metadata: Metadata, config: dict[str, str]) -> None:
    """Replace TAP_SCHEMA's rows and the node configuration, atomically."""
    rows = tap_schema_rows(metadata)
    with conn.transaction(), conn.cursor() as cur:
        # Children first: the foreign keys between TAP_SCHEMA tables.
        for table in ("key_columns", "keys", "columns", "tables", "schemas"):
            cur.execute(f"DELETE FROM tap_schema.{table}")
        for table, statement in _INSERTS.items():
            cur.executemany(statement, getattr(rows, table))
        cur.executemany(
            "INSERT INTO archive.node_config (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            sorted(config.items()),
        )
