"""Stage 4b, translate queries: SELECT, FROM and joins, WITH, set operations.

Each SELECT gets a scope (``resolve``) filled from its FROM clause; every relation is given
a generated SQL alias (t1, t2, ...) and every column reference is emitted qualified with it,
so user-chosen names never reach the SQL. ``*`` is expanded here, NATURAL and USING joins
become ON conditions with the merged columns computed as SQL defines them (the left value,
the right one for RIGHT joins, COALESCE of both for FULL joins), and each select item gets a
generated, unique SQL name. Geometry leaving the outermost query becomes DALI arrays. Must
not import Flask or psycopg.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import count

from sqlglot import exp

from tap_schema.model import Metadata, Table
from vo_node.adql import geometry
from vo_node.adql.datatypes import Value
from vo_node.adql.errors import error_at
from vo_node.adql.expressions import Expressions
from vo_node.adql.resolve import Field, Output, Relation, Scope, Source, matches, source
from vo_node.adql.templates import call

_SAFE_NAME = re.compile(r"[a-z][a-z0-9_]{0,55}\Z")


@dataclass
class _Item:
    """A FROM item or join group: its SQL, its relations, its unqualified columns."""

    sql: exp.Expr
    relations: list[Relation]
    visible: list[Field]


class Queries(Expressions):
    """Translates one ADQL statement; collects the published tables it reads."""

    def __init__(self, metadata: Metadata, uploads: Mapping[str, tuple[str, Table]]) -> None:
        self.metadata = metadata
        self.uploads = uploads
        self.tables: set[str] = set()
        self._aliases = count(1)
        self._ctes = count(1)

    def statement(self, tree: exp.Expr) -> tuple[exp.Expr, list[Output]]:
        """The whole query; its outputs are what the client receives."""
        return self.query(tree, None, {}, final=True)

    def nested(self, node: exp.Expr, scope: Scope) -> tuple[exp.Expr, list[Output]]:
        """A subquery in a condition or value, which may refer to ``scope`` (correlation)."""
        return self.query(node, scope, scope.ctes, final=False)

    def query(
        self, node: exp.Expr, outer: Scope | None, ctes: dict[str, Source], final: bool
    ) -> tuple[exp.Expr, list[Output]]:
        """A query expression, seeing ``outer`` (for correlation) and the given CTEs."""
        if isinstance(node, exp.Subquery):
            sql, outputs = self.query(node.this, outer, ctes, final)
            return exp.Subquery(this=sql), outputs
        if isinstance(node, exp.Select):
            return self._select(node, outer, ctes, final)
        with_sql, ctes = self._with(node, ctes)
        left_sql, outputs = self.query(node.this, outer, ctes, final)
        right_sql, right = self.query(node.expression, outer, ctes, final)
        if len(outputs) != len(right):
            raise error_at(
                node,
                f"the operands of {node.key.upper()} have {len(outputs)} and {len(right)} columns",
            )
        built = type(node)(this=left_sql, expression=right_sql, distinct=node.args["distinct"])
        order = node.args.get("order")
        if order is not None:
            built.set("order", exp.Order(expressions=[self._set_order(t, outputs)
                                                      for t in order.expressions]))  # fmt: skip
        if node.args.get("offset") is not None:
            built.set("offset", exp.Offset(expression=node.args["offset"].expression.copy()))
        if with_sql is not None:
            built.set("with_", with_sql)
        return built, outputs

    def _with(self, node: exp.Expr, ctes: dict[str, Source]) -> tuple[exp.With | None, dict]:
        """Common table expressions: each sees those before it (ADQL 2.1, WITH)."""
        with_ = node.args.get("with_")
        if with_ is None:
            return None, ctes
        ctes = dict(ctes)
        built = []
        for cte in with_.expressions:
            name = cte.alias_or_name
            sql, outputs = self.query(cte.this, None, ctes, final=False)
            columns = cte.args["alias"].columns
            if columns:
                if len(columns) != len(outputs):
                    raise error_at(cte, f"{name} names {len(columns)} columns for {len(outputs)}")
                outputs = [
                    Output(c.name, o.sql_name, o.value)
                    for c, o in zip(columns, outputs, strict=True)
                ]
            sql_name = f"cte{next(self._ctes)}"
            table = exp.Table(this=exp.to_identifier(sql_name))
            ctes[name] = Source(name, None, name, table, outputs)
            built.append(exp.CTE(this=sql, alias=exp.TableAlias(this=exp.to_identifier(sql_name))))
        return exp.With(expressions=built), ctes

    # -- SELECT --------------------------------------------------------------------------

    def _select(
        self, node: exp.Select, outer: Scope | None, ctes: dict[str, Source], final: bool
    ) -> tuple[exp.Expr, list[Output]]:
        with_sql, ctes = self._with(node, ctes)
        scope = Scope(parent=outer, ctes=ctes)
        from_sql, joins = self._from(node, scope)
        built = exp.Select(from_=from_sql)
        if joins:
            built.set("joins", joins)
        outputs = self._select_list(node, scope)
        used: set[str] = set()
        items: list[exp.Expr] = []
        for output in outputs:
            output.sql_name = _sql_name(output.name, len(items) + 1, used)
            sql = geometry.dali(output.value) if final and output.value.is_geometry else None
            item = sql if sql is not None else output.value.sql
            items.append(exp.Alias(this=item, alias=exp.to_identifier(output.sql_name, True)))
        built.set("expressions", items)
        if node.args.get("distinct") is not None:
            built.set("distinct", exp.Distinct())
        if node.args.get("where") is not None:
            built.set("where", exp.Where(this=self.condition(node.args["where"].this, scope)))
        group = node.args.get("group")
        if group is not None:
            terms = [self._by(t, scope, outputs) for t in group.expressions]
            built.set("group", exp.Group(expressions=terms))
        if node.args.get("having") is not None:
            built.set("having", exp.Having(this=self.condition(node.args["having"].this, scope)))
        order = node.args.get("order")
        if order is not None:
            terms = [self._order(t, scope, outputs) for t in order.expressions]
            built.set("order", exp.Order(expressions=terms))
        if node.args.get("limit") is not None:
            built.set("limit", exp.Limit(expression=node.args["limit"].expression.copy()))
        if node.args.get("offset") is not None:
            built.set("offset", exp.Offset(expression=node.args["offset"].expression.copy()))
        if with_sql is not None:
            built.set("with_", with_sql)
        return built, outputs

    def _select_list(self, node: exp.Select, scope: Scope) -> list[Output]:
        outputs: list[Output] = []
        for item in node.expressions:
            if isinstance(item, exp.Star):
                outputs += [Output(f.name, "", f.read()) for f in scope.visible]
            elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
                relation = scope.relation(item)
                outputs += [Output(f.name, "", f.read()) for f in relation.fields]
            elif isinstance(item, exp.Alias):
                outputs.append(Output(item.alias, "", self.value(item.this, scope)))
            elif isinstance(item, exp.Column):
                found = scope.column(item)
                outputs.append(Output(found.name, "", found.read()))
            else:
                name = _natural_name(item) or f"col{len(outputs) + 1}"
                outputs.append(Output(name, "", self.value(item, scope)))
        return outputs

    def _by(self, term: exp.Expr, scope: Scope, outputs: list[Output]) -> exp.Expr:
        """A GROUP BY term: a value over the FROM columns, else a select-list name."""
        if (
            isinstance(term, exp.Column)
            and not term.table
            and not any(matches(term.this, f.name) for f in _all_visible(scope))
        ):
            output = _output_named(term, outputs)
            if output is not None:
                return exp.column(exp.to_identifier(output.sql_name, quoted=True))
        return self.value(term, scope).sql

    def _order(self, term: exp.Expr, scope: Scope, outputs: list[Output]) -> exp.Expr:
        """An ORDER BY term: a position, a select-list name, or a value."""
        desc = bool(term.args.get("desc")) if isinstance(term, exp.Ordered) else False
        what = term.this if isinstance(term, exp.Ordered) else term
        by_result = _order_by_result(what, desc, outputs)
        if by_result is not None:
            return by_result
        return _ordered(self.value(what, scope).sql, desc)

    def _set_order(self, term: exp.Expr, outputs: list[Output]) -> exp.Expr:
        desc = bool(term.args.get("desc")) if isinstance(term, exp.Ordered) else False
        what = term.this if isinstance(term, exp.Ordered) else term
        by_result = _order_by_result(what, desc, outputs)
        if by_result is not None:
            return by_result
        raise error_at(what, "ORDER BY after a set operation takes result names or positions")

    # -- FROM ----------------------------------------------------------------------------

    def _from(self, node: exp.Select, scope: Scope) -> tuple[exp.From, list[exp.Join]]:
        groups = [self._item(node.args["from_"].this, scope)]
        joins: list[exp.Join] = []
        for join in node.args.get("joins") or ():
            if not any(join.args.get(k) for k in ("kind", "side", "method", "on", "using")):
                item = self._item(join.this, scope)
                groups.append(item)
                joins.append(exp.Join(this=item.sql))
                continue
            groups[-1], sql = self._join(groups[-1], join, scope)
            joins.append(sql)
        scope.relations = [r for g in groups for r in g.relations]
        scope.visible = [f for g in groups for f in g.visible]
        return exp.From(this=groups[0].sql), joins

    def _item(self, node: exp.Expr, scope: Scope) -> _Item:
        if isinstance(node, exp.Table):
            item = self._table(node, scope)
            nested = node.args.get("joins") or ()
            if not nested:
                return item
            # The first table of a parenthesised join: (t1 JOIN t2 ...).
            table_sql = item.sql
            group = item
            for join in nested:
                group, join_sql = self._join(group, join, scope)
                table_sql.append("joins", join_sql)
            return _Item(exp.Subquery(this=table_sql), group.relations, group.visible)
        if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Table):
            return self._item(node.this, scope)
        if isinstance(node, exp.Subquery):
            sql, outputs = self.query(node.this, None, scope.ctes, final=False)
            alias = f"t{next(self._aliases)}"
            name = node.alias
            fields = [_field(o, alias) for o in outputs]
            relation = Relation(name, None, name, fields)
            built = exp.Subquery(this=sql, alias=exp.TableAlias(this=exp.to_identifier(alias)))
            return _Item(built, [relation], list(fields))
        raise error_at(node, "this is not a table reference")

    def _table(self, node: exp.Table, scope: Scope) -> _Item:
        found = source(node, self.metadata, self.uploads, scope.ctes)
        if found.published:
            self.tables.add(found.published)
        alias = f"t{next(self._aliases)}"
        fields = [_field(o, alias) for o in found.outputs]
        if node.alias:
            relation = Relation(node.alias, None, f"{found.label} AS {node.alias}", fields)
        else:
            relation = Relation(found.name, found.schema, found.label, fields)
        built = found.sql.copy()
        built.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        return _Item(built, [relation], list(fields))

    def _join(self, left: _Item, join: exp.Join, scope: Scope) -> tuple[_Item, exp.Join]:
        right = self._item(join.this, scope)
        side = (join.args.get("side") or "").upper()
        kind = (join.args.get("kind") or "").upper()
        natural = (join.args.get("method") or "").upper() == "NATURAL"
        relations = left.relations + right.relations
        pairs = self._using(left, right, join, natural)
        if pairs is None:  # ON or CROSS
            visible = left.visible + right.visible
            on = join.args.get("on")
            condition = None
            if on is not None:
                local = Scope(parent=scope.parent, ctes=scope.ctes, relations=relations,
                              visible=visible)  # fmt: skip
                condition = self.condition(on, local)
        else:
            merged = [_merge(a, b, side) for a, b in pairs]
            used_left = {id(a) for a, _ in pairs}
            used_right = {id(b) for _, b in pairs}
            visible = (
                merged
                + [f for f in left.visible if id(f) not in used_left]
                + [f for f in right.visible if id(f) not in used_right]
            )
            tests: list[exp.Expr] = [
                exp.EQ(this=a.read().sql, expression=b.read().sql) for a, b in pairs
            ]
            condition = _all(tests) if tests else exp.Boolean(this=True)
        built = exp.Join(this=right.sql)
        if kind == "CROSS" or (condition is None and not side):
            built.set("kind", "CROSS")
        else:
            built.set("side", side or None)
            built.set("kind", None if side else "INNER")
            built.set("on", condition)
        return _Item(left.sql, relations, visible), built

    def _using(
        self, left: _Item, right: _Item, join: exp.Join, natural: bool
    ) -> list[tuple[Field, Field]] | None:
        """The (left, right) column pairs a NATURAL or USING join equates."""
        if natural:
            pairs = []
            for a in left.visible:
                same = [b for b in right.visible if b.name.lower() == a.name.lower()]
                if len(same) == 1:
                    pairs.append((a, same[0]))
            return pairs
        using = join.args.get("using")
        if not using:
            return None
        pairs = []
        for name in using:
            sides = []
            for item, which in ((left, "left"), (right, "right")):
                found = [f for f in item.visible if matches(name, f.name)]
                if len(found) != 1:
                    problem = "not found" if not found else "ambiguous"
                    raise error_at(name, f"USING column '{name.name}' is {problem} on the "
                                         f"{which} side of the join")  # fmt: skip
                sides.append(found[0])
            pairs.append((sides[0], sides[1]))
        return pairs


def _field(output: Output, alias: str) -> Field:
    """A relation's column, read through its generated alias."""
    v = output.value
    value = Value(v.sql, v.datatype, v.unit, v.column, output.name)
    return Field(output.name, value, alias, output.sql_name)


