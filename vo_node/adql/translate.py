"""The ADQL stages as the TAP service calls them: parse, allowlist, resolve, translate.

``translate(adql, metadata, uploads)`` returns one PostgreSQL SELECT (no row limit of its
own beyond the query's TOP) and a description of each result column; ``check_syntax(adql)``
runs only the first two stages. The SQL is generated from the checked syntax tree by
sqlglot, never pasted from the input; a last check on the generated tree refuses any
function or literal this package did not mean to emit. Must not import Flask or psycopg.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from sqlglot import exp

from tap_schema.model import Column, Metadata, Table
from vo_node.adql import allowlist
from vo_node.adql.datatypes import votable
from vo_node.adql.dialect import parse
from vo_node.adql.errors import AdqlError
from vo_node.adql.queries import Queries
from vo_node.adql.resolve import Output

_NO_UPLOADS: Mapping[str, tuple[str, Table]] = MappingProxyType({})
_NUMBER = re.compile(r"(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")
# Every function the translation emits (pgSphere, PostgreSQL built-ins); nothing else may.
_EMITTED_FUNCTIONS = frozenset(
    {
        "abs", "acos", "area", "array_length", "asin", "atan", "atan2", "ceiling", "center",
        "centre_of_healpix_nest", "coalesce", "cos", "cot", "degrees", "exp", "floor",
        "generate_series", "healpix_nest", "lat", "ln", "log", "long", "lower", "mod", "nullif",
        "pi", "power", "radians", "radius", "random", "regexp_split_to_array", "round",
        "scircle", "sin", "spoint", "spoly", "sqrt", "sum", "tan", "trunc", "unnest", "upper",
    }
)  # fmt: skip


@dataclass(frozen=True)
class OutputColumn:
    """One result column as the client should see it.

    ``column`` is the declaration when the item is a plain reference to a published or
    uploaded column; otherwise ``expression_type`` (a VOTable datatype), ``xtype``,
    ``arraysize`` and ``unit`` describe the computed value as far as they are known.
    """

    name: str
    column: Column | None
    expression_type: str | None
    xtype: str | None
    unit: str | None = None
    arraysize: str | None = None


@dataclass(frozen=True)
class Translation:
    """A query ready for PostgreSQL: the SQL, its result columns, the tables it reads."""

    sql: str
    columns: list[OutputColumn]
    tables: set[str] = field(default_factory=set)
    top: int | None = None


def check_syntax(adql: str) -> None:
    """Parse and allowlist only: raise :class:`AdqlError` unless ``adql`` is ADQL this
    service accepts. Needs no metadata."""
    allowlist.check(parse(adql))


def translate(
    adql: str,
    metadata: Metadata,
    uploads: Mapping[str, tuple[str, Table]] = _NO_UPLOADS,
) -> Translation:
    """Translate one ADQL query against the published ``metadata`` and ``uploads``
    (ADQL name -> (SQL relation, declaration)) into one PostgreSQL SELECT."""
    tree = parse(adql)
    allowlist.check(tree)
    queries = Queries(metadata, uploads)
    sql_tree, outputs = queries.statement(tree)
    _check_emitted(sql_tree)
    sql = sql_tree.sql(dialect="postgres", comments=False, copy=False)
    limit = tree.args.get("limit") if isinstance(tree, exp.Select) else None
    top = int(limit.expression.this) if limit is not None else None
    return Translation(sql, _columns(outputs), set(queries.tables), top)


def _columns(outputs: list[Output]) -> list[OutputColumn]:
    """Result columns with names unique without regard to case (VOTable FIELD names)."""
    seen: set[str] = set()
    columns = []
    for output in outputs:
        name = output.name
        suffix = 1
        while name.lower() in seen:
            suffix += 1
            name = f"{output.name}_{suffix}"
        seen.add(name.lower())
        value = output.value
        if value.column is not None:
            c = value.column
            columns.append(OutputColumn(name, c, c.datatype, c.xtype, c.unit, c.arraysize))
            continue
        datatype, xtype, arraysize = votable(value.datatype)
        unit = value.unit or None
        columns.append(OutputColumn(name, None, datatype, xtype, unit, arraysize))
    return columns


def _check_emitted(tree: exp.Expr) -> None:
    """Defence in depth: the generated tree holds only functions and literals of ours."""
    for node in tree.walk():
        if isinstance(node, exp.Anonymous) and node.name.lower() not in _EMITTED_FUNCTIONS:
            raise AdqlError(f"internal error: refusing to emit function {node.name!r}")
        if isinstance(node, exp.Literal) and not node.is_string and not _NUMBER.match(node.this):
            raise AdqlError(f"internal error: refusing to emit number {node.this!r}")
