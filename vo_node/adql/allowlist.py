"""Stage 2, allowlist: accept only syntax trees made of ADQL.

sqlglot parses far more than ADQL, so nothing reaches the later stages unless it is built
from the node types in :data:`ALLOWED_NODES`, in the places ADQL allows them: a condition
where the grammar wants a search condition, a value where it wants a value, functions from
the catalogue with the right number of arguments, TOP and OFFSET as unsigned integers, CAST
to ADQL types, WITH only at the top, no unquoted reserved words. Everything else (LIMIT,
INTO, FOR UPDATE, LATERAL, window functions, catalogue schemas, unknown functions such as
``pg_sleep``) is an :class:`AdqlError` at the offending node. Needs no metadata.
"""

from __future__ import annotations

from sqlglot import exp

from vo_node.adql.errors import AdqlError, error_at
from vo_node.adql.functions import UNSUPPORTED, check_arguments, lookup, suggestion
from vo_node.adql.reserved import RESERVED

ALLOWED_NODES: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Select, exp.Union, exp.Except, exp.Intersect, exp.Subquery, exp.With, exp.CTE,
        exp.TableAlias, exp.From, exp.Join, exp.Table, exp.Identifier, exp.Column, exp.Star,
        exp.Alias, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit,
        exp.Offset, exp.Distinct, exp.Literal, exp.HexString, exp.Null, exp.Boolean,
        exp.Paren, exp.Neg, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.BitwiseAnd,
        exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot, exp.DPipe, exp.Anonymous, exp.Count,
        exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Cast, exp.DataType, exp.DataTypeParam,
        exp.Case, exp.If, exp.And, exp.Or, exp.Not, exp.EQ, exp.NEQ, exp.GT, exp.GTE,
        exp.LT, exp.LTE, exp.Between, exp.In, exp.Like, exp.ILike, exp.Is, exp.Exists,
    }
)  # fmt: skip

# The clauses a SELECT may carry, and how to name the others in an error.
_SELECT_ARGS = frozenset(
    {"expressions", "distinct", "limit", "from_", "joins", "where", "group", "having", "order",
     "offset", "with_", "kind"}
)  # fmt: skip
_SET_ARGS = frozenset({"this", "expression", "distinct", "order", "offset", "with_"})
_CLAUSE_NAMES = {
    "into": "SELECT ... INTO",
    "locks": "FOR UPDATE / FOR SHARE",
    "laterals": "LATERAL",
    "windows": "WINDOW",
    "qualify": "QUALIFY",
    "hint": "optimizer hints",
    "sample": "TABLESAMPLE",
    "limit": "LIMIT (use SELECT TOP n)",
}
_CAST_TYPES = {
    exp.DType.SMALLINT: "SMALLINT",
    exp.DType.INT: "INTEGER",
    exp.DType.BIGINT: "BIGINT",
    exp.DType.FLOAT: "REAL",
    exp.DType.DOUBLE: "DOUBLE PRECISION",
    exp.DType.CHAR: "CHAR",
    exp.DType.VARCHAR: "VARCHAR",
    exp.DType.TIMESTAMP: "TIMESTAMP",
}
_GEOMETRY_CASTS = frozenset({"POINT", "CIRCLE", "POLYGON"})
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_ARITHMETIC = (
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor,
    exp.DPipe,
)  # fmt: skip
_CATALOGUE_SCHEMAS = ("pg_", "information_schema")


def check(tree: exp.Expr) -> None:
    """Raise :class:`AdqlError` unless ``tree`` is an ADQL query this service accepts."""
    for node in tree.walk():
        if type(node) not in ALLOWED_NODES:
            raise error_at(node, f"{_describe(node)} is not part of ADQL")
        if isinstance(node, exp.Table | exp.Column):
            for part in ("this", "db", "catalog", "table"):
                value = node.args.get(part)
                if value is not None and not isinstance(value, exp.Identifier | exp.Star):
                    raise error_at(node, "a name part is missing")
        if isinstance(node, exp.Identifier) and not node.quoted and node.name.upper() in RESERVED:
            raise error_at(
                node,
                f"'{node.name}' is a reserved word in ADQL; to use it as a name, write it as "
                f'a delimited identifier: "{node.name}"',
            )
    _query(tree, top=True)


