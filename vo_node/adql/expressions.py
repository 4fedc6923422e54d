"""Stage 4a, translate values and conditions to PostgreSQL, keeping ADQL's meaning.

Where PostgreSQL differs from ADQL the translation says so: LOG is the natural logarithm
(PostgreSQL ``ln``), LOG10 is PostgreSQL ``log``; ``/`` divides as real numbers (ADQL's
functions and arithmetic are on doubles, PostgreSQL truncates integer quotients); ROUND and
TRUNCATE of doubles go through ``numeric`` (PostgreSQL has no ``round(double, int)``, and
its ``round(double)`` rounds half to even); ``^`` is exclusive or (PostgreSQL ``#``);
non-integer literals are doubles, not ``numeric``. Column references are read from the scope
(``resolve``), geometry from ``geometry``, units from ``units``. Must not import Flask or
psycopg.
"""

from __future__ import annotations

from sqlglot import exp

from vo_node.adql import geometry, units
from vo_node.adql.datatypes import INTEGERS, NUMBERS, Value, common, literal_type, wider
from vo_node.adql.errors import error_at
from vo_node.adql.resolve import Output, Scope
from vo_node.adql.templates import call, cast_to, double, paren

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_FLIPPED: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.EQ: exp.EQ,
    exp.NEQ: exp.NEQ,
}  # fmt: skip
_BITWISE = (exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor)
_SAME_UNIT = {"ABS", "CEILING", "FLOOR", "ROUND", "TRUNCATE"}
# ADQL functions that are PostgreSQL functions of the same meaning on double arguments.
_ON_DOUBLES = {
    "CEILING": "ceiling", "DEGREES": "degrees", "EXP": "exp", "FLOOR": "floor", "LOG": "ln",
    "LOG10": "log", "POWER": "power", "RADIANS": "radians", "SQRT": "sqrt", "ACOS": "acos",
    "ASIN": "asin", "ATAN": "atan", "ATAN2": "atan2", "COS": "cos", "COT": "cot", "SIN": "sin",
    "TAN": "tan",
}  # fmt: skip
_CASTS = {
    exp.DType.SMALLINT: "short",
    exp.DType.INT: "int",
    exp.DType.BIGINT: "long",
    exp.DType.FLOAT: "float",
    exp.DType.DOUBLE: "double",
    exp.DType.CHAR: "char",
    exp.DType.VARCHAR: "char",
    exp.DType.TIMESTAMP: "timestamp",
}


