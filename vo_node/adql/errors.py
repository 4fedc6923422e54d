"""The one error the ADQL stages raise, and how a syntax-tree node becomes a position.

Every rejection (lexical, grammatical, allowlist, resolution, translation) is an
:class:`AdqlError` carrying a 1-based line and column when the parser knew them, so the TAP
layer can render one DALI error naming where the problem is. Must not import Flask or psycopg.
"""

from __future__ import annotations

from sqlglot import exp

from vo_node.errors import NodeError


class AdqlError(NodeError):
    """The query is not ADQL this service runs: the message names the problem and where it is."""

    def __init__(
        self,
        message: str,
        line: int | None = None,
        column: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = f"line {line}, column {column}: " if line is not None and column else ""
        super().__init__(f"{where}{message}", hint)
        self.line = line
        self.column = column
        self.problem = message


def position(node: exp.Expr | None) -> tuple[int | None, int | None]:
    """The (line, column) where ``node`` starts, as far as the parser recorded it.

    sqlglot records positions on identifiers, literals and function names (and the ADQL
    parser on a few keywords), not on every node, so this looks at the node, then its
    earliest descendant, then its ancestors.
    """
    if node is None:
        return None, None
    own = node._meta
    if own and "line" in own and "col" in own:
        return int(own["line"]), int(own["col"]) - _width(node) + 1
    best: tuple[int, int] | None = None
    for sub in node.walk():
        meta = sub._meta
        if meta and "line" in meta and "col" in meta:
            here = (int(meta["line"]), int(meta["col"]) - _width(sub) + 1)
            if best is None or here < best:
                best = here
    if best is not None:
        return best
    parent = node.parent
    while parent is not None:
        meta = parent._meta
        if meta and "line" in meta:
            return int(meta["line"]), int(meta["col"]) - _width(parent) + 1
        parent = parent.parent
    return None, None


def _width(node: exp.Expr) -> int:
    """sqlglot's ``col`` is the last character of the token; the start is what users want."""
    meta = node._meta or {}
    start, end = meta.get("start"), meta.get("end")
    if isinstance(start, int) and isinstance(end, int):
        return end - start + 1
    return 1


def error_at(node: exp.Expr | None, message: str, hint: str | None = None) -> AdqlError:
    """An :class:`AdqlError` positioned at ``node``."""
    line, column = position(node)
    return AdqlError(message, line, column, hint)
