"""Stage 3, resolve: what each table and column name in a query refers to.

Only published tables (from the :class:`~tap_schema.model.Metadata`), uploads
(``TAP_UPLOAD.name``), common table expressions and correlation names exist; only their
columns exist. Regular identifiers match case-insensitively and delimited ones exactly
(ADQL 2.1, case sensitivity). A name that matches nothing is an :class:`AdqlError` at the name,
with the closest candidate as a did-you-mean. The scopes defined here are filled by
``queries`` as it translates each SELECT. Must not import Flask or psycopg.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from sqlglot import exp

from tap_schema.model import Metadata, Table, sql_name
from vo_node.adql.datatypes import Value, column_type
from vo_node.adql.errors import AdqlError, error_at

UPLOAD_SCHEMA = "TAP_UPLOAD"
_LAZY = exp.Null()  # the SQL of columns read through an alias is built by Field.read()


@dataclass
class Field:
    """A column visible in a scope: its ADQL name and how the enclosing query reads it,
    either as ``alias.sql_name`` (a relation's column) or as an expression (merged columns
    of USING joins)."""

    name: str
    value: Value
    alias: str | None = None
    sql_name: str = ""

    def read(self) -> Value:
        """The value as a fresh tree, to place in the translation."""
        v = self.value
        if self.alias is not None:
            sql: exp.Expr = exp.Column(
                this=exp.Identifier(this=self.sql_name, quoted=True),
                table=exp.Identifier(this=self.alias, quoted=False),
            )
        else:
            sql = v.sql.copy()
        return Value(sql, v.datatype, v.unit, v.column, v.name, v.constant)


@dataclass
class Relation:
    """A FROM item as the query sees it: a correlation name and its columns."""

    name: str  # the alias, or the table name when there is none
    schema: str | None  # the schema, when the table is referred to by its own name
    label: str  # how messages name it
    fields: list[Field]


@dataclass
class Output:
    """One column a query produces: its ADQL name, its SQL name, and what it is."""

    name: str
    sql_name: str
    value: Value


@dataclass
class Source:
    """What a table name in FROM refers to: a published table, an upload or a CTE."""

    label: str
    schema: str | None
    name: str
    sql: exp.Table
    outputs: Sequence[Output]
    published: str | None = None  # qualified name, for Translation.tables


@dataclass
class Scope:
    """The names a SELECT can see: its FROM relations, the columns visible without a
    qualifier (USING and NATURAL columns once), and, for correlated subqueries, its parent."""

    parent: Scope | None = None
    ctes: dict[str, Source] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)
    visible: list[Field] = field(default_factory=list)
    _index: dict[str, list[Field]] | None = field(default=None, repr=False)
    _indexed: list[Field] | None = field(default=None, repr=False)

    def unqualified(self, name: str) -> list[Field]:
        """The visible fields whose name is ``name`` ignoring case."""
        if self._index is None or self._indexed is not self.visible:
            self._index = {}
            for f in self.visible:
                self._index.setdefault(f.name.lower(), []).append(f)
            self._indexed = self.visible
        return self._index.get(name.lower(), [])

    def column(self, node: exp.Column) -> Field:
        """The field a column reference names, looking outwards through enclosing scopes."""
        found = self._find(node)
        if found is not None:
            return found
        raise self._not_found(node)

    def _find(self, node: exp.Column) -> Field | None:
        scope: Scope | None = self
        while scope is not None:
            if node.table:
                relations = scope.qualified(node)
                if relations:
                    # The innermost relation of that name decides, found or not (SQL-92).
                    fields = [f for r in relations for f in r.fields if matches(node.this, f.name)]
                    return _only(node, fields, relations, node.this) if fields else None
            else:
                candidates = [
                    f for f in scope.unqualified(node.this.name) if matches(node.this, f.name)
                ]
                if candidates:
                    return _only(node, candidates, scope.relations, node.this)
            scope = scope.parent
        return None

    def qualified(self, node: exp.Column) -> list[Relation]:
        """The relations of this scope a column's qualifier (table, schema.table) names."""
        table, schema = node.args.get("table"), node.args.get("db")
        if node.args.get("catalog") is not None:
            raise error_at(node, "catalogue names are not used here; write schema.table.column")
        return [
            r
            for r in self.relations
            if matches(table, r.name)
            and (schema is None or (r.schema is not None and matches(schema, r.schema)))
        ]

    def relation(self, node: exp.Column) -> Relation:
        """The one relation a qualified * (``t.*``) names."""
        scope: Scope | None = self
        while scope is not None:
            found = scope.qualified(node)
            if len(found) == 1:
                return found[0]
            if found:
                raise error_at(node, f"'{_qualifier(node)}' names more than one table")
            scope = scope.parent
        raise self._no_table(node)

    def _not_found(self, node: exp.Column) -> AdqlError:
        name = node.this.name
        if node.table:
            relations: list[Relation] = []
            scope: Scope | None = self
            while scope is not None and not relations:
                relations = scope.qualified(node)
                scope = scope.parent
            if not relations:
                return self._no_table(node)
            candidates = [f.name for r in relations for f in r.fields]
            where = ", ".join(r.label for r in relations)
        else:
            candidates = [f.name for f in self.visible]
            where = ", ".join(r.label for r in self.relations) or "the FROM clause"
        return error_at(node.this, f"column '{name}' not found in {where}{_mean(name, candidates)}")

    def _no_table(self, node: exp.Column) -> AdqlError:
        names = [r.name for r in self.relations]
        qualifier = _qualifier(node)
        return error_at(
            node,
            f"'{qualifier}' is not a table or correlation name in FROM{_mean(node.table, names)}",
        )