def _describe(node: exp.Expr) -> str:
    if isinstance(node, exp.Window):
        return "a window function (OVER)"
    if isinstance(node, exp.Lateral):
        return "LATERAL"
    if isinstance(node, exp.Dot):
        return "a name with more than four parts"
    return f"'{_text(node)}' ({type(node).__name__})"


def _text(node: exp.Expr) -> str:
    """The start of a node as SQL text, for messages."""
    return node.sql(dialect="postgres", comments=False)[:40]


def _query(node: exp.Expr, top: bool = False) -> None:
    """A query expression: SELECT, a set operation, or one in parentheses."""
    if isinstance(node, exp.Subquery):
        if node.args.get("alias"):
            raise error_at(node, "a correlation name is only allowed on a subquery in FROM")
        _query(node.this)
        return
    if isinstance(node, exp.Select):
        _select(node, top)
        return
    if isinstance(node, exp.Union | exp.Except | exp.Intersect):
        _unexpected_args(node, _SET_ARGS)
        _with(node, top)
        _query(node.this)
        _query(node.expression)
        _order_offset(node)
        return
    raise error_at(node, f"{_describe(node)} is not an ADQL query")


def _unexpected_args(node: exp.Expr, allowed: frozenset[str]) -> None:
    for key, value in node.args.items():
        if key not in allowed and value not in (None, False, [], ""):
            if key == "limit" and isinstance(value, exp.Limit) and value.meta.get("top"):
                continue
            name = _CLAUSE_NAMES.get(key, key.upper())
            raise error_at(value if isinstance(value, exp.Expr) else node, f"{name} is not ADQL")


def _with(node: exp.Expr, top: bool) -> None:
    with_ = node.args.get("with_")
    if not with_:
        return
    if not top:
        raise error_at(with_, "WITH is only allowed at the start of the whole query")
    if with_.args.get("recursive"):
        raise error_at(with_, "recursive common table expressions are not ADQL")
    for cte in with_.expressions:
        if cte.args.get("materialized") is not None:
            raise error_at(cte, "MATERIALIZED is not ADQL")
        _query(cte.this)


def _select(node: exp.Select, top: bool) -> None:
    _unexpected_args(node, _SELECT_ARGS)
    limit = node.args.get("limit")
    if limit is not None and not limit.meta.get("top"):
        raise error_at(limit, "LIMIT is not ADQL; write SELECT TOP n ...")
    _with(node, top)
    distinct = node.args.get("distinct")
    if distinct is not None and distinct.args.get("on"):
        raise error_at(distinct, "DISTINCT ON is not ADQL")
    if limit is not None:
        if limit.args.get("offset") is not None or limit.args.get("limit_options"):
            raise error_at(limit, "TOP takes one unsigned integer")
        _unsigned(limit.expression, "TOP")
    if not node.expressions:
        raise error_at(node, "SELECT needs a select list")
    from_ = node.args.get("from_")
    if from_ is None:
        raise error_at(node, "an ADQL query needs a FROM clause")
    for item in node.expressions:
        _select_item(item)
    _from_item(from_.this)
    for join in node.args.get("joins") or ():
        _join(join)
    where = node.args.get("where")
    if where is not None:
        _condition(where.this)
    group = node.args.get("group")
    if group is not None:
        for key, value in group.args.items():
            if key != "expressions" and value:
                raise error_at(group, f"GROUP BY {key.upper()} is not ADQL")
        for term in group.expressions:
            _value(term)
    having = node.args.get("having")
    if having is not None:
        _condition(having.this)
    _order_offset(node)


def _order_offset(node: exp.Expr) -> None:
    order = node.args.get("order")
    if order is not None:
        for term in order.expressions:
            _value(term.this if isinstance(term, exp.Ordered) else term)
    offset = node.args.get("offset")
    if offset is not None:
        _unsigned(offset.expression, "OFFSET")


def _unsigned(value: exp.Expr | None, clause: str) -> None:
    if not (isinstance(value, exp.Literal) and value.is_int and not value.is_string):
        raise error_at(value, f"{clause} takes an unsigned integer")


def _select_item(item: exp.Expr) -> None:
    if isinstance(item, exp.Star):
        return
    if isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
        if item.args.get("db") and item.args.get("catalog"):
            raise error_at(item, "a qualified * names at most schema.table")
        return
    if isinstance(item, exp.Alias):
        _value(item.this)
        return
    _value(item)