def _merge(a: Field, b: Field, side: str) -> Field:
    """The one column a USING or NATURAL join makes of two (SQL-92 7.5)."""
    if side == "RIGHT":
        return Field(a.name, b.read())
    if side == "FULL":
        av, bv = a.read(), b.read()
        return Field(a.name, Value(call("coalesce", av.sql, bv.sql), av.datatype, av.unit))
    return Field(a.name, a.read())


def _ordered(sql: exp.Expr, desc: bool) -> exp.Ordered:
    """An ORDER BY term with PostgreSQL's own NULL placement (ADQL leaves it open)."""
    return exp.Ordered(this=sql, desc=desc or None, nulls_first=desc or None)


def _all(tests: list[exp.Expr]) -> exp.Expr:
    result = tests[0]
    for test in tests[1:]:
        result = exp.And(this=result, expression=test)
    return result


def _all_visible(scope: Scope) -> list[Field]:
    return scope.visible + [f for r in scope.relations for f in r.fields]


def _output_named(term: exp.Column, outputs: list[Output]) -> Output | None:
    found = [o for o in outputs if matches(term.this, o.name)]
    if len(found) > 1:
        raise error_at(term, f"'{term.name}' names more than one result column")
    return found[0] if found else None


def _position(what: exp.Expr, outputs: list[Output]) -> exp.Expr | None:
    if isinstance(what, exp.Literal) and what.is_int and not what.is_string:
        index = int(what.this)
        if not 1 <= index <= len(outputs):
            raise error_at(what, f"there is no result column {index}")
        return exp.Literal.number(index)
    return None