def matches(identifier: exp.Identifier | None, name: str) -> bool:
    """Whether an ADQL identifier names ``name``: exactly if delimited, else ignoring case."""
    if identifier is None:
        return False
    if identifier.quoted:
        return identifier.name == name
    return identifier.name.lower() == name.lower()


def _only(
    node: exp.Column, candidates: list[Field], relations: list[Relation], name: exp.Identifier
) -> Field:
    if len(candidates) > 1:
        owners = [r.label for r in relations if any(f in candidates for f in r.fields)]
        where = f" (in {', '.join(owners)})" if len(owners) > 1 else ""
        raise error_at(
            node, f"column '{name.name}' is ambiguous{where}; qualify it with a table name"
        )
    return candidates[0]


def _qualifier(node: exp.Column) -> str:
    return ".".join(p.name for p in (node.args.get("db"), node.args.get("table")) if p)


def _mean(name: str, candidates: Iterable[str]) -> str:
    """'; did you mean 'x'?' for the candidate closest to ``name``, or nothing."""
    by_lower = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return f"; did you mean '{by_lower[close[0]]}'?" if close else ""


@lru_cache(maxsize=256)
def table_outputs(table: Table) -> tuple[Output, ...]:
    """The columns of a declared table as outputs.

    A column declared with a delimited name ('"size"', for a reserved word) is called by
    the name inside the quotes, which is also its SQL name; other SQL names are the declared
    names in lower case, as the published relations spell them.
    """
    outputs = []
    for c in table.columns:
        name = sql_name(c.name)
        delimited = name != c.name
        value = Value(_LAZY, column_type(c), c.unit, c, name)
        outputs.append(Output(name, name if delimited else name.lower(), value))
    return tuple(outputs)


def source(
    node: exp.Table,
    metadata: Metadata,
    uploads: Mapping[str, tuple[str, Table]],
    ctes: Mapping[str, Source],
) -> Source:
    """What a table reference in FROM names."""
    name, schema = node.this, node.args.get("db")
    if node.args.get("catalog") is not None:
        raise error_at(node, "catalogue names are not used here; write schema.table")
    if schema is None:
        for cte_name, cte in ctes.items():
            if matches(name, cte_name):
                return cte
    if schema is not None and matches(schema, UPLOAD_SCHEMA):
        return _upload(node, name, uploads)
    candidates = [
        t
        for t in metadata.tables()
        if matches(name, t.name) and (schema is None or matches(schema, t.schema))
    ]
    if len(candidates) > 1:
        names = ", ".join(t.qualified for t in candidates)
        raise error_at(node, f"table '{name.name}' is ambiguous ({names}); name its schema")
    if not candidates:
        known = [t.qualified for t in metadata.tables()] + list(ctes)
        wanted = f"{schema.name}.{name.name}" if schema is not None else name.name
        if schema is None:
            known += [t.name for t in metadata.tables()]
        raise error_at(node, f"table '{wanted}' not found{_mean(wanted, known)}")
    table = candidates[0]
    sql = exp.Table(
        this=exp.to_identifier(table.name.lower(), quoted=True),
        db=exp.to_identifier(table.schema.lower(), quoted=True),
    )
    return Source(
        table.qualified,
        table.schema,
        table.name,
        sql,
        table_outputs(table),
        published=table.qualified,
    )


def _upload(
    node: exp.Table, name: exp.Identifier, uploads: Mapping[str, tuple[str, Table]]
) -> Source:
    for upload_name, (relation, table) in uploads.items():
        if matches(name, upload_name):
            parts = relation.split(".")
            sql = exp.Table(this=exp.to_identifier(parts[-1], quoted=True))
            if len(parts) > 1:
                sql.set("db", exp.to_identifier(parts[-2], quoted=True))
            return Source(
                f"{UPLOAD_SCHEMA}.{upload_name}",
                UPLOAD_SCHEMA,
                upload_name,
                sql,
                table_outputs(table),
            )
    raise error_at(node, f"no upload named '{name.name}'{_mean(name.name, list(uploads))}")