def _from_item(node: exp.Expr) -> None:
    if isinstance(node, exp.Table):
        for key, value in node.args.items():
            if key not in {"this", "db", "catalog", "alias", "joins"} and value:
                raise error_at(node, f"{key.upper()} on a table is not ADQL")
        if not isinstance(node.this, exp.Identifier):
            raise error_at(node, f"{_describe(node.this)} is not a table name")
        schema = node.args.get("db")
        if schema is not None and schema.name.lower().startswith(_CATALOGUE_SCHEMAS):
            raise error_at(schema, f"schema '{schema.name}' is not published")
        _alias(node)
        for join in node.args.get("joins") or ():
            _join(join)
        return
    if isinstance(node, exp.Subquery):
        inner = node.this
        if isinstance(inner, exp.Table) and inner.args.get("joins"):
            if node.args.get("alias"):
                raise error_at(node, "a parenthesised join cannot have a correlation name")
            _from_item(inner)
            return
        if not node.args.get("alias"):
            raise error_at(node, "a subquery in FROM needs a correlation name (AS name)")
        _alias(node)
        _query(inner)
        return
    raise error_at(node, f"{_describe(node)} is not a table reference")


def _alias(node: exp.Expr) -> None:
    alias = node.args.get("alias")
    if alias is not None and alias.args.get("columns"):
        raise error_at(alias, "column names after a correlation name are not ADQL")


def _join(join: exp.Join) -> None:
    for key, value in join.args.items():
        if key not in {"this", "kind", "side", "method", "on", "using"} and value:
            raise error_at(join, f"{key.upper()} in a join is not ADQL")
    kind = (join.args.get("kind") or "").upper()
    side = (join.args.get("side") or "").upper()
    natural = (join.args.get("method") or "").upper() == "NATURAL"
    if join.args.get("method") and not natural:
        raise error_at(join, f"{join.args['method']} JOIN is not ADQL")
    if kind not in {"", "INNER", "OUTER", "CROSS"} or side not in {"", "LEFT", "RIGHT", "FULL"}:
        raise error_at(join, f"{side} {kind} JOIN is not ADQL")
    on, using = join.args.get("on"), join.args.get("using")
    condition = on is not None or bool(using)
    if (natural or kind == "CROSS") and condition:
        raise error_at(on or join, "a NATURAL or CROSS join takes no ON or USING")
    if not (natural or kind == "CROSS" or condition) and (kind or side):
        raise error_at(join.this, "this join needs ON or USING")
    _from_item(join.this)
    if on is not None:
        _condition(on)
    for column in using or ():
        if not isinstance(column, exp.Identifier):
            raise error_at(column, "USING takes column names")


def _condition(node: exp.Expr) -> None:
    """A search condition (ADQL 2.1 appendix A, <search_condition>)."""
    if isinstance(node, exp.And | exp.Or):
        _condition(node.this)
        _condition(node.expression)
    elif isinstance(node, exp.Not | exp.Paren):
        _condition(node.this)
    elif isinstance(node, (*_COMPARISONS, exp.Like, exp.ILike)):
        _value(node.this)
        _value(node.expression)
    elif isinstance(node, exp.Between):
        if node.args.get("symmetric"):
            raise error_at(node, "BETWEEN SYMMETRIC is not ADQL")
        for part in (node.this, node.args["low"], node.args["high"]):
            _value(part)
    elif isinstance(node, exp.In):
        _in(node)
    elif isinstance(node, exp.Is):
        if not isinstance(node.expression, exp.Null):
            raise error_at(node.expression, "IS must be followed by NULL or NOT NULL")
        _value(node.this)
    elif isinstance(node, exp.Exists):
        _query(node.this)
    elif isinstance(node, exp.Boolean):
        return
    elif isinstance(node, exp.Anonymous) and node.name.upper() in {"CONTAINS", "INTERSECTS"}:
        raise error_at(
            node, f"{node.name.upper()} returns 1 or 0: write {node.name.upper()}(...) = 1"
        )
    else:
        raise error_at(node, f"'{_text(node)}' is not a condition")


