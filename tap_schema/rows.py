"""TAP_SCHEMA rows generated from the declarations (TAP 1.1, section 4); no I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field

from tap_schema.model import Metadata

Row = tuple[object, ...]


@dataclass
class TapSchemaRows:
    schemas: list[Row] = field(default_factory=list)
    tables: list[Row] = field(default_factory=list)
    columns: list[Row] = field(default_factory=list)
    keys: list[Row] = field(default_factory=list)
    key_columns: list[Row] = field(default_factory=list)


def _size(arraysize: str | None) -> int | None:
    # TAP 1.0's "size": the fixed length, when there is one.
    if arraysize and arraysize.rstrip("*").isdigit():
        return int(arraysize.rstrip("*"))
    return None


def tap_schema_rows(metadata: Metadata) -> TapSchemaRows:
    rows = TapSchemaRows()
    table_index = 0
    for schema_index, schema in enumerate(metadata.schemas):
        rows.schemas.append((schema.name, schema.utype, schema.description, schema_index))
        for table in schema.tables:
            table_index += 1
            rows.tables.append(
                (
                    schema.name,
                    table.qualified,
                    table.table_type,
                    table.utype,
                    table.description,
                    table_index,
                )
            )
            for column_index, c in enumerate(table.columns):
                rows.columns.append(
                    (
                        table.qualified,
                        c.name,
                        c.utype,
                        c.ucd,
                        c.unit,
                        c.description,
                        c.datatype,
                        c.arraysize,
                        c.xtype,
                        _size(c.arraysize),
                        int(c.principal),
                        int(c.indexed),
                        int(c.std),
                        column_index,
                    )
                )
            for key in table.foreign_keys:
                rows.keys.append(
                    (key.key_id, table.qualified, key.target_table, key.utype, key.description)
                )
                rows.key_columns.extend((key.key_id, a, b) for a, b in key.columns)
    return rows