class Expressions:
    """Translation of ADQL value expressions and search conditions within a scope."""

    def nested(self, node: exp.Expr, scope: Scope) -> tuple[exp.Expr, list[Output]]:
        """A subquery's SQL and outputs (supplied by the query translator)."""
        raise NotImplementedError

    # -- values ------------------------------------------------------------------------

    def value(self, node: exp.Expr, scope: Scope) -> Value:
        """The translation of one ADQL value expression."""
        if isinstance(node, exp.Column):
            return scope.column(node).read()
        if isinstance(node, exp.Literal):
            return _literal(node)
        if isinstance(node, exp.HexString):
            number = int(node.this, 16)
            return Value(exp.Literal.number(number), "long" if number >= 2**31 else "int",
                         "", constant=float(number))  # fmt: skip
        if isinstance(node, exp.Null):
            return Value(exp.Null())
        if isinstance(node, exp.Boolean):
            return Value(exp.Boolean(this=node.this), "boolean")
        if isinstance(node, exp.Paren):
            inner = self.value(node.this, scope)
            return Value(paren(inner.sql), inner.datatype, inner.unit, inner.column,
                         inner.name, inner.constant)  # fmt: skip
        if isinstance(node, exp.Neg):
            inner = self.number(node.this, scope)
            constant = None if inner.constant is None else -inner.constant
            return Value(exp.Neg(this=inner.sql), inner.datatype, inner.unit, None, None,
                         constant)  # fmt: skip
        if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div):
            return self._arithmetic(node, scope)
        if isinstance(node, _BITWISE):
            left, right = self._integer(node.this, scope), self._integer(node.expression, scope)
            built = type(node)(this=left.sql, expression=right.sql)
            return Value(paren(built), wider(left.datatype, right.datatype) or "long")
        if isinstance(node, exp.BitwiseNot):
            inner = self._integer(node.this, scope)
            return Value(paren(exp.BitwiseNot(this=inner.sql)), inner.datatype or "long")
        if isinstance(node, exp.DPipe):
            left, right = self.string(node.this, scope), self.string(node.expression, scope)
            return Value(paren(exp.DPipe(this=left.sql, expression=right.sql)), "char")
        if isinstance(node, exp.Anonymous):
            return self._function(node, scope)
        if isinstance(node, exp.Count | exp.Sum | exp.Avg | exp.Min | exp.Max):
            return self._aggregate(node, scope)
        if isinstance(node, exp.Cast):
            return self._cast(node, scope)
        if isinstance(node, exp.Case):
            return self._case(node, scope)
        if isinstance(node, exp.Subquery):
            sql, outputs = self.nested(node.this, scope)
            if len(outputs) != 1:
                raise error_at(node, "a subquery used as a value must return one column")
            first = outputs[0].value
            return Value(exp.Subquery(this=sql), first.datatype, first.unit)
        raise error_at(node, "this expression is not supported")

    def number(self, node: exp.Expr, scope: Scope) -> Value:
        """A value that must be numeric (or NULL, or of a type not known here)."""
        value = self.value(node, scope)
        if value.datatype is not None and value.datatype not in NUMBERS:
            raise error_at(node, f"a number is needed here, not a {value.datatype}")
        return value

    def string(self, node: exp.Expr, scope: Scope) -> Value:
        """A value that must be a string (or NULL, or of a type not known here)."""
        value = self.value(node, scope)
        if value.is_geometry:
            raise error_at(node, f"a string is needed here, not a {value.datatype}")
        return value

    def _integer(self, node: exp.Expr, scope: Scope) -> Value:
        value = self.number(node, scope)
        if value.datatype is not None and value.datatype not in INTEGERS:
            raise error_at(node, "bitwise operators work on integers (ADQL 2.1, bitwise operators)")
        return value

    def _arithmetic(self, node: exp.Expr, scope: Scope) -> Value:
        left, right = self.number(node.this, scope), self.number(node.expression, scope)
        a, b = left.constant, right.constant
        if isinstance(node, exp.Div):
            # ADQL divides numbers as doubles; PostgreSQL would truncate 1/2 to 0.
            numerator = left.sql if left.datatype == "double" else double(left.sql)
            built: exp.Expr = paren(exp.Div(this=numerator, expression=right.sql, typed=True))
            constant = a / b if a is not None and b is not None and b != 0 else None
            return Value(built, "double", units.combine("/", left.unit, right.unit),
                         constant=constant)  # fmt: skip
        built = type(node)(this=left.sql, expression=right.sql)
        datatype = wider(left.datatype, right.datatype)
        if isinstance(node, exp.Mul):
            unit = units.combine("*", left.unit, right.unit)
            constant = a * b if a is not None and b is not None else None
        else:
            unit = _sum_unit(left, right)
            if a is None or b is None:
                constant = None
            else:
                constant = a + b if isinstance(node, exp.Add) else a - b
        return Value(built, datatype, unit, constant=constant)

    def _function(self, node: exp.Anonymous, scope: Scope) -> Value:
        name = node.name.upper()
        args = [self.value(a, scope) for a in node.expressions]
        if name in _ON_DOUBLES:
            numbers = [self._double(node, a) for a in args]
            unit = args[0].unit if name in _SAME_UNIT else None
            if name == "SQRT":
                unit = units.power(args[0].unit, 0.5)
            elif name == "POWER" and args[1].constant is not None:
                unit = units.power(args[0].unit, args[1].constant)
            return Value(call(_ON_DOUBLES[name], *numbers), "double", unit)
        if name == "ABS":
            return Value(call("abs", self._check_number(node, args[0])), args[0].datatype,
                         args[0].unit)  # fmt: skip
        if name == "PI":
            return Value(call("pi"), "double", "")
        if name == "RAND":
            # The seed has "undefined semantics" (ADQL 2.1, mathematical functions) and
            # setseed() would be a side effect on the session, so it is ignored.
            return Value(call("random"), "double", "")
        if name in {"ROUND", "TRUNCATE"}:
            pg = "round" if name == "ROUND" else "trunc"
            exact: list[exp.Expr] = [cast_to(self._check_number(node, args[0]), exp.DType.DECIMAL)]
            exact += [a.sql for a in args[1:]]
            return Value(double(call(pg, *exact)), "double", args[0].unit)
        if name == "MOD":
            x, y = (self._check_number(node, a) for a in args)
            if all(a.datatype in INTEGERS for a in args):
                return Value(call("mod", x, y), wider(args[0].datatype, args[1].datatype))
            exact = [cast_to(v, exp.DType.DECIMAL) for v in (x, y)]
            return Value(double(call("mod", *exact)), "double", args[0].unit)
        if name in {"LOWER", "UPPER"}:
            if args[0].datatype not in (None, "char", "unicodeChar"):
                raise error_at(node, f"{name} needs a string, not a {args[0].datatype}")
            return Value(call(name.lower(), args[0].sql), "char")
        if name == "COALESCE":
            return Value(call("coalesce", *(a.sql for a in args)),
                         common([a.datatype for a in args]), args[0].unit)  # fmt: skip
        if name == "NULLIF":
            return Value(call("nullif", args[0].sql, args[1].sql), args[0].datatype,
                         args[0].unit)  # fmt: skip
        if name == "IN_UNIT":
            target = node.expressions[1]
            return units.in_unit(node, args[0], target.this)
        return geometry.function(name, node, args)

    def _check_number(self, node: exp.Expr, value: Value) -> exp.Expr:
        if value.datatype is not None and value.datatype not in NUMBERS:
            raise error_at(node, f"{node.name.upper()}() needs numbers, not {value.datatype}")
        return value.sql

    def _double(self, node: exp.Expr, value: Value) -> exp.Expr:
        sql = self._check_number(node, value)
        return sql if value.datatype == "double" else double(sql)

    def _aggregate(self, node: exp.Expr, scope: Scope) -> Value:
        arg = node.this
        if isinstance(arg, exp.Star):
            return Value(exp.Count(this=exp.Star()), "long", "")
        distinct = isinstance(arg, exp.Distinct)
        inner = self.value(arg.expressions[0] if distinct else arg, scope)
        kind = type(node)
        if inner.is_geometry:
            raise error_at(node, f"{kind.__name__.upper()} of a {inner.datatype} is not defined")
        sql = exp.Distinct(expressions=[inner.sql]) if distinct else inner.sql
        if kind is exp.Count:
            return Value(exp.Count(this=sql), "long", "")
        if kind is exp.Avg:
            return Value(exp.Avg(this=sql), "double", inner.unit)
        if kind is exp.Sum:
            total = "long" if inner.datatype in INTEGERS else "double"
            return Value(exp.Sum(this=sql), total, inner.unit)
        return Value(kind(this=sql), inner.datatype, inner.unit)

    def _cast(self, node: exp.Cast, scope: Scope) -> Value:
        inner = self.value(node.this, scope)
        target = node.to
        if target.this == exp.DType.USERDEFINED:
            return geometry.cast(node, inner, str(target.args["kind"]).lower())
        if inner.is_geometry:
            raise error_at(node, f"a {inner.datatype} cannot be cast to {target.this.name}")
        return Value(exp.Cast(this=inner.sql, to=target.copy()), _CASTS[target.this])

    def _case(self, node: exp.Case, scope: Scope) -> Value:
        subject = self.value(node.this, scope).sql if node.this is not None else None
        branches, results = [], []
        for branch in node.args.get("ifs") or ():
            test = (
                self.value(branch.this, scope).sql
                if subject is not None
                else self.condition(branch.this, scope)
            )
            result = self.value(branch.args["true"], scope)
            results.append(result)
            branches.append(exp.If(this=test, true=result.sql))
        default = node.args.get("default")
        fallback = self.value(default, scope) if default is not None else None
        if fallback is not None:
            results.append(fallback)
        built = exp.Case(this=subject, ifs=branches, default=fallback.sql if fallback else None)
        return Value(built, common([r.datatype for r in results]))

    # -- conditions ----------------------------------------------------------------------

    def condition(self, node: exp.Expr, scope: Scope) -> exp.Expr:
        """The translation of one ADQL search condition, as a PostgreSQL boolean."""
        if isinstance(node, exp.And | exp.Or):
            return type(node)(
                this=self.condition(node.this, scope),
                expression=self.condition(node.expression, scope),
            )
        if isinstance(node, exp.Not):
            return exp.Not(this=paren(self.condition(node.this, scope)))
        if isinstance(node, exp.Paren):
            return paren(self.condition(node.this, scope))
        if isinstance(node, _COMPARISONS):
            return self._comparison(node, scope)
        if isinstance(node, exp.Between):
            return exp.Between(
                this=self.value(node.this, scope).sql,
                low=self.value(node.args["low"], scope).sql,
                high=self.value(node.args["high"], scope).sql,
            )
        if isinstance(node, exp.In):
            subject = self.value(node.this, scope).sql
            query = node.args.get("query")
            if query is not None:
                inner = query.this if isinstance(query, exp.Subquery) else query
                sql, outputs = self.nested(inner, scope)
                if len(outputs) != 1:
                    raise error_at(node, "the subquery of IN must return one column")
                return exp.In(this=subject, query=exp.Subquery(this=sql))
            values = [self.value(v, scope).sql for v in node.expressions]
            return exp.In(this=subject, expressions=values)
        if isinstance(node, exp.Like | exp.ILike):
            left, right = self.string(node.this, scope), self.string(node.expression, scope)
            return type(node)(this=left.sql, expression=right.sql)
        if isinstance(node, exp.Is):
            return exp.Is(this=self.value(node.this, scope).sql, expression=exp.Null())
        if isinstance(node, exp.Exists):
            inner = node.this.this if isinstance(node.this, exp.Subquery) else node.this
            sql, _ = self.nested(inner, scope)
            return exp.Exists(this=sql)
        if isinstance(node, exp.Boolean):
            return exp.Boolean(this=node.this)
        raise error_at(node, "this is not a condition")

    def _comparison(self, node: exp.Expr, scope: Scope) -> exp.Expr:
        kind: type[exp.Expr] = type(node)
        left, right = node.this, node.expression
        if _is_call(right, "CONTAINS", "INTERSECTS", "DISTANCE") and not _is_call(left):
            left, right, kind = right, left, _FLIPPED[kind]
        if _is_call(left, "CONTAINS", "INTERSECTS") and kind in (exp.EQ, exp.NEQ):
            truth = _unwrap(right)
            if isinstance(truth, exp.Literal) and truth.this in {"0", "1"}:
                call_node = _unwrap(left)
                args = [self.value(a, scope) for a in call_node.expressions]
                test = paren(geometry.predicate(call_node.name.upper(), call_node, *args))
                wanted = (truth.this == "1") == (kind is exp.EQ)
                return test if wanted else exp.Not(this=test)
        if _is_call(left, "DISTANCE") and kind in (exp.LT, exp.LTE):
            call_node = _unwrap(left)
            args = [self.value(a, scope) for a in call_node.expressions]
            radius = self.number(right, scope)
            return geometry.distance_condition(call_node, args, kind, radius)
        a, b = self.value(node.this, scope), self.value(node.expression, scope)
        if a.is_geometry != b.is_geometry and not (_null(a) or _null(b)):
            raise error_at(node, f"cannot compare a {a.datatype} with a {b.datatype}")
        return type(node)(this=a.sql, expression=b.sql)


def _literal(node: exp.Literal) -> Value:
    if node.is_string:
        return Value(exp.Literal.string(node.this), "char")
    datatype = literal_type(node)
    text = node.this
    constant = float(text)
    if datatype in INTEGERS:
        return Value(exp.Literal.number(text), datatype, "", constant=constant)
    # 3.14 is numeric in PostgreSQL, double in ADQL.
    return Value(double(exp.Literal.number(text)), "double", "", constant=constant)


def _sum_unit(left: Value, right: Value) -> str | None:
    if left.unit == right.unit:
        return left.unit
    if left.constant is not None and left.unit == "":
        return right.unit
    if right.constant is not None and right.unit == "":
        return left.unit
    return None


def _null(value: Value) -> bool:
    return isinstance(value.sql, exp.Null)


def _unwrap(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _is_call(node: exp.Expr, *names: str) -> bool:
    inner = _unwrap(node)
    if not isinstance(inner, exp.Anonymous):
        return False
    return not names or inner.name.upper() in names