def _in(node: exp.In) -> None:
    for key, value in node.args.items():
        if key not in {"this", "expressions", "query"} and value:
            raise error_at(node, f"{key.upper()} in IN is not ADQL")
    _value(node.this)
    query = node.args.get("query")
    if query is not None:
        _query(query)
    elif not node.expressions:
        raise error_at(node, "IN needs a list of values or a subquery")
    for value in node.expressions:
        _value(value)


def _value(node: exp.Expr) -> None:
    """A value expression (ADQL 2.1 appendix A, <value_expression>)."""
    if isinstance(node, exp.Column):
        if isinstance(node.this, exp.Star):
            raise error_at(node, "* is only allowed in the select list and in COUNT(*)")
    elif isinstance(node, exp.Literal | exp.HexString | exp.Null | exp.Boolean):
        return
    elif isinstance(node, exp.Paren | exp.Neg | exp.BitwiseNot):
        _value(node.this)
    elif isinstance(node, _ARITHMETIC):
        _value(node.this)
        _value(node.expression)
    elif isinstance(node, exp.Anonymous):
        _function(node)
    elif isinstance(node, exp.Count | exp.Sum | exp.Avg | exp.Min | exp.Max):
        _aggregate(node)
    elif isinstance(node, exp.Cast):
        _cast(node)
    elif isinstance(node, exp.Case):
        if node.this is not None:
            _value(node.this)
        for branch in node.args.get("ifs") or ():
            (_value if node.this is not None else _condition)(branch.this)
            _value(branch.args["true"])
        if node.args.get("default") is not None:
            _value(node.args["default"])
    elif isinstance(node, exp.Subquery):
        _query(node)
    else:
        raise error_at(node, f"'{_text(node)}' is not a value expression")


def _aggregate(node: exp.Expr) -> None:
    name = type(node).__name__.upper()
    arg = node.this
    for key, value in node.args.items():
        if key not in {"this", "big_int", "expressions"} and value:
            raise error_at(node, f"{key.upper()} in {name}() is not ADQL")
    if node.expressions:
        raise error_at(node, f"{name}() takes one argument")
    if isinstance(arg, exp.Star):
        if name != "COUNT":
            raise error_at(node, f"{name}(*) is not ADQL; only COUNT(*) is")
        return
    if isinstance(arg, exp.Distinct):
        if len(arg.expressions) != 1 or arg.args.get("on"):
            raise error_at(arg, f"{name}(DISTINCT ...) takes one value")
        arg = arg.expressions[0]
    if arg is None:
        raise error_at(node, f"{name}() needs an argument")
    _value(arg)


def _cast(node: exp.Cast) -> None:
    for key, value in node.args.items():
        if key not in {"this", "to", "_type"} and value:
            raise error_at(node, f"{key.upper()} in CAST is not ADQL")
    target = node.to
    kind = target.this
    if kind == exp.DType.USERDEFINED:
        if str(target.args.get("kind", "")).upper() not in _GEOMETRY_CASTS:
            raise error_at(node, f"CAST to {target.args.get('kind')} is not ADQL")
    elif kind not in _CAST_TYPES:
        raise error_at(node, f"CAST to {target.sql(dialect='postgres')} is not ADQL")
    params = target.expressions
    if params and (kind not in {exp.DType.CHAR, exp.DType.VARCHAR} or len(params) != 1):
        raise error_at(node, f"{_CAST_TYPES.get(kind, kind)} takes no length here")
    for param in params:
        _unsigned(param.this, "a character length")
    _value(node.this)


def _function(node: exp.Anonymous) -> None:
    name = node.name.upper()
    spec = lookup(name)
    if spec is None:
        if name in UNSUPPORTED:
            raise error_at(node, UNSUPPORTED[name])
        close = suggestion(name)
        hint = f"; did you mean {close}?" if close else ""
        raise error_at(node, f"unknown function '{node.name}'{hint}")
    args = node.expressions
    if len(args) < spec.min_args or (spec.max_args is not None and len(args) > spec.max_args):
        raise error_at(node, f"{name}() takes {spec.arity()} arguments, not {len(args)}")
    for arg in args:
        if isinstance(arg, exp.Star):
            raise error_at(arg, f"* is not an argument of {name}()")
        _value(arg)
    check_arguments(node, name, args)


__all__ = ["ALLOWED_NODES", "AdqlError", "check"]