def _natural_name(item: exp.Expr) -> str | None:
    """The name a computed column gets without AS: its function's name, lower-cased."""
    inner = item
    while isinstance(inner, exp.Paren):
        inner = inner.this
    if isinstance(inner, exp.Anonymous):
        return inner.name.lower()
    if isinstance(inner, exp.Count | exp.Sum | exp.Avg | exp.Min | exp.Max):
        return inner.key.lower()
    return None


def _sql_name(name: str, position: int, used: set[str]) -> str:
    """A unique, safe SQL name for a select item: its name lower-cased if that is a plain
    identifier, else col<position>."""
    candidate = name.lower()
    if not _SAFE_NAME.match(candidate) or candidate in used:
        candidate = f"col{position}"
        while candidate in used:
            candidate += "_"
    used.add(candidate)
    return candidate


def _order_by_result(what: exp.Expr, desc: bool, outputs: list[Output]) -> exp.Expr | None:
    """An ORDER BY term naming a result column, by position or by name; None otherwise."""
    position = _position(what, outputs)
    if position is not None:
        return _ordered(position, desc)
    if isinstance(what, exp.Column) and not what.table:
        output = _output_named(what, outputs)
        if output is not None:
            name = exp.column(exp.to_identifier(output.sql_name, quoted=True))
            return _ordered(name, desc)
    return None
