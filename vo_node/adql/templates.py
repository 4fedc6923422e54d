"""SQL fragments written once as PostgreSQL text and filled with translated sub-trees.

The fragments are constants of this package, parsed once with sqlglot's PostgreSQL dialect;
user input only ever enters them as already-checked syntax trees substituted for the
placeholders (columns named ``_1``, ``_2``, ...), never as text. Must not import Flask or
psycopg.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlglot
from sqlglot import exp

_HOLE = re.compile(r"_\d+\Z")


def template(sql: str) -> Callable[..., exp.Expr]:
    """A function building ``sql`` with its placeholders ``_1``, ``_2``... replaced by the
    given trees, in order."""
    base = sqlglot.parse_one(sql, read="postgres")

    def fill(*parts: exp.Expr) -> exp.Expr:
        """A fresh copy of the fragment with ``parts`` in its holes."""
        tree = base.copy()
        # Holes are found before anything is put in, so a part is never searched for holes.
        holes = [n for n in tree.find_all(exp.Column) if not n.table and _HOLE.match(n.name)]
        for hole in holes:
            part = own(parts[int(hole.name[1:]) - 1])
            if hole is tree:
                return part
            hole.replace(part)
        return tree

    return fill


def own(node: exp.Expr) -> exp.Expr:
    """``node``, or a copy if it is already placed in a tree (a node has one parent)."""
    return node.copy() if node.parent is not None else node


def call(name: str, *args: exp.Expr) -> exp.Expr:
    """A PostgreSQL function call; ``name`` always comes from this package, never a query."""
    return exp.Anonymous(this=name, expressions=[own(a) for a in args])


def paren(node: exp.Expr) -> exp.Paren:
    """Parentheses, so that a rewritten operator keeps the precedence the tree had."""
    return node if isinstance(node, exp.Paren) else exp.Paren(this=own(node))


def cast_to(node: exp.Expr, to: exp.DType) -> exp.Expr:
    """``CAST(node AS to)`` (built directly: ``DataType.build`` would parse a string)."""
    return exp.Cast(this=own(node), to=exp.DataType(this=to))


def double(node: exp.Expr) -> exp.Expr:
    """``CAST(node AS DOUBLE PRECISION)``."""
    return cast_to(node, exp.DType.DOUBLE)


def number(value: float | int) -> exp.Expr:
    """A numeric literal (negative numbers parenthesised as a negation)."""
    literal = exp.Literal.number(repr(abs(value)) if isinstance(value, float) else abs(value))
    return exp.Paren(this=exp.Neg(this=literal)) if value < 0 else literal
