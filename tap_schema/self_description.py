"""TAP_SCHEMA 1.1 describing itself (TAP 1.1, section 4): its tables are queryable too."""

from __future__ import annotations

from tap_schema.model import Column, ForeignKey, Schema, Table


def _c(
    name: str,
    datatype: str,
    description: str,
    *,
    principal: bool = True,
    arraysize: str | None = "*",
) -> Column:
    return Column(
        name,
        datatype,
        description,
        arraysize=arraysize if datatype == "char" else None,
        principal=principal,
        std=True,
    )


SCHEMAS = Table(
    "tap_schema",
    "schemas",
    "Schemas published by this service",
    (
        _c("schema_name", "char", "Schema name"),
        _c("utype", "char", "Utype of the schema"),
        _c("description", "char", "Description of the schema"),
        _c("schema_index", "int", "Recommended order of display", principal=False),
    ),
)
TABLES = Table(
    "tap_schema",
    "tables",
    "Tables published by this service",
    (
        _c("schema_name", "char", "Schema of the table"),
        _c("table_name", "char", "Qualified table name"),
        _c("table_type", "char", "table or view"),
        _c("utype", "char", "Utype of the table"),
        _c("description", "char", "Description of the table"),
        _c("table_index", "int", "Recommended order of display", principal=False),
    ),
    foreign_keys=(
        ForeignKey("tables_schemas", "tap_schema.schemas", (("schema_name", "schema_name"),)),
    ),
)
COLUMNS = Table(
    "tap_schema",
    "columns",
    "Columns of the published tables",
    (
        _c("table_name", "char", "Qualified table name"),
        _c("column_name", "char", "Column name"),
        _c("utype", "char", "Utype of the column"),
        _c("ucd", "char", "UCD of the column"),
        _c("unit", "char", "Unit (VOUnit)"),
        _c("description", "char", "Description of the column"),
        _c("datatype", "char", "VOTable datatype"),
        _c("arraysize", "char", "VOTable arraysize"),
        _c("xtype", "char", "DALI xtype"),
        # TAP 1.1 names this column with a delimited identifier: SIZE is reserved in ADQL.
        _c('"size"', "int", "Deprecated length of the column (TAP 1.0)", principal=False),
        _c("principal", "int", "1 when the column is shown by default"),
        _c("indexed", "int", "1 when the column is indexed"),
        _c("std", "int", "1 when the column is defined by a standard"),
        _c("column_index", "int", "Recommended order of display", principal=False),
    ),
    foreign_keys=(
        ForeignKey("columns_tables", "tap_schema.tables", (("table_name", "table_name"),)),
    ),
)
KEYS = Table(
    "tap_schema",
    "keys",
    "Foreign keys between published tables",
    (
        _c("key_id", "char", "Key identifier"),
        _c("from_table", "char", "Table holding the key"),
        _c("target_table", "char", "Table the key points to"),
        _c("utype", "char", "Utype of the key"),
        _c("description", "char", "Description of the key"),
    ),
    foreign_keys=(
        ForeignKey("keys_from", "tap_schema.tables", (("from_table", "table_name"),)),
        ForeignKey("keys_target", "tap_schema.tables", (("target_table", "table_name"),)),
    ),
)
KEY_COLUMNS = Table(
    "tap_schema",
    "key_columns",
    "Columns of the foreign keys",
    (
        _c("key_id", "char", "Key identifier"),
        _c("from_column", "char", "Column in the table holding the key"),
        _c("target_column", "char", "Column in the table pointed to"),
    ),
    foreign_keys=(ForeignKey("key_columns_keys", "tap_schema.keys", (("key_id", "key_id"),)),),
)

SCHEMA = Schema(
    "tap_schema",
    "The TAP_SCHEMA 1.1 metadata tables: what this service publishes.",
    (SCHEMAS, TABLES, COLUMNS, KEYS, KEY_COLUMNS),
)
